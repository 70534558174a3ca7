/* autodiff.c: the gradient graph, built symbolically from the forward graph,
 * and the update stage after it.
 *
 * Reverse mode, graph to graph: seed dL/dL = 1, walk the forward nodes from
 * the loss down (the array order is topological), and ask each node's VJP
 * (the switch in vjp()) for the gradient of each input, as ordinary nodes.
 * A value read by several nodes gets the sum of their contributions: the
 * first is stored, each later one is added (the branch rule).  Only inputs
 * that lead to a trainable param get a gradient at all, so nothing is
 * computed for inputs, labels, constants or frozen params.
 *
 * The rules a student should see (each node keeps its rule for --explain and
 * the comments of the emitted code):
 *   y = x + b, b broadcast (Repeat)  ->  db = sum_to(dy)        (Repeat ↔ Sum)
 *   y = sum(x)                       ->  dx = broadcast_to(dy)  (Sum ↔ Repeat)
 *   y = A·B                          ->  dA = dy·Bᵀ, dB = Aᵀ·dy (transpose flags, no transposes)
 *   y = x[idx]                       ->  dx = scatter_add(dy)   (repeats add up)
 *   y = conv2d(x, W)                 ->  dx = dy convolved back with W (transposed), dW = dy against im2col(x)
 *   y = max_pool(x) / avg_pool(x)    ->  dx = dy at each window's max / dy/size² over each window
 *   x̂ = (x - μ)/σ, μ σ² of the batch ->  dx = (dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂))/σ per feature (through μ and σ²)
 *   loss = softmax_ce(y, t)          ->  dy = (softmax(y) - onehot(t)) / n
 *
 * The update stage is one optimizer node per trainable param (STAGE_UPDATE)
 * with its state as persistent STATE nodes, after one GRAD_NORM node when
 * clip_grad is on, then one BN_RUNNING node per batch norm, which moves its
 * running statistics towards the batch's.  docs/design.md says why it lives in the graph.
 */
#include "graph.h"

#include <string.h>

typedef struct AD {
    Graph *g;
    char *needs;   /* needs[i]: forward node i leads to a trainable param */
    int *parts;    /* parts[i]: the gradient contributions forward node i received */
    int *owners;   /* owners[c]: the forward nodes j with grad[j] == c (c < cap) */
    int cap;
    int fwd;       /* the forward node whose VJP is being built */
} AD;

/* The rule of a branch-rule add; autodiff() rewrites it, once the number of
 * uses is known, into "x is used twice: branch gradients add". */
static const char BRANCH_RULE[] = "branch rule: gradients add";

/* Appends a backward node of op with its inputs and attributes, shaped by
 * the op's rule (graph_op; a mismatch is a bug), in the place and on behalf
 * of the forward node whose VJP is being built. */
static int bw(AD *ad, Op op, const int *in, int n_in, Attrs at, const char *rule)
{
    Graph *g = ad->g;
    int id = graph_op(g, NULL, op, in, n_in, g->nodes[ad->fwd].loc, at);
    Node *n = graph_node(g, id);
    n->stage = STAGE_BACKWARD;
    n->grad_of = ad->fwd;
    n->rule = rule;
    return id;
}

static int bw1_at(AD *ad, Op op, int a, Attrs at, const char *rule) { return bw(ad, op, &a, 1, at, rule); }
static int bw1(AD *ad, Op op, int a, const char *rule) { return bw1_at(ad, op, a, NO_ATTRS, rule); }

static int bw2_at(AD *ad, Op op, int a, int b, Attrs at, const char *rule)
{
    int in[2] = {a, b};
    return bw(ad, op, in, 2, at, rule);
}

static int bw2(AD *ad, Op op, int a, int b, const char *rule) { return bw2_at(ad, op, a, b, NO_ATTRS, rule); }

