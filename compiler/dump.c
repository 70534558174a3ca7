/* dump.c: the graph's views for people: -dS (named values and shapes),
 * -dG (one node per line), --explain (the backward pass as equations with
 * their rules), --dot (Graphviz), and graph_formula(), the one-line equation
 * of a node that the emitter's comments share.
 */
#include "graph.h"
#include "emit.h"

#include <string.h>

static const char *sh(Shape s, char *buf) { return shape_str(s, buf, 64); }

/* A node as it stands on the left of an equation: its name, or t<id>. */
static const char *lhs_name(const Graph *g, int id, char *buf, size_t len)
{
    const Node *n = &g->nodes[id];
    if (n->name)
        snprintf(buf, len, "%s", n->name);
    else
        snprintf(buf, len, "t%d", id);
    return buf;
}

/* An operand as it reads in an equation: a number, n, its name, or t<id>. */
static const char *operand(const Graph *g, int id, char *buf, size_t len)
{
    const Node *n = &g->nodes[id];
    if (n->op == OP_CONST && n->shape.rank == 0)
        snprintf(buf, len, "%g", n->data[0]);
    else if (n->op == OP_ROWS)
        snprintf(buf, len, "n");
    else
        lhs_name(g, id, buf, len);
    return buf;
}

static int is_one(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    return n->op == OP_CONST && n->shape.rank == 0 && n->data[0] == 1;
}

/* "dloss · " before a loss gradient, or nothing when dloss is 1. */
static const char *times(const Graph *g, int id, char *buf, size_t len)
{
    char a[96];
    if (is_one(g, id))
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, "%s · ", operand(g, id, a, sizeof a));
    return buf;
}

/* A label as a row of targets: onehot(t) for class ids, t for f32 rows. */
static const char *target(const Graph *g, int id, char *buf, size_t len)
{
    char a[96];
    operand(g, id, a, sizeof a);
    if (g->nodes[id].dtype == DT_I32)
        snprintf(buf, len, "onehot(%s)", a);
    else
        snprintf(buf, len, "%s", a);
    return buf;
}

/* The rows a loss averages over: n for a batch, else the first extent. */
static const char *rows_of(Shape y, char *buf, size_t len)
{
    if (y.rank && y.d[0] != DIM_B)
        snprintf(buf, len, "%d", y.d[0]);
    else
        snprintf(buf, len, "n");
    return buf;
}

/* A constant: "dloss = 1", "t8 = [1, 1] filled with 1", "idx = [0, 2, 0]". */
static void const_formula(const Node *n, const char *lhs, char *buf, size_t len)
{
    char s1[64];
    long cnt = shape_numel(n->shape, 1);
    int same = n->data != NULL;
    for (long i = 1; same && i < cnt; i++)
        same = n->data[i] == n->data[0];
    if (n->data && n->shape.rank == 0) {
        snprintf(buf, len, "%s = %g", lhs, n->data[0]);
    } else if (same && n->shape.rank > 0) {
        snprintf(buf, len, "%s = %s filled with %g", lhs, sh(n->shape, s1), n->data[0]);
    } else if (n->data && n->shape.rank == 1 && cnt <= 8) {
        size_t u = (size_t)snprintf(buf, len, "%s = [", lhs);
        for (long i = 0; i < cnt && u < len; i++)
            u += (size_t)snprintf(buf + u, len - u, "%s%g", i ? ", " : "", n->data[i]);
        if (u < len)
            snprintf(buf + u, len - u, "]");
    } else {
        snprintf(buf, len, "%s = constant %s", lhs, sh(n->shape, s1));
    }
}

/* The gradient an update step uses: dW, s·dW when clipping scales it by
 * s, (dW + wd·W) with weight decay. */
static const char *update_grad(const Graph *g, const Node *n, char *buf, size_t len)
{
    char gname[96], pname[96];
    operand(g, n->in[1], gname, sizeof gname);
    operand(g, n->in[0], pname, sizeof pname);
    const char *s = n->clip ? "s·" : "";
    if (g->train.weight_decay > 0)
        snprintf(buf, len, "(%s%s + %g·%s)", s, gname, g->train.weight_decay, pname);
    else
        snprintf(buf, len, "%s%s", s, gname);
    return buf;
}

