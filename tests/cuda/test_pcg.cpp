/* tests/cuda/test_pcg.cpp: the dropout stream's jump-ahead (nnrt_cuda.h)
 * against the runtime's generator stepped one draw at a time (rng.c).
 * A CUDA thread draws number k of the stream with nnrt_uniform_at(state,
 * inc, k); the C program draws the same numbers one after another with
 * nnrt_rng_uniform.  Checked for several seeds and streams, every k below
 * 4096 and then every 9973rd up to 2^24 + 3.  Built with g++ against the
 * CPU emulation's headers (tests/cuda/mock); prints one line, exit 0 or 1. */
#include "nnrt_cuda.h"

int main(void)
{
    const uint64_t seeds[] = {0, 1, 42, (1ULL << 40) + 7};
    long checked = 0, wrong = 0;
    for (uint64_t seed : seeds)
        for (uint64_t stream = 0; stream < 4; stream++) {
            NnrtRng r, s0;
            nnrt_rng_seed_stream(&r, seed, stream);
            s0 = r;
            const unsigned long long last = (1ULL << 24) + 3;
            for (unsigned long long k = 0; k <= last; k++) {
                NnrtRng before = r;
                float u = nnrt_rng_uniform(&r);
                if (k >= 4096 && k % 9973 != 0 && k != last)
                    continue;
                checked++;
                if (nnrt_pcg_advance(s0.state, s0.inc, k) != before.state || nnrt_uniform_at(s0.state, s0.inc, k) != u) {
                    if (wrong++ < 5)
                        fprintf(stderr, "test_pcg: seed %llu stream %llu draw %llu differs\n",
                                (unsigned long long)seed, (unsigned long long)stream, k);
                }
            }
        }
    printf("test_pcg: %ld draws jumped to, %ld differ from the sequential generator\n", checked, wrong);
    return wrong != 0;
}
