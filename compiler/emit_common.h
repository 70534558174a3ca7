/* emit_common.h: shared by the C and CUDA emitters (emit_common.c).
 *
 * Text pieces: a node's C name, an extent ("n" for the batch axis), an
 * element count, a float literal, an elementwise formula over operand
 * expressions, the index of a broadcast operand inside loops over a bigger
 * shape (loop variables i, j, k, l).  And the fusion decisions: an
 * elementwise value read by exactly the next step, with the same shape, is
 * computed inside that step's loop and never stored; a column sum into a
 * param gradient right after an elementwise step rides along in its loop.
 * And the program skeleton both emitters write through emit_program, each
 * with its EmitTarget of hooks (below).
 */
#ifndef NNC_EMIT_COMMON_H
#define NNC_EMIT_COMMON_H

#include "emit.h"
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
Str emit_win_at(const char *o, int stride, int pad, const char *k); /* "oh * 2 - 1 + kh" */
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
typedef struct Lets { /* locals for fused values read twice: "const float v0 = ...;" a line */
    Big text;
    int n;
} Lets;
Big emit_ew_tree(const ExprEnv *e, int id, Shape loop, int flat, Lets *lets); /* fused producers expanded */
void emit_lets(FILE *out, const Lets *lets, const char *indent);
Str emit_rows_of(Shape s);                                 /* rows of the last axis */
/* softmax, log_softmax and their gradients, row r: the sum a gradient
 * takes first (NULL for the forward ops, which take max and Σ e^x), and
 * element j of the result, over xr, dr (dy), m and s. */
const char *emit_softmax_sum(Op op);
const char *emit_softmax_out(Op op);
typedef struct LossRows { /* a loss, an accuracy or a loss gradient over rows of k scores */
    Shape ys;       /* the scores' shape [rows, k] */
    int k, t, dl;   /* class count, the label node, dL's node (-1 for a loss) */
    Str rows, tg;   /* the row count; the target of row r, class j */
    Str mean;       /* a loss's row total is divided by this: "n" or the row count */
    Str dl_n;       /* a gradient's dL/n: "1.0f / (float)n" */
} LossRows;
LossRows emit_loss_rows(const ExprEnv *e, int id);
typedef struct Gemm { /* row-major C[M,N] = op(A)[M,K] · op(B)[K,N] of a matmul node */
    int ta, tb, lda, ldb, ldc;
    Str M, N, K;
    long work;      /* multiply-adds at B rows */
} Gemm;
Gemm emit_gemm(const Graph *g, int id);
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

/* ---- a program's NnrtModel descriptor (nnrt.h): the dimensions, the
 * train block and the data sources, the same for every target. */
int emit_leaf(const Graph *g, Op op);                       /* the first node of op, or -1 */
void emit_acc_kind(const Graph *g, int *kind, float *threshold); /* NNRT_ACC_* and its threshold */
int emit_running_count(const Graph *g);                     /* running statistics, leading state[] */
long emit_input_ids(const Graph *g);                       /* V: i32 input ids lie in [0, V); 0: f32 input */
long emit_label_classes(const Graph *g);                    /* K: i32 label ids lie in [0, K); 0: f32 labels */
void emit_c_string(FILE *out, const char *s);               /* a C string literal */
void emit_table_arrays(FILE *out, const Graph *g);          /* data_x, data_t, test_x, test_t */

/* ---- the program skeleton both emitters write ------------------------------
 * A C program and a CUDA program have the same parts in the same order: a
 * header (what made it, the plan, a legend of dimensions), declarations
 * with a comment each, forward/backward/update as one commented statement
 * per step of the schedule, init, the tensor tables and a main that fills
 * an NnrtModel.  emit_common.c writes those parts once; an EmitTarget
 * supplies what a target does differently. */
typedef struct Emit Emit;
typedef struct EmitTarget {
    /* the file */
    const char *ext;      /* "c", "cu": the file's default name is MODEL.ext */
    const char *const *reserved; size_t n_reserved; /* the target's own names, kept from the model's */
    void (*prepare)(Emit *e);  /* what the target works out before writing, or NULL */
    void (*code)(Emit *e);     /* the functions (written first, into memory) */
    void (*decls)(Emit *e);    /* after the header: includes, storage, declarations */
    void (*finish)(Emit *e);   /* after the functions: main or the library's API */
    void (*intro)(Emit *e, const char *file);   /* the header's first line */
    void (*notes)(Emit *e, const char *file, int after_plan); /* the target's own header lines, or NULL */
    /* the passes */
    const char *unit;     /* "loop", "kernel": where a fused value is computed */
    int step_rules;       /* the step comments name the backward rule */
    const char *stop;     /* forward's return at the output in PREDICT mode */
    int (*has_code)(const Emit *e, int id);     /* the step writes a statement */
    void (*step)(Emit *e, int id);              /* one step's statement */
    void (*after_step)(Emit *e, int s);         /* after step s of the pass (poisoning), or NULL */
    /* main */
    int designated;       /* main fills NnrtModel with designated initializers (C99, not C++) */
    void (*addr)(const Emit *e, int id, char *buf, size_t len); /* a param/state/grad in host memory */
    void (*main_decls)(Emit *e);                /* the host buffers main names */
    const char *x_buf, *t_buf; /* the batch rows NnrtModel names (NULL: the model's input and label) */
    void (*model_fns)(Emit *e);                 /* NnrtModel's functions, or NULL */
    void (*main_tail)(Emit *e);                 /* main after the NnrtModel: the driver's call */
} EmitTarget;

