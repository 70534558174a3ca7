/* nnrt_cuda.cu: the driver of a CUDA training program (libnnrt_cuda.a).
 *
 *   nnrt_cuda_main = flags -> device setup -> nnrt_cuda_run
 *   nnrt_cuda_run  = config (flags over the train block) -> load data ->
 *                    upload it -> init, --init-from or --load -> epochs ->
 *                    summary -> checkpoint -> [plot]
 *
 * It is train.c's driver with the loop moved onto the device: the same
 * flags, messages, progress lines, CSV rows, early stopping and
 * checkpoints, computed from the same numbers (nnrt.h describes them).
 * What differs is where the work happens:
 *   - the data sets are uploaded once; a batch is gathered on the device
 *     (image bytes through a 256-entry table of nnrt_gather's formula,
 *     so the inputs are the C program's bit for bit);
 *   - the epoch's permutation is made on the host by the runtime's RNG
 *     (nnrt_rng_seed_stream(seed + e, NNRT_STREAM_SHUFFLE), nnrt_shuffle)
 *     and uploaded once per epoch;
 *   - a training step is captured once as a CUDA graph for each batch size
 *     (B, and the last batch's rows) and replayed; lr, step and the batch
 *     cursor live in device memory (NnrtCudaCtl);
 *   - the step losses stay on the device until the end of the epoch, or
 *     until a progress line (log_every) needs them; a non-finite loss is
 *     reported at its epoch and step as the C program does;
 *   - evaluations (test set, summary, the CSV log's accuracy) run on the
 *     device too, a captured graph per batch size, and return one loss
 *     and one count of right predictions per batch.
 *
 * --gradcheck, --predict, a train block with validation= (the held-out set
 * lives in train.c), and any run with NNRT_CUDA_HOST_LOOP=1 in the
 * environment, go through train.c itself (nnrt_run) with the model's
 * functions wrapped to run on the device one call at a time: params and
 * state uploaded from the host mirrors before each forward, grads copied
 * back after each backward.  That is slow and simple, and it gives the
 * test suite a second route to the same numbers (--predict's batches go
 * through the device's forward, a copy in and out each).
 */
#include "nnrt_cuda.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- checked calls ---------------------------------------------------------- */

void nnrt_cuda_check(cudaError_t e, const char *call, const char *file, int line)
{
    if (e == cudaSuccess)
        return;
    fprintf(stderr, "nnrt: CUDA error %s: %s\n    in %s\n    at %s:%d\n", cudaGetErrorName(e),
            cudaGetErrorString(e), call, file, line);
    if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver)
        fprintf(stderr, "    (this program needs an NVIDIA GPU and its driver; nvidia-smi lists them)\n");
    exit(1);
}

void nnrt_cublas_check(cublasStatus_t st, const char *call, const char *file, int line)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return;
    fprintf(stderr, "nnrt: cuBLAS error %s: %s\n    in %s\n    at %s:%d\n", cublasGetStatusName(st),
            cublasGetStatusString(st), call, file, line);
    exit(1);
}

/* ---- runtime kernels --------------------------------------------------------- */

/* A data set on the device: inputs in their stored type, labels as loaded. */
typedef struct NnrtCudaSet {
    size_t rows, in_dim, t_dim;
    const uint8_t *xb;   /* IDX images: bytes, converted through lut */
    const float *xf;     /* or floats: (x * scale - mean) / std */
    const float *lut;    /* 256 entries, nnrt_gather's table */
    float scale, mean, std;
    int plain;           /* scale 1, mean 0, std 1: a copy */
    const int32_t *tc;   /* class ids */
    const float *tf;     /* or float rows of t_dim */
} NnrtCudaSet;

/* x row i = data row perm[first + i] (perm NULL: first + i), converted as
 * nnrt_gather converts; t likewise.  first = *cursor * B, or start when
 * cursor is NULL.  One thread per element of the wider of x and t rows. */
__global__ void nnrt_cuda_gather_kernel(NnrtCudaSet d, const uint32_t *perm, const int *cursor, long start, int B,
                                        int n, float *x, void *t)
{
    long width = d.in_dim > d.t_dim ? (long)d.in_dim : (long)d.t_dim;
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long)n * width)
        return;
    long i = idx / width, j = idx % width;
    long first = cursor ? (long)*cursor * B : start;
    size_t row = perm ? perm[first + i] : (size_t)(first + i);
    if (j < (long)d.in_dim) {
        size_t at = row * d.in_dim + (size_t)j;
        float v;
        if (d.xb)
            v = d.lut[d.xb[at]];
        else if (d.plain)
            v = d.xf[at];
        else /* no contraction into an FMA: the C program's rounding */
            v = __fdiv_rn(__fsub_rn(__fmul_rn(d.xf[at], d.scale), d.mean), d.std);
        x[i * (long)d.in_dim + j] = v;
    }
    if (j < (long)d.t_dim) {
        if (d.tc)
            ((int32_t *)t)[i] = d.tc[row];
        else
            ((float *)t)[i * (long)d.t_dim + j] = d.tf[row * d.t_dim + (size_t)j];
    }
}

/* After a training forward: the step's loss into its slot, then the
 * cursor and the step count move on (the update that follows sees the
 * new step, counted from 1). */
__global__ void nnrt_cuda_train_record(NnrtCudaCtl *ctl, const float *loss, float *losses)
{
    losses[ctl->cursor] = loss[0];
    ctl->cursor++;
    ctl->step++;
}

/* How a row counts as right (nnrt.h: acc_kind); train.c's nnrt_correct. */
typedef struct NnrtCudaAcc {
    int kind;          /* NNRT_ACC_* */
    int out_dim;
    float threshold;
    int class_ids;     /* labels are int32 ids, else float rows of t_dim */
    int t_dim;
} NnrtCudaAcc;

static __device__ int nnrt_cuda_argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static __device__ int nnrt_cuda_correct(NnrtCudaAcc a, const float *y, const void *t, int i)
{
    const int32_t *tc = a.class_ids ? (const int32_t *)t : NULL;
    const float *tf = a.class_ids ? NULL : (const float *)t;
    int w = a.out_dim, ok = 0;
    if (a.kind == NNRT_ACC_ARGMAX) {
        int want = tc ? tc[i] : nnrt_cuda_argmax(tf + (long)i * a.t_dim, a.t_dim);
        return nnrt_cuda_argmax(y + (long)i * w, w) == want;
    }
    for (int j = 0; j < w; j++) {
        int guess = y[(long)i * w + j] >= a.threshold;
        int want = tc ? tc[i] != 0 : tf[(long)i * a.t_dim + (a.t_dim == w ? j : 0)] >= 0.5f;
        ok += guess == want;
    }
    return ok;
}

/* After an evaluation forward (one block): the batch's loss (when loss is
 * not NULL) and its right predictions (when acc.kind is not NONE) into slot
 * ctl->eval_cursor, which then moves on.  Counts are summed by a fixed
 * tree: exact, and the same order every time. */
