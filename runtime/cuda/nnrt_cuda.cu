/* nnrt_cuda.cu: the CUDA backend of the training driver (libnnrt_cuda.a).
 *
 *   nnrt_cuda_main = flags -> device setup -> nnrt_run_on(the backend below)
 *
 * train.c's driver runs the whole program (flags, data loading, the
 * epochs and their permutations, progress lines, the CSV log, early
 * stopping, checkpoints, interrupts, the summary, the plot); this file only
 * supplies the backend functions nnrt.h describes (NnrtBackend), so the
 * same numbers go through the same code to the same messages.  What the
 * device does:
 *   - prepare: the data sets (training, held-out, test) are uploaded
 *     once; a batch is gathered on the device (image bytes through a
 *     256-entry table of nnrt_gather's formula, so the inputs are the C
 *     program's bit for bit; the ids of an i32 input as int32);
 *   - epoch: the driver's permutation (made on the host by the runtime's
 *     RNG) is uploaded, and lr, step and the batch cursor written into the
 *     control block (NnrtCudaCtl), once per epoch;
 *   - steps: a training step is captured once as a CUDA graph for each
 *     batch size (B, and the last batch's rows) and replayed; the step
 *     losses stay on the device until the end of a run of steps (at most
 *     NNRT_CUDA_CHUNK, ending where the driver's progress line is due);
 *   - evaluate: on the device too, a captured graph per batch size, one
 *     loss and one count of right predictions per batch;
 *   - best: early stopping's copy of the params stays on the device;
 *   - pull/push: params and state through the host mirrors, only for a
 *     checkpoint (or its copy at an epoch boundary) and after a load.
 *
 * --gradcheck, --predict and any run with NNRT_CUDA_HOST_LOOP=1 in the
 * environment run on the CPU backend
 * (nnrt_run) with the model's functions wrapped to run on the device one
 * call at a time: params and state uploaded from the host mirrors before
 * each forward, grads copied back after each backward.  That is slow and
 * simple, and it gives the test suite a second route to the same numbers
 * (--predict's batches go through the device's forward, a copy in and out
 * each).
 */
#include "nnrt_cuda.h"

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
    const int32_t *xi;   /* or ids in [0, V) (an i32 input), copied as they are */
    float scale, mean, std;
    int plain;           /* scale 1, mean 0, std 1: a copy */
    const int32_t *tc;   /* class ids */
    const float *tf;     /* or float rows of t_dim */
} NnrtCudaSet;

/* x row i = data row perm[first + i] (perm NULL: first + i), converted as
 * nnrt_gather converts (ids copied as int32); t likewise.  first = *cursor
 * * B, or start when cursor is NULL.  One thread per element of the wider
 * of x and t rows. */