static int konst(AD *ad, double v)
{
    int id = graph_add(ad->g, OP_CONST, NULL, 0, shape_scalar(), DT_F32, ad->g->nodes[ad->fwd].loc);
    Node *n = graph_node(ad->g, id);
    n->stage = STAGE_BACKWARD;
    n->data = arena_alloc(ad->g->arena, sizeof(double));
    n->data[0] = n->c[0] = v;
    return id;
}

static Shape shape_of(AD *ad, int id) { return ad->g->nodes[id].shape; }

static int with_to(AD *ad, Op op, int x, Shape to, const char *rule)
{
    return bw1_at(ad, op, x, (Attrs){.to = to}, rule);
}

/* "x was repeated over the B rows: Repeat ↔ Sum": the axes of `got` along
 * which a value of shape `want` was repeated (NumPy alignment on the right). */
static const char *repeat_rule(AD *ad, int input, Shape want, Shape got)
{
    char axes[128] = "";
    size_t u = 0;
    int n = 0, k = 0;
    for (int i = 0; i < got.rank; i++) {
        int j = i - (got.rank - want.rank);
        n += j < 0 || (want.d[j] == 1 && got.d[i] != 1);
    }
    for (int i = 0; i < got.rank && u < sizeof axes; i++) {
        int j = i - (got.rank - want.rank);
        if (!(j < 0 || (want.d[j] == 1 && got.d[i] != 1)))
            continue;
        const char *sep = k == 0 ? "" : k == n - 1 ? " and " : ", ";
        if (got.d[i] == DIM_B)
            u += (size_t)snprintf(axes + u, sizeof axes - u, "%sthe B rows", sep);
        else
            u += (size_t)snprintf(axes + u, sizeof axes - u, "%saxis %d", sep, i);
        k++;
    }
    return arena_printf(ad->g->arena, "%s was repeated over %s: Repeat ↔ Sum", graph_name(ad->g, input), axes);
}

/* A contribution of shape `got` to an input of shape `want` that was
 * broadcast (repeated) in the forward pass is summed back: Repeat ↔ Sum. */
static int unbroadcast(AD *ad, int c, int input)
{
    Shape want = shape_of(ad, input), got = shape_of(ad, c);
    if (shape_eq(got, want))
        return c;
    return with_to(ad, OP_SUM_TO, c, want, repeat_rule(ad, input, want, got));
}

static int matmul(AD *ad, int a, int b, int ta, int tb, const char *rule)
{
    return bw2_at(ad, OP_MATMUL, a, b, (Attrs){.ta = ta, .tb = tb}, rule);
}

/* dy reshaped to keep the reduced axes as 1, for broadcasting back. */
static int keepdims_of(AD *ad, int dy, const Node *red)
{
    if (red->keepdims)
        return dy;
    Shape x = ad->g->nodes[red->in[0]].shape, k = x;
    for (int i = 0; i < x.rank; i++)
        if (red->axes >> i & 1u)
            k.d[i] = 1;
    return with_to(ad, OP_RESHAPE, dy, k, "the reduced axes come back with extent 1, to repeat along them");
}

static void add_grad(AD *ad, int input, int c);

/* The VJP of forward node i with incoming gradient dy: adds the gradient
 * contribution of each input that needs one. */
