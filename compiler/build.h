/* build.h: building an emitted source into a program (nnc -o NAME), and
 * the flags to build one yourself (nnc --cflags, --libs); build.c.
 *
 * A build links the runtime found beside nnc (build/ in the source tree)
 * or under its PREFIX: C with $CC (default cc), libnnrt.a, BLAS and zlib;
 * CUDA with nvcc ($NVCC, nvcc on PATH or /usr/local/cuda/bin/nvcc; -arch
 * from $NNC_CUDA_ARCH, default sm_90), libnnrt_cuda.a, libnnrt.a and
 * cuBLAS.  With --mpi (mpi = 1) also the MPI runtime (libnnrt_mpi.a, or
 * libnnrt_cuda_mpi.a and NCCL) and MPI's own flags, as pkg-config's ompi-c
 * gave them when nnc was built (the Makefile's MPI_CFLAGS, MPI_LIBS), the
 * way BLAS's flags are baked in.  Each returns 0, or 1 after a one-line
 * message on stderr.
 */
#ifndef NNC_BUILD_H
#define NNC_BUILD_H

/* --cflags (cflags = 1) or --libs (0), for C or for CUDA, printed on
 * stdout as bare words for $(nnc --cflags); a path that the shell would
 * split or expand there is refused instead. */
int build_print_flags(int cflags, int cuda, int mpi);

/* 1 when nnc was built with MPI's flags; else 0 after one line on stderr. */
int build_mpi_ready(void);

/* Builds the C source csrc into the program output; verbose (-v) prints
 * the command first. */
int build_program(const char *output, const char *csrc, int mpi, int verbose);

/* Builds the CUDA source cusrc into the program output with nvcc. */
int build_cuda(const char *output, const char *cusrc, int mpi, int verbose);

#endif