__global__ void nnrt_cuda_eval_record(NnrtCudaCtl *ctl, const float *loss, const float *y, const void *t, int n,
                                      NnrtCudaAcc acc, float *losses, int *ok)
{
    double c = 0.0;
    if (acc.kind != NNRT_ACC_NONE)
        for (int i = threadIdx.x; i < n; i += blockDim.x)
            c += nnrt_cuda_correct(acc, y, t, i);
    c = nnrt_block_sum_d(c);
    if (threadIdx.x == 0) {
        int slot = ctl->eval_cursor;
        losses[slot] = loss ? loss[0] : 0.0f;
        ok[slot] = (int)c;
        ctl->eval_cursor = slot + 1;
    }
}

__global__ void nnrt_cuda_drop_advance_kernel(NnrtCudaCtl *ctl, long long count)
{
    ctl->drop_pos += (unsigned long long)count;
}

void nnrt_cuda_drop_advance(cudaStream_t s, NnrtCudaCtl *ctl, long long count)
{
    nnrt_cuda_drop_advance_kernel<<<1, 1, 0, s>>>(ctl, count);
    NNRT_CUDA_LAUNCHED("nnrt_cuda_drop_advance_kernel");
}

/* Σ g² in double: NNRT_CUDA_NORM_BLOCKS blocks, each over a fixed stride
 * of the block, then one block over their partial sums. */
__global__ void nnrt_cuda_sumsq_kernel(const float *g, long count, double *partial)
{
    double s = 0.0;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += (long)gridDim.x * blockDim.x)
        s += (double)g[i] * g[i];
    s = nnrt_block_sum_d(s);
    if (threadIdx.x == 0)
        partial[blockIdx.x] = s;
}

__global__ void nnrt_cuda_norm_kernel(const double *partial, float *out)
{
    double s = threadIdx.x < NNRT_CUDA_NORM_BLOCKS ? partial[threadIdx.x] : 0.0;
    s = nnrt_block_sum_d(s);
    if (threadIdx.x == 0)
        out[0] = (float)sqrt(s);
}

void nnrt_cuda_grad_norm(cudaStream_t s, const float *g, long count, double *scratch, float *out)
{
    nnrt_cuda_sumsq_kernel<<<NNRT_CUDA_NORM_BLOCKS, NNRT_CUDA_THREADS, 0, s>>>(g, count, scratch);
    NNRT_CUDA_LAUNCHED("nnrt_cuda_sumsq_kernel");
    nnrt_cuda_norm_kernel<<<1, NNRT_CUDA_THREADS, 0, s>>>(scratch, out);
    NNRT_CUDA_LAUNCHED("nnrt_cuda_norm_kernel");
}

/* ---- the device side of the program (one model per process) ---------------- */

enum { NNRT_CUDA_G_TRAIN, NNRT_CUDA_G_EVAL, NNRT_CUDA_G_PREDICT };
#define NNRT_CUDA_GRAPHS 16
#define NNRT_CUDA_WORKSPACE (32u << 20) /* cuBLAS's recommended workspace on Hopper */

typedef struct NnrtCudaGraph {
    int kind, n;
    const NnrtCudaSet *set;
    cudaGraphExec_t exec;
} NnrtCudaGraph;

typedef struct NnrtCudaDev {
    NnrtCudaModel *cm;
    cudaStream_t s;
    cublasHandle_t cublas;
    void *workspace;
    char *mem;                 /* the model's one allocation */
    NnrtCudaCtl *ctl, *ctl_h;  /* device, pinned host staging */
    NnrtCudaSet train, test;
    uint32_t *perm, *perm_h;   /* the epoch's order: device, pinned host */
    float *losses, *losses_h;  /* per step of an epoch, or per batch of an evaluation */
    int *ok, *ok_h;            /* right predictions per batch of an evaluation */
    char *best;                /* early stopping: the params region at the best test loss */
    NnrtCudaGraph graphs[NNRT_CUDA_GRAPHS];
    int n_graphs;
    void *owned[8];            /* data set buffers */
    int n_owned;
} NnrtCudaDev;

static NnrtCudaDev dev;

static void nnrt_cuda_setup(NnrtCudaModel *cm)
{
    dev.cm = cm;
    /* cuBLAS is bit-reproducible on one stream; the variable keeps it so if
     * anything adds a stream (cuBLAS docs, "Results reproducibility"). */
    setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
    NNRT_CUDA_CHECK(cudaStreamCreateWithFlags(&dev.s, cudaStreamNonBlocking));
    NNRT_CUBLAS_CHECK(cublasCreate(&dev.cublas));
    NNRT_CUBLAS_CHECK(cublasSetStream(dev.cublas, dev.s));
    NNRT_CUDA_CHECK(cudaMalloc(&dev.workspace, NNRT_CUDA_WORKSPACE));
    NNRT_CUBLAS_CHECK(cublasSetWorkspace(dev.cublas, dev.workspace, NNRT_CUDA_WORKSPACE));
    NNRT_CUBLAS_CHECK(cublasSetMathMode(dev.cublas, CUBLAS_DEFAULT_MATH)); /* FP32 throughout: no TF32 */
    NNRT_CUBLAS_CHECK(cublasSetAtomicsMode(dev.cublas, CUBLAS_ATOMICS_NOT_ALLOWED));
    NNRT_CUBLAS_CHECK(cublasSetPointerMode(dev.cublas, CUBLAS_POINTER_MODE_HOST));
    NNRT_CUDA_CHECK(cudaMalloc(&dev.mem, cm->mem_bytes));
    NNRT_CUDA_CHECK(cudaMemset(dev.mem, 0, cm->mem_bytes));
    NNRT_CUDA_CHECK(cudaMalloc(&dev.ctl, sizeof *dev.ctl));
    NNRT_CUDA_CHECK(cudaMemset(dev.ctl, 0, sizeof *dev.ctl));
    NNRT_CUDA_CHECK(cudaMallocHost(&dev.ctl_h, sizeof *dev.ctl_h));
    memset(dev.ctl_h, 0, sizeof *dev.ctl_h);
    cm->bind(cm, dev.mem, dev.ctl, dev.cublas);
}

static void nnrt_cuda_teardown(void)
{
    for (int i = 0; i < dev.n_graphs; i++)
        NNRT_CUDA_CHECK(cudaGraphExecDestroy(dev.graphs[i].exec));
    for (int i = 0; i < dev.n_owned; i++)
        NNRT_CUDA_CHECK(cudaFree(dev.owned[i]));
    NNRT_CUDA_CHECK(cudaFree(dev.perm));
    NNRT_CUDA_CHECK(cudaFree(dev.losses));
    NNRT_CUDA_CHECK(cudaFree(dev.ok));
    NNRT_CUDA_CHECK(cudaFree(dev.best));
    NNRT_CUDA_CHECK(cudaFreeHost(dev.perm_h));
    NNRT_CUDA_CHECK(cudaFreeHost(dev.losses_h));
    NNRT_CUDA_CHECK(cudaFreeHost(dev.ok_h));
    NNRT_CUDA_CHECK(cudaFreeHost(dev.ctl_h));
    NNRT_CUDA_CHECK(cudaFree(dev.ctl));
    NNRT_CUDA_CHECK(cudaFree(dev.mem));
    NNRT_CUBLAS_CHECK(cublasDestroy(dev.cublas));
    NNRT_CUDA_CHECK(cudaFree(dev.workspace));
    NNRT_CUDA_CHECK(cudaStreamDestroy(dev.s));
}