static void vjp(AD *ad, int i, int dy)
{
    Graph *g = ad->g;
    Node n = g->nodes[i]; /* a copy: the array grows below */
    int x = n.n_in > 0 ? n.in[0] : -1, w = n.n_in > 1 ? n.in[1] : -1;
    int c;
    switch (n.op) {
    case OP_INPUT: case OP_LABEL: case OP_PARAM: case OP_STATE: case OP_CONST: case OP_ROWS:
    case OP_DROPMASK: case OP_SIGN: case OP_EQ: case OP_ACCURACY:
        return; /* leaves, and ops whose gradient is zero */
    case OP_NEG: add_grad(ad, x, bw1(ad, OP_NEG, dy, "Neg: dx = -dy")); return;
    case OP_EXP: add_grad(ad, x, bw2(ad, OP_MUL, dy, i, "Exp: dx = dy·eˣ = dy·y")); return;
    case OP_LOG: add_grad(ad, x, bw2(ad, OP_DIV, dy, x, "Log: dx = dy/x")); return;
    case OP_SQRT:
        c = bw2(ad, OP_MUL, dy, konst(ad, 0.5), "Sqrt: dx = dy/(2√x) = dy·0.5/y");
        add_grad(ad, x, bw2(ad, OP_DIV, c, i, "Sqrt: dx = dy/(2√x) = dy·0.5/y"));
        return;
    case OP_SIN: add_grad(ad, x, bw2(ad, OP_MUL, dy, bw1(ad, OP_COS, x, "Sin: dx = dy·cos x"), "Sin: dx = dy·cos x")); return;
    case OP_COS:
        c = bw2(ad, OP_MUL, dy, bw1(ad, OP_SIN, x, "Cos: dx = -dy·sin x"), "Cos: dx = -dy·sin x");
        add_grad(ad, x, bw1(ad, OP_NEG, c, "Cos: dx = -dy·sin x"));
        return;
    case OP_ABS: add_grad(ad, x, bw2(ad, OP_MUL, dy, bw1(ad, OP_SIGN, x, "Abs: dx = dy·sign x"), "Abs: dx = dy·sign x")); return;
    case OP_SIGMOID: add_grad(ad, x, bw2(ad, OP_SIGMOID_GRAD, i, dy, "Sigmoid: dx = dy·y·(1-y), y = σ(x)")); return;
    case OP_TANH: add_grad(ad, x, bw2(ad, OP_TANH_GRAD, i, dy, "Tanh: dx = dy·(1-y²), y = tanh x")); return;
    case OP_RELU: add_grad(ad, x, bw2(ad, OP_RELU_GRAD, i, dy, "ReLU: the gradient passes where the output is positive")); return;
    case OP_LEAKY_RELU:
        add_grad(ad, x, bw2_at(ad, OP_LEAKY_RELU_GRAD, x, dy, (Attrs){.c = {n.c[0]}},
                               "LeakyReLU: dx = dy where x > 0, else slope·dy"));
        return;
    case OP_CLIP:
        add_grad(ad, x, bw2_at(ad, OP_CLIP_GRAD, x, dy, (Attrs){.c = {n.c[0], n.c[1]}},
                               "Clip: the gradient passes where x was not clipped"));
        return;
    case OP_SOFTPLUS: add_grad(ad, x, bw2(ad, OP_SOFTPLUS_GRAD, x, dy, "Softplus: dx = dy·σ(x)")); return;
    case OP_ELU:
        add_grad(ad, x, bw2_at(ad, OP_ELU_GRAD, x, dy, (Attrs){.c = {n.c[0]}}, "ELU: dx = dy where x > 0, else dy·α·eˣ"));
        return;
    case OP_SILU: add_grad(ad, x, bw2(ad, OP_SILU_GRAD, x, dy, "SiLU: dx = dy·σ(x)·(1 + x·(1 - σ(x)))")); return;
    case OP_GELU: add_grad(ad, x, bw2(ad, OP_GELU_GRAD, x, dy, "GELU: dx = dy·(½(1 + t) + ½x(1 - t²)·t'), t = tanh(k(x + a·x³))")); return;
    case OP_POW: {
        int p = bw1_at(ad, OP_POW, x, (Attrs){.c = {n.c[0] - 1}}, "Pow: dx = dy·p·x^(p-1)");
        c = bw2(ad, OP_MUL, p, konst(ad, n.c[0]), "Pow: dx = dy·p·x^(p-1)");
        add_grad(ad, x, bw2(ad, OP_MUL, dy, c, "Pow: dx = dy·p·x^(p-1)"));
        return;
    }
    case OP_ADD:
        if (ad->needs[x])
            add_grad(ad, x, unbroadcast(ad, dy, x));
        if (ad->needs[w])
            add_grad(ad, w, unbroadcast(ad, dy, w));
        return;
    case OP_SUB:
        if (ad->needs[x])
            add_grad(ad, x, unbroadcast(ad, dy, x));
        if (ad->needs[w])
            add_grad(ad, w, unbroadcast(ad, bw1(ad, OP_NEG, dy, "Sub: d(a - b)/db = -1"), w));
        return;
    case OP_MUL:
        if (ad->needs[x])
            add_grad(ad, x, unbroadcast(ad, bw2(ad, OP_MUL, dy, w, "Mul: da = dy·b, the other factor"), x));
        if (ad->needs[w])
            add_grad(ad, w, unbroadcast(ad, bw2(ad, OP_MUL, dy, x, "Mul: db = dy·a, the other factor"), w));
        return;
    case OP_DIV:
        if (ad->needs[x])
            add_grad(ad, x, unbroadcast(ad, bw2(ad, OP_DIV, dy, w, "Div: da = dy/b"), x));
        if (ad->needs[w]) {
            c = bw2(ad, OP_MUL, dy, i, "Div: db = -dy·a/b² = -dy·y/b");
            c = bw1(ad, OP_NEG, bw2(ad, OP_DIV, c, w, "Div: db = -dy·a/b² = -dy·y/b"), "Div: db = -dy·a/b² = -dy·y/b");
            add_grad(ad, w, unbroadcast(ad, c, w));
        }
        return;
    case OP_MATMUL:
        /* y = op(A)·op(B):  dA = dy·op(B)ᵀ (or its transpose),  dB = op(A)ᵀ·dy */
        if (ad->needs[x])
            add_grad(ad, x, n.ta ? matmul(ad, w, dy, n.tb, 1, "MatMul of Aᵀ: transpose the other operand, and the result")
                                 : matmul(ad, dy, w, 0, !n.tb, "MatMul: transpose the other operand"));
        if (ad->needs[w])
            add_grad(ad, w, n.tb ? matmul(ad, dy, x, 1, n.ta, "MatMul of Bᵀ: transpose the other operand, and the result")
                                 : matmul(ad, x, dy, !n.ta, 0, "MatMul: transpose the other operand"));
        return;
    case OP_TRANSPOSE: {
        Attrs back = NO_ATTRS;
        for (int k = 0; k < n.shape.rank; k++)
            back.perm[n.perm[k]] = k;
        add_grad(ad, x, bw1_at(ad, OP_TRANSPOSE, dy, back, "Transpose: move the axes back"));
        return;
    }
    case OP_RESHAPE: add_grad(ad, x, with_to(ad, OP_RESHAPE, dy, shape_of(ad, x), "Reshape: the gradient takes the input's shape back")); return;
    case OP_BROADCAST_TO:
        add_grad(ad, x, with_to(ad, OP_SUM_TO, dy, shape_of(ad, x), repeat_rule(ad, x, shape_of(ad, x), n.shape)));
        return;
    case OP_SUM_TO:
        add_grad(ad, x, with_to(ad, OP_BROADCAST_TO, dy, shape_of(ad, x), "sum_to: repeat the gradient back (Sum ↔ Repeat)"));
        return;
    case OP_SLICE:
        add_grad(ad, x, bw1_at(ad, OP_PAD, dy, (Attrs){.to = shape_of(ad, x), .axis = n.axis, .lo = n.lo, .hi = n.hi},
                               "Slice: the gradient goes back to its place, zeros elsewhere"));
        return;
    case OP_PAD:
        add_grad(ad, x, bw1_at(ad, OP_SLICE, dy, (Attrs){.axis = n.axis, .lo = n.lo, .hi = n.hi},
                               "Pad: slice the gradient back out"));
        return;
    case OP_CONCAT: {
        int off = 0;
        for (int k = 0; k < n.n_in; k++) {
            int len = shape_of(ad, n.in[k]).d[n.axis];
            if (ad->needs[n.in[k]])
                add_grad(ad, n.in[k], bw1_at(ad, OP_SLICE, dy, (Attrs){.axis = n.axis, .lo = off, .hi = off + len},
                                             "Concat: each input gets its slice of the gradient"));
            off += len;
        }
        return;
    }
    case OP_GATHER:
        add_grad(ad, x, bw2_at(ad, OP_SCATTER_ADD, dy, w, (Attrs){.to = shape_of(ad, x)},
                               "Gather: scatter-add back, gradients of repeated indices add up"));
        return;
    case OP_SCATTER_ADD: add_grad(ad, x, bw2(ad, OP_GATHER, dy, w, "ScatterAdd: gather the gradient back")); return;
    case OP_SUM:
        c = keepdims_of(ad, dy, &n);
        add_grad(ad, x, with_to(ad, OP_BROADCAST_TO, c, shape_of(ad, x), "Sum: dy repeated over the summed axes (Sum ↔ Repeat)"));
        return;
    case OP_MAX: case OP_MIN: {
        int yk = keepdims_of(ad, i, &n);
        int mask = bw2(ad, OP_EQ, x, yk, "Max/Min: a mask of the elements equal to the result");
        c = with_to(ad, OP_BROADCAST_TO, keepdims_of(ad, dy, &n), shape_of(ad, x), "Max/Min: dy repeated over the reduced axes");
        add_grad(ad, x, bw2(ad, OP_MUL, c, mask, "Max/Min: the gradient goes to the max (min) elements only"));
        return;
    }
    case OP_SOFTMAX:
        add_grad(ad, x, bw2_at(ad, OP_SOFTMAX_GRAD, i, dy, (Attrs){.axis = n.axis},
                               "Softmax: dx = y·(dy - Σ dy·y) along the axis"));
        return;
    case OP_LOG_SOFTMAX:
        add_grad(ad, x, bw2_at(ad, OP_LOG_SOFTMAX_GRAD, i, dy, (Attrs){.axis = n.axis},
                               "LogSoftmax: dx = dy - softmax(x)·Σ dy along the axis"));
        return;
    case OP_CONV2D:
        if (ad->needs[x])
            add_grad(ad, x, bw2_at(ad, OP_CONV2D_GRAD_X, dy, w,
                                   (Attrs){.to = shape_of(ad, x), .stride = n.stride, .pad = n.pad},
                                   "Conv2d: dx is the transposed convolution of dy with W (col2im of dy·W)"));
        if (ad->needs[w])
            add_grad(ad, w, bw2_at(ad, OP_CONV2D_GRAD_W, x, dy,
                                   (Attrs){.to = shape_of(ad, w), .stride = n.stride, .pad = n.pad},
                                   "Conv2d: dW is dy against the unfolded input (im2col of x)"));
        return;
    case OP_MAX_POOL:
        add_grad(ad, x, bw2_at(ad, OP_MAX_POOL_GRAD, x, dy, (Attrs){.stride = n.stride, .pad = n.pad, .size = n.size},
                               "MaxPool: dy goes to each window's maximum (the first in row-major order on ties)"));
        return;
    case OP_AVG_POOL:
        add_grad(ad, x, bw1_at(ad, OP_AVG_POOL_GRAD, dy,
                               (Attrs){.to = shape_of(ad, x), .stride = n.stride, .pad = n.pad, .size = n.size},
                               "AvgPool: each element of a window gets dy/size²; the padding's share is dropped"));
        return;
    case OP_BN_STATS:
        return; /* μ and σ² are differentiated inside batchnorm_norm's rule, the one reader of the stats */
    case OP_BN_NORM: {
        int in[3] = {i, w, dy};
        add_grad(ad, x, bw(ad, OP_BN_NORM_GRAD, in, 3, (Attrs){.c = {n.c[0]}},
                           "BatchNorm: dx = (dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂))/σ per feature, through the batch's μ and σ² "
                           "(with dx̂ = dy·γ: (γ/σ)·(dy - mean(dy) - x̂·mean(dy·x̂)))"));
        return;
    }
    case OP_SOFTMAX_CE: {
        int in[3] = {x, w, dy};
        add_grad(ad, x, bw(ad, OP_SOFTMAX_CE_GRAD, in, 3, NO_ATTRS, "Softmax-with-loss: softmax and cross-entropy differentiated together"));
        return;
    }
    case OP_NLL:
        add_grad(ad, x, bw2_at(ad, OP_NLL_GRAD, w, dy, (Attrs){.to = shape_of(ad, x)},
                               "NLL: -1/n at each row's target, 0 elsewhere"));
        return;
    case OP_SIGMOID_CE: {
        int in[3] = {x, w, dy};
        add_grad(ad, x, bw(ad, OP_SIGMOID_CE_GRAD, in, 3, NO_ATTRS, "Sigmoid-with-loss: sigmoid and cross-entropy differentiated together"));
        return;
    }
    NNC_EW_GRAD_OPS(NNC_CASE)
    case OP_SOFTMAX_GRAD: case OP_LOG_SOFTMAX_GRAD: case OP_SOFTMAX_CE_GRAD:
    case OP_NLL_GRAD: case OP_SIGMOID_CE_GRAD: case OP_GRAD_NORM: case OP_SGD: case OP_MOMENTUM:
    case OP_ADAGRAD: case OP_ADADELTA: case OP_ADAM: case OP_CONV2D_GRAD_X: case OP_CONV2D_GRAD_W:
    case OP_MAX_POOL_GRAD: case OP_AVG_POOL_GRAD: case OP_BN_NORM_GRAD: case OP_BN_RUNNING:
        NNC_ASSERT(0, "gradient ops are not differentiated again");
    }
}

