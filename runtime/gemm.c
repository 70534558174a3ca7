/* gemm.c: the one matrix product emitted code calls.
 *
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C     (row-major)
 *   op(A) = A (lda >= K) or A^T (A stored K x M, lda >= M); the same for B.
 *
 * Built with NNRT_CBLAS, nnrt_sgemm hands the product to a BLAS: BLIS's
 * bli_sgemm with NNRT_BLIS too, else cblas_sgemm (OpenBLAS; make chooses,
 * docs/design.md says why); otherwise it runs nnrt_sgemm_loops, which is always compiled so tests
 * can compare the two in one binary.  Both follow BLAS on the edge cases:
 * beta == 0 overwrites C without reading it (NaN garbage never leaks) and
 * alpha == 0 or K == 0 leaves beta * C.
 */
#include "nnrt.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(NNRT_BLIS)
#include <blis.h>
#include <stdint.h>
#elif defined(NNRT_CBLAS)
#include <cblas.h>
#endif

/* C = beta * C; beta == 0 stores zeros without reading C. */
static void nnrt_gemm_scale(int M, int N, float beta, float *C, int ldc)
{
    if (beta == 1.0f)
        return;
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * (size_t)ldc;
        for (int j = 0; j < N; j++)
            c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    }
}

/* op(B) = B: i-k-j order, C's row i gets a * B's row k (both contiguous). */
static void nnrt_gemm_nn_rows(int trans_a, int M, int N, int K, float alpha,
                              const float *A, int lda, const float *B, int ldb,
                              float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * (size_t)ldc;
        for (int k = 0; k < K; k++) {
            float a = trans_a ? A[(size_t)k * (size_t)lda + (size_t)i]
                              : A[(size_t)i * (size_t)lda + (size_t)k];
            a *= alpha;
            const float *b = B + (size_t)k * (size_t)ldb;
            for (int j = 0; j < N; j++)
                c[j] += a * b[j];
        }
    }
}

/* op(B) = B^T: C[i,j] += alpha * sum_k op(A)[i,k] * B[j,k], a dot product
 * along B's contiguous rows. */
static void nnrt_gemm_nt_dots(int trans_a, int M, int N, int K, float alpha,
                              const float *A, int lda, const float *B, int ldb,
                              float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * (size_t)ldc;
        for (int j = 0; j < N; j++) {
            const float *b = B + (size_t)j * (size_t)ldb;
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * (size_t)lda + (size_t)i]
                                  : A[(size_t)i * (size_t)lda + (size_t)k];
                s += a * b[k];
            }
            c[j] += alpha * s;
        }
    }
}

void nnrt_sgemm_loops(int trans_a, int trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    nnrt_gemm_scale(M, N, beta, C, ldc);
    if (K <= 0 || alpha == 0.0f)
        return;
    if (trans_b)
        nnrt_gemm_nt_dots(trans_a, M, N, K, alpha, A, lda, B, ldb, C, ldc);
    else
        nnrt_gemm_nn_rows(trans_a, M, N, K, alpha, A, lda, B, ldb, C, ldc);
}

/* The library computes each product on the calling thread: nnrt_sgemm
 * splits them over nnc's own threads (BLIS would otherwise read
 * OMP_NUM_THREADS, nnc's thread count, as its own). */
static void nnrt_blas_one_thread(void)
{
#if defined(NNRT_BLIS)
    bli_thread_set_num_threads(1);
#elif defined(NNRT_CBLAS)
    openblas_set_num_threads(1);
#endif
}

/* One product with the library's kernel (or the loops), on this thread. */
static void nnrt_sgemm_one(int trans_a, int trans_b, int M, int N, int K, float alpha,
                           const float *A, int lda, const float *B, int ldb, float beta,
                           float *C, int ldc)
{
#ifdef NNRT_CBLAS
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) { /* some BLAS reject K == 0 with lda < 1 */
        nnrt_gemm_scale(M, N, beta, C, ldc);
        return;
    }
#ifdef NNRT_BLIS
    /* BLIS takes a row stride and a column stride for each operand: row-major
     * is (ld, 1), op() the transpose flag; its typed API wants non-const
     * pointers but reads A and B only. */
    bli_sgemm(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              M, N, K, &alpha, (float *)(uintptr_t)A, lda, 1, (float *)(uintptr_t)B, ldb, 1, &beta, C, ldc, 1);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