static const char *axes_text(unsigned axes, int rank, char *buf, size_t len)
{
    if (axes == (1u << rank) - 1) {
        snprintf(buf, len, "all");
        return buf;
    }
    size_t u = 0;
    buf[0] = '\0';
    for (int i = 0; i < rank && u < len; i++)
        if (axes >> i & 1u)
            u += (size_t)snprintf(buf + u, len - u, "%s%d", u ? "," : "", i);
    return buf;
}

/* lhs = an elementwise op's notation (ops.h), its operands and constants
 * in place. */
static void ew_formula(const Node *n, const char *lhs, const char *a, const char *b, char *buf, size_t len)
{
    char c0[32], c1[32], rhs[512];
    snprintf(c0, sizeof c0, "%.9g", n->c[0]);
    snprintf(c1, sizeof c1, "%.9g", n->c[1]);
    OpText t = {{a, b, c0, c1}, 0};
    if (!op_render(op_notation(n->op), &t, rhs, sizeof rhs))
        snprintf(rhs, sizeof rhs, "%s(%s%s%s)", op_name(n->op), a, n->n_in > 1 ? ", " : "", b);
    snprintf(buf, len, "%s = %s", lhs, rhs);
}

const char *graph_formula(const Graph *g, int id, char *buf, size_t len)
{
    const Node *n = &g->nodes[id];
    char a[96] = "", b[96] = "", c[96] = "", s1[64], s2[64], k[128], tg[128], gr[224];
    if (n->n_in > 0) operand(g, n->in[0], a, sizeof a);
    if (n->n_in > 1) operand(g, n->in[1], b, sizeof b);
    if (n->n_in > 2) operand(g, n->in[2], c, sizeof c);
    char lhs[96];
    lhs_name(g, id, lhs, sizeof lhs);
    if (op_class(n->op) == OPC_UPD && n->op != OP_GRAD_NORM && n->op != OP_BN_RUNNING)
        update_grad(g, n, gr, sizeof gr);
    Shape in0 = n->n_in ? g->nodes[n->in[0]].shape : n->shape;
    switch (n->op) {
    case OP_INPUT: snprintf(buf, len, "%s: input %s", lhs, sh(n->shape, s1)); break;
    case OP_LABEL: snprintf(buf, len, "%s: label %s %s", lhs, dtype_name(n->dtype), sh(n->shape, s1)); break;
    case OP_PARAM: snprintf(buf, len, "%s: param %s", lhs, sh(n->shape, s1)); break;
    case OP_STATE:
        if (graph_is_running(n))
            snprintf(buf, len, "%s: running %s of a batchnorm, not trained %s", lhs, n->slot, sh(n->shape, s1));
        else
            snprintf(buf, len, "%s: optimizer state of %s", lhs, g->nodes[n->state_of].name);
        break;
    case OP_CONST: const_formula(n, lhs, buf, len); break;
    case OP_ROWS: snprintf(buf, len, "n: rows of the batch"); break;
    case OP_DROPMASK: snprintf(buf, len, "%s = (uniform < %g) / %g, a dropout mask", lhs, n->c[0], n->c[0]); break;
    NNC_EW_OPS(NNC_CASE)
    NNC_EW_GRAD_OPS(NNC_CASE)
        ew_formula(n, lhs, a, b, buf, len);
        break;
    case OP_MATMUL: snprintf(buf, len, "%s = %s%s · %s%s", lhs, a, n->ta ? "ᵀ" : "", b, n->tb ? "ᵀ" : ""); break;
    case OP_TRANSPOSE: snprintf(buf, len, "%s = %sᵀ", lhs, a); break;
    case OP_RESHAPE: snprintf(buf, len, "%s = reshape(%s, %s)", lhs, a, sh(n->shape, s1)); break;
    case OP_BROADCAST_TO: snprintf(buf, len, "%s = %s repeated to %s", lhs, a, sh(n->shape, s1)); break;
    case OP_SUM_TO:
        if (in0.rank == n->shape.rank + 1 && in0.d[0] == DIM_B && !memcmp(in0.d + 1, n->shape.d, sizeof(int) * (size_t)n->shape.rank))
            snprintf(buf, len, "%s = Σ_rows %s", lhs, a);
        else
            snprintf(buf, len, "%s = sum_to(%s, %s)", lhs, a, sh(n->shape, s1));
        break;
    case OP_SLICE: snprintf(buf, len, "%s = %s[%d:%d] on axis %d", lhs, a, n->lo, n->hi, n->axis); break;
    case OP_PAD: snprintf(buf, len, "%s = zeros %s with [%d:%d] on axis %d = %s", lhs, sh(n->shape, s1), n->lo, n->hi, n->axis, a); break;
    case OP_CONCAT: snprintf(buf, len, "%s = concat(%s, %s%s) on axis %d", lhs, a, b, n->n_in > 2 ? ", ..." : "", n->axis); break;
    case OP_GATHER: snprintf(buf, len, "%s = %s[%s]", lhs, a, b); break;
    case OP_SCATTER_ADD: snprintf(buf, len, "%s = zeros %s; %s[%s[i]] += %s[i]", lhs, sh(n->shape, s1), lhs, b, a); break;
    case OP_SUM: case OP_MAX: case OP_MIN:
        snprintf(buf, len, "%s = %s(%s, axis=%s%s)", lhs, op_name(n->op), a, axes_text(n->axes, in0.rank, s2, sizeof s2),
                 n->keepdims ? ", keepdims" : "");
        break;
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: snprintf(buf, len, "%s = %s(%s)", lhs, op_name(n->op), a); break;
    case OP_SOFTMAX_CE: case OP_NLL: case OP_SIGMOID_CE: case OP_ACCURACY:
        snprintf(buf, len, "%s = %s(%s, %s)", lhs, op_name(n->op), a, b);
        break;
    case OP_CONV2D:
        snprintf(buf, len, "%s = conv2d(%s, %s, stride=%d, pad=%d)", lhs, a, b, n->stride, n->pad);
        break;
    case OP_MAX_POOL: case OP_AVG_POOL:
        snprintf(buf, len, "%s = %s(%s, size=%d, stride=%d, pad=%d)", lhs, op_name(n->op), a, n->size, n->stride,
                 n->pad);
        break;
    case OP_CONV2D_GRAD_X:
        snprintf(buf, len, "%s = conv2d_transpose(%s, %s, stride=%d, pad=%d)", lhs, a, b, n->stride, n->pad);
        break;
    case OP_CONV2D_GRAD_W:
        snprintf(buf, len, "%s = Σ_b,oh,ow %s · im2col(%s, stride=%d, pad=%d)", lhs, b, a, n->stride, n->pad);
        break;
    case OP_MAX_POOL_GRAD:
        snprintf(buf, len, "%s = %s routed to the max of each %d×%d window of %s", lhs, b, n->size, n->size, a);
        break;
    case OP_AVG_POOL_GRAD:
        snprintf(buf, len, "%s = %s / %d spread over each %d×%d window", lhs, a, n->size * n->size, n->size, n->size);
        break;
    case OP_BN_STATS:
        snprintf(buf, len, "%s = μ, σ², σ²·m/(m-1) of each feature of %s over the batch (train), or %s, %s, %s (eval)",
                 lhs, a, b, c, c);
        break;
    case OP_BN_NORM: snprintf(buf, len, "%s = (%s - μ) / √(σ² + %g), μ and σ² from %s", lhs, a, n->c[0], b); break;
    case OP_BN_NORM_GRAD:
        snprintf(buf, len, "%s = (%s - mean(%s) - %s·mean(%s·%s)) / √(σ² + %g), σ² from %s", lhs, c, c, a, c, a,
                 n->c[0], b);
        break;
    case OP_BN_RUNNING:
        snprintf(buf, len, "%s = %g·%s + %g·μ;  %s = %g·%s + %g·σ²·m/(m-1),  from %s", a, 1 - n->c[0], a, n->c[0], b,
                 1 - n->c[0], b, n->c[0], c);
        break;
    case OP_SOFTMAX_GRAD: snprintf(buf, len, "%s = %s · (%s - Σ %s·%s)", lhs, a, b, b, a); break;
    case OP_LOG_SOFTMAX_GRAD: snprintf(buf, len, "%s = %s - exp(%s) · Σ %s", lhs, b, a, b); break;
    case OP_SOFTMAX_CE_GRAD:
        snprintf(buf, len, "%s = %s(softmax(%s) - %s) / %s", lhs, times(g, n->in[2], k, sizeof k), a,
                 target(g, n->in[1], tg, sizeof tg), rows_of(n->shape, s1, sizeof s1));
        break;
    case OP_NLL_GRAD:
        snprintf(buf, len, "%s = -%s%s / %s", lhs, times(g, n->in[1], k, sizeof k), target(g, n->in[0], tg, sizeof tg),
                 rows_of(n->shape, s1, sizeof s1));
        break;
    case OP_SIGMOID_CE_GRAD:
        snprintf(buf, len, "%s = %s(σ(%s) - %s) / %s", lhs, times(g, n->in[2], k, sizeof k), a, b,
                 rows_of(n->shape, s1, sizeof s1));
        break;
    case OP_GRAD_NORM: {
        size_t u = (size_t)snprintf(buf, len, "%s = √(Σ g²), g in ", lhs);
        for (int i = 0; i < n->n_in && u < len; i++) {
            if (i == 6) {
                snprintf(buf + u, len - u, ", ...");
                break;
            }
            u += (size_t)snprintf(buf + u, len - u, "%s%s", i ? ", " : "", operand(g, n->in[i], a, sizeof a));
        }
        break;
    }
    case OP_SGD: snprintf(buf, len, "%s -= lr · %s", a, gr); break;
    case OP_MOMENTUM: snprintf(buf, len, "%s = μ·%s - lr·%s;  %s += %s", c, c, gr, a, c); break;
    case OP_ADAGRAD: snprintf(buf, len, "%s += %s²;  %s -= lr · %s / (√%s + ε)", c, gr, a, gr, c); break;
    case OP_ADADELTA: snprintf(buf, len, "%s -= Δ = √((E[Δ²] + ε) / (E[g²] + ε)) · g,  g = %s", a, gr); break;
    case OP_ADAM: snprintf(buf, len, "%s -= lr_t · m / (√v + ε),  m, v averages of g, g²,  g = %s", a, gr); break;
    }
    return buf;
}

