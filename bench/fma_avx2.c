/* fma_avx2.c: FMA_CHAINS_AVX2 = 12 independent chains of 8-lane FMAs
 * (see fma_peak.c); built with -mavx2 -mfma. */
#include <immintrin.h>

float fma_avx2(long iters);

float fma_avx2(long iters)
{
    __m256 acc[12];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++)
        acc[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < 12; j++)
            acc[j] = _mm256_fmadd_ps(acc[j], a, b);
    }
    __m256 s = acc[0];
#pragma GCC unroll 12
    for (int j = 1; j < 12; j++)
        s = _mm256_add_ps(s, acc[j]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
