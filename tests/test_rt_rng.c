/* test_rt_rng.c: the runtime's RNG, initialisers and shuffle.
 *
 * Known answers are checked three ways: against the published PCG32 demo
 * vector (the core step), against a second implementation of splitmix64 +
 * PCG32 written here in a different style (the seeding), and against
 * hard-coded values (so a change to either shows).
 */
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Check's float macros promote to double behind our back (-Wdouble-promotion). */
#define ASSERT_FEQ(a, b) ck_assert_msg((a) == (b), "%.9g != %.9g", (double)(a), (double)(b))

/* ---- an independent PCG32 + splitmix64 ---------------------------------- */
typedef struct { uint64_t s, inc; } RefPcg;

static uint64_t ref_splitmix_once(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = x;
    z ^= z >> 30; z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27; z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

static uint32_t ref_next(RefPcg *p)
{
    uint64_t old = p->s;
    p->s = old * 6364136223846793005ULL + p->inc;
    uint32_t v = (uint32_t)(((old >> 18) ^ old) >> 27);
    unsigned rot = (unsigned)(old >> 59);
    return rot ? (v >> rot) | (v << (32 - rot)) : v;
}

static void ref_seed(RefPcg *p, uint64_t seed, uint64_t stream)
{
    p->s = 0;
    p->inc = ref_splitmix_once(stream) * 2 + 1;
    ref_next(p);
    p->s += ref_splitmix_once(seed);
    ref_next(p);
}

START_TEST(test_pcg_core_matches_reference_demo)
{
    /* pcg32-demo: pcg32_srandom_r(&rng, 42, 54) */
    static const uint32_t want[6] = { 0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                      0x83d2f293u, 0xbfa4784bu, 0xcbed606eu };
    NnrtRng r = { 0, (54u << 1) | 1u };
    nnrt_rng_u32(&r);
    r.state += 42u;
    nnrt_rng_u32(&r);
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(nnrt_rng_u32(&r), want[i]);
}
END_TEST

START_TEST(test_seed42_known_answers)
{
    static const uint32_t want[6] = { 0x6b2f2ba5u, 0x00da2b56u, 0xc915cf48u,
                                      0xa96bfb4au, 0x1cf26784u, 0xa5c831aeu };
    NnrtRng r;
    RefPcg p;
    nnrt_rng_seed(&r, 42);
    ref_seed(&p, 42, 0);
    for (int i = 0; i < 6; i++) {
        uint32_t v = nnrt_rng_u32(&r);
        ck_assert_uint_eq(v, want[i]);
        ck_assert_uint_eq(v, ref_next(&p));
    }
}
END_TEST

START_TEST(test_streams_differ_and_match_reference)
{
    NnrtRng a, b;
    RefPcg p;
    nnrt_rng_seed_stream(&a, 42, NNRT_STREAM_SHUFFLE);
    nnrt_rng_seed_stream(&b, 42, NNRT_STREAM_DROPOUT);
    ref_seed(&p, 42, NNRT_STREAM_SHUFFLE);
    ck_assert_uint_eq(nnrt_rng_u32(&a), 0xbe019878u);
    ck_assert_uint_eq(nnrt_rng_u32(&a), 0x0f5694b7u);
    ref_next(&p);
    ref_next(&p);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(nnrt_rng_u32(&a), ref_next(&p));
    int same = 0;
    nnrt_rng_seed_stream(&a, 42, NNRT_STREAM_SHUFFLE);
    for (int i = 0; i < 100; i++)
        same += nnrt_rng_u32(&a) == nnrt_rng_u32(&b);
    ck_assert_int_lt(same, 3);
}
END_TEST

START_TEST(test_splitmix_known_answer)
{
    /* splitmix64 from 0: the first output of the reference generator */
    uint64_t x = 0;
    ck_assert_uint_eq(nnrt_splitmix64(&x), 0xE220A8397B1DCDAFULL);
    ck_assert_uint_eq(x, 0x9E3779B97F4A7C15ULL);
}
END_TEST

START_TEST(test_uniform_known_answers_and_range)
{
    NnrtRng r, q;
    nnrt_rng_seed(&r, 42);
    nnrt_rng_seed(&q, 42);
    /* the top 24 bits of each output, times 2^-24 */
    for (int i = 0; i < 4; i++) {
        float want = (float)(nnrt_rng_u32(&q) >> 8) / 16777216.0f;
        ASSERT_FEQ(nnrt_rng_uniform(&r), want);
    }
    nnrt_rng_seed(&r, 42);
    ck_assert_double_eq_tol((double)nnrt_rng_uniform(&r), 0.418688476, 1e-9);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        float u = nnrt_rng_uniform(&r);
        ck_assert(u >= 0.0f && u < 1.0f);
        sum += (double)u;
    }
    ck_assert_double_eq_tol(sum / 100000, 0.5, 0.005);
}
END_TEST

START_TEST(test_normal_known_answers_and_moments)
{
    NnrtRng r;
    nnrt_rng_seed(&r, 42);
    /* Box-Muller over the first outputs (computed independently in Python) */
    static const double want[4] = { 1.3192779385183107, -0.3656765258538521,
                                    -1.2527304447775982, -0.509159931369905 };
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol((double)nnrt_rng_normal(&r), want[i], 1e-6);
    double sum = 0, sq = 0;
    int n = 100000;
    for (int i = 0; i < n; i++) {
        double z = (double)nnrt_rng_normal(&r);
        ck_assert(isfinite(z));
        sum += z;
        sq += z * z;
    }
    double mean = sum / n, std = sqrt(sq / n - mean * mean);
    ck_assert_double_eq_tol(mean, 0.0, 0.015);
    ck_assert_double_eq_tol(std, 1.0, 0.015);
}
END_TEST

