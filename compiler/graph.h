/* graph.h: the static graph IR that every pass after sema works on.
 *
 * Nodes live in one flat array and are named by index; a node's inputs are
 * indices of earlier nodes, so the array order is a topological order.  A
 * node has an op (ops.h), inputs, attributes, a shape, a dtype, a readable
 * name and the Loc of the .nn line that produced it.  Gradient nodes are
 * ordinary nodes (stage STAGE_BACKWARD) that inherit the Loc of the forward
 * node they differentiate and are named after it (dW1, dh, ...); the update
 * stage (STAGE_UPDATE) holds one optimizer node per trainable param.
 *
 * Shapes: at most NNC_MAX_RANK axes.  The batch axis B may appear only as
 * axis 0 and is written DIM_B; its extent at run time is the batch's row
 * count n <= B, and the memory plan sizes it for B (Graph.batch).
 */
#ifndef NNC_GRAPH_H
#define NNC_GRAPH_H

#include "ast.h"
#include "ops.h"

#define NNC_MAX_RANK 4
#define DIM_B (-1)

typedef struct Shape {
    int rank;
    int d[NNC_MAX_RANK]; /* d[0] may be DIM_B */
} Shape;

typedef enum { STAGE_FORWARD, STAGE_BACKWARD, STAGE_UPDATE } Stage;

typedef enum { INIT_ZEROS, INIT_ONES, INIT_CONST, INIT_RANDN, INIT_UNIFORM, INIT_GLOROT, INIT_HE } InitKind;

typedef struct Node {
    Op op;
    int *in, n_in;      /* inputs: ids of earlier nodes */
    Shape shape;
    DType dtype;
    const char *name;   /* h, h.W, dW1, t3 */
    Loc loc;            /* the .nn line that produced it */
    Stage stage;
    int grad_of;        /* backward nodes: the forward node whose gradient this is (or a part of), else -1 */
    const char *rule;   /* backward nodes: the rule that made it, for comments and --explain */

    /* attributes (which ones an op reads is said in ops.h and shape.c);
     * graph_op() sets those of Attrs from its argument, the rest are set
     * by the node's maker */
    int ta, tb;         /* MATMUL: transpose flags of the two operands */
    int axis;           /* SLICE, PAD, CONCAT, SOFTMAX, ...: one axis */
    unsigned axes;      /* SUM, MAX, MIN: bit i set = reduce axis i */
    int keepdims;
    int lo, hi;         /* SLICE, PAD: the range along axis */
    int perm[NNC_MAX_RANK]; /* TRANSPOSE */
    Shape to;           /* RESHAPE, BROADCAST_TO, SUM_TO, PAD, SCATTER_ADD, NLL_GRAD: the result shape */
    double c[3];        /* slope, lo/hi of clip, pow exponent, dropout keep, const value, optimizer hyperparameters,
                         * BN_NORM(_GRAD)'s ε, BN_STATS' and BN_RUNNING's momentum */
    int stride, pad;    /* CONV2D, MAX_POOL, AVG_POOL and their gradients: the window's step and zero border */
    int size;           /* MAX_POOL, AVG_POOL and their gradients: the window is size × size */
    double *data;       /* CONST tensor values (numel of shape, B never) */
    InitKind init;      /* PARAM: how it starts; c[0], c[1] its arguments */
    int frozen;         /* PARAM: in train.freeze */
    const char *slot;   /* STATE: m, v, h, ...; running statistics: mean, var */
    int state_of;       /* STATE: the param it belongs to; -1 for running statistics (graph_is_running) */
    int clip;           /* UPD: the last input is the grad_norm node */
} Node;

/* The attributes graph_op() gives a node, as Node names them; a compound
 * literal with designated initializers names those a node has, and every
 * other one is 0 (a window op's stride is 1 or more, so it names it):
 *   graph_op(g, d, OP_SLICE, &x, 1, loc, (Attrs){.axis = 1, .lo = 0, .hi = 2})
 *   graph_op(g, d, OP_ADD, in, 2, loc, NO_ATTRS) */
typedef struct Attrs {
    int ta, tb;
    int axis;
    unsigned axes;
    int keepdims;
    int lo, hi;
    int perm[NNC_MAX_RANK];
    Shape to;
    double c[3];
    int stride, pad, size;
    int clip;
} Attrs;
#define NO_ATTRS ((Attrs){0})

/* ---- the train block, as sema resolved it ------------------------------ */
typedef enum { SRC_NONE, SRC_SPIRAL, SRC_XOR, SRC_GATE, SRC_TABLE, SRC_IDX, SRC_CSV } SourceKind;

typedef struct Source {
    SourceKind kind;
    Loc loc;
    int classes, points;
    long seed;
    const char *gate;
    double *table_x, *table_t; /* table rows: rows × in_dim, rows × label width */
    int table_rows, table_t_width;
    const char *images, *labels, *path;
    int csv_label, csv_header;
    double scale;
    int normalize;      /* NORM_NONE, NORM_ALL (true: two scalars), NORM_COLUMN ("column") */
    int flatten, one_hot;
} Source;

