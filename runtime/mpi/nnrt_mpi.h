/* nnrt_mpi.h: data-parallel training over MPI ranks (nnrt_mpi.c,
 * libnnrt_mpi.a; docs/mpi.md).
 *
 * A program emitted by `nnc M.nn -o M --mpi` fills the same NnrtModel as
 * any other (with grads/n_grads, and drop_rng/drop_draws when it has
 * dropout) and calls nnrt_mpi_main() instead of nnrt_main().  Launched as
 * `mpirun -np N ./M`, every rank loads the data and draws the same
 * permutation; batch `it` (rows perm[it*B ..), n of them) is split into N
 * contiguous shares, rank r taking rows [n*r/N, n*(r+1)/N) of it.  One
 * step on every rank:
 *
 *   gather its share (k rows) -> forward(TRAIN) on them
 *   -> MPI_Iallreduce begun of [loss*k, SIGINT seen, SIGTERM seen]: the
 *      loss of the whole batch (sum / n), and the stop every rank acts on
 *   -> backward(k) while it runs -> its end awaited
 *   -> a loss that is not finite stops every rank here (no update: the
 *      params stay as they were, as in one process)
 *   -> the grad block scaled by k/n -> one MPI_Allreduce (sum) over it
 *   -> update(lr, step) on every rank
 *
 * so each rank applies the update one process would have applied to the
 * whole batch (backward gives the gradient of the mean over its k rows;
 * sum_r k_r/n * mean_r = the mean over n).  Dropout masks are drawn where
 * one process would draw them: before forward rank r's generator is
 * advanced past the draws of the rows before its share, and after it every
 * generator stands past the whole batch's (nnrt_rng_advance).  Evaluation
 * splits a set's batches over the ranks and sums loss*rows and the
 * prediction counts.  The training driver is train.c's, unchanged but for
 * NnrtBackend.rank/agree/share: rank 0 alone prints (the other ranks'
 * standard output is /dev/null), reads --load and --init-from (the params
 * and state are broadcast), and writes the CSV log, the plot and every
 * checkpoint; --predict runs on rank 0 alone.
 *
 * Before training the batch size must split: B % N == 0, else every rank
 * stops with exit 2 and rank 0 says so.  After a run that ends with exit
 * 0, the ranks compare a 64-bit FNV-1a hash of their params and optimizer
 * state (MPI_Allreduce of min and max); rank 0 prints it (unless --quiet),
 * and a difference is an error (exit 1).  --gradcheck checks the gradient
 * the ranks compute together (the shares' allreduced gradient against
 * differences of the allreduced loss).
 *
 * Faults: a rank that fails on its own (a data file it cannot read, a
 * checkpoint rank 0 cannot read or write) prints its one line and calls
 * MPI_Abort, which ends every rank; a rank that dies (SIGKILL) makes
 * mpirun end the others.  Outcomes every rank reaches together (exit 0,
 * 2, 3, 130) end with MPI_Finalize.
 *
 * GPUs (--target cuda --mpi, runtime/cuda/nnrt_cuda_mpi.cu) reuse all of
 * this through NnrtMpiHooks: a GPU per rank, and the grad block scaled and
 * summed on the device by NCCL instead of on the host by MPI.
 */
#ifndef NNRT_MPI_H
#define NNRT_MPI_H

#ifdef __cplusplus
extern "C" {
#endif

#include "nnrt.h"

/* What a device runtime changes (all may be NULL; ctx is handed back). */
typedef struct NnrtMpiHooks {
    /* after MPI_Init, before the flags are read: take a device, etc. */
    void (*start)(void *ctx, int rank, int ranks);
    /* the grads this rank's backward left, times scale (0: zero them,
     * backward did not run), then summed over every rank in place */
    void (*reduce)(void *ctx, float scale);
    /* after the run, before MPI_Finalize or MPI_Abort */
    void (*stop)(void *ctx);
    void *ctx;
} NnrtMpiHooks;

/* MPI_Init, the flags, the run on the MPI backend, the hash check,
 * MPI_Finalize; returns the exit status (as nnrt_main: 0, 1, 2, 3, 130). */
int nnrt_mpi_main(NnrtModel *m, int argc, char **argv);
int nnrt_mpi_run(NnrtModel *m, int argc, char **argv, const NnrtMpiHooks *hooks);

#ifdef __cplusplus
}
#endif

#endif /* NNRT_MPI_H */
