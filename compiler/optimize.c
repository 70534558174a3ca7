/* optimize.c: rewrites that keep every result the same, in one walk.
 *
 *   identities    x·1, x/1, x+0, x-0, (xᵀ)ᵀ, reshape to the same shape -> x
 *   folding       a node whose inputs are all constants (and which has no
 *                 batch axis) becomes a constant, computed by the reference
 *                 interpreter, when it has at most FOLD_MAX_NUMEL elements:
 *                 a constant is written out as a C array, so a larger one
 *                 (broadcast_to(2, [3000, 3000])) stays an op that fills its
 *                 buffer at run time, and the compiler's time and the
 *                 emitted text stay proportional to the model's text
 *   CSE           a node equal to an earlier one (same op, inputs and
 *                 attributes) is replaced by it; a hash table finds it, so
 *                 the walk stays linear in the graph
 *   DCE           nodes that reach neither the loss, the output, a metric,
 *                 a param gradient nor an update are dropped, and the array
 *                 is compacted (ids renumbered, order kept)
 *
 *   gradients     after the walk, before DCE: a param gradient that no
 *                 backward step computes (a folded constant, the seed
 *                 dL/dL = 1, a param or a forward value an identity left)
 *                 gets a backward node that writes it into the gradient
 *                 block: a fill when all its values are equal, else a copy
 *
 * The walk goes in array order; `repl[i]` is the node that now stands for
 * node i, and every input is read through it.
 */
#include "graph.h"
#include "interp.h"

#include <stdint.h>
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
        x->lo != y->lo || x->hi != y->hi || x->stride != y->stride || x->pad != y->pad || x->size != y->size ||
        memcmp(x->perm, y->perm, sizeof x->perm) != 0 ||
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

/* ---- CSE: a hash table of the nodes seen so far ---------------------------
 * Open addressing over node ids, keyed by a hash of everything same_attrs()
 * compares exactly (op, inputs, integer attributes, shapes, and the bits of
 * c[] and perm[]; a scalar CONST's value with -0 taken as 0, since 0 == -0).
 * Each node goes in once its own rewrite is done, unless an equal node is
 * already there, so a lookup finds the earliest equal node: one probe
 * sequence per node, linear in the graph. */
typedef struct Cse {
    int *slot; /* node ids, -1 when empty */
    size_t mask;
} Cse;

static uint64_t cse_mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9E3779B97F4A7C15u + (h << 6) + (h >> 2);
    return h * 0xFF51AFD7ED558CCDu;
}

static uint64_t cse_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static uint64_t cse_shape(uint64_t h, Shape s)
{
    h = cse_mix(h, (uint64_t)s.rank);
    for (int k = 0; k < s.rank; k++)
        h = cse_mix(h, (uint64_t)(uint32_t)s.d[k]);
    return h;
}

static uint64_t cse_hash(const Node *n)
{
    uint64_t h = cse_mix((uint64_t)n->op, (uint64_t)n->n_in);
    for (int k = 0; k < n->n_in; k++)
        h = cse_mix(h, (uint64_t)n->in[k]);
    int attrs[] = {n->ta, n->tb, n->axis, (int)n->axes, n->keepdims, n->lo, n->hi, (int)n->dtype};
    for (size_t k = 0; k < sizeof attrs / sizeof *attrs; k++)
        h = cse_mix(h, (uint64_t)(uint32_t)attrs[k]);
    for (int k = 0; k < NNC_MAX_RANK; k++)
        h = cse_mix(h, (uint64_t)(uint32_t)n->perm[k]);
    for (int k = 0; k < 3; k++)
        h = cse_mix(h, cse_bits(n->c[k]));
    if (n->op == OP_CONST && n->shape.rank == 0)
        h = cse_mix(h, cse_bits(n->data[0] == 0 ? 0.0 : n->data[0]));
    return cse_shape(cse_shape(h, n->shape), n->to);
}

static void cse_init(Cse *t, Arena *a, int n)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)n)
        cap *= 2;
    t->slot = arena_alloc(a, cap * sizeof *t->slot);
    for (size_t k = 0; k < cap; k++)
        t->slot[k] = -1;
    t->mask = cap - 1;
}

/* The slot holding a node equal to node i, or the empty slot where node i
 * would go. */
