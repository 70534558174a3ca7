/* interp.h: the reference interpreter, the oracle of the tests.
 *
 * It evaluates any graph (forward, backward, update) in double precision,
 * node by node in array order, with plain loops that follow the math of
 * ops.h and nothing else: no plan, no fusion, no in-place.  Tests check
 * every VJP against central finite differences through it, and check the
 * emitted C program's losses against it.
 *
 *   Interp it;
 *   interp_init(&it, g, rows);            rows = n, the batch's row count
 *   interp_set(&it, x_id, xs);            inputs, labels, params, state
 *   interp_run(&it, STAGE_BACKWARD);      forward and backward
 *   double loss = interp_value(&it, g->loss)[0];
 *   interp_free(&it);
 *
 * Params and optimizer state persist across runs; interp_run(.., STAGE_UPDATE)
 * also applies the update nodes to them (lr, step from the Interp).
 */
#ifndef NNC_INTERP_H
#define NNC_INTERP_H

#include "graph.h"

#include <stdint.h>

typedef struct Interp {
    const Graph *g;
    int rows;
    double **val;     /* val[i]: node i's values (numel with B = rows) */
    double lr;        /* the learning rate of the update stage */
    long step;        /* 1, 2, ...: the update count, for Adam's bias correction */
    uint64_t mask_seed; /* dropout masks are a function of this seed and the node */
    int eval;         /* 1: evaluation (the program's EVAL and PREDICT): batch norm takes its
                         running statistics instead of the batch's (0: training) */
} Interp;

void interp_init(Interp *it, const Graph *g, int rows);
void interp_free(Interp *it);
long interp_numel(const Interp *it, int node);
void interp_set(Interp *it, int node, const double *data);
double *interp_value(Interp *it, int node);
/* Evaluates every node whose stage is <= upto (leaves keep what was set). */
void interp_run(Interp *it, Stage upto);
/* Evaluates node id alone (its inputs' values must be in place). */
void interp_run_node(Interp *it, int id);
/* Fills every param by its init with a simple seeded generator (tests),
 * and running statistics by theirs (zeros, ones). */
void interp_init_params(Interp *it, uint64_t seed);

#endif
