/* tests/cuda/mock/cublas_v2.h: the part of cuBLAS nnc's CUDA programs
 * use, on the CPU (see cuda_runtime.h beside it).  cublasSgemm checks its
 * arguments as cuBLAS does, then computes C = alpha·op(A)·op(B) + beta·C in
 * column-major order: with MOCK_CBLAS through cblas_sgemm (fast; the same
 * sums as the C program's row-major call), else by the definition, each
 * element summed in float in k order (beta 0 does not read C).  Handle
 * settings are accepted. */
#ifndef NNC_MOCK_CUBLAS_V2_H
#define NNC_MOCK_CUBLAS_V2_H

#include "cuda_runtime.h"

#ifdef MOCK_CBLAS
#include <cblas.h>
#endif

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_INVALID_VALUE = 7,
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2 } cublasMath_t;
typedef enum { CUBLAS_ATOMICS_NOT_ALLOWED = 0, CUBLAS_ATOMICS_ALLOWED = 1 } cublasAtomicsMode_t;
typedef enum { CUBLAS_POINTER_MODE_HOST = 0, CUBLAS_POINTER_MODE_DEVICE = 1 } cublasPointerMode_t;

struct MockCublas {
    cudaStream_t s;
};
typedef MockCublas *cublasHandle_t;

inline const char *cublasGetStatusName(cublasStatus_t st)
{
    return st == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}
inline const char *cublasGetStatusString(cublasStatus_t st) { return cublasGetStatusName(st); }

inline cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    *h = new MockCublas{NULL};
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    h->s = s;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetWorkspace(cublasHandle_t, void *ws, size_t bytes)
{
    return ws && bytes ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetAtomicsMode(cublasHandle_t, cublasAtomicsMode_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetPointerMode(cublasHandle_t, cublasPointerMode_t) { return CUBLAS_STATUS_SUCCESS; }

inline cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                  const float *alpha, const float *A, int lda, const float *B, int ldb,
                                  const float *beta, float *C, int ldc)
{
    /* the leading dimensions cuBLAS checks (column-major storage) */
    if (!h || m < 0 || n < 0 || k < 0 || lda < (ta == CUBLAS_OP_N ? m : k) || lda < 1 ||
        ldb < (tb == CUBLAS_OP_N ? k : n) || ldb < 1 || ldc < m || ldc < 1)
        return CUBLAS_STATUS_INVALID_VALUE;
    float al = *alpha, be = *beta; /* host pointer mode: read at the call */
#ifdef MOCK_CBLAS /* OpenBLAS, column-major: what the C program's row-major call computes */
    mock_do([=] {
        cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                    tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k, al, A, lda, B, ldb, be, C, ldc);
    });
    return CUBLAS_STATUS_SUCCESS;
#endif
    mock_do([=] {
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float s = 0.0f;
                for (int l = 0; l < k; l++) {
                    float a = ta == CUBLAS_OP_N ? A[i + (long)l * lda] : A[l + (long)i * lda];
                    float b = tb == CUBLAS_OP_N ? B[l + (long)j * ldb] : B[j + (long)l * ldb];
                    s += a * b;
                }
                C[i + (long)j * ldc] = be == 0.0f ? al * s : al * s + be * C[i + (long)j * ldc];
            }
    });
    return CUBLAS_STATUS_SUCCESS;
}

#endif