/* The forward nodes whose gradient is node c, kept as g->grad changes
 * (set_grad), so that name_part need not scan the forward graph. */
static int *owners_of(AD *ad, int c)
{
    if (c >= ad->cap) {
        int cap = 2 * c + 64;
        int *owners = arena_alloc(ad->g->arena, (size_t)cap * sizeof *owners);
        if (ad->cap)
            memcpy(owners, ad->owners, (size_t)ad->cap * sizeof *owners);
        ad->owners = owners;
        ad->cap = cap;
    }
    return &ad->owners[c];
}

static void set_grad(AD *ad, int x, int c)
{
    if (ad->g->grad[x] >= 0)
        --*owners_of(ad, ad->g->grad[x]);
    ad->g->grad[x] = c;
    ++*owners_of(ad, c);
}

/* Names contribution k of x's gradient dx_k, unless it has a name or is
 * the gradient of a value of its own (an add passes dy through): some
 * forward node other than input has c as its gradient. */
static void name_part(AD *ad, int input, int c, int k)
{
    Graph *g = ad->g;
    if (g->nodes[c].name)
        return;
    if (*owners_of(ad, c) - (g->grad[input] == c) > 0)
        return;
    g->nodes[c].name = arena_printf(g->arena, "d%s_%d", graph_name(g, input), k);
}

