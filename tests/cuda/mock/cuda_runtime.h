/* tests/cuda/mock/cuda_runtime.h: the CUDA programming model emulated on
 * the CPU, for testing nnc's CUDA programs where there is no GPU.
 *
 * NOT a GPU.  It runs the emitted .cu and runtime/cuda/nnrt_cuda.cu,
 * compiled by g++ after tests/cuda/mock/cu2cpp.sh turned each
 * `k<<<grid, block, 0, s>>>(args)` into `mock_launch(k, mock_cfg(...), args)`,
 * so that the index arithmetic of every kernel, the cuBLAS argument order,
 * the memory map, graph capture and replay, the cursors in the control
 * block and the driver's bookkeeping are exercised and their losses can be
 * compared with the C program's.  What it cannot show: speed, races
 * between real threads, the memory model, launch limits of a real device,
 * cuBLAS's own kernels.
 *
 * How it works:
 *   - device memory is malloc'ed and filled with 0xff bytes (NaN floats),
 *     so a read of memory nothing wrote shows up in the losses;
 *   - a kernel launch runs its blocks one after another; the threads of a
 *     block are fibers (ucontext) switched round-robin, each running until
 *     it yields: __syncthreads() parks it until every live thread of the
 *     block is parked, a warp shuffle is two yields (write your value;
 *     read your partner's), so the lanes of a warp move in lock step;
 *     kernels seen never to yield run their threads as plain calls;
 *   - streams are synchronous; between cudaStreamBeginCapture and
 *     cudaStreamEndCapture launches, copies and GEMMs are recorded as
 *     closures (arguments by value, as CUDA captures them) and
 *     cudaGraphLaunch replays them;
 *   - cublasSgemm is the column-major definition, summed in float in k order.
 */
#ifndef NNC_MOCK_CUDA_RUNTIME_H
#define NNC_MOCK_CUDA_RUNTIME_H

#include <map>
#include <functional>
#include <vector>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#define __CUDACC__ 1
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
} cudaError_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed };
#define cudaStreamNonBlocking 1u

struct MockStream {
    int id;
};
typedef MockStream *cudaStream_t;
struct MockGraph {
    std::vector<std::function<void()>> ops;
};
typedef MockGraph *cudaGraph_t;
typedef MockGraph *cudaGraphExec_t;

/* ---- recording and errors ------------------------------------------------ */
inline MockGraph *mock_capture;      /* the graph being captured, or NULL */
inline cudaError_t mock_last_error = cudaSuccess;

inline void mock_do(std::function<void()> op)
{
    if (mock_capture)
        mock_capture->ops.push_back(op);
    else
        op();
}

inline const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    }
    return "cudaError?";
}
inline const char *cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }
inline cudaError_t cudaGetLastError(void)
{
    cudaError_t e = mock_last_error;
    mock_last_error = cudaSuccess;
    return e;
}

/* ---- memory ------------------------------------------------------------------ */
template <class T> cudaError_t cudaMalloc(T **p, size_t bytes)
{
    void *m = malloc(bytes ? bytes : 1);
    if (!m)
        return cudaErrorInvalidValue;
    memset(m, 0xff, bytes); /* NaN floats: reading unwritten memory shows */
    *p = (T *)m;
    return cudaSuccess;
}
template <class T> cudaError_t cudaMallocHost(T **p, size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t cudaFree(void *p)
{
    free(p);
    return cudaSuccess;
}
inline cudaError_t cudaFreeHost(void *p) { return cudaFree(p); }
inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind)
{
    if (mock_capture)
        return cudaErrorInvalidValue; /* a synchronous copy inside a capture */
    memmove(dst, src, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind, cudaStream_t)
{
    mock_do([=] { memmove(dst, src, bytes); });
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void *dst, int v, size_t bytes)
{
    if (mock_capture)
        return cudaErrorInvalidValue;
    memset(dst, v, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void *dst, int v, size_t bytes, cudaStream_t)
{
    mock_do([=] { memset(dst, v, bytes); });
    return cudaSuccess;
}
template <class T> cudaError_t cudaGetSymbolAddress(void **p, T &symbol)
{
    *p = (void *)&symbol;
    return cudaSuccess;
}

/* ---- streams and graphs ---------------------------------------------------- */
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned)
{
    *s = new MockStream{1};
    return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    delete s;
    return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return mock_capture ? cudaErrorInvalidValue : cudaSuccess; }
inline cudaError_t cudaStreamBeginCapture(cudaStream_t, cudaStreamCaptureMode)
{
    if (mock_capture)
        return cudaErrorInvalidValue;
    mock_capture = new MockGraph;
    return cudaSuccess;
}
inline cudaError_t cudaStreamEndCapture(cudaStream_t, cudaGraph_t *g)
{
    if (!mock_capture)
        return cudaErrorInvalidValue;
    *g = mock_capture;
    mock_capture = NULL;
    return cudaSuccess;
}
inline cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long)
{
    *e = new MockGraph(*g);
    return cudaSuccess;
}
inline cudaError_t cudaGraphDestroy(cudaGraph_t g)
{
    delete g;
    return cudaSuccess;
}
inline cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e)
{
    delete e;
    return cudaSuccess;
}
inline cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t)
{
    if (mock_capture)
        return cudaErrorInvalidValue;
    for (auto &op : e->ops)
        op();
    return cudaSuccess;
}

