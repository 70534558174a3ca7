/* nnrt_cuda.h: the CUDA side of the runtime (nnrt_cuda.cu, libnnrt_cuda.a).
 *
 * A program emitted by `nnc --target cuda` is the model's math (kernels and
 * cuBLAS calls over one device allocation carved at the plan's offsets)
 * plus a main that fills one NnrtCudaModel and calls nnrt_cuda_main().  That
 * runs the C runtime's training driver (libnnrt.a, train.c: nnrt_run_on)
 * over the device backend of nnrt_cuda.cu (nnrt.h: NnrtBackend), so
 * everything that is not arithmetic is the C program's own code: flags,
 * data loading, the RNG and the shuffle, progress lines, the CSV log,
 * early stopping, safetensors checkpoints, interrupts, the gradient check.
 *
 * What lives where on the device
 * ------------------------------
 *   the model's one cudaMalloc    params | optimizer state | param grads |
 *                                 batch (x, t) | arena | reduction scratch,
 *                                 each region at a fixed offset (the .cu's
 *                                 MEM_* constants); the arena and the grad
 *                                 block at the plan's own offsets
 *   the driver's, made once       the data sets (IDX image bytes stay bytes),
 *                                 the epoch's permutation, the per-step
 *                                 losses, the control block, the cuBLAS
 *                                 workspace, the early-stopping copy
 * Nothing is allocated inside the training loop.
 *
 * One training step (captured once per batch size n as a CUDA graph):
 *   gather(perm, ctl->cursor) -> forward(TRAIN) -> record the loss in
 *   losses[cursor], cursor++, step++ -> backward -> update (reads ctl->lr
 *   and ctl->step)
 * so the same graph replays every step of every epoch; the host writes lr,
 * cursor and step once per epoch, uploads the permutation once per epoch,
 * and reads the losses back after each run of at most 256 steps (the
 * backend's chunk; a run also ends where a progress line is due and at
 * the epoch's end), never in between.
 *
 * Determinism: every reduction is a fixed-order tree (no atomics), the
 * dropout masks come from the runtime's PCG32 jumped ahead to each
 * element's draw (the same numbers as the C program), cuBLAS runs on one
 * stream with a fixed workspace and atomics off.
 */
#ifndef NNRT_CUDA_H
#define NNRT_CUDA_H

#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <stdint.h>

extern "C" {
#include "nnrt.h"
}

/* ---- checked calls: a failure prints the call, the file and the line, and exits 1 ---- */
#define NNRT_CUDA_CHECK(call) nnrt_cuda_check((call), #call, __FILE__, __LINE__)
#define NNRT_CUBLAS_CHECK(call) nnrt_cublas_check((call), #call, __FILE__, __LINE__)
/* after a kernel launch: the launch itself (bad configuration, no device) */
#define NNRT_CUDA_LAUNCHED(kernel) nnrt_cuda_check(cudaGetLastError(), "the launch of " kernel, __FILE__, __LINE__)
void nnrt_cuda_check(cudaError_t e, const char *call, const char *file, int line);
void nnrt_cublas_check(cublasStatus_t st, const char *call, const char *file, int line);

/* Threads per block of the generated elementwise kernels, and the blocks
 * that cover count elements (at least one). */
#define NNRT_CUDA_THREADS 256
/* The one block that reduces a loss over the rows: a warp per row stride. */
#define NNRT_CUDA_LOSS_THREADS 1024
static inline unsigned nnrt_cuda_blocks(long count, int per_block)
{
    long b = (count + per_block - 1) / per_block;
    return b < 1 ? 1u : (unsigned)b;
}

/* ---- the control block: what changes between replays of one graph ---- */
typedef struct NnrtCudaCtl {
    float lr;                      /* this epoch's learning rate */
    int cursor;                    /* the batch of the epoch the next training step gathers */
    long long step;                /* updates done; bumped after the forward, so update sees 1, 2, ... */
    int eval_cursor;               /* the batch of an evaluation pass */
    int pad;
    unsigned long long drop_state; /* the dropout generator as seeded (PCG32 state, increment) */
    unsigned long long drop_inc;
    unsigned long long drop_pos;   /* draws taken from it so far */
} NnrtCudaCtl;