#endif
#else
    nnrt_sgemm_loops(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

/* ---- the product, split over the threads ---------------------------------
 * Part p of P takes the rows [M·p/P, M·(p+1)/P) of C, rounded to 16, or the
 * columns likewise when C has fewer than 16·P rows: every element of C is
 * one thread's, summed over K in the kernel's order, so nothing is reduced
 * and the result is the same at every run with the same thread count. */
typedef struct NnrtGemmJob {
    int ta, tb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
} NnrtGemmJob;

enum { NNRT_SPLIT_WORK = 1 << 19 }; /* multiply-adds below which one thread is faster */

static int nnrt_cut(int total, int part, int parts)
{
    long c = (long)total * part / parts;
    c = (c + 8) / 16 * 16;
    return part == 0 ? 0 : part == parts ? total : (int)(c < total ? c : total);
}

static void nnrt_gemm_part(void *ctx, int part, int parts)
{
    const NnrtGemmJob *j = ctx;
    if (j->M >= 16 * parts) {
        int i0 = nnrt_cut(j->M, part, parts), i1 = nnrt_cut(j->M, part + 1, parts);
        const float *a = j->A + (j->ta ? (size_t)i0 : (size_t)i0 * (size_t)j->lda);
        nnrt_sgemm_one(j->ta, j->tb, i1 - i0, j->N, j->K, j->alpha, a, j->lda, j->B, j->ldb, j->beta,
                       j->C + (size_t)i0 * (size_t)j->ldc, j->ldc);
    } else {
        int c0 = nnrt_cut(j->N, part, parts), c1 = nnrt_cut(j->N, part + 1, parts);
        const float *b = j->B + (j->tb ? (size_t)c0 * (size_t)j->ldb : (size_t)c0);
        nnrt_sgemm_one(j->ta, j->tb, j->M, c1 - c0, j->K, j->alpha, j->A, j->lda, b, j->ldb, j->beta,
                       j->C + c0, j->ldc);
    }
}

void nnrt_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta,
                float *C, int ldc)
{
    int parts = nnrt_threads();
    if (parts <= 1 || M <= 0 || N <= 0 || K <= 0 || (double)M * N * K < NNRT_SPLIT_WORK ||
        (M < 16 * parts && N < 16 * parts)) {
        nnrt_sgemm_one(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    static int blas_one; /* the library's own threads under ours deadlock or crawl */
    if (!blas_one) {
        nnrt_blas_one_thread();
        blas_one = 1;
    }
    NnrtGemmJob j = {trans_a, trans_b, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc};
    nnrt_parallel(nnrt_gemm_part, &j);
}

/* ---- the thread count (nnrt.h: nnrt_blas_tune) --------------------------- */

/* OMP_NUM_THREADS: 1 when unset, else a whole number in [1, NNRT_MAX_THREADS];
 * anything else ends the program with one line (exit 2). */
static int nnrt_threads_env(void)
{
    const char *v = getenv("OMP_NUM_THREADS");
    if (!v)
        return 1;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < 1 || n > NNRT_MAX_THREADS) {
        fprintf(stderr, "OMP_NUM_THREADS=%.40s: the threads to train on must be a whole number "
                "from 1 to %d (unset: 1)\n", v, NNRT_MAX_THREADS);
        exit(2);
    }
    return (int)n;
}

/* ---- picking OpenBLAS's kernels (nnrt.h: nnrt_blas_tune) ---------------- */
#if defined(NNRT_CBLAS) && !defined(NNRT_BLIS) && defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <string.h>
#include <unistd.h>

static int nnrt_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

static void nnrt_pick_core(char **argv)
{
    const char *set = getenv("OPENBLAS_CORETYPE");
    if (getenv("NNRT_BLAS_KEEP") || (set && strcmp(set, "Haswell") != 0 && strcmp(set, "Zen") != 0) ||
        !nnrt_has_avx512())
        return;
    const char *core = openblas_get_corename();
    if (!core || !(strcmp(core, "Haswell") == 0 || strcmp(core, "Zen") == 0))
        return;
    if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) == 0)
        execv("/proc/self/exe", argv); /* only returns on failure: go on with the kernels we have */
}
#elif defined(NNRT_CBLAS)
static void nnrt_pick_core(char **argv) { (void)argv; }
#endif

void nnrt_blas_tune(char **argv)
{
    int n = nnrt_threads_env();
#ifdef NNRT_CBLAS
    nnrt_blas_one_thread(); /* nnrt_sgemm splits the products itself */
    nnrt_pick_core(argv);
#else
    (void)argv;
#endif
    nnrt_threads_start(n);
}
