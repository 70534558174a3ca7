/* test_rt_gemm.c: nnrt_sgemm (cblas) and nnrt_sgemm_loops against a naive
 * triple loop in double, for every transpose pair, odd sizes, padded
 * leading dimensions, and the BLAS edge cases (beta 0 over NaN garbage,
 * alpha 0, K 0).
 */
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef void GemmFn(int, int, int, int, int, float, const float *, int, const float *, int,
                    float, float *, int);

/* C = alpha op(A) op(B) + beta C in double, reading only what BLAS reads. */
static void naive(int ta, int tb, int M, int N, int K, double alpha, const float *A, int lda,
                  const float *B, int ldb, double beta, const float *C, int ldc, double *out)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = (double)(ta ? A[k * lda + i] : A[i * lda + k]);
                double b = (double)(tb ? B[j * ldb + k] : B[k * ldb + j]);
                s += a * b;
            }
            out[i * N + j] = alpha * s + (beta == 0 ? 0 : beta * (double)C[i * ldc + j]);
        }
}

static void fill(float *p, size_t n, NnrtRng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = nnrt_rng_uniform(r) * 2.0f - 1.0f;
}

/* One case for one implementation; lead dims padded by pad. */
static void check_case(GemmFn *fn, int ta, int tb, int M, int N, int K, float alpha, float beta,
                       int pad)
{
    NnrtRng r;
    nnrt_rng_seed(&r, (uint64_t)(M * 1000 + N * 100 + K * 10 + ta * 2 + tb));
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int arows = ta ? K : M, brows = tb ? N : K;
    float *A = malloc(sizeof(float) * (size_t)(arows * lda + 1));
    float *B = malloc(sizeof(float) * (size_t)(brows * ldb + 1));
    float *C = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    double *want = malloc(sizeof(double) * (size_t)(M * N + 1));
    fill(A, (size_t)(arows * lda), &r);
    fill(B, (size_t)(brows * ldb), &r);
    fill(C, (size_t)(M * ldc), &r);
    if (beta == 0.0f)
        for (int i = 0; i < M * ldc; i++)
            C[i] = NAN;
    naive(ta, tb, M, N, K, (double)alpha, A, lda, B, ldb, (double)beta, C, ldc, want);
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double got = (double)C[i * ldc + j];
            ck_assert_msg(fabs(got - want[i * N + j]) <= 1e-5 * (K + 1),
                          "ta=%d tb=%d M=%d N=%d K=%d C[%d,%d] = %g, want %g", ta, tb, M, N, K,
                          i, j, got, want[i * N + j]);
        }
    free(A), free(B), free(C), free(want);
}

static void check_all(GemmFn *fn)
{
    static const int sizes[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 7, 3, 5 }, { 5, 7, 3 },
                                    { 17, 13, 11 }, { 2, 33, 9 }, { 31, 1, 64 } };
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                const int *d = sizes[s];
                check_case(fn, ta, tb, d[0], d[1], d[2], 1.0f, 0.0f, 0);
                check_case(fn, ta, tb, d[0], d[1], d[2], 0.5f, 1.0f, 3);
                check_case(fn, ta, tb, d[0], d[1], d[2], -2.0f, 0.25f, 1);
            }
}

START_TEST(test_loops_match_naive)
{
    check_all(nnrt_sgemm_loops);
}
END_TEST

START_TEST(test_sgemm_matches_naive)
{
    check_all(nnrt_sgemm);
}
END_TEST

/* On 3 threads (an odd count: the blocks' cuts round to 16; more threads
 * than this machine's cores, so the case has its own time limit), products
 * of at least 2^19 multiply-adds, split: by rows (M = 64, 600, 50), by columns (M = 20 has
 * fewer than 16 rows a thread), every transpose, alpha, beta and padding. */
START_TEST(test_sgemm_split_matches_naive)
{
    ck_assert_int_eq(nnrt_threads_start(3), 3);
    ck_assert_int_eq(nnrt_threads(), 3);
    static const int sizes[][3] = { { 64, 96, 100 }, { 600, 40, 24 }, { 20, 300, 96 }, { 50, 37, 300 } };
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                const int *d = sizes[s];
                check_case(nnrt_sgemm, ta, tb, d[0], d[1], d[2], 1.0f, 0.0f, 0);
                check_case(nnrt_sgemm, ta, tb, d[0], d[1], d[2], -2.0f, 0.25f, 5);
            }
}
END_TEST

/* beta 0 must overwrite NaN; alpha 0 and K 0 leave beta * C. */
static void check_edges(GemmFn *fn)
{
    float A[6] = { 1, 2, 3, 4, 5, 6 }, B[6] = { 1, 0, 0, 1, 1, 1 };
    float C[4] = { NAN, NAN, NAN, NAN };
    fn(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    ck_assert(C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11);
    fn(0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 2.0f, C, 2);
    ck_assert(C[0] == 8 && C[1] == 10 && C[2] == 20 && C[3] == 22);
    fn(0, 0, 2, 2, 0, 1.0f, A, 1, B, 2, 0.5f, C, 2);
    ck_assert(C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11);
    float D[4] = { NAN, NAN, NAN, NAN };
    fn(0, 0, 2, 2, 0, 1.0f, A, 1, B, 2, 0.0f, D, 2);
    ck_assert(D[0] == 0 && D[1] == 0 && D[2] == 0 && D[3] == 0);
}

START_TEST(test_edges_loops)
{
    check_edges(nnrt_sgemm_loops);
}
END_TEST

START_TEST(test_edges_sgemm)
{
    check_edges(nnrt_sgemm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_gemm");
    TCase *tc = tcase_create("gemm");
    tcase_add_test(tc, test_loops_match_naive);
    tcase_add_test(tc, test_sgemm_matches_naive);
    tcase_add_test(tc, test_edges_loops);
    tcase_add_test(tc, test_edges_sgemm);
    suite_add_tcase(s, tc);
    TCase *split = tcase_create("split");
    tcase_set_timeout(split, 60);
    tcase_add_test(split, test_sgemm_split_matches_naive);
    suite_add_tcase(s, split);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
