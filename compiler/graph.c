/* graph.c: the node array (the op table's columns are read in ops.c).
 *
 * graph_add() appends a node; ids never change, so passes hold ids, never
 * Node pointers across an append (the array may move).  This file only
 * stores nodes: the shapes, their rules and graph_op(), the checked way to
 * build a node, are shape.c's.
 */
#include "graph.h"

#include <string.h>

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
    return id;
}

int graph_is_running(const Node *n) { return n->op == OP_STATE && n->state_of < 0; }

const char *graph_name(Graph *g, int id)
{
    Node *n = graph_node(g, id);
    if (!n->name)
        n->name = arena_printf(g->arena, "t%d", id);
    return n->name;
}
