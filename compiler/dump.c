/* dump.c: the graph's views for people: -dS (named values and shapes),
 * -dG (one node per line), --explain (the backward pass as equations with
 * their rules), --dot (Graphviz), and graph_formula(), the one-line equation
 * of a node that the emitter's comments share.
 */
#include "graph.h"
#include "emit.h"

#include <string.h>

static const char *sh(Shape s, char *buf) { return shape_str(s, buf, 64); }

/* An operand as it reads in an equation: its name, a number, or n. */
static const char *operand(const Graph *g, int id, char *buf, size_t len)
{
    const Node *n = &g->nodes[id];
    if (n->op == OP_CONST && n->shape.rank == 0)
        snprintf(buf, len, "%g", n->data[0]);
    else if (n->op == OP_ROWS)
        snprintf(buf, len, "n");
    else
        snprintf(buf, len, "%s", n->name ? n->name : "t?");
    if (!n->name && n->op != OP_CONST && n->op != OP_ROWS)
        snprintf(buf, len, "t%d", id);
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

const char *graph_formula(const Graph *g, int id, char *buf, size_t len)
{
    const Node *n = &g->nodes[id];
    char a[96] = "", b[96] = "", c[96] = "", s1[64], s2[64];
    if (n->n_in > 0) operand(g, n->in[0], a, sizeof a);
    if (n->n_in > 1) operand(g, n->in[1], b, sizeof b);
    if (n->n_in > 2) operand(g, n->in[2], c, sizeof c);
    char lhs[96];
    operand(g, id, lhs, sizeof lhs);
    Shape in0 = n->n_in ? g->nodes[n->in[0]].shape : n->shape;
    switch (n->op) {
    case OP_INPUT: snprintf(buf, len, "%s: input %s", lhs, sh(n->shape, s1)); break;
    case OP_LABEL: snprintf(buf, len, "%s: label %s %s", lhs, dtype_name(n->dtype), sh(n->shape, s1)); break;
    case OP_PARAM: snprintf(buf, len, "%s: param %s", lhs, sh(n->shape, s1)); break;
    case OP_STATE: snprintf(buf, len, "%s: optimizer state of %s", lhs, g->nodes[n->state_of].name); break;
    case OP_CONST: snprintf(buf, len, "%s = constant %s", lhs, sh(n->shape, s1)); break;
    case OP_ROWS: snprintf(buf, len, "n: rows of the batch"); break;
    case OP_DROPMASK: snprintf(buf, len, "%s = (uniform < %g) / %g, a dropout mask", lhs, n->c[0], n->c[0]); break;
    case OP_NEG: snprintf(buf, len, "%s = -%s", lhs, a); break;
    case OP_EXP: case OP_LOG: case OP_SQRT: case OP_SIN: case OP_COS: case OP_ABS: case OP_SIGN:
    case OP_TANH: case OP_RELU:
        snprintf(buf, len, "%s = %s(%s)", lhs, op_name(n->op), a);
        break;
    case OP_SIGMOID: snprintf(buf, len, "%s = σ(%s)", lhs, a); break;
    case OP_LEAKY_RELU: snprintf(buf, len, "%s = leaky_relu(%s, %g)", lhs, a, n->c[0]); break;
    case OP_CLIP: snprintf(buf, len, "%s = clip(%s, %g, %g)", lhs, a, n->c[0], n->c[1]); break;
    case OP_POW: snprintf(buf, len, "%s = %s^%g", lhs, a, n->c[0]); break;
    case OP_ADD: snprintf(buf, len, "%s = %s + %s", lhs, a, b); break;
    case OP_SUB: snprintf(buf, len, "%s = %s - %s", lhs, a, b); break;
    case OP_MUL: snprintf(buf, len, "%s = %s · %s", lhs, a, b); break;
    case OP_DIV: snprintf(buf, len, "%s = %s / %s", lhs, a, b); break;
    case OP_EQ: snprintf(buf, len, "%s = (%s == %s)", lhs, a, b); break;
    case OP_MATMUL: snprintf(buf, len, "%s = %s%s · %s%s", lhs, a, n->ta ? "ᵀ" : "", b, n->tb ? "ᵀ" : ""); break;
    case OP_TRANSPOSE: snprintf(buf, len, "%s = %sᵀ", lhs, a); break;
    case OP_RESHAPE: snprintf(buf, len, "%s = reshape(%s, %s)", lhs, a, sh(n->shape, s1)); break;
    case OP_BROADCAST_TO: snprintf(buf, len, "%s = %s repeated to %s", lhs, a, sh(n->shape, s1)); break;
    case OP_SUM_TO:
        if (in0.rank == n->shape.rank + 1 && in0.d[0] == DIM_B)
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
    case OP_SIGMOID_GRAD: snprintf(buf, len, "%s = %s · %s · (1 - %s)", lhs, b, a, a); break;
    case OP_TANH_GRAD: snprintf(buf, len, "%s = %s · (1 - %s²)", lhs, b, a); break;
    case OP_RELU_GRAD: snprintf(buf, len, "%s = %s where %s > 0, else 0", lhs, b, a); break;
    case OP_LEAKY_RELU_GRAD: snprintf(buf, len, "%s = %s where %s > 0, else %g · %s", lhs, b, a, n->c[0], b); break;
    case OP_CLIP_GRAD: snprintf(buf, len, "%s = %s where %g <= %s <= %g, else 0", lhs, b, n->c[0], a, n->c[1]); break;
    case OP_SOFTMAX_GRAD: snprintf(buf, len, "%s = %s · (%s - Σ %s·%s)", lhs, a, b, b, a); break;
    case OP_LOG_SOFTMAX_GRAD: snprintf(buf, len, "%s = %s - exp(%s) · Σ %s", lhs, b, a, b); break;
    case OP_SOFTMAX_CE_GRAD: snprintf(buf, len, "%s = %s · (softmax(%s) - onehot(%s)) / n", lhs, c, a, b); break;
    case OP_NLL_GRAD: snprintf(buf, len, "%s = -%s · onehot(%s) / n", lhs, b, a); break;
    case OP_SIGMOID_CE_GRAD: snprintf(buf, len, "%s = %s · (σ(%s) - %s) / n", lhs, c, a, b); break;
    case OP_GRAD_NORM: snprintf(buf, len, "%s = √(Σ g²) over every param gradient", lhs); break;
    case OP_SGD: snprintf(buf, len, "%s -= lr · %s", a, b); break;
    case OP_MOMENTUM: snprintf(buf, len, "%s = μ·%s - lr·%s;  %s += %s", c, c, b, a, c); break;
    case OP_ADAGRAD: snprintf(buf, len, "%s += %s²;  %s -= lr · %s / (√%s + ε)", c, b, a, b, c); break;
    case OP_ADADELTA: snprintf(buf, len, "%s -= Δ, Δ = √((E[Δ²]+ε)/(E[g²]+ε)) · %s  (AdaDelta)", a, b); break;
    case OP_ADAM: snprintf(buf, len, "%s -= lr_t · m / (√v + ε), m and v moving averages of %s and %s²  (Adam)", a, b, b); break;
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
        fprintf(out, "const %s = %g\n", c->name, c->value);
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
void graph_explain(FILE *out, const Graph *g)
{
    char f[512];
    fprintf(out, "The backward pass of %s, in the order it runs: each gradient and the rule that made it.\n",
            g->model ? g->model : "the model");
    fprintf(out, "d<name> is the gradient of the loss %s with respect to <name>; n is the rows of the batch.\n\n",
            g->loss >= 0 ? g->nodes[g->loss].name : "");
    int line = 0;
    for (int i = g->n_forward; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_CONST && n->stage == STAGE_BACKWARD && !n->rule)
            continue;
        if (n->op == OP_STATE)
            continue;
        if (n->loc.line != line) {
            fprintf(out, "%sline %d:\n", line ? "\n" : "", n->loc.line);
            line = n->loc.line;
        }
        graph_formula(g, i, f, sizeof f);
        fprintf(out, "  %-40s", f);
        if (n->rule)
            fprintf(out, "  (%s)", n->rule);
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
    fprintf(out, "  n%d [label=\"%s\\n%s\", shape=%s, style=filled, fillcolor=%s];\n", i, lab, op_name(n->op),
            shape, color);
}

void graph_dot(FILE *out, const Graph *g)
{
    char s[64];
    fprintf(out, "digraph \"%s\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n",
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