/* ---- host mirrors <-> device -------------------------------------------------- */

static void nnrt_cuda_put(size_t off, const void *host, size_t bytes)
{
    if (bytes)
        NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.mem + off, host, bytes, cudaMemcpyHostToDevice, dev.s));
}

static void nnrt_cuda_get(void *host, size_t off, size_t bytes)
{
    if (bytes)
        NNRT_CUDA_CHECK(cudaMemcpyAsync(host, dev.mem + off, bytes, cudaMemcpyDeviceToHost, dev.s));
}

static void nnrt_cuda_upload_params(void)
{
    NnrtCudaModel *cm = dev.cm;
    nnrt_cuda_put(cm->params_off, cm->host_params, cm->params_bytes);
    nnrt_cuda_put(cm->state_off, cm->host_state, cm->state_bytes);
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
}

static void nnrt_cuda_download_params(void)
{
    NnrtCudaModel *cm = dev.cm;
    nnrt_cuda_get(cm->host_params, cm->params_off, cm->params_bytes);
    nnrt_cuda_get(cm->host_state, cm->state_off, cm->state_bytes);
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
}

/* lr and step (and, with seed_drop, the dropout generator) into the control block. */
static void nnrt_cuda_set_ctl(float lr, long long step, int cursor)
{
    dev.ctl_h->lr = lr;
    dev.ctl_h->step = step;
    dev.ctl_h->cursor = cursor;
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.ctl, dev.ctl_h, offsetof(NnrtCudaCtl, eval_cursor), cudaMemcpyHostToDevice,
                                    dev.s));
}

/* ---- the model's functions for train.c (--gradcheck, NNRT_CUDA_HOST_LOOP) ---- */

static void nnrt_cuda_host_init(uint64_t seed)
{
    NnrtCudaModel *cm = dev.cm;
    cm->init(seed);
    nnrt_cuda_upload_params();
    NnrtRng rng; /* the dropout stream, as the C program's init seeds it */
    nnrt_rng_seed_stream(&rng, seed, NNRT_STREAM_DROPOUT);
    memset(dev.ctl_h, 0, sizeof *dev.ctl_h);
    dev.ctl_h->drop_state = rng.state;
    dev.ctl_h->drop_inc = rng.inc;
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.ctl, dev.ctl_h, sizeof *dev.ctl, cudaMemcpyHostToDevice, dev.s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
}