/* ---- threads of a block: fibers ---------------------------------------------- */
enum { MOCK_RUN, MOCK_WAIT, MOCK_DONE };
enum { MOCK_STACK = 64 * 1024, MOCK_MAX_THREADS = 1024 };

/* Switching fibers: on x86-64 a few instructions (callee-saved registers
 * and the stack pointer); elsewhere ucontext, which makes a system call
 * per switch and is much slower. */
#if defined(__x86_64__)
extern "C" void mock_switch(void **save_sp, void *load_sp);
__asm__(".pushsection .text\n.weak mock_switch\n.type mock_switch, @function\nmock_switch:\n"
        "pushq %rbp\npushq %rbx\npushq %r12\npushq %r13\npushq %r14\npushq %r15\n"
        "movq %rsp, (%rdi)\nmovq %rsi, %rsp\n"
        "popq %r15\npopq %r14\npopq %r13\npopq %r12\npopq %rbx\npopq %rbp\nret\n.popsection\n");
struct MockCtx {
    void *sp;
};
#else
struct MockCtx {
    ucontext_t uc;
};
#endif

struct MockFiber {
    MockCtx ctx;
    int state;
    uint3 tid;
};

inline MockCtx mock_main;
inline MockFiber mock_fibers[MOCK_MAX_THREADS];
inline char *mock_stacks;
inline int mock_cur;                        /* the running thread, linear index in the block */
inline const std::function<void()> *mock_body;
inline bool mock_direct, mock_yielded;
inline uint64_t mock_slot[MOCK_MAX_THREADS]; /* warp shuffles */
inline std::map<const void *, bool> mock_syncs; /* kernel -> it yielded in its first block */

inline void mock_fail(const char *what)
{
    fprintf(stderr, "mock CUDA: %s\n", what);
    abort();
}

inline void mock_yield(int state)
{
    if (mock_direct)
        mock_fail("a kernel run as plain calls synchronized (its first block did not)");
    mock_yielded = true;
    mock_fibers[mock_cur].state = state;
#if defined(__x86_64__)
    mock_switch(&mock_fibers[mock_cur].ctx.sp, mock_main.sp);
#else
    swapcontext(&mock_fibers[mock_cur].ctx.uc, &mock_main.uc);
#endif
}

inline void __syncthreads(void) { mock_yield(MOCK_WAIT); }

template <class T> T __shfl_xor_sync(unsigned, T v, int lane_mask)
{
    static_assert(sizeof(T) <= 8, "shuffle of a wide type");
    memcpy(&mock_slot[mock_cur], &v, sizeof v);
    mock_yield(MOCK_RUN); /* every lane has written */
    T r;
    memcpy(&r, &mock_slot[mock_cur ^ lane_mask], sizeof r);
    mock_yield(MOCK_RUN); /* every lane has read */
    return r;
}

inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }

extern "C" inline void mock_trampoline(void)
{
    (*mock_body)();
    mock_fibers[mock_cur].state = MOCK_DONE;
#if defined(__x86_64__)
    void *dead;
    mock_switch(&dead, mock_main.sp); /* never resumed */
#endif
}