/* ---- the model, as the emitted main describes it ---- */
typedef struct NnrtCudaModel NnrtCudaModel;
struct NnrtCudaModel {
    /* The host side, as nnrt.h describes it: name, dimensions, the train
     * block, and params/state tensors over host mirrors (grad over a host
     * mirror of the grad block).  nnrt_cuda_main sets its six functions
     * to wrappers that run the device code one call at a time, for the
     * runs on the CPU backend (--gradcheck, --predict,
     * NNRT_CUDA_HOST_LOOP=1). */
    NnrtModel *m;
    size_t mem_bytes;                        /* the one cudaMalloc */
    size_t params_off, params_bytes;         /* regions of it mirrored on the host */
    size_t state_off, state_bytes;
    size_t grads_off, grads_bytes;
    float *host_params, *host_state, *host_grads;
    size_t x_bytes_per_row, t_bytes_per_row;  /* the batch buffers' rows */
    /* Carves the device pointers out of mem; sets x, t, loss, output. */
    void (*bind)(NnrtCudaModel *cm, char *mem, NnrtCudaCtl *ctl, cublasHandle_t cublas);
    void (*init)(uint64_t seed);             /* host: params and state into the host mirrors */
    void (*forward)(cudaStream_t s, int n, int mode);  /* mode: NNRT_TRAIN.. or NNRT_CUDA_PREDICT */
    void (*backward)(cudaStream_t s, int n);
    void (*update)(cudaStream_t s);          /* lr and step from the control block */
    void *x;                                 /* device: the batch's inputs, B rows: floats, or int32
                                                ids when m->in_ids (an i32 input) */
    void *t;                                 /* device: its labels (int32 ids or float rows) */
    float *loss;                             /* device: the mean loss of the last forward */
    float *output;                           /* device: the output rows (predict) */
};

enum { NNRT_CUDA_PREDICT = 3 }; /* forward mode: stop at the output */

/* Parses argv, trains, returns the exit status (as nnrt_main: 0, 1, 2, 3). */
int nnrt_cuda_main(NnrtCudaModel *cm, int argc, char **argv);

/* nnc --target cuda --mpi (nnrt_cuda_mpi.cu, libnnrt_cuda_mpi.a): the data-
 * parallel driver of runtime/mpi (nnrt_mpi.h) over the device: a GPU per
 * rank (the rank on its node, modulo the GPUs there), the model's
 * functions run on it one call at a time (as for --gradcheck), and after
 * each backward the grad block is scaled by the rank's share of the rows
 * and summed over the ranks on the device by ncclAllReduce. */
int nnrt_cuda_mpi_main(NnrtCudaModel *cm, int argc, char **argv);
/* What nnrt_cuda_mpi.cu needs of this runtime: the device set up for cm
 * with the model's functions over it (nnrt_cuda_attach), the stream every
 * call runs on, the grad block on the device, and the teardown. */
void nnrt_cuda_attach(NnrtCudaModel *cm);
cudaStream_t nnrt_cuda_stream(void);
float *nnrt_cuda_device_grads(void);
void nnrt_cuda_detach(void);

/* Runtime kernels the model's code launches:
 *   drop_advance  ctl->drop_pos += count, after a dropout mask of count draws
 *   grad_norm     out[0] = √(Σ g²) over count floats, in double, by a fixed
 *                 tree (NNRT_CUDA_NORM_BLOCKS partial sums into scratch)  */
#define NNRT_CUDA_NORM_BLOCKS 64
void nnrt_cuda_drop_advance(cudaStream_t s, NnrtCudaCtl *ctl, long long count);
void nnrt_cuda_grad_norm(cudaStream_t s, const float *g, long count, double *scratch, float *out);

/* ---- device helpers for generated kernels ---------------------------------- */
#define NNRT_PCG_MULT_CUDA 6364136223846793005ULL

/* PCG32 jumped ahead: the state after k steps from `state` (Brown's
 * algorithm, O(log k)), so thread i can draw the i-th number of a stream
 * the C program draws one after another. */