static float nnrt_cuda_host_forward(const float *x, const void *t, int n, int mode)
{
    NnrtCudaModel *cm = dev.cm;
    float loss;
    nnrt_cuda_put(cm->params_off, cm->host_params, cm->params_bytes); /* the host mirrors lead here */
    nnrt_cuda_put(cm->state_off, cm->host_state, cm->state_bytes);
    NNRT_CUDA_CHECK(cudaMemcpyAsync(cm->x, x, (size_t)n * cm->x_bytes_per_row, cudaMemcpyHostToDevice, dev.s));
    NNRT_CUDA_CHECK(cudaMemcpyAsync(cm->t, t, (size_t)n * cm->t_bytes_per_row, cudaMemcpyHostToDevice, dev.s));
    cm->forward(dev.s, n, mode);
    NNRT_CUDA_CHECK(cudaMemcpyAsync(&loss, cm->loss, sizeof loss, cudaMemcpyDeviceToHost, dev.s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
    return loss;
}

static void nnrt_cuda_host_backward(int n)
{
    NnrtCudaModel *cm = dev.cm;
    cm->backward(dev.s, n);
    nnrt_cuda_get(cm->host_grads, cm->grads_off, cm->grads_bytes);
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
}

static void nnrt_cuda_host_update(float lr, long step)
{
    nnrt_cuda_set_ctl(lr, step, 0);
    dev.cm->update(dev.s);
    nnrt_cuda_download_params();
}

static void nnrt_cuda_host_predict(const float *x, int n, float *y)
{
    NnrtCudaModel *cm = dev.cm;
    nnrt_cuda_put(cm->params_off, cm->host_params, cm->params_bytes);
    NNRT_CUDA_CHECK(cudaMemcpyAsync(cm->x, x, (size_t)n * cm->x_bytes_per_row, cudaMemcpyHostToDevice, dev.s));
    cm->forward(dev.s, n, NNRT_CUDA_PREDICT);
    NNRT_CUDA_CHECK(cudaMemcpyAsync(y, cm->output, (size_t)n * cm->m->out_dim * sizeof(float), cudaMemcpyDeviceToHost,
                                    dev.s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
}

static void nnrt_cuda_host_functions(NnrtModel *m)
{
    m->init = nnrt_cuda_host_init;
    m->forward = nnrt_cuda_host_forward;
    m->backward = nnrt_cuda_host_backward;
    m->update = nnrt_cuda_host_update;
    m->predict = nnrt_cuda_host_predict;
    m->blas_tune = NULL;
}

/* ---- data sets on the device ---------------------------------------------------- */

static const void *nnrt_cuda_upload(const void *host, size_t bytes)
{
    void *p;
    NNRT_CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    if (bytes)
        NNRT_CUDA_CHECK(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice));
    dev.owned[dev.n_owned++] = p;
    return p;
}

/* A set normalized per column (NNRT_NORM_COLUMN): every row converted on
 * the host by nnrt_gather (the C program's own numbers) and uploaded as
 * plain floats.  It costs 4 bytes an input on the device, which tabular
 * data (the use of per-column figures) can afford. */
static void nnrt_cuda_upload_columns(const NnrtData *d, NnrtCudaSet *s)
{
    size_t n = d->rows * d->in_dim;
    float *x = (float *)malloc((n ? n : 1) * sizeof(float));
    if (!x) {
        fprintf(stderr, "nnrt: out of memory converting %zu rows for the device\n", d->rows);
        exit(1);
    }
    nnrt_gather(d, NULL, 0, d->rows, x, NULL);
    s->xf = (const float *)nnrt_cuda_upload(x, n * sizeof(float));
    s->plain = 1;
    free(x);
}

static void nnrt_cuda_upload_set(const NnrtData *d, NnrtCudaSet *s)
{
    memset(s, 0, sizeof *s);
    s->rows = d->rows;
    s->in_dim = d->in_dim;
    s->t_dim = d->tc ? 1 : d->t_dim;
    s->scale = d->x_scale;
    s->mean = d->x_mean;
    s->std = d->x_std;
    s->plain = d->x_scale == 1.0f && d->x_mean == 0.0f && d->x_std == 1.0f;
    if (d->col_mean) {
        nnrt_cuda_upload_columns(d, s);
    } else if (d->xb) {
        /* nnrt_gather's ((float)b * scale - mean) / std for each of the 256
         * byte values, rounded step by step as the C runtime (ISO C, no
         * contraction) rounds it: the volatile keeps the product from
         * fusing into an FMA where the host has one */
        float lut[256];
        for (int b = 0; b < 256; b++) {
            volatile float prod = (float)b * d->x_scale;
            lut[b] = (prod - d->x_mean) / d->x_std;
        }
        s->xb = (const uint8_t *)nnrt_cuda_upload(d->xb, d->rows * d->in_dim);
        s->lut = (const float *)nnrt_cuda_upload(lut, sizeof lut);
    } else {
        s->xf = (const float *)nnrt_cuda_upload(d->xf, d->rows * d->in_dim * sizeof(float));
    }
    if (d->tc)
        s->tc = (const int32_t *)nnrt_cuda_upload(d->tc, d->rows * sizeof(int32_t));
    else
        s->tf = (const float *)nnrt_cuda_upload(d->tf, d->rows * d->t_dim * sizeof(float));
}

static void nnrt_cuda_gather(const NnrtCudaSet *set, const uint32_t *perm, const int *cursor, int n)
{
    NnrtCudaModel *cm = dev.cm;
    long width = set->in_dim > set->t_dim ? (long)set->in_dim : (long)set->t_dim;
    nnrt_cuda_gather_kernel<<<nnrt_cuda_blocks((long)n * width, NNRT_CUDA_THREADS), NNRT_CUDA_THREADS, 0, dev.s>>>(
        *set, perm, cursor, 0, (int)cm->m->batch, n, cm->x, cm->t);
    NNRT_CUDA_LAUNCHED("nnrt_cuda_gather_kernel");
}

/* ---- one batch, as a graph --------------------------------------------------------- */

static NnrtCudaAcc nnrt_cuda_acc(const NnrtCudaSet *set)
{
    const NnrtModel *m = dev.cm->m;
    NnrtCudaAcc a = {m->acc_kind, (int)m->out_dim, m->acc_threshold, set->tc != NULL, (int)set->t_dim};
    return a;
}

/* What one replay does: a training step on the train set's permuted rows,
 * or the forward of an evaluation batch in row order (EVAL with the loss,
 * PREDICT without). */
static void nnrt_cuda_batch(int kind, const NnrtCudaSet *set, int n)
{
    NnrtCudaModel *cm = dev.cm;
    if (kind == NNRT_CUDA_G_TRAIN) {
        nnrt_cuda_gather(set, dev.perm, &dev.ctl->cursor, n);
        cm->forward(dev.s, n, NNRT_TRAIN);
        nnrt_cuda_train_record<<<1, 1, 0, dev.s>>>(dev.ctl, cm->loss, dev.losses);
        NNRT_CUDA_LAUNCHED("nnrt_cuda_train_record");
        cm->backward(dev.s, n);
        cm->update(dev.s);
        return;
    }
    nnrt_cuda_gather(set, NULL, &dev.ctl->eval_cursor, n);
    cm->forward(dev.s, n, kind == NNRT_CUDA_G_EVAL ? (int)NNRT_EVAL : (int)NNRT_CUDA_PREDICT);
    nnrt_cuda_eval_record<<<1, NNRT_CUDA_THREADS, 0, dev.s>>>(dev.ctl, kind == NNRT_CUDA_G_EVAL ? cm->loss : NULL,
                                                               cm->output, cm->t, n, nnrt_cuda_acc(set), dev.losses,
                                                               dev.ok);
    NNRT_CUDA_LAUNCHED("nnrt_cuda_eval_record");
}

/* The graph of (kind, set, n), captured on first use.  Before a capture
 * the batch's GEMMs run once outside it (forward with the same masks, then
 * backward: they write only the arena and the grads, which every step
 * rewrites), so cuBLAS has picked and loaded its kernels. */
static cudaGraphExec_t nnrt_cuda_graph(int kind, const NnrtCudaSet *set, int n)
{
    for (int i = 0; i < dev.n_graphs; i++)
        if (dev.graphs[i].kind == kind && dev.graphs[i].set == set && dev.graphs[i].n == n)
            return dev.graphs[i].exec;
    if (dev.n_graphs == NNRT_CUDA_GRAPHS) {
        fprintf(stderr, "nnrt: internal error: more than %d CUDA graphs\n", NNRT_CUDA_GRAPHS);
        exit(1);
    }
    NnrtCudaModel *cm = dev.cm;
    cm->forward(dev.s, n, kind == NNRT_CUDA_G_TRAIN ? (int)NNRT_TRAIN_SAME_MASK : (int)NNRT_EVAL);
    if (kind == NNRT_CUDA_G_TRAIN)
        cm->backward(dev.s, n);
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
    cudaGraph_t graph;
    NNRT_CUDA_CHECK(cudaStreamBeginCapture(dev.s, cudaStreamCaptureModeGlobal));
    nnrt_cuda_batch(kind, set, n);
    NNRT_CUDA_CHECK(cudaStreamEndCapture(dev.s, &graph));
    NnrtCudaGraph *g = &dev.graphs[dev.n_graphs++];
    g->kind = kind;
    g->set = set;
    g->n = n;
    NNRT_CUDA_CHECK(cudaGraphInstantiate(&g->exec, graph, 0));
    NNRT_CUDA_CHECK(cudaGraphDestroy(graph));
    return g->exec;
}

static void nnrt_cuda_replay(int kind, const NnrtCudaSet *set, int n)
{
    NNRT_CUDA_CHECK(cudaGraphLaunch(nnrt_cuda_graph(kind, set, n), dev.s));
}

/* ---- the run: train.c's NnrtRun, on the device ----------------------------------- */

typedef struct NnrtCudaRun {
    NnrtCudaModel *cm;
    NnrtModel *m;
    const NnrtArgs *a;
    FILE *out, *err;
    int epochs, quiet;
    float lr;
    uint64_t seed;
    const char *save;
    int log_every, save_every;
    char *stop_path;       /* an interrupt's and --save-every's checkpoint (nnrt_stop_path) */
    NnrtSource src, test_src;
    NnrtData train, test;
    int has_test, early;
    double best_loss;
    int best_epoch;
    NnrtCsvLog log;
    NnrtHistory hist;      /* --plot: the figures of every epoch run */
    int epoch;             /* epochs completed */
    long step;             /* updates done, over all epochs */
    long batch;            /* batches done of epoch `epoch` (an interrupted one), else 0 */
    long step0;            /* step when this run began: its throughput counts from here */
    double rows_run;       /* rows this run has trained on (samples/s) */
    int nothing_left;      /* --load was already at --epochs: no training, no save */
    double t0;
    NnrtTick tick;         /* the progress line on a terminal */
    int sig;               /* the signal that stopped the run, or 0 */
    FILE *step_log;        /* NNRT_STEP_LOG: every step's loss, %.9g */
    char *snap;            /* host copy of params then state at an epoch boundary (a checkpoint due) */
    int snap_epoch;        /* the position it holds; snap_epoch -1: none yet */
    long snap_step, snap_batch;
    char msg[1024];
} NnrtCudaRun;

/* Steps replayed before the host looks at the losses and at a stop signal. */
#define NNRT_CUDA_CHUNK 256

typedef struct NnrtCudaEpoch {
    int e;
    float lr;
    long iters;
    double sum, rows, win_sum, win_rows;
    int logged;            /* a plain progress line was due in this epoch */
} NnrtCudaEpoch;

/* Mean loss (EVAL, weighted by rows) and accuracy over a whole set, in
 * batches of B in row order: train.c's nnrt_eval_pass. */
static void nnrt_cuda_eval(NnrtCudaRun *r, const NnrtCudaSet *set, int want_loss, double *loss, double *acc)
{
    const NnrtModel *m = r->m;
    size_t B = m->batch, batches = (set->rows + B - 1) / B;
    int want_acc = m->acc_kind != NNRT_ACC_NONE;
    *loss = *acc = (double)NAN;
    if (!(want_loss || want_acc) || set->rows == 0)
        return;
    NNRT_CUDA_CHECK(cudaMemsetAsync(&dev.ctl->eval_cursor, 0, sizeof(int), dev.s));
    for (size_t b = 0; b < batches; b++) {
        size_t n = set->rows - b * B < B ? set->rows - b * B : B;
        nnrt_cuda_replay(want_loss ? NNRT_CUDA_G_EVAL : NNRT_CUDA_G_PREDICT, set, (int)n);
    }
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.losses_h, dev.losses, batches * sizeof(float), cudaMemcpyDeviceToHost, dev.s));
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.ok_h, dev.ok, batches * sizeof(int), cudaMemcpyDeviceToHost, dev.s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
    double sum = 0.0;
    size_t ok = 0, count = 0;
    for (size_t b = 0; b < batches; b++) {
        size_t n = set->rows - b * B < B ? set->rows - b * B : B;
        sum += (double)dev.losses_h[b] * (double)n;
        ok += (size_t)dev.ok_h[b];
        count += m->acc_kind == NNRT_ACC_ARGMAX ? n : n * m->out_dim;
    }
    if (want_loss)
        *loss = sum / (double)set->rows;
    if (want_acc && count)
        *acc = (double)ok / (double)count;
}

/* Flags over the train block (nnrt_config, shared with the C driver). */
static int nnrt_cuda_config(NnrtCudaRun *r)
{
    NnrtConfig c;
    if (nnrt_config(r->m, r->a, &c, r->msg, sizeof r->msg) < 0)
        return -1;
    r->epochs = c.epochs;
    r->lr = c.lr;
    if (c.lr_unused)
        fprintf(r->err, "nnrt: warning: --lr changes nothing: %s's optimizer (adadelta) has no learning rate\n",
                r->m->name);
    r->seed = c.seed;
    r->save = c.save;
    r->log_every = c.log_every;
    r->save_every = c.save_every;
    r->quiet = c.quiet;
    r->src = c.src;
    r->test_src = c.test_src;
    return 0;
}

/* Both sets loaded (as train.c loads them) and uploaded; the per-epoch buffers. */
static int nnrt_cuda_load(NnrtCudaRun *r)
{
    NnrtModel *m = r->m;
    if (r->src.kind == NNRT_SRC_NONE)
        return nnrt_errf(r->msg, sizeof r->msg, "model %s has no training data (a data= source or --data)", m->name);
    if (nnrt_load_announced(m, &r->src, &r->train, NULL, r->out, r->quiet, r->msg, sizeof r->msg) < 0)
        return -1;
    r->has_test = r->test_src.kind != NNRT_SRC_NONE;
    if (r->has_test && nnrt_load_announced(m, &r->test_src, &r->test, &r->train, r->out, r->quiet, r->msg,
                                           sizeof r->msg) < 0)
        return -1;
    r->early = m->early_stopping && r->has_test;
    if (m->early_stopping && !r->has_test)
        fprintf(r->err, "nnrt: early_stopping needs a test set or validation; ignored\n");
    nnrt_cuda_upload_set(&r->train, &dev.train);
    if (r->has_test)
        nnrt_cuda_upload_set(&r->test, &dev.test);
    size_t B = m->batch, rows = r->train.rows;
    size_t slots = (rows + B - 1) / B, test_slots = r->has_test ? (r->test.rows + B - 1) / B : 0;
    slots = (slots > test_slots ? slots : test_slots) + 1;
    NNRT_CUDA_CHECK(cudaMalloc(&dev.perm, (rows ? rows : 1) * sizeof(uint32_t)));
    NNRT_CUDA_CHECK(cudaMallocHost(&dev.perm_h, (rows ? rows : 1) * sizeof(uint32_t)));
    NNRT_CUDA_CHECK(cudaMalloc(&dev.losses, slots * sizeof(float)));
    NNRT_CUDA_CHECK(cudaMallocHost(&dev.losses_h, slots * sizeof(float)));
    NNRT_CUDA_CHECK(cudaMalloc(&dev.ok, slots * sizeof(int)));
    NNRT_CUDA_CHECK(cudaMallocHost(&dev.ok_h, slots * sizeof(int)));
    if (r->early)
        NNRT_CUDA_CHECK(cudaMalloc(&dev.best, r->cm->params_bytes ? r->cm->params_bytes : 1));
    size_t snap_bytes = r->cm->params_bytes + r->cm->state_bytes;
    if (r->save && !(r->snap = (char *)malloc(snap_bytes ? snap_bytes : 1)))
        return nnrt_errf(r->msg, sizeof r->msg, "out of memory for the checkpoint's copy");
    const char *path = getenv("NNRT_STEP_LOG");
    if (path && *path && !(r->step_log = fopen(path, "w")))
        return nnrt_errf(r->msg, sizeof r->msg, "cannot write NNRT_STEP_LOG %s", path);
    if (!(r->stop_path = nnrt_stop_path(r->save, m->name)))
        return nnrt_errf(r->msg, sizeof r->msg, "out of memory for the checkpoint's name");
    return 0;
}

static long nnrt_cuda_iters(const NnrtCudaRun *r)
{
    return nnrt_epoch_iters(r->m, r->train.rows);
}

/* --init-from FILE into the host mirrors (train.c's nnrt_run_init_from), then uploaded. */
static int nnrt_cuda_init_from(NnrtCudaRun *r)
{
    if (nnrt_init_from(r->m, r->a->init_from, r->err, r->msg, sizeof r->msg) < 0)
        return -1;
    nnrt_cuda_upload_params();
    if (!r->quiet)
        fprintf(r->out, "params from %s\n", r->a->init_from);
    return 0;
}

/* init(seed), then the params of --init-from, or the checkpoint of --load
 * with its epoch, step and batch. */
static int nnrt_cuda_start(NnrtCudaRun *r)
{
    NnrtModel *m = r->m;
    nnrt_cuda_host_init(r->seed);
    if (r->a->init_from)
        return nnrt_cuda_init_from(r);
    if (!r->a->load)
        return 0;
    long epoch = 0, step = 0;
    NnrtCkptMeta meta; /* checked as the file is read; training uses its own figures */
    nnrt_ckpt_meta_want(m, &meta);
    if (nnrt_ckpt_load(r->a->load, m->name, &epoch, &step, &meta, m->params, m->n_params, m->state, m->n_state,
                       r->msg, sizeof r->msg) < 0)
        return -1;
    nnrt_ckpt_meta_free(&meta);
    nnrt_cuda_upload_params();
    r->epoch = epoch > INT_MAX ? INT_MAX : (int)epoch;
    r->step = step;
    r->batch = meta.batch;
    return nnrt_resumed(r->m, r->train.rows, r->a->load, r->epoch, r->step, r->batch, r->out, r->quiet,
                        r->msg, sizeof r->msg);
}

/* The progress line; -1 when stdout cannot be written. */
static int nnrt_cuda_progress(NnrtCudaRun *r, NnrtCudaEpoch *ep, long iter, double test_loss, double test_acc)
{
    double loss = ep->win_rows > 0 ? ep->win_sum / ep->win_rows : ep->sum / ep->rows;
    ep->win_sum = ep->win_rows = 0.0;
    ep->logged = 1;
    if (r->quiet || r->tick.on ||
        nnrt_log_progress(r->out, ep->e + 1, iter, ep->iters, nnrt_now() - r->t0, loss, test_loss, test_acc) == 0)
        return 0;
    return nnrt_write_error("standard output", errno, r->msg, sizeof r->msg);
}

/* The terminal's line after step `iter` of the epoch (train.c's nnrt_tick). */
static int nnrt_cuda_tick(NnrtCudaRun *r, NnrtCudaEpoch *ep, long iter, int end, double tl, double ta)
{
    if (!r->tick.on)
        return 0;
    double secs = nnrt_now() - r->t0;
    long done = r->step - r->step0, left = ep->iters - iter + (long)(r->epochs - ep->e - 1) * ep->iters;
    NnrtTickFigures f = {ep->e + 1, r->epochs, iter, ep->iters, secs > 0 ? r->rows_run / secs : 0.0,
                         ep->rows > 0 ? ep->sum / ep->rows : (double)NAN, (double)NAN, (double)NAN, tl, ta,
                         done > 0 ? secs / (double)done * (double)left : (double)NAN};
    int newline = end && (ep->logged || ep->e + 1 >= r->epochs);
    if (nnrt_tick_draw(&r->tick, r->out, &f, newline) == 0)
        return 0;
    return nnrt_write_error("standard output", errno, r->msg, sizeof r->msg);
}

/* The checkpoint's copy at an epoch boundary (train.c's nnrt_snapshot):
 * the device's params and state, downloaded. */
static void nnrt_cuda_snapshot(NnrtCudaRun *r)
{
    if (!r->snap)
        return;
    NnrtCudaModel *cm = r->cm;
    nnrt_cuda_download_params();
    memcpy(r->snap, cm->host_params, cm->params_bytes);
    memcpy(r->snap + cm->params_bytes, cm->host_state, cm->state_bytes);
    r->snap_epoch = r->epoch;
    r->snap_step = r->step;
    r->snap_batch = r->batch;
}

/* A run stopped by a bad loss or a failed write: the checkpoint it asked
 * for, of the copy (train.c's nnrt_save_snapshot). */
static void nnrt_cuda_save_snapshot(NnrtCudaRun *r)
{
    if (!r->snap || r->snap_epoch < 0)
        return;
    NnrtCudaModel *cm = r->cm;
    NnrtModel *m = r->m;
    memcpy(cm->host_params, r->snap, cm->params_bytes);
    memcpy(cm->host_state, r->snap + cm->params_bytes, cm->state_bytes);
    char msg[1024];
    NnrtCkptMeta meta;
    nnrt_ckpt_meta_of(&r->train, &meta);
    meta.batch = r->snap_batch;
    if (nnrt_ckpt_save(r->save, m->name, r->snap_epoch, r->snap_step, &meta, m->params, m->n_params, m->state,
                       m->n_state, msg, sizeof msg) < 0)
        fprintf(r->err, "nnrt: %s\n", msg);
    else if (meta.batch > 0)
        fprintf(r->err, "nnrt: saved %s: the state where this run began (epoch %d, step %ld), the last before the "
                "stop; --load %s resumes from there\n", r->save, r->snap_epoch, r->snap_step, r->save);
    else
        fprintf(r->err, "nnrt: saved %s: the state at the end of epoch %d (step %ld), the last before the stop; "
                "--load %s resumes from there\n", r->save, r->snap_epoch, r->snap_step, r->save);
}

/* Stopped by SIGINT or SIGTERM after a run of steps (train.c's
 * nnrt_interrupt): the device's state now, with its position, into
 * stop_path; one line with the command that resumes. */
static int nnrt_cuda_interrupt(NnrtCudaRun *r)
{
    NnrtModel *m = r->m;
    NnrtCkptMeta meta;
    nnrt_ckpt_meta_of(&r->train, &meta);
    meta.batch = r->batch;
    nnrt_tick_break(&r->tick, r->out);
    fflush(r->out);
    if (nnrt_csvlog_close(&r->log, r->msg, sizeof r->msg) < 0)
        fprintf(r->err, "nnrt: %s\n", r->msg);
    nnrt_cuda_download_params();
    if (nnrt_ckpt_save(r->stop_path, m->name, r->epoch, r->step, &meta, m->params, m->n_params, m->state, m->n_state,
                       r->msg, sizeof r->msg) < 0) {
        fprintf(r->err, "nnrt: interrupted by %s, and %s\n", nnrt_stop_signame(r->sig), r->msg);
        r->msg[0] = '\0';
        return 1;
    }
    if (r->batch > 0)
        fprintf(r->err, "nnrt: interrupted by %s in epoch %d after batch %ld of %ld (step %ld): saved %s; resume "
                "with: ", nnrt_stop_signame(r->sig), r->epoch + 1, r->batch, nnrt_cuda_iters(r), r->step,
                r->stop_path);
    else
        fprintf(r->err, "nnrt: interrupted by %s after epoch %d (step %ld): saved %s; resume with: ",
                nnrt_stop_signame(r->sig), r->epoch, r->step, r->stop_path);
    nnrt_args_resume(r->err, r->a, m->name, r->stop_path);
    fputc('\n', r->err);
    fflush(r->err);
    return NNRT_EXIT_INTERRUPTED;
}

/* --save-every N (train.c's nnrt_save_every).  0, or -1 on a write error. */
static int nnrt_cuda_save_every(NnrtCudaRun *r)
{
    NnrtModel *m = r->m;
    if (r->save_every <= 0 || r->epoch % r->save_every != 0 || (r->save && r->epoch >= r->epochs))
        return 0;
    NnrtCkptMeta meta;
    nnrt_ckpt_meta_of(&r->train, &meta);
    nnrt_cuda_download_params();
    if (nnrt_ckpt_save(r->stop_path, m->name, r->epoch, r->step, &meta, m->params, m->n_params, m->state, m->n_state,
                       r->msg, sizeof r->msg) < 0)
        return -1;
    nnrt_tick_break(&r->tick, r->out);
    if (!r->quiet)
        fprintf(r->out, "saved %s (epoch %d, step %ld)\n", r->stop_path, r->epoch, r->step);
    return 0;
}

/* This epoch's order of rows on the host (train.c's nnrt_epoch_perm), then on the device. */
static void nnrt_cuda_perm(NnrtCudaRun *r, int e)
{
    for (size_t i = 0; i < r->train.rows; i++)
        dev.perm_h[i] = (uint32_t)i;
    if (r->m->shuffle) {
        NnrtRng rng;
        nnrt_rng_seed_stream(&rng, r->seed + (uint64_t)e, NNRT_STREAM_SHUFFLE);
        nnrt_shuffle(dev.perm_h, r->train.rows, &rng);
    }
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.perm, dev.perm_h, r->train.rows * sizeof(uint32_t), cudaMemcpyHostToDevice,
                                    dev.s));
}