__global__ void nnrt_cuda_gather_kernel(NnrtCudaSet d, const uint32_t *perm, const int *cursor, long start, int B,
                                        int n, void *x, void *t)
{
    long width = d.in_dim > d.t_dim ? (long)d.in_dim : (long)d.t_dim;
    long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long)n * width)
        return;
    long i = idx / width, j = idx % width;
    long first = cursor ? (long)*cursor * B : start;
    size_t row = perm ? perm[first + i] : (size_t)(first + i);
    if (j < (long)d.in_dim && d.xi) {
        ((int32_t *)x)[i * (long)d.in_dim + j] = d.xi[row * d.in_dim + (size_t)j];
    } else if (j < (long)d.in_dim) {
        size_t at = row * d.in_dim + (size_t)j;
        float v;
        if (d.xb)
            v = d.lut[d.xb[at]];
        else if (d.plain)
            v = d.xf[at];
        else /* no contraction into an FMA: the C program's rounding */
            v = __fdiv_rn(__fsub_rn(__fmul_rn(d.xf[at], d.scale), d.mean), d.std);
        ((float *)x)[i * (long)d.in_dim + j] = v;
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
    NnrtCudaSet sets[NNRT_SETS]; /* NNRT_SET_*: those the run has (rows 0: none) */
    uint32_t *perm;            /* the epoch's order of the training rows */
    float *losses, *losses_h;  /* per step of an epoch, or per batch of an evaluation */
    int *ok, *ok_h;            /* right predictions per batch of an evaluation */
    char *best;                /* early stopping: the params region at the best loss */
    long step;                 /* updates done, as the driver counts them (NNRT_STEP_LOG) */
    FILE *step_log;            /* NNRT_STEP_LOG: every step's loss, %.9g */
    NnrtCudaGraph graphs[NNRT_CUDA_GRAPHS];
    int n_graphs;
    void *owned[8];            /* data set buffers */
    int n_owned;
    int32_t *ids_h;            /* an i32 input: B rows of ids, converted from the runtime's floats */
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
    if (cm->m->in_ids)
        NNRT_CUDA_CHECK(cudaMallocHost(&dev.ids_h, (size_t)cm->m->batch * cm->m->in_dim * sizeof(int32_t)));
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
    NNRT_CUDA_CHECK(cudaFreeHost(dev.losses_h));
    NNRT_CUDA_CHECK(cudaFreeHost(dev.ok_h));
    NNRT_CUDA_CHECK(cudaFreeHost(dev.ctl_h));
    NNRT_CUDA_CHECK(cudaFreeHost(dev.ids_h));
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

/* ---- the model's functions for the CPU backend (--gradcheck, NNRT_CUDA_HOST_LOOP) ---- */

/* n rows of the runtime's inputs into the device's x: floats as they are,
 * or (an i32 input) the ids the floats hold, exact integers in [0, V)
 * checked when the data were read, as int32. */
static void nnrt_cuda_put_x(const float *x, int n)
{
    NnrtCudaModel *cm = dev.cm;
    size_t count = (size_t)n * cm->m->in_dim;
    const void *src = x;
    if (cm->m->in_ids) {
        for (size_t i = 0; i < count; i++)
            dev.ids_h[i] = (int32_t)x[i];
        src = dev.ids_h;
    }
    NNRT_CUDA_CHECK(cudaMemcpyAsync(cm->x, src, (size_t)n * cm->x_bytes_per_row, cudaMemcpyHostToDevice, dev.s));
}

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
    nnrt_cuda_put_x(x, n);
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
    nnrt_cuda_put(cm->state_off, cm->host_state, cm->state_bytes); /* a batchnorm's running statistics */
    nnrt_cuda_put_x(x, n);
    cm->forward(dev.s, n, NNRT_CUDA_PREDICT);
    NNRT_CUDA_CHECK(cudaMemcpyAsync(y, cm->output, (size_t)n * cm->m->out_dim * sizeof(float), cudaMemcpyDeviceToHost,
                                    dev.s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
}

/* train.c's step: the batch gathered on the host, then the calls above. */
static float nnrt_cuda_host_train_step(const NnrtData *d, const uint32_t *perm, size_t start, int n, float lr,
                                       long step)
{
    NnrtModel *m = dev.cm->m;
    nnrt_gather(d, perm, start, (size_t)n, m->x_buf, m->t_buf);
    float loss = nnrt_cuda_host_forward(m->x_buf, m->t_buf, n, NNRT_TRAIN);
    if (!isfinite(loss))
        return loss;
    nnrt_cuda_host_backward(n);
    nnrt_cuda_host_update(lr, step);
    return loss;
}

static void nnrt_cuda_host_functions(NnrtModel *m)
{
    m->init = nnrt_cuda_host_init;
    m->forward = nnrt_cuda_host_forward;
    m->backward = nnrt_cuda_host_backward;
    m->update = nnrt_cuda_host_update;
    m->predict = nnrt_cuda_host_predict;
    m->train_step = nnrt_cuda_host_train_step;
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

/* An i32 input's set: the ids (floats holding integers in [0, V), each
 * checked when the file or table was read) uploaded as int32. */
static void nnrt_cuda_upload_ids(const NnrtData *d, NnrtCudaSet *s)
{
    size_t n = d->rows * d->in_dim;
    int32_t *ids = (int32_t *)malloc((n ? n : 1) * sizeof(int32_t));
    if (!ids) {
        fprintf(stderr, "nnrt: out of memory converting %zu rows of ids for the device\n", d->rows);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = (int32_t)d->xf[i];
    s->xi = (const int32_t *)nnrt_cuda_upload(ids, n * sizeof(int32_t));
    free(ids);
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
    if (dev.cm->m->in_ids) {
        nnrt_cuda_upload_ids(d, s);
    } else if (d->col_mean) {
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

/* ---- the backend: what train.c's driver asks of the device (nnrt.h) --------------- */

/* Steps replayed before the host reads their losses back (and the driver
 * looks at the progress line and a stop signal). */
#define NNRT_CUDA_CHUNK 256

/* The sets uploaded; the permutation, the loss and count slots (one a
 * batch of the longest set, and one more), the early-stopping copy. */
static int nnrt_cuda_prepare(NnrtBackend *b, NnrtModel *m, const NnrtData *const sets[NNRT_SETS], int early,
                             char *err, size_t errlen)
{
    (void)b;
    size_t B = m->batch, rows = sets[NNRT_SET_TRAIN]->rows, slots = 0;
    for (int i = 0; i < NNRT_SETS; i++) {
        if (!sets[i])
            continue;
        nnrt_cuda_upload_set(sets[i], &dev.sets[i]);
        size_t n = (sets[i]->rows + B - 1) / B;
        slots = n > slots ? n : slots;
    }
    slots++;
    NNRT_CUDA_CHECK(cudaMalloc(&dev.perm, (rows ? rows : 1) * sizeof(uint32_t)));
    NNRT_CUDA_CHECK(cudaMalloc(&dev.losses, slots * sizeof(float)));
    NNRT_CUDA_CHECK(cudaMallocHost(&dev.losses_h, slots * sizeof(float)));
    NNRT_CUDA_CHECK(cudaMalloc(&dev.ok, slots * sizeof(int)));
    NNRT_CUDA_CHECK(cudaMallocHost(&dev.ok_h, slots * sizeof(int)));
    if (early) {
        size_t bytes = dev.cm->params_bytes;
        for (int i = 0; i < m->n_running; i++)
            bytes += m->state[i].numel * sizeof(float);
        NNRT_CUDA_CHECK(cudaMalloc(&dev.best, bytes ? bytes : 1));
    }
    const char *path = getenv("NNRT_STEP_LOG");
    if (path && *path && !(dev.step_log = fopen(path, "w")))
        return nnrt_errf(err, errlen, "cannot write NNRT_STEP_LOG %s", path);
    return 0;
}

static void nnrt_cuda_push(NnrtBackend *b)
{
    (void)b;
    nnrt_cuda_upload_params();
}

static void nnrt_cuda_pull(NnrtBackend *b)
{
    (void)b;
    nnrt_cuda_download_params();
}

/* The epoch's permutation uploaded, lr, step and the batch cursor into the
 * control block: the only writes to the device an epoch's steps need. */
static void nnrt_cuda_epoch(NnrtBackend *b, const uint32_t *perm, float lr, long step, long first)
{
    (void)b;
    size_t rows = dev.sets[NNRT_SET_TRAIN].rows;
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.perm, perm, rows * sizeof(uint32_t), cudaMemcpyHostToDevice, dev.s));
    nnrt_cuda_set_ctl(lr, step, (int)first);
    dev.step = step;
}

/* Steps [from, to) replayed, then their losses read back at once (and
 * written to NNRT_STEP_LOG up to the first that is not finite). */
static void nnrt_cuda_steps(NnrtBackend *b, long from, long to, float *losses)
{
    (void)b;
    const NnrtCudaSet *train = &dev.sets[NNRT_SET_TRAIN];
    for (long it = from; it < to; it++)
        nnrt_cuda_replay(NNRT_CUDA_G_TRAIN, train, (int)nnrt_batch_rows(dev.cm->m, train->rows, it));
    size_t bytes = (size_t)(to - from) * sizeof(float);
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.losses_h + from, dev.losses + from, bytes, cudaMemcpyDeviceToHost, dev.s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
    memcpy(losses, dev.losses_h + from, bytes);
    for (long k = 0; dev.step_log && k < to - from && isfinite(losses[k]); k++)
        fprintf(dev.step_log, "%ld %.9g\n", ++dev.step, (double)losses[k]);
}

/* Mean loss (EVAL, weighted by rows) and accuracy over a whole set, in
 * batches of B in row order (train.c's nnrt_eval_pass): one replay a
 * batch, each leaving its loss and count of right predictions in a slot,
 * read back at the end. */
static void nnrt_cuda_evaluate(NnrtBackend *b, int which, int want_loss, double *loss, double *acc)
{
    (void)b;
    const NnrtModel *m = dev.cm->m;
    const NnrtCudaSet *set = &dev.sets[which];
    size_t B = m->batch, batches = (set->rows + B - 1) / B;
    int want_acc = m->acc_kind != NNRT_ACC_NONE;
    *loss = *acc = (double)NAN;
    if (!(want_loss || want_acc) || set->rows == 0)
        return;
    NNRT_CUDA_CHECK(cudaMemsetAsync(&dev.ctl->eval_cursor, 0, sizeof(int), dev.s));
    for (size_t i = 0; i < batches; i++)
        nnrt_cuda_replay(want_loss ? NNRT_CUDA_G_EVAL : NNRT_CUDA_G_PREDICT, set,
                         (int)nnrt_batch_rows(m, set->rows, (long)i));
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.losses_h, dev.losses, batches * sizeof(float), cudaMemcpyDeviceToHost, dev.s));
    NNRT_CUDA_CHECK(cudaMemcpyAsync(dev.ok_h, dev.ok, batches * sizeof(int), cudaMemcpyDeviceToHost, dev.s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(dev.s));
    double sum = 0.0;
    size_t ok = 0, count = 0;
    for (size_t i = 0; i < batches; i++) {
        size_t n = nnrt_batch_rows(m, set->rows, (long)i);
        sum += (double)dev.losses_h[i] * (double)n;
        ok += (size_t)dev.ok_h[i];
        count += m->acc_kind == NNRT_ACC_ARGMAX ? n : n * m->out_dim;
    }
    if (want_loss)
        *loss = sum / (double)set->rows;
    if (want_acc && count)
        *acc = (double)ok / (double)count;
}

/* One region of the model's memory to or from the early-stopping copy. */
static void nnrt_cuda_keep(char *mem, char *copy, size_t bytes, int restore)
{
    NNRT_CUDA_CHECK(cudaMemcpyAsync(restore ? mem : copy, restore ? copy : mem, bytes, cudaMemcpyDeviceToDevice, dev.s));
}

/* Early stopping's copy of the params, then of the running statistics
 * (the first n_running state tensors: those the params were evaluated
 * with), kept on the device. */
static void nnrt_cuda_best(NnrtBackend *b, int restore)
{
    (void)b;
    NnrtCudaModel *cm = dev.cm;
    char *at = dev.best;
    nnrt_cuda_keep(dev.mem + cm->params_off, at, cm->params_bytes, restore);
    at += cm->params_bytes;
    for (int i = 0; i < cm->m->n_running; i++) { /* each at its place in the host mirror, so in the state region */
        const NnrtTensor *r = &cm->m->state[i];
        size_t off = (size_t)((const char *)r->data - (const char *)cm->host_state), bytes = r->numel * sizeof(float);
        nnrt_cuda_keep(dev.mem + cm->state_off + off, at, bytes, restore);
        at += bytes;
    }
}

static void nnrt_cuda_release(NnrtBackend *b)
{
    (void)b;
    if (dev.step_log)
        fclose(dev.step_log);
    dev.step_log = NULL;
}

void nnrt_cuda_attach(NnrtCudaModel *cm)
{
    nnrt_cuda_setup(cm);
    nnrt_cuda_host_functions(cm->m);
}

cudaStream_t nnrt_cuda_stream(void) { return dev.s; }

float *nnrt_cuda_device_grads(void) { return (float *)(dev.mem + dev.cm->grads_off); }

void nnrt_cuda_detach(void) { nnrt_cuda_teardown(); }

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
        NnrtBackend b = {NULL, NNRT_CUDA_CHUNK, nnrt_cuda_prepare, nnrt_cuda_push, nnrt_cuda_pull, nnrt_cuda_epoch,
                         nnrt_cuda_steps, nnrt_cuda_evaluate, nnrt_cuda_best, nnrt_cuda_release, 0, NULL, NULL, 1};
        if (a.gradcheck || a.predict || (host_loop && strcmp(host_loop, "1") == 0))
            rc = nnrt_run(cm->m, &a, stdout, stderr);
        else
            rc = nnrt_run_on(cm->m, &b, &a, stdout, stderr);
        nnrt_cuda_teardown();
    }
    nnrt_args_free(&a);
    return rc;
}
