/* emit.h: the C emitter (emit_c.c).
 *
 * emit_c() writes one C99 file from the graph and its plan: a header that
 * says what made it and the plan's totals, a legend of dimensions, params,
 * gradients and optimizer state as static arrays, one static arena with a
 * named pointer per buffer, then forward, backward, update, init, and in
 * program mode train_step, the runtime's forward and predict, the tensor
 * tables and a main that fills the NnrtModel descriptor.  Every statement
 * is preceded by the .nn line it comes from and its equation with shapes;
 * every backward statement names the rule that produced it.  The output is
 * deterministic.  emit_c and emit_cuda write the parts they share through
 * emit_common.c's skeleton.
 */
#ifndef NNC_EMIT_H
#define NNC_EMIT_H

#include "graph.h"
#include "plan.h"

typedef struct EmitOptions {
    int library;      /* --emit library: no main, no stdio, no malloc */
    int blas;         /* 1: GEMM through the runtime's nnrt_sgemm (cblas); 0: loops in the file */
    const char *src;  /* the model's source text, for the line comments */
    size_t src_len;
    const char *path; /* the model's file name */
    const char *header; /* library mode: the name of the header the .c includes (M.h) */
    const char *source; /* the name of the file written (M.c, M.cu), for its first line; NULL: MODEL.c */
    int cuda;         /* --target cuda: emit_cuda writes a .cu */
    int mpi;          /* --mpi: main calls the data-parallel driver (nnrt_mpi_main, docs/mpi.md) */
} EmitOptions;

/* What a program needs that --check does not: a data source, an output.
 * Prints "nnc: FILE: ..." lines to err; returns 1 when emission can go on. */
int emit_check(const Graph *g, const EmitOptions *o, FILE *err);
void emit_c(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o, int argc, char **argv);
/* --target cuda (emit_cuda.c): one .cu file, the same trainer on an NVIDIA
 * GPU over one device allocation; it links libnnrt_cuda.a (runtime/cuda)
 * and libnnrt.a. */
void emit_cuda(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o, int argc, char **argv);
/* --emit library: the header M.h of the library emit_c wrote as M.c. */
void emit_h(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o);

/* "dW2 = hᵀ·dy": one node as an equation over named values (dump.c); the
 * emitter's comments and --explain share it. */
const char *graph_formula(const Graph *g, int id, char *buf, size_t len);

#endif