/* The branch rule: the first contribution to dx is stored, later ones are
 * added to it. */
static void add_grad(AD *ad, int input, int c)
{
    Graph *g = ad->g;
    if (!ad->needs[input])
        return;
    int old = g->grad[input], k = ++ad->parts[input];
    if (old < 0) {
        set_grad(ad, input, c);
        return;
    }
    if (k == 2)
        name_part(ad, input, old, 1);
    name_part(ad, input, c, k);
    int sum = bw2(ad, OP_ADD, old, c, BRANCH_RULE);
    graph_node(g, sum)->grad_of = input;
    set_grad(ad, input, sum);
}

/* "x is used twice: branch gradients add", now that the uses are counted. */
static void branch_rules(AD *ad, int from)
{
    Graph *g = ad->g;
    for (int i = from; i < g->n; i++) {
        Node *n = &g->nodes[i];
        if (n->rule != BRANCH_RULE)
            continue;
        int k = ad->parts[n->grad_of];
        n->rule = k == 2 ? arena_printf(g->arena, "%s is used twice: branch gradients add", graph_name(g, n->grad_of))
                         : arena_printf(g->arena, "%s is used %d times: branch gradients add", graph_name(g, n->grad_of), k);
    }
}

/* needs[i] = 1 when node i depends on a trainable param. */
static char *needs_grad(Graph *g)
{
    char *needs = arena_alloc(g->arena, (size_t)g->n + 1);
    for (int i = 0; i < g->n; i++) {
        Node *n = &g->nodes[i];
        needs[i] = n->op == OP_PARAM && !n->frozen;
        for (int k = 0; k < n->n_in && n->op != OP_ACCURACY; k++)
            needs[i] |= needs[n->in[k]];
    }
    return needs;
}