/* ---- -dS --------------------------------------------------------------- */
void sema_dump(FILE *out, const Graph *g)
{
    char s[64];
    fprintf(out, "model %s\n", g->model ? g->model : "?");
    for (int i = 0; i < g->consts.len; i++) {
        const ConstDef *c = g->consts.items[i];
        if (c->str) {
            fprintf(out, "const %s = \"", c->name);
            for (const char *p = c->str; *p; p++)
                fprintf(out, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
            fprintf(out, "\"\n");
        } else {
            fprintf(out, "const %s = %g\n", c->name, c->value);
        }
    }
    fprintf(out, "B = %d\n", g->batch);
    for (int i = 0; i < g->n_forward; i++) {
        const Node *n = &g->nodes[i];
        if (!n->name)
            continue;
        const char *kind = n->op == OP_INPUT ? "input" : n->op == OP_LABEL ? "label" : n->op == OP_PARAM ? "param" : "value";
        fprintf(out, "%-5s %-16s %s%s", kind, n->name, dtype_name(n->dtype), sh(n->shape, s));
        if (n->op != OP_INPUT && n->op != OP_LABEL && n->op != OP_PARAM)
            fprintf(out, "  (%s)", op_name(n->op));
        if (n->frozen)
            fprintf(out, "  frozen");
        fprintf(out, "  line %d\n", n->loc.line);
    }
    if (g->loss >= 0)
        fprintf(out, "minimize %s\n", g->nodes[g->loss].name);
    if (g->output >= 0)
        fprintf(out, "output %s\n", g->nodes[g->output].name);
}

/* ---- -dG --------------------------------------------------------------- */
static const char *stage_name(Stage s) { return s == STAGE_FORWARD ? "forward" : s == STAGE_BACKWARD ? "backward" : "update"; }

void graph_dump(FILE *out, const Graph *g)
{
    char s[64], ins[256], op[64];
    Stage last = (Stage)-1;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->stage != last)
            fprintf(out, "# %s\n", stage_name(last = n->stage));
        size_t u = 0;
        ins[0] = '\0';
        for (int k = 0; k < n->n_in && u < sizeof ins; k++)
            u += (size_t)snprintf(ins + u, sizeof ins - u, "%s%d", k ? " " : "", n->in[k]);
        snprintf(op, sizeof op, "%s%s%s", op_name(n->op), n->ta ? " ta" : "", n->tb ? " tb" : "");
        fprintf(out, "%4d  %-18s %-22s %-14s %-12s line %d\n", i, n->name ? n->name : "-", op, ins,
                sh(n->shape, s), n->loc.line);
    }
}