/* normalize=: the runtime's NNRT_NORM_* values */
enum { NORM_NONE = 0, NORM_ALL = 1, NORM_COLUMN = 2 };

typedef enum { OPT_SGD, OPT_MOMENTUM, OPT_ADAGRAD, OPT_ADADELTA, OPT_ADAM } OptKind;
typedef enum { DECAY_NONE, DECAY_LINEAR, DECAY_EXPONENTIAL } DecayKind;

typedef struct TrainSpec {
    Source data, test;
    OptKind opt;
    double lr, momentum, eps, beta1, beta2, rho;
    DecayKind decay;
    double final_lr;
    int epochs, batch, shuffle, drop_last, log_every, eval_every, early_stopping;
    long seed;
    double clip_grad, weight_decay;
    double validation;  /* the fraction of training rows held out; 0: none */
    const char *checkpoint;
    int has_block; /* the model has a train block */
} TrainSpec;

typedef struct ConstDef {
    const char *name;
    double value;
    const char *str; /* a string const (a path): its text; value is then unused */
    Loc loc;
} ConstDef;

typedef struct Graph {
    Arena *arena;
    Node *nodes;
    int n, cap;
    const char *model;  /* model name */
    int batch;          /* the bound of B */
    int loss;           /* the minimized node */
    int output;         /* what predict returns */
    int metric;         /* a named accuracy node, or -1 */
    const char *metric_name;
    int n_forward;      /* nodes [0, n_forward) are the forward graph */
    int *grad;          /* after autodiff: grad[i] = gradient node of forward node i, or -1 */
    TrainSpec train;
    PtrVec consts;      /* ConstDef*: the model's consts, for -dS */
} Graph;

/* ---- the node array (graph.c) ---------------------------------------- */
void graph_init(Graph *g, Arena *a);
/* Appends a node with op, the given inputs, shape and dtype, every
 * attribute 0; returns its id.  Leaves are made this way (the caller sets
 * their data, init, slot... through graph_node() right after); every other
 * node through graph_op(). */
int graph_add(Graph *g, Op op, const int *in, int n_in, Shape shape, DType dt, Loc loc);
Node *graph_node(Graph *g, int id);
const char *graph_name(Graph *g, int id); /* the node's name, or t<id> */

/* A STATE node that holds running statistics (batchnorm's h.mean, h.var:
 * made in the forward graph, state_of -1, init zeros or ones) rather than
 * an optimizer's state; both are persistent, not trained, and saved. */
int graph_is_running(const Node *n);

/* ---- shapes (shape.c) ------------------------------------------------- */
Shape shape_make(int rank, const int *d);
Shape shape_scalar(void);
int shape_eq(Shape a, Shape b);
long shape_numel(Shape s, int batch);   /* with B bound to batch */
long shape_row_numel(Shape s);          /* elements per row if d[0] is B, else numel */
/* "[B, 10]" into buf; returns buf */
const char *shape_str(Shape s, char *buf, size_t len);

/* Sizes (shape.c, sema.c): every element count and byte total is computed
 * in 64 bits and checked.  A model's static storage (params, grads,
 * optimizer state, batch buffers, arena, constants, tables, predict's
 * output rows) may take at most NNC_MAX_STATIC_BYTES: the 2 GiB that
 * x86-64's default code model reaches, less 64 MiB for code and the
 * runtime.  Each value is below it too, so every count fits a C int. */
#define NNC_MAX_STATIC_BYTES 2080374784LL
long long shape_count(Shape s, long long batch); /* elements, B bound to batch; -1 past 2^62 */
struct Plan;
int storage_check(const Graph *g, const struct Plan *p, Diag *d); /* after plan_build: 0 and an error if too big */

/* Infers the shape of node `n` from its inputs' shapes and its attributes.
 * Returns NULL on success, or a message (for sema to report at the place)
 * when the inputs do not fit the op. shape.c. */
const char *shape_infer(const Graph *g, Node *n, char *msg, size_t len);

/* Builds a node of op with its inputs and attributes and infers its shape
 * (shape.c): returns its id, or -1 after reporting the mismatch at loc
 * through d, the graph left as it was (with d NULL a mismatch is an
 * internal error). */
int graph_op(Graph *g, Diag *d, Op op, const int *in, int n_in, Loc loc, Attrs at);

/* The passes, in pipeline order (main.c). */
int sema_lower(Graph *g, Diag *d, const Program *p, int batch_override);  /* sema.c */
void autodiff(Graph *g);                      /* autodiff.c */
void optimize(Graph *g);                      /* optimize.c */

/* Dumps. */
void graph_dump(FILE *out, const Graph *g);    /* -dG */
void sema_dump(FILE *out, const Graph *g);     /* -dS */
void graph_dot(FILE *out, const Graph *g);     /* --dot */
void graph_explain(FILE *out, const Graph *g); /* --explain */

#endif
