/* plan.h: the memory plan of one training step.
 *
 * The plan reads the graph (after autodiff and optimize) and decides, for
 * every node, where its values live:
 *
 *   SC_NONE    no storage: scalar CONSTs and ROWS are literals in the code,
 *              update nodes write into their param and state
 *   SC_CONST   a CONST tensor (index lists, folded values), or a scalar
 *              CONST that some reader indexes by name (matmul, concat, a
 *              copy): a static const array
 *   SC_PARAM   params, persistent
 *   SC_STATE   optimizer state and running statistics, persistent
 *   SC_BATCH   inputs and labels: the current batch, persistent
 *   SC_GRAD    the gradient of a trainable param: one contiguous block, in
 *              param order, so clipping, weight decay and an allreduce
 *              cover all of them in one pass
 *   SC_ARENA   everything else: activations, other gradients, temporaries,
 *              at an offset in the one static arena
 *   SC_ALIAS   a view of another node's bytes (reshape): same offset
 *
 * The schedule is the order the emitted code runs the nodes in.  Arena
 * buffers live from the step of their producer to the step of their last
 * reader (readers through an alias count); the loss lives to the end of the
 * forward pass.  An elementwise node whose input dies at it, with the same
 * shape, writes over the input (in-place).  Offsets come from
 * offsets_assign() (offsets.c); --planner=naive gives each buffer its own
 * bytes instead (index order, no in-place).  plan.c says how the schedule
 * is chosen; docs/memory-plan.md has the whole story.
 */
#ifndef NNC_PLAN_H
#define NNC_PLAN_H

#include "graph.h"

#include <stddef.h>

#define PLAN_ALIGN 64

typedef enum { SC_NONE, SC_CONST, SC_PARAM, SC_STATE, SC_BATCH, SC_GRAD, SC_ARENA, SC_ALIAS } StorageClass;

typedef struct BufPlan {
    StorageClass cls;
    int root;        /* the node whose bytes these are: itself, or for SC_ALIAS the aliased node's root */
    int inplace_of;  /* SC_ARENA: the input whose bytes this node took over, or -1 */
    size_t bytes;    /* elements × 4 (f32 and i32), sized for B rows */
    size_t offset;   /* SC_ARENA: byte offset in the arena (multiple of PLAN_ALIGN); SC_GRAD: in the grad block */
    int first, last; /* SC_ARENA: steps of the producer and of the last reader (inclusive) of
                      * the buffer: the members of an in-place chain (x, then a node in place
                      * of x, ...) share one buffer and all carry its interval, from x's
                      * producer to the last reader of the chain's last value.  SC_ALIAS: the
                      * root's.  Other classes: the node's step and its value's last reader
                      * (for the report only). */
    int kept;        /* SC_ARENA: the buffer holds the loss, the output or the metric, which the
                      * caller of forward reads after the last forward step (fwd_end - 1) */
    size_t ws_bytes; /* the node's workspace, live during its own step only (0: none): a
                      * convolution's unfolded image (im2col) under plan_build_ws */
    size_t ws_offset; /* its byte offset in the arena (multiple of PLAN_ALIGN) */
} BufPlan;

typedef struct Plan {
    const Graph *g;
    int *order;       /* order[step] = node id; every node with storage or code appears once */
    int n_steps;
    int *step_of;     /* step_of[node] = its step, or -1 */
    int fwd_end, bwd_end; /* steps [0, fwd_end) are forward, [fwd_end, bwd_end) backward, the rest update */
    BufPlan *buf;     /* buf[node] */
    size_t arena_bytes, naive_bytes, lower_bound;
    size_t param_bytes, grad_bytes, state_bytes, batch_bytes, const_bytes;
    size_t running_bytes; /* of state_bytes, the running statistics (batchnorm's h.mean, h.var) */
    int naive;        /* --planner=naive */
    double plan_ms;   /* time taken by plan_build */
    const char *schedule; /* the candidate order kept: "index order", "memory-greedy", "memory-greedy reversed" */
} Plan;

/* Builds the plan; allocates from a.  plan_build plans no workspaces (the
 * direct loops of --blas none, library mode and CUDA need none);
 * plan_build_ws with workspaces set gives every conv2d, conv2d_grad_x and
 * conv2d_grad_w node the unfolded columns of one image
 * (plan_conv_workspace), an arena buffer that lives during the node's own
 * step, for the program's im2col + GEMM convolution. */
void plan_build(Plan *p, const Graph *g, Arena *a, int naive);
void plan_build_ws(Plan *p, const Graph *g, Arena *a, int naive, int workspaces);
/* The bytes of node id's im2col workspace: one image's columns,
 * [Cin·KH·KW, OH·OW] floats (for conv2d_grad_x the same shape, dy·W
 * before col2im); 0 for any other op. */
size_t plan_conv_workspace(const Graph *g, int id);
/* True when the bytes of node `id` may not be read any more after `step`
 * (its root's last reader has run): the emitter's poison mode uses it.
 * The bytes of an in-place chain die with the chain's last reader; a kept
 * buffer (the loss, output, metric) never dies at fwd_end - 1, since
 * forward's caller reads it after that step. */
int plan_dies_at(const Plan *p, int id, int step);
/* nnc --report: every buffer and the totals. */
void plan_report(FILE *out, const Plan *p);
/* nnc -dP: the totals only, in a stable form (also the header comment of
 * emitted code). */
void plan_dump(FILE *out, const Plan *p);

#endif