/* ---- --explain ----------------------------------------------------------- */

/* Columns a string takes on a terminal: UTF-8 continuation bytes take none
 * (every character nnc prints, ᵀ Σ σ · √ ², is one column wide). */
static int display_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* The backward and update nodes --explain shows: not the scalar constants
 * a rule made on the way, not optimizer state. */
static int explained(const Node *n) { return !(n->op == OP_CONST && !n->rule) && n->op != OP_STATE; }

/* "line 15:  h_matmul = x · W1;  h_add = h_matmul + b1;  h = σ(h_add)" */
static void explain_line(FILE *out, const Graph *g, int line)
{
    char f[512];
    fprintf(out, "\nline %d:", line);
    const char *sep = "  ";
    for (int i = 0; i < g->n_forward; i++) {
        const Node *n = &g->nodes[i];
        if (n->loc.line != line || (op_class(n->op) == OPC_LEAF && n->op != OP_DROPMASK))
            continue;
        fprintf(out, "%s%s", sep, graph_formula(g, i, f, sizeof f));
        sep = ";  ";
    }
    fprintf(out, "\n");
}

/* "sgd(lr=1), clip_grad=5, weight_decay=0.0001" */
static void explain_optimizer(FILE *out, const TrainSpec *t)
{
    switch (t->opt) {
    case OPT_SGD: fprintf(out, "sgd(lr=%g)", t->lr); break;
    case OPT_MOMENTUM: fprintf(out, "momentum(lr=%g, momentum=%g)", t->lr, t->momentum); break;
    case OPT_ADAGRAD: fprintf(out, "adagrad(lr=%g, eps=%g)", t->lr, t->eps); break;
    case OPT_ADADELTA: fprintf(out, "adadelta(rho=%g, eps=%g)", t->rho, t->eps); break;
    case OPT_ADAM: fprintf(out, "adam(lr=%g, beta1=%g, beta2=%g, eps=%g)", t->lr, t->beta1, t->beta2, t->eps); break;
    }
    if (t->decay != DECAY_NONE)
        fprintf(out, ", lr decays %s to %g", t->decay == DECAY_LINEAR ? "linearly" : "exponentially", t->final_lr);
    if (t->clip_grad > 0)
        fprintf(out, ", clip_grad=%g", t->clip_grad);
    if (t->weight_decay > 0)
        fprintf(out, ", weight_decay=%g", t->weight_decay);
}

