/* nnrt_cuda_mpi.cu: nnc --target cuda --mpi, the data-parallel driver of
 * runtime/mpi over one GPU per rank (nnrt_cuda.h: nnrt_cuda_mpi_main).
 *
 * runtime/mpi/nnrt_mpi.c runs the steps (each rank's share of a batch,
 * the loss summed over the ranks, backward, the grads summed, update);
 * this file gives it a device through NnrtMpiHooks:
 *   start   the rank's GPU (its rank on the node, modulo the node's GPUs),
 *           the device runtime attached, NCCL's communicator (rank 0's
 *           unique id broadcast over MPI)
 *   reduce  the grad block on the device times the rank's share of the
 *           rows (zeroed when it had none), ncclAllReduce (sum) in place
 *           on the runtime's stream, then copied to the host mirror (what
 *           --gradcheck reads)
 *   stop    the communicator and the device released
 * The model's functions are the device runtime's one-call-at-a-time
 * wrappers (params uploaded before a forward, downloaded after an
 * update), so every rank's host tensors stay what MPI broadcasts and
 * hashes.  Dropout is refused by nnc with --target cuda --mpi (its
 * generator lives on the device).
 */
#include "nnrt_cuda.h"
#include "nnrt_mpi.h"

#define OMPI_SKIP_MPICXX 1 /* MPI's C API only: Open MPI's C++ bindings do not build with -Werror */
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <nccl.h>

#include <stdio.h>
#include <stdlib.h>

#define NNRT_NCCL_CHECK(call) nnrt_nccl_check((call), #call, __FILE__, __LINE__)

static void nnrt_nccl_check(ncclResult_t r, const char *call, const char *file, int line)
{
    if (r == ncclSuccess)
        return;
    fprintf(stderr, "nnrt: %s failed at %s:%d: %s\n", call, file, line, ncclGetErrorString(r));
    exit(1);
}

typedef struct NnrtNccl {
    NnrtCudaModel *cm;
    ncclComm_t comm;
    int on;                /* the communicator was made */
} NnrtNccl;

/* g[i] *= scale */
static __global__ void nnrt_nccl_scale(float *g, long n, float scale)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        g[i] *= scale;
}

/* This rank's rank among those on its node. */
static int nnrt_nccl_local_rank(int rank)
{
    MPI_Comm node;
    int local = 0;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    return local;
}

static void nnrt_nccl_start(void *ctx, int rank, int ranks)
{
    NnrtNccl *n = (NnrtNccl *)ctx;
    int devices = 0;
    NNRT_CUDA_CHECK(cudaGetDeviceCount(&devices));
    NNRT_CUDA_CHECK(cudaSetDevice(nnrt_nccl_local_rank(rank) % (devices > 0 ? devices : 1)));
    nnrt_cuda_attach(n->cm);
    ncclUniqueId id;
    if (rank == 0)
        NNRT_NCCL_CHECK(ncclGetUniqueId(&id));
    MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    NNRT_NCCL_CHECK(ncclCommInitRank(&n->comm, ranks, id, rank));
    n->on = 1;
}

static void nnrt_nccl_reduce(void *ctx, float scale)
{
    NnrtNccl *n = (NnrtNccl *)ctx;
    NnrtCudaModel *cm = n->cm;
    cudaStream_t s = nnrt_cuda_stream();
    float *g = nnrt_cuda_device_grads();
    long count = (long)(cm->grads_bytes / sizeof(float));
    if (count == 0)
        return;
    if (scale == 0.0f) {
        NNRT_CUDA_CHECK(cudaMemsetAsync(g, 0, cm->grads_bytes, s));
    } else if (scale != 1.0f) {
        nnrt_nccl_scale<<<nnrt_cuda_blocks(count, NNRT_CUDA_THREADS), NNRT_CUDA_THREADS, 0, s>>>(g, count, scale);
        NNRT_CUDA_LAUNCHED("nnrt_nccl_scale");
    }
    NNRT_NCCL_CHECK(ncclAllReduce(g, g, (size_t)count, ncclFloat, ncclSum, n->comm, s));
    NNRT_CUDA_CHECK(cudaMemcpyAsync(cm->host_grads, g, cm->grads_bytes, cudaMemcpyDeviceToHost, s));
    NNRT_CUDA_CHECK(cudaStreamSynchronize(s));
}

static void nnrt_nccl_stop(void *ctx)
{
    NnrtNccl *n = (NnrtNccl *)ctx;
    if (!n->on)
        return;
    NNRT_NCCL_CHECK(ncclCommDestroy(n->comm));
    nnrt_cuda_detach();
    n->on = 0;
}

int nnrt_cuda_mpi_main(NnrtCudaModel *cm, int argc, char **argv)
{
    NnrtNccl n = {cm, NULL, 0};
    NnrtMpiHooks hooks = {nnrt_nccl_start, nnrt_nccl_reduce, nnrt_nccl_stop, &n};
    return nnrt_mpi_run(cm->m, argc, argv, &hooks);
}
