/* ops.h: the one list of graph operations.
 *
 * Each line is X(ENUM, "name", arity, class).  It expands into the Op enum,
 * the op names and arities (graph.c), and every pass dispatches on Op with a
 * `switch` that has no default, so the compiler (-Wswitch) names any pass
 * that forgets an op: the shape rule (shape.c), the VJP (autodiff.c), the
 * reference evaluation (interp.c) and the C emission (emit_c.c).
 * arity -1 means "any number of inputs" (concat, grad_norm).  The update
 * ops take (param, grad, state...) and, when clipping is on, the grad_norm
 * node as one more input.
 *
 * Classes: LEAF (no inputs), EW (elementwise, NumPy broadcasting between
 * inputs), RED (reduction over an axis set), SHAPE (moves data), NN, LOSS
 * (scalar mean over rows), GRAD (used only by gradients), UPD (the update
 * stage: writes params and optimizer state in place), METRIC.
 *
 * Math of each op (x, y inputs; t labels; n the rows of the batch):
 */
#ifndef NNC_OPS_H
#define NNC_OPS_H

#define NNC_OPS(X)                                                              \
    /* leaves */                                                                \
    X(INPUT, "input", 0, LEAF)          /* a per-sample input, rows = n      */ \
    X(LABEL, "label", 0, LEAF)          /* a per-sample target               */ \
    X(PARAM, "param", 0, LEAF)          /* a trainable tensor                */ \
    X(STATE, "state", 0, LEAF)          /* optimizer state (persistent)      */ \
    X(CONST, "const", 0, LEAF)          /* numbers known at compile time     */ \
    X(ROWS, "rows", 0, LEAF)            /* n, the rows of this batch (scalar)*/ \
    X(DROPMASK, "dropmask", 0, LEAF)    /* m = (u < keep) / keep, 1 in eval  */ \
    /* elementwise, one input */                                                \
    X(NEG, "neg", 1, EW)                /* -x                                */ \
    X(EXP, "exp", 1, EW)                /* e^x                               */ \
    X(LOG, "log", 1, EW)                /* ln x                              */ \
    X(SQRT, "sqrt", 1, EW)              /* √x                                */ \
    X(SIN, "sin", 1, EW)                                                        \
    X(COS, "cos", 1, EW)                                                        \
    X(ABS, "abs", 1, EW)                                                        \
    X(SIGN, "sign", 1, EW)              /* -1, 0, 1                          */ \
    X(SIGMOID, "sigmoid", 1, EW)        /* σ(x) = 1 / (1 + e^-x)             */ \
    X(TANH, "tanh", 1, EW)                                                      \
    X(RELU, "relu", 1, EW)              /* max(x, 0)                         */ \
    X(LEAKY_RELU, "leaky_relu", 1, EW)  /* x > 0 ? x : slope·x               */ \
    X(CLIP, "clip", 1, EW)              /* min(max(x, lo), hi)               */ \
    X(POW, "pow", 1, EW)                /* x^p, p a constant                 */ \
    /* elementwise, two inputs, broadcasting */                                 \
    X(ADD, "add", 2, EW)                                                        \
    X(SUB, "sub", 2, EW)                                                        \
    X(MUL, "mul", 2, EW)                                                        \
    X(DIV, "div", 2, EW)                                                        \
    X(EQ, "eq", 2, EW)                  /* x == y ? 1 : 0 (max/min VJP)      */ \
    /* linear algebra and shapes */                                             \
    X(MATMUL, "matmul", 2, NN)          /* op(x)·op(y), op = ᵀ if flagged     */ \
    X(TRANSPOSE, "transpose", 1, SHAPE) /* permute axes                      */ \
    X(RESHAPE, "reshape", 1, SHAPE)                                             \
    X(BROADCAST_TO, "broadcast_to", 1, SHAPE) /* Repeat                      */ \
    X(SUM_TO, "sum_to", 1, SHAPE)       /* Sum over the repeated axes        */ \
    X(SLICE, "slice", 1, SHAPE)         /* x[lo:hi] along axis               */ \
    X(PAD, "pad", 1, SHAPE)             /* zeros, with x placed at lo:hi     */ \
    X(CONCAT, "concat", -1, SHAPE)                                              \
    X(GATHER, "gather", 2, SHAPE)       /* x[idx] rows, idx i32              */ \
    X(SCATTER_ADD, "scatter_add", 2, SHAPE) /* zeros; out[idx[i]] += dy[i]   */ \
    /* reductions over an axis set */                                           \
    X(SUM, "sum", 1, RED)                                                       \
    X(MAX, "max", 1, RED)                                                       \
    X(MIN, "min", 1, RED)                                                       \
    /* nn */                                                                    \
    X(SOFTMAX, "softmax", 1, NN)        /* e^x / Σ e^x over the last axis    */ \
    X(LOG_SOFTMAX, "log_softmax", 1, NN) /* x - log Σ e^x                    */ \
    /* losses: scalars, mean over the n rows */                                 \
    X(SOFTMAX_CE, "softmax_cross_entropy", 2, LOSS) /* -1/n Σ log softmax(y)[t] */ \
    X(NLL, "nll", 2, LOSS)              /* -1/n Σ logp[t]                    */ \
    X(SIGMOID_CE, "sigmoid_cross_entropy", 2, LOSS) /* 1/n Σ max(y,0)-yt+log(1+e^-|y|) */ \
    X(ACCURACY, "accuracy", 2, METRIC)  /* fraction of rows right            */ \
    /* gradient-only ops (inputs: forward value(s), then the incoming dy)    */ \
    X(SIGMOID_GRAD, "sigmoid_grad", 2, GRAD)   /* dy·y·(1-y), y = σ(x)       */ \
    X(TANH_GRAD, "tanh_grad", 2, GRAD)         /* dy·(1-y²), y = tanh x      */ \
    X(RELU_GRAD, "relu_grad", 2, GRAD)         /* x > 0 ? dy : 0             */ \
    X(LEAKY_RELU_GRAD, "leaky_relu_grad", 2, GRAD) /* x > 0 ? dy : slope·dy  */ \
    X(CLIP_GRAD, "clip_grad", 2, GRAD)         /* lo <= x <= hi ? dy : 0     */ \
    X(SOFTMAX_GRAD, "softmax_grad", 2, GRAD)   /* y·(dy - Σ dy·y)            */ \
    X(LOG_SOFTMAX_GRAD, "log_softmax_grad", 2, GRAD) /* dy - e^y·Σ dy        */ \
    X(SOFTMAX_CE_GRAD, "softmax_ce_grad", 3, GRAD) /* dL·(softmax(y) - onehot(t))/n */ \
    X(NLL_GRAD, "nll_grad", 2, GRAD)           /* -dL·onehot(t)/n            */ \
    X(SIGMOID_CE_GRAD, "sigmoid_ce_grad", 3, GRAD) /* dL·(σ(y) - t)/n        */ \
    /* the update stage                                                      */ \
    X(GRAD_NORM, "grad_norm", -1, UPD)  /* √(Σ g²) over all param grads      */ \
    X(SGD, "sgd", 2, UPD)               /* p -= lr·g                         */ \
    X(MOMENTUM, "momentum", 3, UPD)     /* v = μv - lr·g;  p += v            */ \
    X(ADAGRAD, "adagrad", 3, UPD)       /* h += g²;  p -= lr·g/(√h+ε)        */ \
    X(ADADELTA, "adadelta", 4, UPD)     /* see autodiff.c                    */ \
    X(ADAM, "adam", 4, UPD)             /* see autodiff.c                    */

typedef enum {
#define X(e, name, arity, cls) OP_##e,
    NNC_OPS(X)
#undef X
} Op;

/* The number of ops, counted from the list (kept out of the enum so that a
 * switch over Op without a default must name every op). */
#define X(e, name, arity, cls) +1
enum { OP_COUNT = 0 NNC_OPS(X) };
#undef X

typedef enum { OPC_LEAF, OPC_EW, OPC_RED, OPC_SHAPE, OPC_NN, OPC_LOSS, OPC_GRAD, OPC_UPD, OPC_METRIC } OpClass;

const char *op_name(Op op);
int op_arity(Op op);
OpClass op_class(Op op);

#endif
