/* rng.c: the runtime's one source of randomness.
 *
 * PCG32 (O'Neill's XSH-RR variant: 64-bit LCG state, 32-bit output by an
 * xorshift and a data-dependent rotation).  A seed and a stream number go
 * through splitmix64 to give the initial state and the (odd) increment, so
 * that nearby seeds and streams start far apart.  Everything here is
 * integer arithmetic on fixed-width types, hence the same numbers on every
 * platform, except nnrt_rng_normal, which calls log, sqrt and cos in double
 * (their last bit is the C library's).
 */
#include "nnrt.h"

#include <assert.h>
#include <math.h>

#define NNRT_PCG_MULT 6364136223846793005ULL

/* splitmix64 (Steele, Lea, Flood): x += golden gamma, then two
 * xor-shift-multiply rounds. */
uint64_t nnrt_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* pcg32_srandom: state = 0, inc = 2*seq + 1, step, state += init, step. */
void nnrt_rng_seed_stream(NnrtRng *r, uint64_t seed, uint64_t stream)
{
    uint64_t s = seed, q = stream;
    uint64_t init = nnrt_splitmix64(&s);
    uint64_t seq = nnrt_splitmix64(&q);
    r->state = 0;
    r->inc = (seq << 1) | 1u;
    (void)nnrt_rng_u32(r);
    r->state += init;
    (void)nnrt_rng_u32(r);
}

void nnrt_rng_seed(NnrtRng *r, uint64_t seed)
{
    nnrt_rng_seed_stream(r, seed, 0);
}

/* state' = state * a + inc;  out = rotr32(((old >> 18) ^ old) >> 27, old >> 59) */
uint32_t nnrt_rng_u32(NnrtRng *r)
{
    uint64_t old = r->state;
    r->state = old * NNRT_PCG_MULT + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

/* Jump ahead by delta draws of nnrt_rng_u32 in O(log delta) (Brown,
 * "Random number generation with arbitrary strides"): the LCG step
 * s' = a s + c composed delta times is s' = A s + C, built by squaring. */
void nnrt_rng_advance(NnrtRng *r, uint64_t delta)
{
    uint64_t mult = NNRT_PCG_MULT, plus = r->inc, acc_mult = 1u, acc_plus = 0u;
    while (delta > 0) {
        if (delta & 1u) {
            acc_mult *= mult;
            acc_plus = acc_plus * mult + plus;
        }
        plus = (mult + 1u) * plus;
        mult *= mult;
        delta >>= 1;
    }
    r->state = acc_mult * r->state + acc_plus;
}

/* Lemire's multiply-shift with rejection: floor(u * n / 2^32), redrawing
 * when the low word falls in the biased sliver below 2^32 mod n. */
uint32_t nnrt_rng_below(NnrtRng *r, uint32_t n)
{
    assert(n >= 1 && "nnrt_rng_below needs n >= 1");
    uint64_t m = (uint64_t)nnrt_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(0u - n) % n;
        while (low < threshold) {
            m = (uint64_t)nnrt_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* u = (bits >> 8) * 2^-24: the 2^24 floats k/2^24, each exact in f32. */
float nnrt_rng_uniform(NnrtRng *r)
{
    return (float)(nnrt_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

/* Box-Muller: z = sqrt(-2 ln u1) cos(2 pi u2), u1 in (0,1], u2 in [0,1).
 * Two draws per normal; the sine half is not kept, so the sequence does not
 * depend on hidden state. */
float nnrt_rng_normal(NnrtRng *r)
{
    double u1 = ((double)(nnrt_rng_u32(r) >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(nnrt_rng_u32(r) >> 8) / 16777216.0;
    double two_pi = 6.283185307179586476925286766559;
    return (float)(sqrt(-2.0 * log(u1)) * cos(two_pi * u2));
}

void nnrt_init_fill(float *p, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

/* p[i] = std * N(0,1) */
void nnrt_init_normal(float *p, size_t n, float std, NnrtRng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = std * nnrt_rng_normal(r);
}

/* p[i] = lo + (hi - lo) * U[0,1) */
void nnrt_init_uniform(float *p, size_t n, float lo, float hi, NnrtRng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * nnrt_rng_uniform(r);
}

/* Fisher-Yates: for i = n-1 .. 1, swap perm[i] with perm[j], j uniform in
 * [0, i].  n must be below 2^32 (perm holds uint32 row numbers). */
void nnrt_shuffle(uint32_t *perm, size_t n, NnrtRng *r)
{
    assert((uint64_t)n <= 0xFFFFFFFFu && "nnrt_shuffle: n must fit in uint32");
    for (size_t i = n; i > 1; i--) {
        uint32_t j = nnrt_rng_below(r, (uint32_t)i);
        uint32_t tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
}
