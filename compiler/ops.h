/* ops.h: the one table of graph operations and their properties.
 *
 * Each line is X(ENUM, "name", arity, class, props, notation, formula):
 *   arity     inputs; -1: any number (concat, grad_norm).  The update ops
 *             take (param, grad, state...) and, when clipping is on, the
 *             grad_norm node as one more input.
 *   class     LEAF (no inputs), EW (elementwise, NumPy broadcasting between
 *             inputs), RED (reduction over an axis set), SHAPE (moves data),
 *             NN, LOSS (scalar mean over rows), GRAD (used only by
 *             gradients), UPD (the update stage: writes params and optimizer
 *             state in place), METRIC.
 *   props     OPP_INPLACE: output element i depends only on input elements
 *             i, so the output may take an input's bytes (plan.c);
 *             OPP_LIT(k): input k is read element by element, so a
 *             one-element constant there may be a literal (plan.c);
 *             OPM_*: the math functions its emitted code calls, which
 *             library mode carries portable copies of (emit_c.c).
 *   notation  elementwise ops: the math as --explain, --dump and the
 *             emitted comments print it, over x, y (the inputs) and c0, c1
 *             (the node's constants).
 *   formula   elementwise ops: one C expression over double x, y, c0, c1.
 *             The interpreter compiles it as it stands (interp.c); the
 *             emitters print it for floats (expf for exp, 1.0f for 1.0,
 *             float for double, the operands and constants in place of x,
 *             y, c0, c1: emit_common.c), so one formula is the reference
 *             and both programs.
 *
 * The table comes in five parts: the leaves, the elementwise forward ops
 * (unary, then binary), the elementwise gradient ops (x the forward value
 * named in the notation, y the incoming dy), the rest, and the
 * optimizers.  A pass names a
 * whole part in a switch with NNC_CASE (`NNC_EW_OPS(NNC_CASE)` is every
 * elementwise case label), so a new elementwise op needs its line here,
 * its gradient rule (autodiff.c) and its builtin (sema_expr.c), and no
 * other pass changes.  Every switch over Op has no default: the build makes
 * -Wswitch an error, so a pass that forgets an op does not compile.
 */
#ifndef NNC_OPS_H
#define NNC_OPS_H

#include <stddef.h>

enum {
    OPP_INPLACE = 1 << 0,
    OPP_LIT0 = 1 << 1, OPP_LIT1 = 1 << 2, OPP_LIT2 = 1 << 3,
    OPM_EXP = 1 << 8, OPM_LOG = 1 << 9, OPM_LOG1P = 1 << 10, OPM_TANH = 1 << 11,
    OPM_SINCOS = 1 << 12, OPM_POW = 1 << 13,
    OPP_EW = OPP_INPLACE | OPP_LIT0 | OPP_LIT1 | OPP_LIT2  /* elementwise: both */
};
#define OPP_LIT(k) (OPP_LIT0 << (k))
#define OPM_ALL (OPM_EXP | OPM_LOG | OPM_LOG1P | OPM_TANH | OPM_SINCOS | OPM_POW)

#define NNC_LEAF_OPS(X)                                                                   \
    X(INPUT, "input", 0, LEAF, 0, "", 0)       /* a per-sample input, rows = n          */ \
    X(LABEL, "label", 0, LEAF, 0, "", 0)       /* a per-sample target                   */ \
    X(PARAM, "param", 0, LEAF, 0, "", 0)       /* a trainable tensor                    */ \
    X(STATE, "state", 0, LEAF, 0, "", 0)       /* persistent, not trained: optimizer state or running stats */ \
    X(CONST, "const", 0, LEAF, 0, "", 0)       /* numbers known at compile time         */ \
    X(ROWS, "rows", 0, LEAF, 0, "", 0)         /* n, the rows of this batch (scalar)    */ \
    X(DROPMASK, "dropmask", 0, LEAF, 0, "", 0) /* m = (u < keep) / keep, 1 in eval      */

/* √(2/π) and the cubic term of GELU's tanh form (Hendrycks and Gimpel). */
#define NNC_GELU_K 0.7978845608028654
#define NNC_GELU_A 0.044715

