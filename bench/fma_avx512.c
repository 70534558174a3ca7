/* fma_avx512.c: FMA_CHAINS_AVX512 = 16 independent chains of 16-lane
 * FMAs (see fma_peak.c); built with -mavx512f. */
#include <immintrin.h>

float fma_avx512(long iters);

float fma_avx512(long iters)
{
    __m512 acc[16];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
        acc[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            acc[j] = _mm512_fmadd_ps(acc[j], a, b);
    }
    __m512 s = acc[0];
#pragma GCC unroll 16
    for (int j = 1; j < 16; j++)
        s = _mm512_add_ps(s, acc[j]);
    return _mm512_reduce_add_ps(s);
}