static size_t nnrt_cuda_rows_of(const NnrtCudaRun *r, long it)
{
    size_t B = r->m->batch, start = (size_t)it * B;
    return r->train.rows - start < B ? r->train.rows - start : B;
}

/* Steps [from, to) of the epoch: replayed, then their losses read back and
 * taken in order as train.c's nnrt_step takes them; 3 at a non-finite loss. */
static int nnrt_cuda_steps(NnrtCudaRun *r, NnrtCudaEpoch *ep, long from, long to)
{
    for (long it = from; it < to; it++)
        nnrt_cuda_replay(NNRT_CUDA_G_TRAIN, &dev.train, (int)nnrt_cuda_rows_of(r, it));
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.losses_h + from, dev.losses + from, (size_t)(to - from) * sizeof(float),
                                    cudaMemcpyDeviceToHost, dev.s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
    for (long it = from; it < to; it++) {
        float loss = dev.losses_h[it];
        double n = (double)nnrt_cuda_rows_of(r, it);
        if (!isfinite(loss)) {
            nnrt_tick_break(&r->tick, r->out);
            fprintf(r->err, "nnrt: loss is %s at epoch %d step %ld; stopping\n",
                    isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf", ep->e + 1, r->step + 1);
            return 3;
        }
        r->step++;
        if (r->step_log)
            fprintf(r->step_log, "%ld %.9g\n", r->step, (double)loss);
        double w = (double)loss * n;
        ep->sum += w;
        ep->rows += n;
        r->rows_run += n;
        ep->win_sum += w;
        ep->win_rows += n;
    }
    return 0;
}

/* The end of an epoch (train.c's nnrt_epoch_end): test evaluation, the
 * last progress line, the CSV row, early stopping with the params kept on
 * the device.  1 to stop, 0 to go on, -1 on a log error. */
static int nnrt_cuda_epoch_end(NnrtCudaRun *r, NnrtCudaEpoch *ep)
{
    NnrtModel *m = r->m;
    double tl = (double)NAN, ta = (double)NAN, acc = (double)NAN, unused;
    int eval = r->has_test && m->eval_every > 0 && (ep->e + 1) % m->eval_every == 0;
    nnrt_cuda_snapshot(r);
    if (eval)
        nnrt_cuda_eval(r, &dev.test, 1, &tl, &ta);
    if ((r->log_every <= 0 || r->step % r->log_every == 0 || eval) && nnrt_cuda_progress(r, ep, ep->iters, tl, ta) < 0)
        return -1;
    if (nnrt_cuda_tick(r, ep, ep->iters, 1, tl, ta) < 0)
        return -1;
    if ((r->log.f || r->hist.rows) && m->acc_kind != NNRT_ACC_NONE)
        nnrt_cuda_eval(r, &dev.train, 0, &unused, &acc);
    double lr = m->no_lr ? (double)NAN : (double)ep->lr; /* no rate: an empty field */
    if (nnrt_csvlog_row(&r->log, ep->e + 1, ep->sum / ep->rows, acc, tl, ta, lr, r->msg, sizeof r->msg) < 0)
        return -1;
    NnrtFigures fig = {ep->e + 1, ep->sum / ep->rows, acc, tl, ta, (double)NAN, (double)NAN};
    nnrt_history_add(&r->hist, &fig);
    if (!r->early || !eval)
        return 0;
    char *params = dev.mem + r->cm->params_off;
    if (tl < r->best_loss || r->best_epoch == 0) {
        r->best_loss = tl;
        r->best_epoch = ep->e + 1;
        NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.best, params, r->cm->params_bytes, cudaMemcpyDeviceToDevice, dev.s));
        return 0;
    }
    if (!(tl > r->best_loss))
        return 0;
    NNRT_CUDA_CHECK(cudaMemcpyAsync(params, dev.best, r->cm->params_bytes, cudaMemcpyDeviceToDevice, dev.s));
    nnrt_tick_break(&r->tick, r->out);
    if (!r->quiet)
        fprintf(r->out, "early stop at epoch %d: test loss %.4f rose above %.4f (epoch %d); best params restored\n",
                ep->e + 1, tl, r->best_loss, r->best_epoch);
    return 1;
}