#define NNC_EW_OPS(X)                                                                      \
    /* one input */                                                                        \
    X(NEG, "neg", 1, EW, OPP_EW, "-x", -x)                                                 \
    X(EXP, "exp", 1, EW, OPP_EW | OPM_EXP, "exp(x)", exp(x))                               \
    X(LOG, "log", 1, EW, OPP_EW | OPM_LOG, "log(x)", log(x))                               \
    X(SQRT, "sqrt", 1, EW, OPP_EW, "sqrt(x)", sqrt(x))                                     \
    X(SIN, "sin", 1, EW, OPP_EW | OPM_SINCOS, "sin(x)", sin(x))                            \
    X(COS, "cos", 1, EW, OPP_EW | OPM_SINCOS, "cos(x)", cos(x))                            \
    X(ABS, "abs", 1, EW, OPP_EW, "abs(x)", fabs(x))                                        \
    X(SIGN, "sign", 1, EW, OPP_EW, "sign(x)", (double)((x > 0.0) - (x < 0.0)))             \
    X(SIGMOID, "sigmoid", 1, EW, OPP_EW | OPM_EXP, "σ(x)", 1.0 / (1.0 + exp(-x)))          \
    X(TANH, "tanh", 1, EW, OPP_EW | OPM_TANH, "tanh(x)", tanh(x))                          \
    X(RELU, "relu", 1, EW, OPP_EW, "relu(x)", x > 0.0 ? x : 0.0)                           \
    X(LEAKY_RELU, "leaky_relu", 1, EW, OPP_EW, "leaky_relu(x, c0)", x > 0.0 ? x : c0 * x)  \
    X(CLIP, "clip", 1, EW, OPP_EW, "clip(x, c0, c1)", fmin(fmax(x, c0), c1))               \
    X(POW, "pow", 1, EW, OPP_EW | OPM_POW, "x^c0", pow(x, c0)) /* x * x for c0 = 2 */       \
    X(SOFTPLUS, "softplus", 1, EW, OPP_EW | OPM_EXP | OPM_LOG1P, "softplus(x)",             \
      x > 20.0 ? x : log1p(exp(x))) /* ln(1 + eˣ); x past 20 rounds to x */               \
    X(ELU, "elu", 1, EW, OPP_EW | OPM_EXP, "elu(x, c0)", x > 0.0 ? x : c0 * (exp(x) - 1.0)) \
    X(SILU, "silu", 1, EW, OPP_EW | OPM_EXP, "x · σ(x)", x / (1.0 + exp(-x)))               \
    X(GELU, "gelu", 1, EW, OPP_EW | OPM_TANH, "gelu(x)",                                   \
      0.5 * x * (1.0 + tanh(NNC_GELU_K * (x + NNC_GELU_A * x * x * x))))                    \
    /* two inputs, broadcasting */                                                         \
    X(ADD, "add", 2, EW, OPP_EW, "x + y", x + y)                                           \
    X(SUB, "sub", 2, EW, OPP_EW, "x - y", x - y)                                           \
    X(MUL, "mul", 2, EW, OPP_EW, "x · y", x * y)                                           \
    X(DIV, "div", 2, EW, OPP_EW, "x / y", x / y)                                           \
    X(EQ, "eq", 2, EW, OPP_EW & ~OPP_INPLACE, "(x == y)", (double)(x == y)) /* max/min VJP */

/* The derivatives, dx = dy · f'(x), with f' in the forms that keep the
 * fewest values alive: sigmoid, tanh and relu read their output y = f(x)
 * (named x here), the others their input. */
#define NNC_EW_GRAD_OPS(X)                                                                 \
    X(SIGMOID_GRAD, "sigmoid_grad", 2, GRAD, OPP_EW, "y · x · (1 - x)", y * x * (1.0 - x)) \
    X(TANH_GRAD, "tanh_grad", 2, GRAD, OPP_EW, "y · (1 - x²)", y * (1.0 - x * x))          \
    X(RELU_GRAD, "relu_grad", 2, GRAD, OPP_EW, "y where x > 0, else 0", x > 0.0 ? y : 0.0) \
    X(LEAKY_RELU_GRAD, "leaky_relu_grad", 2, GRAD, OPP_EW, "y where x > 0, else c0 · y",   \
      x > 0.0 ? y : c0 * y)                                                                \
    X(CLIP_GRAD, "clip_grad", 2, GRAD, OPP_EW, "y where c0 <= x <= c1, else 0",            \
      x >= c0 && x <= c1 ? y : 0.0)                                                        \
    X(SOFTPLUS_GRAD, "softplus_grad", 2, GRAD, OPP_EW | OPM_EXP, "y · σ(x)",               \
      y / (1.0 + exp(-x)))                                                                 \
    X(ELU_GRAD, "elu_grad", 2, GRAD, OPP_EW | OPM_EXP, "y where x > 0, else y · c0 · exp(x)", \
      x > 0.0 ? y : y * c0 * exp(x))                                                       \
    X(SILU_GRAD, "silu_grad", 2, GRAD, OPP_EW | OPM_EXP, "y · σ(x) · (1 + x · (1 - σ(x)))", \
      y / (1.0 + exp(-x)) * (1.0 + x - x / (1.0 + exp(-x))))                               \
    X(GELU_GRAD, "gelu_grad", 2, GRAD, OPP_EW | OPM_TANH,                                  \
      "y · (½(1 + t) + ½x(1 - t²)·k(1 + 3a·x²)), t = tanh(k(x + a·x³))",                  \
      y * (0.5 * (1.0 + tanh(NNC_GELU_K * (x + NNC_GELU_A * x * x * x))) +                  \
           0.5 * x * (1.0 - tanh(NNC_GELU_K * (x + NNC_GELU_A * x * x * x)) *               \
                            tanh(NNC_GELU_K * (x + NNC_GELU_A * x * x * x))) *              \
               NNC_GELU_K * (1.0 + 3.0 * NNC_GELU_A * x * x)))