static inline __host__ __device__ unsigned long long nnrt_pcg_advance(unsigned long long state, unsigned long long inc,
                                                                     unsigned long long k)
{
    unsigned long long acc_mult = 1, acc_plus = 0, cur_mult = NNRT_PCG_MULT_CUDA, cur_plus = inc;
    while (k > 0) {
        if (k & 1) {
            acc_mult *= cur_mult;
            acc_plus = acc_plus * cur_mult + cur_plus;
        }
        cur_plus = (cur_mult + 1) * cur_plus;
        cur_mult *= cur_mult;
        k >>= 1;
    }
    return acc_mult * state + acc_plus;
}

/* The k-th output (from 0) of the generator (state, inc): nnrt_rng_u32's XSH-RR of the state before the step. */
static inline __host__ __device__ uint32_t nnrt_pcg_output_at(unsigned long long state, unsigned long long inc,
                                                              unsigned long long k)
{
    unsigned long long old = nnrt_pcg_advance(state, inc, k);
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

/* nnrt_rng_uniform's k-th number: the top 24 bits times 2^-24. */
static inline __host__ __device__ float nnrt_uniform_at(unsigned long long state, unsigned long long inc,
                                                        unsigned long long k)
{
    return (float)(nnrt_pcg_output_at(state, inc, k) >> 8) * (1.0f / 16777216.0f);
}

#ifdef __CUDACC__
/* Warp reductions by the xor butterfly: every lane ends with the same bits
 * (a + b == b + a exactly), and the order is fixed, so they are
 * deterministic. */
static __device__ __forceinline__ float nnrt_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ double nnrt_warp_sum_d(double v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float nnrt_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* The first index of the largest value over a warp (lanes hold their own
 * best value and index, found in increasing index order). */
static __device__ __forceinline__ int nnrt_warp_argmax(float v, int i)
{
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (ov > v || (ov == v && oi < i)) {
            v = ov;
            i = oi;
        }
    }
    return i;
}

/* Column sums of a block of NNRT_COL_X columns by NNRT_COL_Y row groups:
 * thread (x, y) holds the sum of its rows y, y + NNRT_COL_Y, ...; the
 * groups are added by a fixed tree.  Returns the column's sum in the
 * threads of row group 0. */
#define NNRT_COL_X 32
#define NNRT_COL_Y 16
static __device__ __forceinline__ float nnrt_col_tree(float s)
{
    __shared__ float part[NNRT_COL_Y][NNRT_COL_X + 1];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    for (int h = NNRT_COL_Y / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.y < h)
            part[threadIdx.y][threadIdx.x] += part[threadIdx.y + h][threadIdx.x];
        __syncthreads();
    }
    float r = part[0][threadIdx.x];
    __syncthreads();
    return r;
}

/* The sum over a block of NNRT_CUDA_THREADS threads by a fixed tree (double). */
static __device__ __forceinline__ double nnrt_block_sum_d(double s)
{
    __shared__ double part[NNRT_CUDA_THREADS];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int h = NNRT_CUDA_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h)
            part[threadIdx.x] += part[threadIdx.x + h];
        __syncthreads();
    }
    double r = part[0];
    __syncthreads();
    return r;
}

/* The same in float, for folds over any axes. */
static __device__ __forceinline__ float nnrt_block_sum(float s)
{
    __shared__ float part[NNRT_CUDA_THREADS];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int h = NNRT_CUDA_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h)
            part[threadIdx.x] += part[threadIdx.x + h];
        __syncthreads();
    }
    float r = part[0];
    __syncthreads();
    return r;
}

static __device__ __forceinline__ float nnrt_block_max(float s)
{
    __shared__ float part[NNRT_CUDA_THREADS];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int h = NNRT_CUDA_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h)
            part[threadIdx.x] = fmaxf(part[threadIdx.x], part[threadIdx.x + h]);
        __syncthreads();
    }
    float r = part[0];
    __syncthreads();
    return r;
}

static __device__ __forceinline__ float nnrt_block_min(float s)
{
    __shared__ float part[NNRT_CUDA_THREADS];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int h = NNRT_CUDA_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h)
            part[threadIdx.x] = fminf(part[threadIdx.x], part[threadIdx.x + h]);
        __syncthreads();
    }
    float r = part[0];
    __syncthreads();
    return r;
}
#endif /* __CUDACC__ */

#endif /* NNRT_CUDA_H */