void graph_explain(FILE *out, const Graph *g)
{
    char f[512];
    int width = 0;
    for (int i = g->n_forward; i < g->n; i++)
        if (explained(&g->nodes[i])) {
            int w = display_width(graph_formula(g, i, f, sizeof f));
            width = w > width ? w : width;
        }
    width = width > 44 ? 44 : width;
    const char *loss = g->loss >= 0 && g->nodes[g->loss].name ? g->nodes[g->loss].name : "the loss";
    fprintf(out, "The backward pass of %s, in the order it runs: each gradient and the rule that made it.\n",
            g->model ? g->model : "the model");
    fprintf(out, "d<name> is the gradient of %s with respect to <name>; n is the number of rows in the batch.\n", loss);
    fprintf(out, "An add passes its gradient to both operands unchanged, so it takes no line of its own.\n");
    int line = 0, update = 0;
    for (int i = g->n_forward; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (!explained(n))
            continue;
        if (n->stage == STAGE_UPDATE && !update) {
            fprintf(out, "\nthe update, after the backward pass: ");
            explain_optimizer(out, &g->train);
            fprintf(out, "\n");
            update = 1;
        } else if (n->stage == STAGE_BACKWARD && n->loc.line != line) {
            explain_line(out, g, line = n->loc.line);
        }
        graph_formula(g, i, f, sizeof f);
        fprintf(out, "  %s", f);
        if (n->rule) {
            int w = display_width(f);
            fprintf(out, "%*s  (%s)", w < width ? width - w : 0, "", n->rule);
        }
        fprintf(out, "\n");
    }
}

