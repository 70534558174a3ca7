/* fma_peak.c: the machine's single-thread FMA peak, the ceiling any GEMM
 * on one core can reach.  It runs CHAINS independent chains of vector FMAs
 * (acc = acc * a + b) -- enough to cover the FMA latency on every unit --
 * with AVX-512 when the CPU has it (fma_avx512.c, built with -mavx512f),
 * else AVX2/FMA (fma_avx2.c, built with -mavx2 -mfma).  Each FMA on a lane
 * counts 2 flops.  Prints the best of 20 timed rounds of about 0.05 s (the
 * best, so that a round the machine gave to another process does not
 * count):
 *   fma avx512 16 lanes 16 chains: 180.3 GFLOP/s
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

/* Each runs `iters` rounds of CHAINS FMAs on all lanes; returns a sum of
 * the accumulators so the work is not optimised away. */
float fma_avx512(long iters);
float fma_avx2(long iters);
#define FMA_CHAINS_AVX512 16
#define FMA_CHAINS_AVX2 12

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void)
{
    int avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        printf("fma none: the CPU has neither AVX-512 nor AVX2/FMA\n");
        return 0;
    }
    int lanes = avx512 ? 16 : 8, chains = avx512 ? FMA_CHAINS_AVX512 : FMA_CHAINS_AVX2;
    long iters = 20000000;
    double best = 1e30;
    float sink = 0;
    for (int round = 0; round < 21; round++) {
        double t0 = now();
        sink += avx512 ? fma_avx512(iters) : fma_avx2(iters);
        double t = now() - t0;
        if (round > 0 && t < best)  /* round 0 warms the clocks up */
            best = t;
    }
    double gflops = (double)iters * chains * lanes * 2.0 / best * 1e-9;
    printf("fma %s %d lanes %d chains: %.1f GFLOP/s%s\n", avx512 ? "avx512" : "avx2", lanes, chains,
           gflops, sink == 12345.0f ? " " : "");
    return 0;
}