/* One epoch from its batch `first` (> 0 only when resuming an interrupted
 * epoch): the permutation and the control block once, then the steps in
 * runs of at most NNRT_CUDA_CHUNK that end where a progress line is due
 * (log_every) or at the end of the epoch; a stop signal is looked at after
 * each run.  0 go on, 1 early stop, 3 non-finite loss, -1 log error,
 * NNRT_EXIT_INTERRUPTED after a signal (r->batch: the batches done). */
static int nnrt_cuda_epoch(NnrtCudaRun *r, int e, long first)
{
    NnrtModel *m = r->m;
    NnrtCudaEpoch ep = {e, nnrt_lr_at(r->lr, m->final_lr, m->decay, e, r->epochs), 0, 0, 0, 0, 0, 0};
    ep.iters = nnrt_cuda_iters(r);
    nnrt_cuda_perm(r, e);
    nnrt_cuda_set_ctl(ep.lr, r->step, (int)first);
    for (long it = first; it < ep.iters;) {
        long to = it + NNRT_CUDA_CHUNK < ep.iters ? it + NNRT_CUDA_CHUNK : ep.iters;
        if (r->log_every > 0) {
            long due = it + (r->log_every - r->step % r->log_every);
            to = due < to ? due : to;
        }
        int rc = nnrt_cuda_steps(r, &ep, it, to);
        if (rc)
            return rc;
        it = to;
        if (r->log_every > 0 && r->step % r->log_every == 0 && it < ep.iters &&
            nnrt_cuda_progress(r, &ep, it, (double)NAN, (double)NAN) < 0)
            return -1;
        if (it < ep.iters && nnrt_cuda_tick(r, &ep, it, 0, (double)NAN, (double)NAN) < 0)
            return -1;
        if (it < ep.iters && (r->sig = nnrt_stop_signal()) != 0) {
            r->batch = it;
            return NNRT_EXIT_INTERRUPTED;
        }
    }
    r->epoch = e + 1;
    r->batch = 0;
    return nnrt_cuda_epoch_end(r, &ep);
}