#define NNC_OTHER_OPS(X)                                                                   \
    /* linear algebra and shapes */                                                        \
    X(MATMUL, "matmul", 2, NN, 0, "", 0)           /* op(x)·op(y), op = ᵀ if flagged      */ \
    X(TRANSPOSE, "transpose", 1, SHAPE, 0, "", 0)  /* permute axes                       */ \
    X(RESHAPE, "reshape", 1, SHAPE, 0, "", 0)                                              \
    X(BROADCAST_TO, "broadcast_to", 1, SHAPE, OPP_LIT0, "", 0) /* Repeat                  */ \
    X(SUM_TO, "sum_to", 1, SHAPE, OPP_LIT0, "", 0) /* Sum over the repeated axes          */ \
    X(SLICE, "slice", 1, SHAPE, 0, "", 0)          /* x[lo:hi] along axis                */ \
    X(PAD, "pad", 1, SHAPE, 0, "", 0)              /* zeros, with x placed at lo:hi      */ \
    X(CONCAT, "concat", -1, SHAPE, 0, "", 0)                                               \
    X(GATHER, "gather", 2, SHAPE, 0, "", 0)        /* x[idx] rows, idx i32               */ \
    X(SCATTER_ADD, "scatter_add", 2, SHAPE, 0, "", 0) /* zeros; out[idx[i]] += dy[i]      */ \
    /* reductions over an axis set */                                                      \
    X(SUM, "sum", 1, RED, OPP_LIT0, "", 0)                                                 \
    X(MAX, "max", 1, RED, OPP_LIT0, "", 0)                                                 \
    X(MIN, "min", 1, RED, OPP_LIT0, "", 0)                                                 \
    /* nn */                                                                               \
    X(SOFTMAX, "softmax", 1, NN, OPM_EXP, "", 0)   /* e^x / Σ e^x over the last axis     */ \
    X(LOG_SOFTMAX, "log_softmax", 1, NN, OPM_EXP | OPM_LOG, "", 0) /* x - log Σ e^x       */ \
    /* images [B, C, H, W]: windows over the last two axes (stride, pad, size: shape.c)  */ \
    X(CONV2D, "conv2d", 2, NN, 0, "", 0)           /* y[b,o] = Σ_c,kh,kw W[o,c]·x[b,c] window */ \
    X(MAX_POOL, "max_pool", 1, NN, 0, "", 0)       /* the largest of each size×size window */ \
    X(AVG_POOL, "avg_pool", 1, NN, 0, "", 0)       /* Σ window / size², padding as zeros  */ \
    /* batch norm per feature f (axis 1 of [B, F] or [B, C, H, W]; m: the n·H·W values of f) */ \
    X(BN_STATS, "batchnorm_stats", 3, NN, 0, "", 0) /* (x, mean, var) -> [3, F]: μ, σ², σ²·m/(m-1) */ \
    X(BN_NORM, "batchnorm_norm", 2, NN, 0, "", 0)  /* (x, stats): x̂ = (x - μ)/√(σ² + ε)  */ \
    /* losses: scalars, mean over the n rows */                                            \
    X(SOFTMAX_CE, "softmax_cross_entropy", 2, LOSS, OPM_EXP | OPM_LOG, "", 0) /* -1/n Σ log softmax(y)[t] */ \
    X(NLL, "nll", 2, LOSS, 0, "", 0)               /* -1/n Σ logp[t]                     */ \
    X(SIGMOID_CE, "sigmoid_cross_entropy", 2, LOSS, OPM_EXP | OPM_LOG1P, "", 0) /* 1/n Σ max(y,0)-yt+log(1+e^-|y|) */ \
    X(ACCURACY, "accuracy", 2, METRIC, 0, "", 0)   /* fraction of rows right             */ \
    /* gradient-only ops (inputs: forward value(s), then the incoming dy)                */ \
    X(SOFTMAX_GRAD, "softmax_grad", 2, GRAD, 0, "", 0)   /* y·(dy - Σ dy·y)              */ \
    X(LOG_SOFTMAX_GRAD, "log_softmax_grad", 2, GRAD, OPM_EXP, "", 0) /* dy - e^y·Σ dy     */ \
    X(SOFTMAX_CE_GRAD, "softmax_ce_grad", 3, GRAD, OPP_INPLACE | OPP_LIT2 | OPM_EXP, "", 0) \
                                                   /* dL·(softmax(y) - onehot(t))/n      */ \
    X(NLL_GRAD, "nll_grad", 2, GRAD, OPP_LIT1, "", 0) /* -dL·onehot(t)/n                  */ \
    X(SIGMOID_CE_GRAD, "sigmoid_ce_grad", 3, GRAD, OPP_INPLACE | OPP_LIT2 | OPM_EXP, "", 0) \
                                                   /* dL·(σ(y) - t)/n                    */ \
    X(CONV2D_GRAD_X, "conv2d_grad_x", 2, GRAD, 0, "", 0) /* (dy, W): transposed convolution */ \
    X(CONV2D_GRAD_W, "conv2d_grad_w", 2, GRAD, 0, "", 0) /* (x, dy): dy against unfolded x   */ \
    X(MAX_POOL_GRAD, "max_pool_grad", 2, GRAD, 0, "", 0) /* (x, dy): dy to each window's max */ \
    X(AVG_POOL_GRAD, "avg_pool_grad", 1, GRAD, 0, "", 0) /* (dy): dy/size² over each window  */ \
    X(BN_NORM_GRAD, "batchnorm_norm_grad", 3, GRAD, 0, "", 0) /* (x̂, stats, dx̂): through μ and σ² */ \
    /* the update stage                                                                  */ \
    X(GRAD_NORM, "grad_norm", -1, UPD, 0, "", 0)   /* √(Σ g²) over all param grads       */ \
    X(BN_RUNNING, "batchnorm_running", 3, UPD, 0, "", 0) /* (mean, var, stats): r = (1-m)·r + m·batch */