/* Names every gradient node after its forward node: dW1, dh, dh_add.  A
 * gradient passed through unchanged (by an add) keeps the name of the
 * outermost value, which is named first. */
static void name_grads(Graph *g, int n_forward)
{
    for (int i = n_forward - 1; i >= 0; i--) {
        int gi = g->grad[i];
        if (gi >= 0 && !g->nodes[gi].name)
            g->nodes[gi].name = arena_printf(g->arena, "d%s", graph_name(g, i));
    }
}

/* ---- the update stage --------------------------------------------------- */

static int state_node(Graph *g, int p, const char *slot)
{
    Node *pn = graph_node(g, p);
    int id = graph_add(g, OP_STATE, NULL, 0, pn->shape, DT_F32, pn->loc);
    Node *n = graph_node(g, id);
    n->slot = slot;
    n->state_of = p;
    n->stage = STAGE_UPDATE;
    n->name = arena_printf(g->arena, "opt.%s.%s", pn->name, slot);
    return id;
}

static void update_param(Graph *g, int p, int norm)
{
    static const Op ops[] = {[OPT_SGD] = OP_SGD, [OPT_MOMENTUM] = OP_MOMENTUM, [OPT_ADAGRAD] = OP_ADAGRAD,
                             [OPT_ADADELTA] = OP_ADADELTA, [OPT_ADAM] = OP_ADAM};
    static const char *const slots[][2] = {[OPT_SGD] = {NULL, NULL}, [OPT_MOMENTUM] = {"v", NULL},
                                           [OPT_ADAGRAD] = {"h", NULL}, [OPT_ADADELTA] = {"msg", "msdx"},
                                           [OPT_ADAM] = {"m", "v"}};
    static const char *const rules[] = {
        [OPT_SGD] = "SGD: a step against the gradient",
        [OPT_MOMENTUM] = "Momentum: the velocity v keeps μ of the last step",
        [OPT_ADAGRAD] = "AdaGrad: h sums g², so often-moved weights take smaller steps",
        [OPT_ADADELTA] = "AdaDelta: the step is sized by running averages of past steps and of g², no lr",
        [OPT_ADAM] = "Adam: running averages m of g and v of g², bias-corrected: lr_t = lr·√(1-β2^t)/(1-β1^t)",
    };
    OptKind k = g->train.opt;
    int in[5] = {p, g->grad[p]}, n_in = 2;
    for (int s = 0; s < 2 && slots[k][s]; s++)
        in[n_in++] = state_node(g, p, slots[k][s]);
    if (norm >= 0)
        in[n_in++] = norm;
    int id = graph_op(g, NULL, ops[k], in, n_in, graph_node(g, p)->loc, (Attrs){.clip = norm >= 0});
    Node *u = graph_node(g, id);
    u->stage = STAGE_UPDATE;
    u->rule = rules[k];
    u->name = arena_printf(g->arena, "update.%s", graph_node(g, p)->name);
}