/* The epochs left; 0 when done (or stopped early), else nnrt_cuda_epoch's code. */
static int nnrt_cuda_epochs(NnrtCudaRun *r)
{
    for (int e = r->epoch; e < r->epochs; e++) {
        int rc = nnrt_cuda_epoch(r, e, e == r->epoch ? r->batch : 0);
        if (rc == 1)
            break;
        if (rc == 0 && nnrt_cuda_save_every(r) < 0)
            return -1;
        if (rc == 0 && e + 1 < r->epochs && (r->sig = nnrt_stop_signal()) != 0)
            return NNRT_EXIT_INTERRUPTED;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int nnrt_cuda_train(NnrtCudaRun *r)
{
    NnrtModel *m = r->m;
    if (m->drop_last && r->train.rows < m->batch && r->epoch < r->epochs)
        return nnrt_errf(r->msg, sizeof r->msg, "the training set has %zu rows, fewer than one batch of %zu, and "
                         "drop_last is on", r->train.rows, m->batch);
    const char *csv = r->a->log_csv;
    if (r->a->plot && nnrt_history_init(&r->hist, (size_t)(r->epochs > r->epoch ? r->epochs : r->epoch),
                                        m->acc_kind != NNRT_ACC_NONE, r->msg, sizeof r->msg) < 0)
        return -1;
    NnrtHistory *kept = r->a->plot ? &r->hist : NULL; /* a resumed log's rows start the chart */
    if (csv && (r->a->load ? nnrt_csvlog_resume(&r->log, csv, r->epoch, kept, r->msg, sizeof r->msg)
                           : nnrt_csvlog_open(&r->log, csv, r->msg, sizeof r->msg)) < 0)
        return -1;
    nnrt_cuda_snapshot(r);
    nnrt_stop_catch();
    int rc = nnrt_cuda_epochs(r);
    nnrt_stop_release();
    if (rc != 0)
        return rc;
    return nnrt_csvlog_close(&r->log, r->msg, sizeof r->msg);
}

/* The summary over the whole training (and test) set, then the checkpoint. */
static int nnrt_cuda_finish(NnrtCudaRun *r)
{
    NnrtModel *m = r->m;
    double secs = nnrt_now() - r->t0;
    double loss, acc, tl = (double)NAN, ta = (double)NAN;
    nnrt_tick_break(&r->tick, r->out);
    nnrt_cuda_eval(r, &dev.train, 1, &loss, &acc);
    if (r->has_test)
        nnrt_cuda_eval(r, &dev.test, 1, &tl, &ta);
    if (r->save && !r->nothing_left) {
        nnrt_cuda_download_params();
        NnrtCkptMeta meta;
        nnrt_ckpt_meta_of(&r->train, &meta);
        if (nnrt_ckpt_save(r->save, m->name, r->epoch, r->step, &meta, m->params, m->n_params, m->state, m->n_state,
                           r->msg, sizeof r->msg) < 0)
            return -1;
        if (!r->quiet)
            fprintf(r->out, "saved %s\n", r->save);
    }
    if (nnrt_log_summary(r->out, r->epoch, r->step, r->step - r->step0, secs, loss, acc, tl, ta) < 0)
        return nnrt_write_error("standard output", errno, r->msg, sizeof r->msg);
    return 0;
}

/* --plot, however the run ended (train.c's nnrt_run_plot). */
static int nnrt_cuda_plot(NnrtCudaRun *r)
{
    char msg[1024];
    if (!r->a->plot || !r->hist.rows)
        return 0;
    if (nnrt_plot_svg(r->a->plot, r->m->name, &r->hist, msg, sizeof msg) == 0)
        return 0;
    fprintf(r->err, "nnrt: %s\n", msg);
    return -1;
}

static int nnrt_cuda_body(NnrtCudaRun *r)
{
    if (nnrt_cuda_config(r) < 0 || nnrt_cuda_load(r) < 0 || nnrt_cuda_start(r) < 0)
        return 1;
    nnrt_tick_init(&r->tick, r->out, r->quiet);
    r->step0 = r->step;
    r->t0 = nnrt_now();
    r->nothing_left = r->a->load && r->epoch >= r->epochs;
    if (r->nothing_left && !r->quiet)
        nnrt_stop_nothing_left(r->out, r->a->load, r->epoch, r->epochs);
    int rc = r->nothing_left ? 0 : nnrt_cuda_train(r);
    if (rc == NNRT_EXIT_INTERRUPTED)
        return nnrt_cuda_interrupt(r); /* the plot of the epochs run follows, as for every stop */
    if (rc != 0) {
        nnrt_tick_break(&r->tick, r->out);
        if (rc != 3)
            fprintf(r->err, "nnrt: %s\n", r->msg);
        r->msg[0] = '\0';
        nnrt_cuda_save_snapshot(r);
        return rc == 3 ? 3 : 1;
    }
    return nnrt_cuda_finish(r) < 0 ? 1 : 0;
}

static int nnrt_cuda_run(NnrtCudaModel *cm, const NnrtArgs *a, FILE *out, FILE *err)
{
    NnrtCudaRun r;
    memset(&r, 0, sizeof r);
    r.cm = cm;
    r.m = cm->m;
    r.a = a;
    r.out = out;
    r.err = err;
    r.snap_epoch = -1;
    int rc = nnrt_cuda_body(&r);
    if (rc == 1 && r.msg[0])
        fprintf(err, "nnrt: %s\n", r.msg);
    if (nnrt_cuda_plot(&r) < 0 && rc == 0)
        rc = 1;
    if (r.log.f)
        nnrt_csvlog_close(&r.log, NULL, 0);
    if (r.step_log)
        fclose(r.step_log);
    nnrt_data_free(&r.train);
    nnrt_data_free(&r.test);
    free(r.snap);
    nnrt_history_free(&r.hist);
    free(r.stop_path);
    if (nnrt_write_check(out, "standard output", r.msg, sizeof r.msg) < 0 && rc == 0) {
        fprintf(err, "nnrt: %s\n", r.msg);
        rc = 1;
    }
    return rc;
}

int nnrt_cuda_main(NnrtCudaModel *cm, int argc, char **argv)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : cm->m->name;
    NnrtArgs a;
    int rc = nnrt_args_parse(argc, argv, &a, prog, stderr);
    if (rc == 0 && a.help) {
        nnrt_args_usage(stdout, prog, cm->m);
    } else if (rc == 0) {
        nnrt_cuda_setup(cm);
        nnrt_cuda_host_functions(cm->m);
        const char *host_loop = getenv("NNRT_CUDA_HOST_LOOP");
        if (a.gradcheck || a.predict || (host_loop && strcmp(host_loop, "1") == 0) ||
            cm->m->validation != 0.0f)
            rc = nnrt_run(cm->m, &a, stdout, stderr);
        else
            rc = nnrt_cuda_run(cm, &a, stdout, stderr);
        nnrt_cuda_teardown();
    }
    nnrt_args_free(&a);
    return rc;
}