typedef struct CuState CuState; /* emit_cuda.c's: the device memory map */
typedef struct Dying Dying;     /* emit_c.c's: which buffers the pass poisons at each step */

struct Emit {
    FILE *out;
    const Graph *g;
    const Plan *p;
    const EmitOptions *o;
    const EmitTarget *t;
    Arena *a;          /* the emission's memory */
    const char **name; /* C name of every node */
    const char *model; /* the model's name in capitals (library mode's macros) */
    int last_line;     /* the .nn line of the previous source comment */
    SrcCursor src_at;  /* where emit_source_line last looked */
    Fusion fu;         /* which values are computed inside their reader's loop */
    ExprEnv env;       /* for the shared expression builders */
    const Dying *die;  /* C: the pass's poisoning, or NULL */
    int die_from;      /* C: the pass's first step */
    CuState *cu;       /* CUDA: the device memory map */
};

/* emit_capture: e->out writes into memory until emit_captured, which
 * gives back the text written (malloc'd: the caller frees it). */
typedef struct Capture {
    FILE *saved;
    char *text;
    size_t len;
} Capture;
void emit_capture(Emit *e, Capture *c);
char *emit_captured(Emit *e, Capture *c);
/* The whole file: names, fusion, the target's prepare, its functions
 * into memory, then the header, the declarations, the functions and the
 * finish. */
void emit_program(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o, const EmitTarget *t,
                  int argc, char **argv);
const char *emit_opt_name(const Graph *g);       /* "sgd" .. "adam" */
int emit_uses_name(const char *text, const char *name); /* name appears in text as a word */
Str emit_dims(Shape s);                          /* "B * 10": an array's extent */
Str emit_shaped(Shape s);                        /* "[n,10]"; "" for a scalar */
const char *emit_shaped_formula(const Graph *g, int id, char *buf, size_t len); /* h[n,10] = σ(a[n,10]) */
void emit_source_line(Emit *e, int line, const char *indent); /* "line 15: h = ...", once per line */
void emit_formula(Emit *e, int id, const char *indent, int with_rule);
void emit_decl_comment(Emit *e, int id, const char *where); /* "  /- [B, 10], line 15 -/" */
void emit_const_array(Emit *e, int id, const char *qual);   /* a constant tensor's initialized array */
typedef struct EwStep { /* an elementwise step */
    Big f;     /* its expression, fused producers expanded */
    Lets lets; /* the locals f reads */
    int red;   /* the column sum that rides along in its loop, or -1 */
    int flat;  /* one flat loop over i does */
} EwStep;
void emit_ew_step(const Emit *e, int id, EwStep *st);
/* accuracy over one-hot rows: "int want = ..." the first largest target of row r. */
void emit_want(Emit *e, const LossRows *L, const char *indent);
Str emit_shifted(Shape big, int axis, int delta);  /* "i * 100 + (j + 3)": axis shifted by delta */
Str emit_transpose_src(const Graph *g, int id);   /* a transpose's input index, looping over its output */
void emit_header(Emit *e, int argc, char **argv);
/* A function whose body is the steps [from, to): `sig` after the comment,
 * then prelude (or NULL), the steps and `tail`; a "(void)x;" for each of
 * the NULL-ended params the body never names ("s|GRID": s, or a macro
 * that names it). */
void emit_pass(Emit *e, const char *comment, const char *sig, const char *const *params,
               void (*prelude)(Emit *e), int from, int to, const char *tail);
void emit_steps(Emit *e, int from, int to);
void emit_init(Emit *e, const char *rng_seed);   /* params into host memory, state to zero */
void emit_main(Emit *e);                         /* tensor tables, host buffers, main */
/* One field of main's NnrtModel m: ".name = v," in its initializer
 * (designated targets) or "m.name = v;"; parent: "data", "test" or NULL. */
void emit_field(Emit *e, const char *parent, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
