/* sgemm.c: what a BLAS's sgemm achieves on the GEMMs of one training
 * step of a dense network, the bound for a step built on it.  Built twice:
 * build/bench/sgemm with OpenBLAS, build/bench/sgemm_blis with BLIS's
 * cblas_sgemm (-DSGEMM_BLIS) where BLIS is installed.
 *
 *   sgemm B D0 D1 ... Dn      layers D0->D1, D1->D2, ... with batch B
 *
 * Per dense layer (in -> out), row-major and in transpose-flag form as nnc
 * emits them, each 2*M*N*K flops:
 *   forward  Y[B,out]   = X[B,in] . W[in,out]        (N,N)  M=B   N=out K=in
 *   weights  dW[in,out] = X^T . dY                   (T,N)  M=in  N=out K=B
 *   inputs   dX[B,in]   = dY . W^T                   (N,T)  M=B   N=in  K=out
 * The first layer has no dX (nothing upstream needs it).  Each GEMM alone,
 * then the step's GEMMs back to back, are timed as the best of 40 rounds
 * of about 5 ms (best_time); printed after the core OpenBLAS chose:
 *   core Haswell
 *   gemm fwd1 128x512x784 NN  95.1 GFLOP/s
 *   step 410.8 MFLOP 4321.0 us 95.1 GFLOP/s
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_GEMMS 48

typedef struct Gemm {
    char name[16];
    int ta, tb, M, N, K;
    float *A, *B, *C;
} Gemm;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *filled(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "sgemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 7919u) % 1000u) * 1e-3f - 0.5f;
    return p;
}

static void gemm_add(Gemm *g, int *n, const char *name, int layer, int ta, int tb, int M, int N, int K)
{
    Gemm *x = &g[(*n)++];
    snprintf(x->name, sizeof x->name, "%s%d", name, layer);
    x->ta = ta, x->tb = tb, x->M = M, x->N = N, x->K = K;
    x->A = filled((size_t)M * (size_t)K);
    x->B = filled((size_t)K * (size_t)N);
    x->C = filled((size_t)M * (size_t)N);
}

static void gemm_run(const Gemm *x)
{
    int lda = x->ta ? x->M : x->K, ldb = x->tb ? x->K : x->N;
    cblas_sgemm(CblasRowMajor, x->ta ? CblasTrans : CblasNoTrans, x->tb ? CblasTrans : CblasNoTrans,
                x->M, x->N, x->K, 1.0f, x->A, lda, x->B, ldb, 0.0f, x->C, x->N);
}

static double flops(const Gemm *x)
{
    return 2.0 * x->M * x->N * x->K;
}

/* Seconds per pass over g[lo..hi): passes are timed in rounds of about
 * 5 ms (the count taken from one pass), the best of 40 rounds counts --
 * short rounds, so that on a busy machine some run undisturbed. */
static double best_time(const Gemm *g, int lo, int hi)
{
    double t0 = now();
    for (int i = lo; i < hi; i++)
        gemm_run(&g[i]);
    double once = now() - t0;
    long reps = once > 0.005 ? 1 : (long)(0.005 / (once > 1e-7 ? once : 1e-7));
    double best = 1e30;
    for (int round = 0; round < 40; round++) {
        t0 = now();
        for (long r = 0; r < reps; r++)
            for (int i = lo; i < hi; i++)
                gemm_run(&g[i]);
        double t = (now() - t0) / (double)reps;
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: sgemm B D0 D1 [D2 ...]\n");
        return 2;
    }
    int B = atoi(argv[1]), n = 0;
    Gemm g[MAX_GEMMS];
    for (int l = 0; l + 3 < argc && n + 3 <= MAX_GEMMS; l++) {
        int in = atoi(argv[l + 2]), out = atoi(argv[l + 3]);
        gemm_add(g, &n, "fwd", l + 1, 0, 0, B, out, in);
        gemm_add(g, &n, "dW", l + 1, 1, 0, in, out, B);
        if (l > 0)
            gemm_add(g, &n, "dX", l + 1, 0, 1, B, in, out);
    }
#if defined(SGEMM_BLIS)
    printf("core BLIS\n");
#elif defined(OPENBLAS_VERSION)
    printf("core %s\n", openblas_get_corename());
#endif
    double total = 0;
    for (int i = 0; i < n; i++)
        total += flops(&g[i]);
    for (int i = 0; i < n; i++) {
        double t = best_time(g, i, i + 1);
        printf("gemm %s %dx%dx%d %c%c %.1f GFLOP/s\n", g[i].name, g[i].M, g[i].N, g[i].K,
               g[i].ta ? 'T' : 'N', g[i].tb ? 'T' : 'N', flops(&g[i]) / t * 1e-9);
    }
    double t = best_time(g, 0, n);
    printf("step %.1f MFLOP %.1f us %.1f GFLOP/s\n", total * 1e-6, t * 1e6, total / t * 1e-9);
    return 0;
}
