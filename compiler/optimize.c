/* optimize.c: rewrites that keep every result the same, in one walk.
 *
 *   identities    x·1, x/1, x+0, x-0, (xᵀ)ᵀ, reshape to the same shape -> x
 *   folding       a node whose inputs are all constants (and which has no
 *                 batch axis) becomes a constant, computed by the reference
 *                 interpreter
 *   CSE           a node equal to an earlier one (same op, inputs and
 *                 attributes) is replaced by it
 *   DCE           nodes that reach neither the loss, the output, a metric,
 *                 a param gradient nor an update are dropped, and the array
 *                 is compacted (ids renumbered, order kept)
 *
 * The walk goes in array order; `repl[i]` is the node that now stands for
 * node i, and every input is read through it.
 */
#include "graph.h"
#include "interp.h"

#include <string.h>

static int is_const_scalar(const Graph *g, int id, double v)
{
    const Node *n = &g->nodes[id];
    return n->op == OP_CONST && n->shape.rank == 0 && n->data[0] == v;
}

/* The operand that node i equals by an identity, or -1. */
static int identity(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    int a = n->n_in > 0 ? n->in[0] : -1, b = n->n_in > 1 ? n->in[1] : -1;
    switch (n->op) {
    case OP_MUL:
        if (is_const_scalar(g, b, 1) && shape_eq(g->nodes[a].shape, n->shape)) return a;
        if (is_const_scalar(g, a, 1) && shape_eq(g->nodes[b].shape, n->shape)) return b;
        return -1;
    case OP_ADD:
        if (is_const_scalar(g, b, 0) && shape_eq(g->nodes[a].shape, n->shape)) return a;
        if (is_const_scalar(g, a, 0) && shape_eq(g->nodes[b].shape, n->shape)) return b;
        return -1;
    case OP_SUB: case OP_DIV:
        return is_const_scalar(g, b, n->op == OP_SUB ? 0 : 1) && shape_eq(g->nodes[a].shape, n->shape) ? a : -1;
    case OP_RESHAPE:
        return shape_eq(g->nodes[a].shape, n->shape) ? a : -1;
    case OP_TRANSPOSE: {
        const Node *inner = &g->nodes[a];
        if (inner->op != OP_TRANSPOSE)
            return -1;
        for (int k = 0; k < n->shape.rank; k++)
            if (inner->perm[n->perm[k]] != k)
                return -1;
        return inner->in[0];
    }
    default:
        return -1;
    }
}

static int same_attrs(const Node *x, const Node *y)
{
    if (x->ta != y->ta || x->tb != y->tb || x->axis != y->axis || x->axes != y->axes || x->keepdims != y->keepdims ||
        x->lo != y->lo || x->hi != y->hi || memcmp(x->perm, y->perm, sizeof x->perm) != 0 ||
        memcmp(x->c, y->c, sizeof x->c) != 0 || !shape_eq(x->shape, y->shape) || !shape_eq(x->to, y->to) ||
        x->n_in != y->n_in || x->dtype != y->dtype)
        return 0;
    for (int k = 0; k < x->n_in; k++)
        if (x->in[k] != y->in[k])
            return 0;
    if (x->op == OP_CONST)
        return x->shape.rank == 0 && x->data[0] == y->data[0];
    return 1;
}

static int cse_candidate(const Node *n)
{
    OpClass c = op_class(n->op);
    if (n->op == OP_CONST)
        return n->shape.rank == 0;
    return c != OPC_LEAF && c != OPC_UPD;
}

/* An earlier node equal to node i, or -1 (a linear scan over nodes of the
 * same op; graphs are small, and large ones skip CSE). */
static int earlier_equal(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    if (!cse_candidate(n) || g->n > 20000)
        return -1;
    for (int j = 0; j < i; j++)
        if (g->nodes[j].op == n->op && same_attrs(&g->nodes[j], n))
            return j;
    return -1;
}

