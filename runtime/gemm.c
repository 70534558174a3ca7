/* gemm.c: the one matrix product emitted code calls.
 *
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C     (row-major)
 *   op(A) = A (lda >= K) or A^T (A stored K x M, lda >= M); the same for B.
 *
 * Built with NNRT_CBLAS, nnrt_sgemm hands the product to cblas_sgemm;
 * otherwise it runs nnrt_sgemm_loops, which is always compiled so tests
 * can compare the two in one binary.  Both follow BLAS on the edge cases:
 * beta == 0 overwrites C without reading it (NaN garbage never leaks) and
 * alpha == 0 or K == 0 leaves beta * C.
 */
#include "nnrt.h"

#include <stdlib.h>

#ifdef NNRT_CBLAS
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

void nnrt_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
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
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
#else
    nnrt_sgemm_loops(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

/* ---- picking OpenBLAS's kernels (nnrt.h: nnrt_blas_tune) ---------------- */
#if defined(NNRT_CBLAS) && defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#include <string.h>
#include <unistd.h>

static int nnrt_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}

void nnrt_blas_tune(char **argv)
{
    if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("OMP_NUM_THREADS"))
        openblas_set_num_threads(1);
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
void nnrt_blas_tune(char **argv)
{
    (void)argv;
    if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("OMP_NUM_THREADS"))
        openblas_set_num_threads(1);
}
#else
void nnrt_blas_tune(char **argv)
{
    (void)argv;
}
#endif