/* ---- --dot ----------------------------------------------------------------- */
static void dot_node(FILE *out, const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    const char *shape = "ellipse", *color = "white";
    switch (n->op) {
    case OP_PARAM: shape = "box"; color = "lightblue"; break;
    case OP_STATE: shape = "box"; color = "lightgrey"; break;
    case OP_INPUT: case OP_LABEL: shape = "box"; color = "palegreen"; break;
    case OP_CONST: case OP_ROWS: shape = "plaintext"; break;
    default:
        if (n->stage == STAGE_BACKWARD) color = "mistyrose";
        else if (n->stage == STAGE_UPDATE) { color = "khaki"; shape = "hexagon"; }
        break;
    }
    char lab[96];
    operand(g, i, lab, sizeof lab);
    fprintf(out, "  n%d [label=\"%s\\n%s\", shape=%s, style=filled, fillcolor=%s", i, lab, op_name(n->op),
            shape, color);
    if (n->rule) { /* a gradient's or an update's rule, as --explain gives it: shown on hover */
        fprintf(out, ", tooltip=\"");
        for (const char *r = n->rule; *r; r++)
            fprintf(out, "%s%c", *r == '"' || *r == '\\' ? "\\" : "", *r);
        fprintf(out, "\"");
    }
    fprintf(out, "];\n");
}

void graph_dot(FILE *out, const Graph *g)
{
    char s[64];
    /* newrank: ranks over the whole graph, not cluster by cluster (dot's
     * cluster ranking fails with "trouble in init_rank" on some graphs with
     * a batch norm's edges from forward to update, models/fashion_cnn.nn) */
    fprintf(out, "digraph \"%s\" {\n  rankdir=TB;\n  newrank=true;\n  node [fontname=\"Helvetica\", fontsize=10];\n",
            g->model ? g->model : "model");
    fprintf(out, "  edge [fontname=\"Helvetica\", fontsize=8];\n");
    for (int stage = STAGE_FORWARD; stage <= STAGE_UPDATE; stage++) {
        fprintf(out, "  subgraph cluster_%s {\n  label=\"%s\";\n", stage_name((Stage)stage), stage_name((Stage)stage));
        for (int i = 0; i < g->n; i++)
            if ((int)g->nodes[i].stage == stage)
                dot_node(out, g, i);
        fprintf(out, "  }\n");
    }
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int from = g->nodes[i].in[k];
            fprintf(out, "  n%d -> n%d [label=\"%s\"%s];\n", from, i, shape_str(g->nodes[from].shape, s, sizeof s),
                    g->nodes[i].stage != STAGE_FORWARD ? ", color=firebrick" : "");
        }
    fprintf(out, "}\n");
}