static size_t cse_find(const Cse *t, const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    size_t k = (size_t)cse_hash(n) & t->mask;
    while (t->slot[k] >= 0) {
        const Node *m = &g->nodes[t->slot[k]];
        if (m->op == n->op && same_attrs(m, n))
            return k;
        k = (k + 1) & t->mask;
    }
    return k;
}

/* An earlier node equal to node i, or -1. */
static int earlier_equal(const Cse *t, const Graph *g, int i)
{
    if (!cse_candidate(&g->nodes[i]))
        return -1;
    return t->slot[cse_find(t, g, i)];
}

/* Node i, rewritten, becomes a candidate for the nodes after it. */
static void cse_add(Cse *t, const Graph *g, int i)
{
    if (!cse_candidate(&g->nodes[i]))
        return;
    size_t k = cse_find(t, g, i);
    if (t->slot[k] < 0)
        t->slot[k] = i;
}

/* The most elements a folded constant may have: 16 KiB of f32, about
 * 50 KB of C literals. */
#define FOLD_MAX_NUMEL 4096

static int foldable(const Graph *g, int i)
{
    const Node *n = &g->nodes[i];
    OpClass c = op_class(n->op);
    if (!(c == OPC_EW || c == OPC_RED || c == OPC_SHAPE) || n->n_in == 0)
        return 0;
    if (n->shape.rank && n->shape.d[0] == DIM_B)
        return 0;
    long long numel = shape_count(n->shape, 1);
    if (numel < 0 || numel > FOLD_MAX_NUMEL)
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

/* ---- param gradients that no step writes ------------------------------------
 * The update stage reads each param's gradient from the gradient block
 * (plan.h), which only backward steps write.  A gradient that is a leaf (a
 * folded constant, the seed dL/dL = 1, a param or an input an identity left)
 * or a forward value would be read there unwritten; such a gradient gets a
 * node of its own, put just before the update stage:
 *
 *   fill   broadcast_to(v, shape) of a new scalar constant v, when the
 *          gradient is a constant whose values all equal v
 *   copy   reshape(d, shape) of the gradient d otherwise, which the plan
 *          gives the gradient's bytes (a param gradient is never a view)
 */
static int needs_writer(const Node *d)
{
    return op_class(d->op) == OPC_LEAF || d->stage != STAGE_BACKWARD;
}

/* An optimizer's node: (param, grad, state...). */
static int is_update_op(Op op) { return op_class(op) == OPC_UPD && op != OP_GRAD_NORM && op != OP_BN_RUNNING; }

static int uniform_const(const Node *d)
{
    if (d->op != OP_CONST)
        return 0;
    long long cnt = shape_count(d->shape, 1);
    for (long long k = 1; k < cnt; k++)
        if (memcmp(&d->data[k], &d->data[0], sizeof(double)) != 0)
            return 0;
    return 1;
}

/* Appends the node that writes gradient d of param p; returns its id. */
static int add_writer(Graph *g, int d, int p)
{
    const Node src = g->nodes[d]; /* a new node may move the array */
    NNC_ASSERT(src.dtype == DT_F32 && src.stage != STAGE_UPDATE, "a param gradient is not an f32 value");
    int w;
    const char *rule;
    if (uniform_const(&src)) {
        int c = graph_add(g, OP_CONST, NULL, 0, shape_scalar(), DT_F32, src.loc);
        Node *cn = graph_node(g, c);
        cn->stage = STAGE_BACKWARD;
        cn->data = arena_alloc(g->arena, sizeof(double));
        cn->data[0] = cn->c[0] = src.data[0];
        w = graph_op(g, NULL, OP_BROADCAST_TO, &c, 1, src.loc, (Attrs){.to = src.shape});
        rule = "a constant gradient: filled in at every step";
    } else {
        w = graph_op(g, NULL, OP_RESHAPE, &d, 1, src.loc, (Attrs){.to = src.shape});
        rule = "the gradient is another value: copied in at every step";
    }
    Node *wn = graph_node(g, w);
    wn->stage = STAGE_BACKWARD;
    wn->grad_of = p;
    wn->rule = rule;
    wn->name = arena_printf(g->arena, "d%s", graph_name(g, p));
    if (src.op == OP_CONST && src.stage == STAGE_BACKWARD)
        g->nodes[d].name = NULL; /* a folded temporary: the writer takes its place and its name */
    return w;
}

/* Nodes order[0 .. g->n) become nodes 0 .. g->n, in that order; the forward
 * nodes keep their places. */
static void reorder(Graph *g, const int *order)
{
    int *newid = arena_alloc(g->arena, (size_t)g->n * sizeof *newid);
    Node *nodes = arena_alloc(g->arena, (size_t)g->n * sizeof *nodes);
    for (int k = 0; k < g->n; k++)
        newid[order[k]] = k;
    for (int k = 0; k < g->n; k++) {
        Node n = g->nodes[order[k]];
        for (int j = 0; j < n.n_in; j++)
            n.in[j] = newid[n.in[j]];
        n.grad_of = n.grad_of >= 0 ? newid[n.grad_of] : -1;
        n.state_of = n.state_of >= 0 ? newid[n.state_of] : -1;
        nodes[k] = n;
    }
    for (int i = 0; i < g->n_forward; i++) {
        NNC_ASSERT(newid[i] == i, "a forward node moved");
        g->grad[i] = remap(newid, g->grad[i]);
    }
    g->nodes = nodes;
    g->cap = g->n;
    g->loss = remap(newid, g->loss);
    g->output = remap(newid, g->output);
    g->metric = remap(newid, g->metric);
}

static void write_param_grads(Graph *g)
{
    int n0 = g->n, first_update = n0;
    for (int i = n0 - 1; i >= 0 && g->nodes[i].stage == STAGE_UPDATE; i--)
        first_update = i;
    int *writer = arena_alloc(g->arena, (size_t)(n0 ? n0 : 1) * sizeof *writer);
    for (int i = 0; i < n0; i++) {
        writer[i] = -1;
        NNC_ASSERT(i < first_update || g->nodes[i].stage == STAGE_UPDATE, "the update stage is not last");
    }
    for (int u = first_update; u < n0; u++) {
        if (!is_update_op(g->nodes[u].op))
            continue;
        int p = g->nodes[u].in[0], d = g->nodes[u].in[1];
        if (!needs_writer(&g->nodes[d]))
            continue;
        if (writer[d] < 0)
            writer[d] = add_writer(g, d, p);
        g->nodes[u].in[1] = writer[d];
        if (p < g->n_forward)
            g->grad[p] = writer[d];
    }
    if (g->n == n0)
        return;
    for (int u = first_update; u < n0; u++) /* grad_norm reads every param gradient */
        if (g->nodes[u].op == OP_GRAD_NORM)
            for (int k = 0; k < g->nodes[u].n_in; k++)
                if (writer[g->nodes[u].in[k]] >= 0)
                    g->nodes[u].in[k] = writer[g->nodes[u].in[k]];
    int *order = arena_alloc(g->arena, (size_t)g->n * sizeof *order), m = 0;
    for (int i = 0; i < first_update; i++)
        order[m++] = i;
    for (int i = n0; i < g->n; i++)
        order[m++] = i;
    for (int i = first_update; i < n0; i++)
        order[m++] = i;
    reorder(g, order);
}

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
    Cse cse;
    cse_init(&cse, g->arena, g->n);
    Interp it;
    int have_interp = 0;
    for (int i = 0; i < g->n; i++) {
        Node *n = &g->nodes[i];
        for (int k = 0; k < n->n_in; k++)
            n->in[k] = repl[n->in[k]];
        int r = identity(g, i);
        if (r < 0)
            r = earlier_equal(&cse, g, i);
        if (r < 0 && foldable(g, i)) {
            if (!have_interp++)
                interp_init(&it, g, 1);
            fold(g, &it, i);
        }
        repl[i] = r >= 0 ? r : i;
        cse_add(&cse, g, i);
    }
    if (have_interp)
        interp_free(&it);
    for (int i = 0; g->grad && i < g->n_forward; i++)
        g->grad[i] = remap(repl, g->grad[i]);
    g->loss = remap(repl, g->loss);
    g->output = remap(repl, g->output);
    g->metric = remap(repl, g->metric);
    if (g->grad)
        write_param_grads(g);
    char *live = arena_alloc(g->arena, (size_t)g->n + 1);
    mark_live(g, live);
    compact(g, live);
}