static int foldable(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    OpClass c = op_class(n->op);
    if (!(c == OPC_EW || c == OPC_RED || c == OPC_SHAPE) || n->n_in == 0)
        return 0;
    if (n->shape.rank && n->shape.d[0] == DIM_B)
        return 0;
    for (int k = 0; k < n->n_in; k++)
        if (g->nodes[n->in[k]].op != OP_CONST)
            return 0;
    return 1;
}

static void fold(Graph *g, Interp *it, int i)
{
    interp_run_node(it, i);
    Node *n = &g->nodes[i];
    long cnt = shape_numel(n->shape, 1);
    n->data = arena_alloc(g->arena, (size_t)(cnt ? cnt : 1) * sizeof(double));
    memcpy(n->data, interp_value(it, i), (size_t)cnt * sizeof(double));
    n->op = OP_CONST;
    n->n_in = 0;
    if (n->shape.rank == 0)
        n->c[0] = n->data[0];
}

static int remap(const int *repl, int id) { return id < 0 ? id : repl[id]; }

/* ---- dead code ------------------------------------------------------------- */
static void mark_live(const Graph *g, char *live)
{
    for (int i = 0; i < g->n; i++) {
        Op op = g->nodes[i].op;
        live[i] = op == OP_PARAM || op == OP_INPUT || op == OP_LABEL || op == OP_STATE || op_class(op) == OPC_UPD;
    }
    if (g->loss >= 0) live[g->loss] = 1;
    if (g->output >= 0) live[g->output] = 1;
    if (g->metric >= 0) live[g->metric] = 1;
    for (int i = 0; g->grad && i < g->n_forward; i++)
        if (g->grad[i] >= 0 && g->nodes[i].op == OP_PARAM)
            live[g->grad[i]] = 1;
    for (int i = g->n - 1; i >= 0; i--)
        if (live[i])
            for (int k = 0; k < g->nodes[i].n_in; k++)
                live[g->nodes[i].in[k]] = 1;
}

static void compact(Graph *g, const char *live)
{
    int *newid = arena_alloc(g->arena, (size_t)g->n * sizeof *newid), m = 0, n_forward = 0;
    for (int i = 0; i < g->n; i++) {
        newid[i] = live[i] ? m++ : -1;
        n_forward += live[i] && i < g->n_forward;
    }
    int *grad = arena_alloc(g->arena, (size_t)(n_forward ? n_forward : 1) * sizeof *grad);
    for (int i = 0; i < g->n_forward; i++)
        if (live[i])
            grad[newid[i]] = g->grad ? remap(newid, g->grad[i]) : -1;
    for (int i = 0; i < g->n; i++) {
        if (!live[i])
            continue;
        Node n = g->nodes[i];
        for (int k = 0; k < n.n_in; k++)
            n.in[k] = newid[n.in[k]];
        n.grad_of = n.grad_of >= 0 ? newid[n.grad_of] : -1;
        n.state_of = n.state_of >= 0 ? newid[n.state_of] : -1;
        g->nodes[newid[i]] = n;
    }
    g->n = m;
    g->n_forward = n_forward;
    g->grad = grad;
    g->loss = remap(newid, g->loss);
    g->output = remap(newid, g->output);
    g->metric = remap(newid, g->metric);
}

void optimize(Graph *g)
{
    int *repl = arena_alloc(g->arena, (size_t)g->n * sizeof *repl);
    Interp it;
    int have_interp = 0;
    for (int i = 0; i < g->n; i++) {
        Node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            n->in[k] = repl[n->in[k]];
        int r = identity(g, i);
        if (r < 0)
            r = earlier_equal(g, i);
        if (r < 0 && foldable(g, i)) {
            if (!have_interp++)
                interp_init(&it, g, 1);
            fold(g, &it, i);
        }
        repl[i] = r >= 0 ? r : i;
    }
    if (have_interp)
        interp_free(&it);
    for (int i = 0; g->grad && i < g->n_forward; i++)
        g->grad[i] = remap(repl, g->grad[i]);
    g->loss = remap(repl, g->loss);
    g->output = remap(repl, g->output);
    g->metric = remap(repl, g->metric);
    char *live = arena_alloc(g->arena, (size_t)g->n + 1);
    mark_live(g, live);
    compact(g, live);
}
