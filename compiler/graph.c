/* graph.c: the node array, op names from the one op list, and shapes.
 *
 * graph_add() appends a node; ids never change, so passes hold ids, never
 * Node pointers across an append (the array may move).  graph_op() is the
 * checked way to build a node: it infers the shape through shape_infer()
 * (shape.c) and reports a mismatch at the node's place.
 */
#include "graph.h"

#include <string.h>

static const char *const op_names[] = {
#define X(e, name, arity, cls) name,
    NNC_OPS(X)
#undef X
};
static const int op_arities[] = {
#define X(e, name, arity, cls) arity,
    NNC_OPS(X)
#undef X
};
static const OpClass op_classes[] = {
#define X(e, name, arity, cls) OPC_##cls,
    NNC_OPS(X)
#undef X
};

const char *op_name(Op op) { return op_names[op]; }
int op_arity(Op op) { return op_arities[op]; }
OpClass op_class(Op op) { return op_classes[op]; }

const char *dtype_name(DType t)
{
    switch (t) {
    case DT_F32: return "f32";
    case DT_F64: return "f64";
    case DT_I32: return "i32";
    }
    return "?";
}

void graph_init(Graph *g, Arena *a)
{
    memset(g, 0, sizeof *g);
    g->arena = a;
    g->loss = g->output = g->metric = -1;
}

Node *graph_node(Graph *g, int id)
{
    NNC_ASSERT(id >= 0 && id < g->n, "node id out of range");
    return &g->nodes[id];
}

int graph_add(Graph *g, Op op, const int *in, int n_in, Shape shape, DType dt, Loc loc)
{
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 64;
        Node *nodes = arena_alloc(g->arena, (size_t)cap * sizeof *nodes);
        if (g->n)
            memcpy(nodes, g->nodes, (size_t)g->n * sizeof *nodes);
        g->nodes = nodes;
        g->cap = cap;
    }
    int id = g->n++;
    Node *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->n_in = n_in;
    if (n_in) {
        n->in = arena_alloc(g->arena, (size_t)n_in * sizeof *n->in);
        memcpy(n->in, in, (size_t)n_in * sizeof *in);
    }
    for (int i = 0; i < n_in; i++)
        NNC_ASSERT(in[i] >= 0 && in[i] < id, "inputs must come before the node");
    n->shape = shape;
    n->dtype = dt;
    n->loc = loc;
    n->grad_of = -1;
    n->state_of = -1;
    n->axis = -1;
    return id;
}

const char *graph_name(Graph *g, int id)
{
    Node *n = graph_node(g, id);
    if (!n->name)
        n->name = arena_printf(g->arena, "t%d", id);
    return n->name;
}

int graph_op(Graph *g, Diag *d, Op op, const int *in, int n_in, Loc loc)
{
    DType dt = DT_F32;
    int id = graph_add(g, op, in, n_in, shape_scalar(), dt, loc);
    char msg[256];
    const char *err = shape_infer(g, &g->nodes[id], msg, sizeof msg);
    if (err) {
        NNC_ASSERT(d != NULL, err);
        error_at(d, loc, "%s", err);
        g->n--; /* drop the node that does not fit */
        return -1;
    }
    return id;
}

/* ---- shapes ---------------------------------------------------------- */
Shape shape_make(int rank, const int *d)
{
    Shape s;
    memset(&s, 0, sizeof s);
    NNC_ASSERT(rank >= 0 && rank <= NNC_MAX_RANK, "rank out of range");
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.d[i] = d[i];
    return s;
}

Shape shape_scalar(void) { return shape_make(0, NULL); }

int shape_eq(Shape a, Shape b)
{
    if (a.rank != b.rank)
        return 0;
    for (int i = 0; i < a.rank; i++)
        if (a.d[i] != b.d[i])
            return 0;
    return 1;
}

long shape_numel(Shape s, int batch)
{
    long n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= s.d[i] == DIM_B ? batch : s.d[i];
    return n;
}

long shape_row_numel(Shape s)
{
    long n = 1;
    for (int i = (s.rank > 0 && s.d[0] == DIM_B); i < s.rank; i++)
        n *= s.d[i];
    return n;
}

const char *shape_str(Shape s, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s.rank && used < len; i++) {
        const char *sep = i ? ", " : "";
        if (s.d[i] == DIM_B)
            used += (size_t)snprintf(buf + used, len - used, "%sB", sep);
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%d", sep, s.d[i]);
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}