START_TEST(test_below_is_in_range_and_even)
{
    NnrtRng r;
    nnrt_rng_seed(&r, 7);
    int hist[10] = { 0 };
    for (int i = 0; i < 100000; i++) {
        uint32_t v = nnrt_rng_below(&r, 10);
        ck_assert_uint_lt(v, 10);
        hist[v]++;
    }
    for (int i = 0; i < 10; i++)
        ck_assert_int_lt(abs(hist[i] - 10000), 500);
    ck_assert_uint_eq(nnrt_rng_below(&r, 1), 0);
    for (int i = 0; i < 1000; i++) /* n near 2^32: the rejection path */
        ck_assert_uint_lt(nnrt_rng_below(&r, 0xF0000001u), 0xF0000001u);
}
END_TEST

START_TEST(test_shuffle_is_a_permutation)
{
    enum { N = 1000 };
    uint32_t perm[N];
    int seen[N];
    NnrtRng r;
    nnrt_rng_seed(&r, 3);
    for (uint32_t i = 0; i < N; i++)
        perm[i] = i;
    nnrt_shuffle(perm, N, &r);
    memset(seen, 0, sizeof seen);
    int fixed = 0;
    for (uint32_t i = 0; i < N; i++) {
        ck_assert_uint_lt(perm[i], N);
        ck_assert_int_eq(seen[perm[i]], 0);
        seen[perm[i]] = 1;
        fixed += perm[i] == i;
    }
    ck_assert_int_lt(fixed, 10); /* about 1 expected */
    nnrt_shuffle(perm, 0, &r);  /* empty and single are fine */
    nnrt_shuffle(perm, 1, &r);
}
END_TEST

START_TEST(test_shuffle_is_deterministic)
{
    uint32_t a[50], b[50];
    NnrtRng r1, r2;
    for (uint32_t i = 0; i < 50; i++)
        a[i] = b[i] = i;
    nnrt_rng_seed(&r1, 99);
    nnrt_rng_seed(&r2, 99);
    nnrt_shuffle(a, 50, &r1);
    nnrt_shuffle(b, 50, &r2);
    ck_assert_mem_eq(a, b, sizeof a);
}
END_TEST

/* nnrt_rng_advance(k) lands where k draws would: 0, 1, 1000 and 12345
 * steps, and two jumps add up (what a data-parallel rank relies on). */
START_TEST(test_advance_equals_draws)
{
    const uint64_t ks[] = { 0, 1, 1000, 12345 };
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        NnrtRng a, b;
        nnrt_rng_seed_stream(&a, 9, NNRT_STREAM_DROPOUT);
        b = a;
        for (uint64_t k = 0; k < ks[i]; k++)
            (void)nnrt_rng_u32(&a);
        nnrt_rng_advance(&b, ks[i]);
        ck_assert_uint_eq(a.state, b.state);
        ck_assert_uint_eq(a.inc, b.inc);
        ck_assert_uint_eq(nnrt_rng_u32(&a), nnrt_rng_u32(&b));
    }
    NnrtRng c, d;
    nnrt_rng_seed(&c, 1);
    d = c;
    nnrt_rng_advance(&c, 700);
    nnrt_rng_advance(&c, 300);
    nnrt_rng_advance(&d, 1000);
    ck_assert_uint_eq(c.state, d.state);
}
END_TEST

START_TEST(test_inits)
{
    float p[20000];
    NnrtRng r;
    nnrt_init_fill(p, 5, 2.5f);
    for (int i = 0; i < 5; i++)
        ASSERT_FEQ(p[i], 2.5f);
    nnrt_rng_seed(&r, 1);
    nnrt_init_uniform(p, 20000, -0.5f, 0.25f, &r);
    double sum = 0;
    for (int i = 0; i < 20000; i++) {
        ck_assert(p[i] >= -0.5f && p[i] < 0.25f);
        sum += (double)p[i];
    }
    ck_assert_double_eq_tol(sum / 20000, -0.125, 0.01);
    nnrt_init_normal(p, 20000, 0.01f, &r);
    double sq = 0;
    for (int i = 0; i < 20000; i++)
        sq += (double)p[i] * (double)p[i];
    ck_assert_double_eq_tol(sqrt(sq / 20000), 0.01, 0.0003);
}
END_TEST

static Suite *rng_suite(void)
{
    Suite *s = suite_create("rt_rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, test_pcg_core_matches_reference_demo);
    tcase_add_test(tc, test_seed42_known_answers);
    tcase_add_test(tc, test_streams_differ_and_match_reference);
    tcase_add_test(tc, test_splitmix_known_answer);
    tcase_add_test(tc, test_uniform_known_answers_and_range);
    tcase_add_test(tc, test_normal_known_answers_and_moments);
    tcase_add_test(tc, test_below_is_in_range_and_even);
    tcase_add_test(tc, test_shuffle_is_a_permutation);
    tcase_add_test(tc, test_shuffle_is_deterministic);
    tcase_add_test(tc, test_inits);
    tcase_add_test(tc, test_advance_equals_draws);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rng_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