/* A fresh fiber that starts in mock_trampoline on stack [base, base + size). */
inline void mock_fiber_init(MockFiber *f, char *base, size_t size)
{
#if defined(__x86_64__)
    uintptr_t top = ((uintptr_t)(base + size)) & ~(uintptr_t)15;
    void **sp = (void **)(top - 64); /* six saved registers, then the return address */
    for (int r = 0; r < 6; r++)
        sp[r] = NULL;
    sp[6] = (void *)mock_trampoline; /* entered with rsp = top - 8, as after a call */
    sp[7] = NULL;
    f->ctx.sp = sp;
#else
    getcontext(&f->ctx.uc);
    f->ctx.uc.uc_stack.ss_sp = base;
    f->ctx.uc.uc_stack.ss_size = size;
    f->ctx.uc.uc_link = &mock_main.uc;
    makecontext(&f->ctx.uc, mock_trampoline, 0);
#endif
}

inline void mock_resume(MockFiber *f)
{
#if defined(__x86_64__)
    mock_switch(&mock_main.sp, f->ctx.sp);
#else
    swapcontext(&mock_main.uc, &f->ctx.uc);
#endif
}

/* One block: its threads as fibers, round-robin until all are done. */
inline void mock_block_fibers(int threads)
{
    if (!mock_stacks && !(mock_stacks = (char *)malloc((size_t)MOCK_MAX_THREADS * MOCK_STACK)))
        mock_fail("out of memory for fiber stacks");
    for (int t = 0; t < threads; t++) {
        MockFiber *f = &mock_fibers[t];
        mock_fiber_init(f, mock_stacks + (size_t)t * MOCK_STACK, MOCK_STACK);
        f->state = MOCK_RUN;
        f->tid.x = (unsigned)t % blockDim.x;
        f->tid.y = (unsigned)t / blockDim.x % blockDim.y;
        f->tid.z = (unsigned)t / (blockDim.x * blockDim.y);
    }
    for (;;) {
        int run = 0, wait = 0;
        for (int t = 0; t < threads; t++)
            if (mock_fibers[t].state == MOCK_RUN) {
                mock_cur = t;
                threadIdx = mock_fibers[t].tid;
                mock_resume(&mock_fibers[t]);
            }
        for (int t = 0; t < threads; t++) {
            run += mock_fibers[t].state == MOCK_RUN;
            wait += mock_fibers[t].state == MOCK_WAIT;
        }
        if (run == 0 && wait == 0)
            return;
        if (run == 0) /* everyone live is at the barrier */
            for (int t = 0; t < threads; t++)
                if (mock_fibers[t].state == MOCK_WAIT)
                    mock_fibers[t].state = MOCK_RUN;
    }
}

/* ---- launches ------------------------------------------------------------------- */
struct MockCfg {
    dim3 grid, block;
};
inline MockCfg mock_cfg(dim3 grid, dim3 block, size_t shared = 0, cudaStream_t s = NULL)
{
    (void)shared;
    (void)s;
    return MockCfg{grid, block};
}

inline void mock_run(const void *kernel, MockCfg c, const std::function<void()> &body)
{
    int threads = (int)(c.block.x * c.block.y * c.block.z);
    gridDim = c.grid;
    blockDim = c.block;
    auto known = mock_syncs.find(kernel);
    for (unsigned bz = 0; bz < c.grid.z; bz++)
        for (unsigned by = 0; by < c.grid.y; by++)
            for (unsigned bx = 0; bx < c.grid.x; bx++) {
                blockIdx = uint3{bx, by, bz};
                mock_body = &body;
                if (known != mock_syncs.end() && !known->second) {
                    mock_direct = true;
                    for (int t = 0; t < threads; t++) {
                        mock_cur = t;
                        threadIdx = uint3{(unsigned)t % c.block.x, (unsigned)t / c.block.x % c.block.y,
                                          (unsigned)t / (c.block.x * c.block.y)};
                        body();
                    }
                    mock_direct = false;
                    continue;
                }
                mock_yielded = false;
                mock_block_fibers(threads);
                if (known == mock_syncs.end())
                    known = mock_syncs.emplace(kernel, mock_yielded).first;
            }
}

template <class... P, class... A> void mock_launch(void (*kernel)(P...), MockCfg c, A... args)
{
    int threads = (int)(c.block.x * c.block.y * c.block.z);
    if (threads < 1 || threads > MOCK_MAX_THREADS || c.grid.x < 1 || c.grid.y < 1 || c.grid.z < 1 ||
        c.grid.y > 65535 || c.grid.z > 65535) {
        mock_last_error = cudaErrorInvalidConfiguration;
        return;
    }
    mock_do([=] { mock_run((const void *)kernel, c, [=] { kernel(args...); }); });
}

#endif