/* A batch norm's running statistics, moved towards the batch's at each
 * step (PyTorch's rule, the unbiased variance): r = (1 - m)·r + m·batch. */
static void running_update(Graph *g, int stats)
{
    const Node s = *graph_node(g, stats); /* a copy: the array grows below */
    int in[3] = {s.in[1], s.in[2], stats};
    int id = graph_op(g, NULL, OP_BN_RUNNING, in, 3, s.loc, (Attrs){.c = {s.c[0]}});
    Node *u = graph_node(g, id);
    u->stage = STAGE_UPDATE;
    u->rule = arena_printf(g->arena, "BatchNorm: running = (1 - %g)·running + %g·batch, the variance unbiased "
                                     "(σ²·m/(m - 1) over the m values of a feature)", u->c[0], u->c[0]);
    const char *mean = g->nodes[in[0]].name, *dot = strrchr(mean, '.'); /* h.mean: the layer h */
    u->name = arena_printf(g->arena, "update.%.*s.running", dot ? (int)(dot - mean) : (int)strlen(mean), mean);
}

static void update_stage(Graph *g, int n_forward)
{
    int *params = arena_alloc(g->arena, (size_t)n_forward * sizeof *params), np = 0;
    for (int i = 0; i < n_forward; i++)
        if (g->nodes[i].op == OP_PARAM && g->grad[i] >= 0)
            params[np++] = i;
    int norm = -1;
    if (g->train.clip_grad > 0 && np) {
        int *grads = arena_alloc(g->arena, (size_t)np * sizeof *grads);
        for (int k = 0; k < np; k++)
            grads[k] = g->grad[params[k]];
        norm = graph_op(g, NULL, OP_GRAD_NORM, grads, np, g->nodes[g->loss].loc, NO_ATTRS);
        g->nodes[norm].stage = STAGE_UPDATE;
        g->nodes[norm].name = "grad_norm";
        g->nodes[norm].rule = arena_printf(g->arena, "clip_grad = %g: when grad_norm > %g, every gradient is scaled by "
                                                     "s = %g/(grad_norm + 1e-6)",
                                           g->train.clip_grad, g->train.clip_grad, g->train.clip_grad);
    }
    for (int k = 0; k < np; k++)
        update_param(g, params[k], norm);
    for (int i = 0; i < n_forward; i++)
        if (g->nodes[i].op == OP_BN_STATS)
            running_update(g, i);
}

void autodiff(Graph *g)
{
    NNC_ASSERT(g->loss >= 0, "autodiff needs a loss");
    int n_forward = g->n;
    g->n_forward = n_forward;
    g->grad = arena_alloc(g->arena, (size_t)n_forward * sizeof *g->grad);
    for (int i = 0; i < n_forward; i++)
        g->grad[i] = -1;
    AD ad = {.g = g, .needs = needs_grad(g), .fwd = g->loss};
    ad.parts = arena_alloc(g->arena, (size_t)n_forward * sizeof *ad.parts);
    int seed = konst(&ad, 1.0);
    g->nodes[seed].name = arena_printf(g->arena, "d%s", graph_name(g, g->loss));
    g->nodes[seed].rule = arena_printf(g->arena, "seed: the gradient of %s with respect to itself",
                                       graph_name(g, g->loss));
    set_grad(&ad, g->loss, seed);
    for (int i = g->loss; i >= 0; i--)
        if (g->grad[i] >= 0 && ad.needs[i]) {
            ad.fwd = i;
            vjp(&ad, i, g->grad[i]);
        }
    branch_rules(&ad, n_forward);
    name_grads(g, n_forward);
    update_stage(g, n_forward);
}