/* The optimizers: (param, grad, state...), each writing its param and
 * state in place. */
#define NNC_OPT_OPS(X)                                                                      \
    X(SGD, "sgd", 2, UPD, 0, "", 0)                /* p -= lr·g                          */ \
    X(MOMENTUM, "momentum", 3, UPD, 0, "", 0)      /* v = μv - lr·g;  p += v             */ \
    X(ADAGRAD, "adagrad", 3, UPD, 0, "", 0)        /* h += g²;  p -= lr·g/(√h+ε)         */ \
    X(ADADELTA, "adadelta", 4, UPD, 0, "", 0)      /* see autodiff.c                     */ \
    X(ADAM, "adam", 4, UPD, 0, "", 0)              /* see autodiff.c                     */

#define NNC_OPS(X) NNC_LEAF_OPS(X) NNC_EW_OPS(X) NNC_EW_GRAD_OPS(X) NNC_OTHER_OPS(X) NNC_OPT_OPS(X)

/* The case label of each op of a part: switch (op) { NNC_EW_OPS(NNC_CASE) ... } */
#define NNC_CASE(e, ...) case OP_##e:
/* Every op but the optimizers, for a switch that writes one optimizer's
 * step: a new optimizer left out of it does not build. */
#define NNC_NOT_OPT_CASES \
    NNC_LEAF_OPS(NNC_CASE) NNC_EW_OPS(NNC_CASE) NNC_EW_GRAD_OPS(NNC_CASE) NNC_OTHER_OPS(NNC_CASE)

typedef enum {
#define X(e, ...) OP_##e,
    NNC_OPS(X)
#undef X
} Op;

/* The number of ops, counted from the list (kept out of the enum so that a
 * switch over Op without a default must name every op). */
#define X(e, ...) +1
enum { OP_COUNT = 0 NNC_OPS(X) };
#undef X

typedef enum { OPC_LEAF, OPC_EW, OPC_RED, OPC_SHAPE, OPC_NN, OPC_LOSS, OPC_GRAD, OPC_UPD, OPC_METRIC } OpClass;

const char *op_name(Op op);
int op_arity(Op op);
OpClass op_class(Op op);
unsigned op_props(Op op);         /* OPP_* and OPM_* */
const char *op_notation(Op op);   /* "" for ops that are not elementwise */
const char *op_formula(Op op);    /* the formula's C text; "" likewise */
int op_is_ew(Op op);              /* an elementwise op: a formula, one loop, fusable */

/* A notation or formula with its words x, y, c0, c1 replaced by sub[0..3]
 * and, for float C text (c_float), exp by expf, 1.0 by 1.0f and double by
 * float.  0 when it does not fit in len bytes. */
typedef struct {
    const char *sub[4];
    int c_float;
} OpText;
int op_render(const char *text, const OpText *t, char *buf, size_t len);

#endif
