/* emit_common.h: shared by the C and CUDA emitters (emit_common.c).
 *
 * Text pieces: a node's C name, an extent ("n" for the batch axis), an
 * element count, a float literal, an elementwise formula over operand
 * expressions, the index of a broadcast operand inside loops over a bigger
 * shape (loop variables i, j, k, l).  And the fusion decisions: an
 * elementwise value read by exactly the next step, with the same shape, is
 * computed inside that step's loop and never stored; a column sum into a
 * param gradient right after an elementwise step rides along in its loop.
 */
#ifndef NNC_EMIT_COMMON_H
#define NNC_EMIT_COMMON_H

#include "graph.h"
#include "plan.h"

typedef struct Str {
    char s[160];
} Str;
typedef struct Big { /* a whole expression: a fused chain over a few operands */
    char s[4096];
} Big;

const char **emit_names(const Graph *g, Arena *a); /* h.W -> h_W; clashes get a '_' */
/* emit_names, with the n_extra names in extra taken as well (a backend's own). */
const char **emit_names_except(const Graph *g, Arena *a, const char *const *extra, size_t n_extra);
typedef struct SrcCursor {                         /* a place in the .nn source: p starts line `line` */
    const char *p;
    int line;
} SrcCursor;
const char *emit_src_line(const char *src, size_t len, int line, SrcCursor *at); /* start of line (1-based) */
Str emit_ext(int d);                               /* "n" or "10" */
Str emit_numel(Shape s);                           /* "n * 10" or "30" */
Str emit_lit(double v);                            /* "1.0f", "0.00999999978f" */
Big emit_ew_expr(const Node *n, const char *x, const char *y);
extern const char emit_loopvar[];                  /* "ijkl" */
Str emit_index_in(Shape s, Shape big);
int emit_is_ew(Op op);                             /* ops emitted as one elementwise loop */

typedef struct Fusion {
    char *fused;   /* fused[i]: node i is computed inside its one reader's loop, never stored */
    char *depth;   /* depth[i]: how many fused producers deep node i's expression is */
    int *epilogue; /* epilogue[i]: a column sum over node i done in i's loop, or -1 */
} Fusion;
void emit_fusion(Fusion *f, const Graph *g, const Plan *p, Arena *a);

/* What an expression over node values reads: the graph, the plan (which
 * constants are literals), the names, and the fusion decisions. */
typedef struct ExprEnv {
    const Graph *g;
    const Plan *p;
    const char **name;
    const Fusion *fu;
} ExprEnv;
Str emit_elem(const ExprEnv *e, int id, const char *idx); /* x[i], a literal, (float)n */
int emit_flat_operands(const ExprEnv *e, int id, Shape loop); /* one flat loop will do */
Big emit_ew_tree(const ExprEnv *e, int id, Shape loop, int flat); /* node id with fused producers expanded */
Str emit_rows_of(Shape s);                                 /* rows of the last axis */
long emit_row_width(Shape table);                          /* gather/scatter_add: elements of one row */
Str emit_target(const ExprEnv *e, int t, int k);           /* target of row r, class j */
const char *emit_init_text(const Node *n, char *buf, size_t len); /* "randn(std=0.01)" */
int emit_is_epilogue(const ExprEnv *e, int id);            /* id is summed in its producer's loop */
void emit_update_body(FILE *out, const ExprEnv *e, int id, const char *indent); /* element i of an update */
/* Adam's bias correction: adam_pow(β, t) = β^t in double, a file-scope
 * function (qual: "static" or "__device__ static", step_type its t), and
 * the statements that set lr_t = lr·√(1-β2^t)/(1-β1^t) from it. */
void emit_adam_pow(FILE *out, const char *qual, const char *step_type);
void emit_adam_rate(FILE *out, const TrainSpec *t, const char *ind, const char *step);

/* ---- a program's NnrtModel descriptor (nnrt.h), the part every target
 * fills the same way: the model's dimensions, its train block and its data
 * sources.  emit_cuda.c writes its main with these; emit_c.c's fn_main
 * writes the same lines with its own copy. */
int emit_leaf(const Graph *g, Op op);                       /* the first node of op, or -1 */
void emit_acc_kind(const Graph *g, int *kind, float *threshold); /* NNRT_ACC_* and its threshold */
long emit_label_classes(const Graph *g);                    /* K: i32 label ids lie in [0, K); 0: f32 labels */
void emit_c_string(FILE *out, const char *s);               /* a C string literal */
void emit_table_arrays(FILE *out, const Graph *g);          /* data_x, data_t, test_x, test_t */
void emit_model_fields(FILE *out, const Graph *g);          /* "    m.name = ...;" .. "m.test..." */

#endif
