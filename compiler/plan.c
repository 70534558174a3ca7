/* plan.c: the memory plan of one training step (plan.h says what it decides;
 * docs/memory-plan.md says why).
 *
 * Five passes, in this order:
 *
 *  1. classify   each node's storage class and bytes (numel with B bound to
 *                g->batch, × 4).  Scalar CONSTs (that every reader reads as
 *                a literal), ROWS and the update ops have
 *                no storage; a RESHAPE is an alias of its input's root (a
 *                view: same bytes), unless it is itself a param gradient.
 *                The param gradients form one block: params in index order,
 *                each gradient at the next 64-byte boundary; a gradient that
 *                two params share is placed once.
 *  2. schedule   a topological order, stage by stage: every FORWARD node,
 *                then BACKWARD, then UPDATE.  Three candidate orders are
 *                planned and the one with the smallest arena kept (on a tie
 *                the earlier in this list):
 *                  index order    the order the nodes were built in;
 *                  memory-greedy  a list schedule that at each step runs the
 *                                 ready node with the largest (arena bytes it
 *                                 frees − arena bytes it allocates).  Param
 *                                 gradients allocate nothing (they are in
 *                                 the gradient block) and free what they
 *                                 read last, so they run as soon as their
 *                                 inputs exist; consumers of dying buffers
 *                                 run early;
 *                  memory-greedy reversed  the same rule read backwards: the
 *                                 order is built from its last step, so a
 *                                 producer lands right before its first
 *                                 reader and a buffer's life is as short as
 *                                 the readers allow.
 *                Neither greedy order wins everywhere (each is the better
 *                on about a third of random graphs, docs/memory-plan.md), so
 *                all three are planned; it costs microseconds.  Ties go to
 *                the lower node id (the higher, built backwards), so the
 *                plan is deterministic.  The greedy orders keep the ready
 *                nodes in a heap by score, O((nodes + edges) log nodes);
 *                each candidate is planned in a scratch arena, kept only
 *                while it is the best.
 *  3. liveness   an arena value lives from its producer's step to the last
 *                step that reads it or an alias of it (a node nobody reads:
 *                its own step).  The loss, the output and the metric live to
 *                the end of the forward pass, where forward returns the loss
 *                and predict copies the output out.
 *  4. in place   an elementwise node (plan_inplace_op) writes over its first
 *                input that is an arena value of the same shape, f32, that
 *                dies at this node and is not read by the node through an
 *                alias too; the loss, output and metric only after the
 *                forward pass (a forward node must not overwrite them).  The node and the input then
 *                share one buffer: an in-place chain x -> a -> b is one
 *                buffer from x's producer to b's last reader, and every
 *                member reports that merged interval as first/last.
 *  5. offsets    one Lifetime per buffer (per chain), placed by
 *                offsets_assign() (offsets.c), or offsets_naive() for
 *                --planner=naive, which also turns in-place off and keeps
 *                the index order: every value its own bytes.  A node's
 *                workspace (plan_build_ws: a convolution's im2col columns)
 *                is one more Lifetime, from the node's step to the same
 *                step: it shares bytes with whatever is dead then.
 */
#include "plan.h"

#include "offsets.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* A compressed list per node: items[start[i] .. start[i+1]). */
typedef struct Csr {
    int *start, *item;
} Csr;

/* What every candidate schedule shares. */
typedef struct PlanCtx {
    const Graph *g;
    Arena *a;
    int n;
    BufPlan *base; /* cls, root, bytes, and the grad-block offsets */
    Csr roots;     /* the distinct roots whose bytes node i reads (through aliases) */
    Csr readers;   /* the distinct nodes that read node i directly */
    Csr users;     /* the nodes whose roots include root r (roots inverted) */
    char *keep;    /* roots that live to the end of the forward pass */
} PlanCtx;

static double plan_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *plan_alloc(Arena *a, int n, size_t size)
{
    return arena_alloc(a, (size_t)(n > 0 ? n : 1) * size);
}

/* ---- sizes ----------------------------------------------------------------- */
/* Byte counts are 64-bit and checked: sema refuses a model whose storage
 * passes its limit, so an overflow here is an internal error, never a
 * wrapped size. */
static size_t plan_add(size_t a, size_t b)
{
    NNC_ASSERT(b <= SIZE_MAX - a, "a byte total of the plan overflows");
    return a + b;
}

/* elements x 4, B bound to batch */
static size_t plan_bytes(Shape s, int batch)
{
    uint64_t n = 4;
    for (int i = 0; i < s.rank; i++) {
        int d = s.d[i] == DIM_B ? batch : s.d[i];
        NNC_ASSERT(d >= 0, "a negative extent");
        NNC_ASSERT(d == 0 || n <= UINT64_MAX / (uint64_t)d, "a buffer's size overflows");
        n *= (uint64_t)d;
    }
    NNC_ASSERT(n <= SIZE_MAX, "a buffer's size overflows");
    return (size_t)n;
}

/* ---- 1. storage classes ------------------------------------------------ */
static int plan_is_update(Op op)
{
    return op == OP_SGD || op == OP_MOMENTUM || op == OP_ADAGRAD || op == OP_ADADELTA || op == OP_ADAM;
}

/* Whether the emitters read input k of an `op` node element by element
 * (emit_elem), so that a one-element constant there may be a literal: the
 * elementwise ops, the reductions, broadcast_to (a fill) and dL of the loss
 * gradients.  Every other reader (matmul, concat, a copy, ...) indexes the
 * input's buffer by name. */
static int plan_reads_literal(Op op, int k) { return k < 3 && (op_props(op) & OPP_LIT(k)); }

/* Marks the one-element constants that some reader reads by name: they
 * need a buffer (SC_CONST) rather than a literal. */
static char *plan_named_consts(const Graph *g, Arena *a)
{
    char *named = plan_alloc(a, g->n, 1);
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (!plan_reads_literal(g->nodes[i].op, k))
                named[g->nodes[i].in[k]] = 1;
    return named;
}

/* The class of a node by its op alone (param gradients and aliases aside);
 * named: plan_named_consts(). */
static StorageClass plan_op_class(const Node *n, int named)
{
    if (n->op == OP_CONST)
        return shape_numel(n->shape, 1) == 1 && !named ? SC_NONE : SC_CONST;
    if (n->op == OP_ROWS || plan_is_update(n->op) || n->op == OP_BN_RUNNING) /* these write their inputs */
        return SC_NONE;
    if (n->op == OP_PARAM)
        return SC_PARAM;
    if (n->op == OP_STATE)
        return SC_STATE;
    if (n->op == OP_INPUT || n->op == OP_LABEL)
        return SC_BATCH;
    return SC_ARENA;
}

/* The gradient block: for each param (in index order) that an update node
 * writes, its gradient (the update's second input) at the next 64-byte
 * boundary.  Returns the block's size. */
static size_t plan_grad_block(const Graph *g, Arena *a, BufPlan *b)
{
    int *grad_of_param = plan_alloc(a, g->n, sizeof(int));
    for (int i = 0; i < g->n; i++)
        grad_of_param[i] = -1;
    for (int i = 0; i < g->n; i++)
        if (plan_is_update(g->nodes[i].op))
            grad_of_param[g->nodes[i].in[0]] = g->nodes[i].in[1];
    size_t top = 0;
    for (int p = 0; p < g->n; p++) {
        int d = grad_of_param[p];
        if (d < 0 || b[d].cls == SC_GRAD)
            continue; /* no update, or a gradient two params share */
        b[d].cls = SC_GRAD;
        b[d].offset = top;
        top = plan_add(top, offsets_align(b[d].bytes, PLAN_ALIGN));
    }
    return top;
}

/* Fills cls, root, bytes of every node; returns the gradient block's size. */
static size_t plan_classify(const Graph *g, Arena *a, BufPlan *b)
{
    for (int i = 0; i < g->n; i++) {
        b[i].root = i;
        b[i].inplace_of = -1;
        b[i].first = b[i].last = -1;
        b[i].bytes = plan_bytes(g->nodes[i].shape, g->batch);
    }
    size_t grad_bytes = plan_grad_block(g, a, b);
    char *named = plan_named_consts(g, a);
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (b[i].cls == SC_GRAD)
            continue;
        b[i].cls = plan_op_class(n, named[i]);
        if (n->op == OP_RESHAPE) { /* a view: the bytes of the input's root */
            b[i].cls = SC_ALIAS;
            b[i].root = b[n->in[0]].root;
        }
    }
    return grad_bytes;
}

/* One image's unfolded columns: x [B, Cin, H, W] read by a kernel
 * [Cout, Cin, KH, KW] into y [B, Cout, OH, OW] unfolds to
 * [Cin·KH·KW, OH·OW]. */
static Shape plan_conv_cols(const Graph *g, int id)
{
    const Node *n = &g->nodes[id];
    int gw = n->op == OP_CONV2D_GRAD_W;
    Shape w = gw ? n->shape : g->nodes[n->in[1]].shape;       /* (x, W), (dy, W), (x, dy) */
    Shape y = n->op == OP_CONV2D ? n->shape : g->nodes[n->in[gw]].shape;
    Shape col = {2, {w.d[1] * w.d[2] * w.d[3], y.d[2] * y.d[3]}};
    return col;
}

size_t plan_conv_workspace(const Graph *g, int id)
{
    Op op = g->nodes[id].op;
    if (op != OP_CONV2D && op != OP_CONV2D_GRAD_X && op != OP_CONV2D_GRAD_W)
        return 0;
    return plan_bytes(plan_conv_cols(g, id), g->batch);
}

/* Workspaces of the im2col convolution (plan_build_ws). */
static void plan_workspaces(const Graph *g, BufPlan *b, int workspaces)
{
    for (int i = 0; i < g->n; i++)
        b[i].ws_bytes = workspaces ? plan_conv_workspace(g, i) : 0;
}

static void plan_totals(Plan *p, const BufPlan *b)
{
    for (int i = 0; i < p->g->n; i++) {
        switch (b[i].cls) {
        case SC_PARAM: p->param_bytes = plan_add(p->param_bytes, b[i].bytes); break;
        case SC_STATE:
            p->state_bytes = plan_add(p->state_bytes, b[i].bytes);
            if (graph_is_running(&p->g->nodes[i]))
                p->running_bytes = plan_add(p->running_bytes, b[i].bytes);
            break;
        case SC_BATCH: p->batch_bytes = plan_add(p->batch_bytes, b[i].bytes); break;
        case SC_CONST: p->const_bytes = plan_add(p->const_bytes, b[i].bytes); break;
        case SC_NONE: case SC_GRAD: case SC_ARENA: case SC_ALIAS: break;
        }
    }
}

/* ---- the graph's edges, as the schedule and liveness need them --------- */
static int *plan_marks(const PlanCtx *c)
{
    int *mark = plan_alloc(c->a, c->n, sizeof(int));
    for (int i = 0; i < c->n; i++)
        mark[i] = -1;
    return mark;
}

static int plan_edge_count(const Graph *g)
{
    long long edges = 0;
    for (int i = 0; i < g->n; i++)
        edges += g->nodes[i].n_in;
    NNC_ASSERT(edges <= INT_MAX / 2, "too many edges to plan");
    return (int)edges;
}

/* roots of node i: the distinct roots whose bytes it reads (a view's
 * reader reads the view's root). */
static void plan_edges_roots(PlanCtx *c)
{
    const Graph *g = c->g;
    int *mark = plan_marks(c), k = 0;
    c->roots.start = plan_alloc(c->a, c->n + 1, sizeof(int));
    c->roots.item = plan_alloc(c->a, plan_edge_count(g), sizeof(int));
    for (int i = 0; i < c->n; i++) {
        c->roots.start[i] = k;
        for (int j = 0; j < g->nodes[i].n_in; j++) {
            int r = c->base[g->nodes[i].in[j]].root;
            if (mark[r] != i)
                mark[r] = i, c->roots.item[k++] = r;
        }
    }
    c->roots.start[c->n] = k;
}

/* readers of node x: the distinct nodes that have x as an input. */
static void plan_edges_readers(PlanCtx *c)
{
    const Graph *g = c->g;
    int *mark = plan_marks(c), *next = plan_alloc(c->a, c->n + 1, sizeof(int));
    c->readers.start = plan_alloc(c->a, c->n + 1, sizeof(int));
    c->readers.item = plan_alloc(c->a, plan_edge_count(g), sizeof(int));
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (mark[g->nodes[i].in[j]] != i)
                mark[g->nodes[i].in[j]] = i, c->readers.start[g->nodes[i].in[j] + 1]++;
    for (int i = 0; i < c->n; i++) {
        c->readers.start[i + 1] += c->readers.start[i];
        next[i] = c->readers.start[i];
        mark[i] = -1;
    }
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (mark[g->nodes[i].in[j]] != i)
                mark[g->nodes[i].in[j]] = i, c->readers.item[next[g->nodes[i].in[j]]++] = i;
}

/* users of root r: the nodes that have r among their roots, each once. */
static void plan_edges_users(PlanCtx *c)
{
    int edges = c->roots.start[c->n], *next = plan_alloc(c->a, c->n + 1, sizeof(int));
    c->users.start = plan_alloc(c->a, c->n + 1, sizeof(int));
    c->users.item = plan_alloc(c->a, edges, sizeof(int));
    for (int k = 0; k < edges; k++)
        c->users.start[c->roots.item[k] + 1]++;
    for (int r = 0; r < c->n; r++) {
        c->users.start[r + 1] += c->users.start[r];
        next[r] = c->users.start[r];
    }
    for (int i = 0; i < c->n; i++)
        for (int k = c->roots.start[i]; k < c->roots.start[i + 1]; k++)
            c->users.item[next[c->roots.item[k]]++] = i;
}

/* The loss, the output and the metric are read after the last forward
 * step: their roots live to it, and no forward node takes them in place. */
static void plan_keep(PlanCtx *c)
{
    const Graph *g = c->g;
    int kept[3] = {g->loss, g->output, g->metric};
    c->keep = plan_alloc(c->a, c->n, 1);
    for (int k = 0; k < 3; k++)
        if (kept[k] >= 0)
            c->keep[c->base[kept[k]].root] = 1;
}

static void plan_ctx_init(PlanCtx *c, const Graph *g, Arena *a, size_t *grad_bytes)
{
    c->g = g;
    c->a = a;
    c->n = g->n;
    c->base = plan_alloc(a, g->n, sizeof(BufPlan));
    *grad_bytes = plan_classify(g, a, c->base);
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            NNC_ASSERT(g->nodes[g->nodes[i].in[j]].stage <= g->nodes[i].stage,
                       "a node reads a node of a later stage");
    plan_edges_roots(c);
    plan_edges_readers(c);
    plan_edges_users(c);
    plan_keep(c);
}

/* ---- 2. schedules ------------------------------------------------------- */
/* Index order, stage by stage. */
static void plan_sched_index(const PlanCtx *c, int *order)
{
    int k = 0;
    for (int s = STAGE_FORWARD; s <= STAGE_UPDATE; s++)
        for (int i = 0; i < c->n; i++)
            if ((int)c->g->nodes[i].stage == s)
                order[k++] = i;
}

static int plan_same_stage(const PlanCtx *c, int i, int s) { return (int)c->g->nodes[i].stage == s; }

/* The list schedulers score a ready node with the arena bytes it frees
 * minus the bytes it allocates, given their state (below), and run the
 * ready node with the best score, ties to the lower id (forward) or the
 * higher (reversed).  A score changes only when the state of one of the
 * node's roots does, which happens once per root, and only upwards: the
 * scores are kept up to date through those changes, and the ready nodes
 * sit in a binary heap that moves a node up when its score grows.  Each
 * schedule takes O((n + edges) log n). */
typedef struct ListSched {
    long long *score; /* the current score of every node of the stage */
    char *done;       /* placed in the order */
    int *heap;        /* the ready nodes not yet placed, best first */
    int *pos;         /* pos[id]: id's index in heap, or -1 */
    int nheap, low_first;
} ListSched;

static void list_init(ListSched *l, const PlanCtx *c, int low_first)
{
    l->score = plan_alloc(c->a, c->n, sizeof(long long));
    l->done = plan_alloc(c->a, c->n, 1);
    l->heap = plan_alloc(c->a, c->n, sizeof(int));
    l->pos = plan_alloc(c->a, c->n, sizeof(int));
    for (int i = 0; i < c->n; i++)
        l->pos[i] = -1;
    l->nheap = 0;
    l->low_first = low_first;
}

static int list_before(const ListSched *l, int a, int b)
{
    if (l->score[a] != l->score[b])
        return l->score[a] > l->score[b];
    return l->low_first ? a < b : a > b;
}

static void list_set(ListSched *l, int k, int id)
{
    l->heap[k] = id;
    l->pos[id] = k;
}

static void list_up(ListSched *l, int k)
{
    int id = l->heap[k];
    for (; k > 0 && list_before(l, id, l->heap[(k - 1) / 2]); k = (k - 1) / 2)
        list_set(l, k, l->heap[(k - 1) / 2]);
    list_set(l, k, id);
}

/* The ready node with the best score, taken out and marked done; -1 when
 * no node is ready. */
static int list_pop(ListSched *l)
{
    if (l->nheap == 0)
        return -1;
    int top = l->heap[0], id = l->heap[--l->nheap], k = 0;
    for (;;) {
        int child = 2 * k + 1;
        if (child >= l->nheap)
            break;
        if (child + 1 < l->nheap && list_before(l, l->heap[child + 1], l->heap[child]))
            child++;
        if (!list_before(l, l->heap[child], id))
            break;
        list_set(l, k, l->heap[child]);
        k = child;
    }
    if (l->nheap > 0)
        list_set(l, k, id);
    l->pos[top] = -1;
    l->done[top] = 1;
    return top;
}

static void list_make_ready(ListSched *l, int id)
{
    list_set(l, l->nheap++, id);
    list_up(l, l->pos[id]);
}

/* Adds delta >= 0 to the score of node m (a node of the stage not yet
 * placed). */
static void list_add(ListSched *l, int m, long long delta)
{
    l->score[m] += delta;
    if (l->pos[m] >= 0)
        list_up(l, l->pos[m]);
}

/* Memory-greedy, forward in time.  state[r] = the readers of root r not
 * yet run: running n frees the roots it is the last reader of (the loss,
 * output and metric are kept to the end of forward) and allocates n. */
static long long plan_fwd_score(const PlanCtx *c, const int *remaining, int n)
{
    long long s = c->base[n].cls == SC_ARENA ? -(long long)c->base[n].bytes : 0;
    for (int k = c->roots.start[n]; k < c->roots.start[n + 1]; k++) {
        int r = c->roots.item[k];
        if (c->base[r].cls == SC_ARENA && remaining[r] == 1 && !c->keep[r])
            s += (long long)c->base[r].bytes;
    }
    return s;
}

/* pending[i] = the inputs of i in stage s not yet run; the scores of the
 * stage's nodes; the ready ones in the heap. */
static void plan_fwd_ready(const PlanCtx *c, int s, int *pending, const int *remaining, ListSched *l)
{
    for (int i = 0; i < c->n; i++)
        if (plan_same_stage(c, i, s)) {
            pending[i] = 0;
            l->score[i] = plan_fwd_score(c, remaining, i);
        }
    for (int x = 0; x < c->n; x++)
        for (int k = c->readers.start[x]; k < c->readers.start[x + 1]; k++)
            if (plan_same_stage(c, x, s) && plan_same_stage(c, c->readers.item[k], s))
                pending[c->readers.item[k]]++;
    for (int i = 0; i < c->n; i++)
        if (plan_same_stage(c, i, s) && pending[i] == 0)
            list_make_ready(l, i);
}

/* Root r has one reader left to run: that reader now frees it. */
static void plan_fwd_last_reader(const PlanCtx *c, ListSched *l, int s, int r)
{
    if (c->base[r].cls != SC_ARENA || c->keep[r])
        return;
    for (int k = c->users.start[r]; k < c->users.start[r + 1]; k++) {
        int m = c->users.item[k];
        if (!l->done[m] && plan_same_stage(c, m, s))
            list_add(l, m, (long long)c->base[r].bytes);
    }
}

static void plan_sched_greedy(const PlanCtx *c, int *order)
{
    int *pending = plan_alloc(c->a, c->n, sizeof(int)), *remaining = plan_alloc(c->a, c->n, sizeof(int)), k = 0;
    ListSched l;
    list_init(&l, c, 1);
    for (int i = 0; i < c->roots.start[c->n]; i++)
        remaining[c->roots.item[i]]++;
    for (int s = STAGE_FORWARD; s <= STAGE_UPDATE; s++) {
        plan_fwd_ready(c, s, pending, remaining, &l);
        for (int n; (n = list_pop(&l)) >= 0;) {
            order[k++] = n;
            for (int j = c->roots.start[n]; j < c->roots.start[n + 1]; j++)
                if (--remaining[c->roots.item[j]] == 1)
                    plan_fwd_last_reader(c, &l, s, c->roots.item[j]);
            for (int j = c->readers.start[n]; j < c->readers.start[n + 1]; j++) {
                int m = c->readers.item[j];
                if (plan_same_stage(c, m, s) && --pending[m] == 0)
                    list_make_ready(&l, m);
            }
        }
    }
    NNC_ASSERT(k == c->n, "the greedy schedule lost a node");
}

/* Memory-greedy, backward in time: the schedule is built from its last
 * step.  state[r] = 1 once a reader of root r is placed (r is live from
 * there back to its producer).  Placing n ends n's buffer (frees it, read
 * backwards) and starts the buffers of the roots it reads that nobody later
 * reads.  A producer is thus placed right before its first reader. */
static long long plan_rev_score(const PlanCtx *c, const int *opened, int n)
{
    long long s = c->base[n].cls == SC_ARENA && opened[n] ? (long long)c->base[n].bytes : 0;
    for (int k = c->roots.start[n]; k < c->roots.start[n + 1]; k++) {
        int r = c->roots.item[k];
        if (c->base[r].cls == SC_ARENA && !opened[r])
            s -= (long long)c->base[r].bytes;
    }
    return s;
}

/* pending[i] = the readers of i in stage s not yet placed; the scores of
 * the stage's nodes; the ready ones in the heap. */
static void plan_rev_ready(const PlanCtx *c, int s, int *pending, const int *opened, ListSched *l)
{
    for (int i = 0; i < c->n; i++) {
        if (!plan_same_stage(c, i, s))
            continue;
        l->score[i] = plan_rev_score(c, opened, i);
        pending[i] = 0;
        for (int k = c->readers.start[i]; k < c->readers.start[i + 1]; k++)
            pending[i] += plan_same_stage(c, c->readers.item[k], s);
        if (pending[i] == 0)
            list_make_ready(l, i);
    }
}

/* Root r has its first reader (the last, in time) placed: r's bytes are
 * live from here back, no longer a cost to its other readers, and a gain
 * to r itself. */
static void plan_rev_opened(const PlanCtx *c, ListSched *l, int s, int r)
{
    if (c->base[r].cls != SC_ARENA)
        return;
    for (int k = c->users.start[r]; k < c->users.start[r + 1]; k++) {
        int m = c->users.item[k];
        if (!l->done[m] && plan_same_stage(c, m, s))
            list_add(l, m, (long long)c->base[r].bytes);
    }
    if (!l->done[r] && plan_same_stage(c, r, s))
        list_add(l, r, (long long)c->base[r].bytes);
}

static void plan_sched_reverse(const PlanCtx *c, int *order)
{
    int *pending = plan_alloc(c->a, c->n, sizeof(int)), *opened = plan_alloc(c->a, c->n, sizeof(int));
    int *seen = plan_alloc(c->a, c->n, sizeof(int)), k = c->n;
    ListSched l;
    list_init(&l, c, 0);
    for (int i = 0; i < c->n; i++)
        seen[i] = -1;
    for (int s = STAGE_UPDATE; s >= STAGE_FORWARD; s--) {
        for (int r = 0; s == STAGE_FORWARD && r < c->n; r++)
            opened[r] |= c->keep[r]; /* read at the end of the forward pass */
        plan_rev_ready(c, s, pending, opened, &l);
        for (int n; (n = list_pop(&l)) >= 0;) {
            order[--k] = n;
            for (int j = c->roots.start[n]; j < c->roots.start[n + 1]; j++)
                if (!opened[c->roots.item[j]]) {
                    opened[c->roots.item[j]] = 1;
                    plan_rev_opened(c, &l, s, c->roots.item[j]);
                }
            for (int j = 0; j < c->g->nodes[n].n_in; j++) {
                int x = c->g->nodes[n].in[j];
                if (seen[x] != n && plan_same_stage(c, x, s) && --pending[x] == 0)
                    list_make_ready(&l, x);
                seen[x] = n;
            }
        }
    }
    NNC_ASSERT(k == 0, "the reverse schedule lost a node");
}

/* order, step_of, fwd_end, bwd_end of p from a schedule. */
static void plan_set_order(Plan *p, const PlanCtx *c, const int *order)
{
    p->n_steps = c->n;
    p->order = plan_alloc(c->a, c->n, sizeof(int));
    p->step_of = plan_alloc(c->a, c->n, sizeof(int));
    memcpy(p->order, order, (size_t)c->n * sizeof *order);
    p->fwd_end = p->bwd_end = 0;
    for (int s = 0; s < c->n; s++) {
        Stage st = c->g->nodes[order[s]].stage;
        p->step_of[order[s]] = s;
        p->fwd_end += st == STAGE_FORWARD;
        p->bwd_end += st != STAGE_UPDATE;
    }
}

/* ---- 3. liveness -------------------------------------------------------- */
/* vlast[r]: the last step that reads root r's value (its own step if none). */
static int *plan_liveness(const Plan *p, const PlanCtx *c)
{
    int *vlast = plan_alloc(c->a, c->n, sizeof(int));
    for (int i = 0; i < c->n; i++)
        vlast[i] = p->step_of[i];
    for (int i = 0; i < c->n; i++)
        for (int k = c->roots.start[i]; k < c->roots.start[i + 1]; k++) {
            int r = c->roots.item[k];
            if (p->step_of[i] > vlast[r])
                vlast[r] = p->step_of[i];
        }
    for (int r = 0; r < c->n; r++)
        if (c->keep[r] && vlast[r] < p->fwd_end - 1)
            vlast[r] = p->fwd_end - 1;
    return vlast;
}

/* ---- 4. in place -------------------------------------------------------- */
/* Output element i depends only on input elements i (and on broadcast
 * operands, which never share its bytes): OPP_INPLACE in ops.h. */
static int plan_inplace_op(Op op) { return (op_props(op) & OPP_INPLACE) != 0; }

/* True when node n reads x's bytes through another input (an alias of x). */
static int plan_reads_alias_of(const Plan *p, const Node *n, int x)
{
    for (int j = 0; j < n->n_in; j++)
        if (n->in[j] != x && p->buf[n->in[j]].root == x)
            return 1;
    return 0;
}

/* The input whose bytes node n may take over, or -1. */
static int plan_inplace_input(const Plan *p, const PlanCtx *c, const int *vlast, int n)
{
    const Node *nd = &c->g->nodes[n];
    if (p->buf[n].cls != SC_ARENA || !plan_inplace_op(nd->op))
        return -1;
    for (int j = 0; j < nd->n_in; j++) {
        int x = nd->in[j];
        const Node *xn = &c->g->nodes[x];
        int kept = c->keep[x] && p->step_of[n] < p->fwd_end; /* read again at the end of forward */
        if (p->buf[x].cls == SC_ARENA && !kept && xn->dtype == DT_F32 &&
            shape_eq(xn->shape, nd->shape) && vlast[x] == p->step_of[n] && !plan_reads_alias_of(p, nd, x))
            return x;
    }
    return -1;
}

/* Marks in-place nodes in schedule order; head[i] = the first node of i's
 * chain, glast[head] = the chain's last step. */
static void plan_inplace(Plan *p, const PlanCtx *c, const int *vlast, int *head, int *glast)
{
    for (int s = 0; s < p->n_steps; s++) {
        int n = p->order[s];
        int x = p->naive ? -1 : plan_inplace_input(p, c, vlast, n);
        p->buf[n].inplace_of = x;
        head[n] = x >= 0 ? head[x] : n;
        glast[n] = vlast[n];
        if (glast[n] > glast[head[n]])
            glast[head[n]] = glast[n];
    }
}

/* ---- 5. offsets --------------------------------------------------------- */
/* One Lifetime per chain head, placed; every arena node and every alias of
 * one gets its chain's offset and interval. */
static void plan_offsets(Plan *p, const PlanCtx *c, const int *head, const int *glast)
{
    Lifetime *life = plan_alloc(c->a, 2 * c->n, sizeof(Lifetime));
    int *slot = plan_alloc(c->a, c->n, sizeof(int)), *ws_slot = plan_alloc(c->a, c->n, sizeof(int)), m = 0;
    for (int s = 0; s < p->n_steps; s++) {
        int i = p->order[s];
        if (p->buf[i].ws_bytes) { /* the workspace: this step only */
            p->naive_bytes = plan_add(p->naive_bytes, offsets_align(p->buf[i].ws_bytes, PLAN_ALIGN));
            ws_slot[i] = m;
            life[m++] = (Lifetime){p->buf[i].ws_bytes, s, s, 0};
        }
        if (p->buf[i].cls != SC_ARENA)
            continue;
        p->naive_bytes = plan_add(p->naive_bytes, offsets_align(p->buf[i].bytes, PLAN_ALIGN));
        if (head[i] == i) {
            slot[i] = m;
            life[m++] = (Lifetime){p->buf[i].bytes, s, glast[i], 0};
        }
    }
    p->lower_bound = offsets_lower_bound(life, m, PLAN_ALIGN);
    p->arena_bytes = p->naive ? offsets_naive(life, m, PLAN_ALIGN) : offsets_assign(life, m, PLAN_ALIGN);
    for (int i = 0; i < c->n; i++)
        if (p->buf[i].ws_bytes)
            p->buf[i].ws_offset = life[ws_slot[i]].offset;
    for (int i = 0; i < c->n; i++)
        if (p->buf[i].cls == SC_ARENA) {
            const Lifetime *l = &life[slot[head[i]]];
            p->buf[i].offset = l->offset;
            p->buf[i].first = l->first;
            p->buf[i].last = l->last;
        }
}

/* A chain that holds the loss, output or metric is kept: every member says
 * so. */
static void plan_mark_kept(Plan *p, const PlanCtx *c, const int *head)
{
    for (int i = 0; i < c->n; i++)
        if (p->buf[i].cls == SC_ARENA && c->keep[i])
            p->buf[head[i]].kept = 1;
    for (int i = 0; i < c->n; i++)
        if (p->buf[i].cls == SC_ARENA)
            p->buf[i].kept = p->buf[head[i]].kept;
}

/* Aliases take their root's offset and interval; the other buffers keep
 * the interval of their own value (producer to last reader), for the
 * report. */
static void plan_finish(Plan *p, const PlanCtx *c, const int *vlast)
{
    for (int i = 0; i < c->n; i++) {
        BufPlan *b = &p->buf[i];
        if (b->cls == SC_ALIAS) {
            const BufPlan *r = &p->buf[b->root];
            b->offset = r->offset;
            b->first = r->cls == SC_ARENA ? r->first : p->step_of[b->root];
            b->last = r->cls == SC_ARENA ? r->last : vlast[b->root];
        } else if (b->cls != SC_ARENA) {
            b->first = p->step_of[i];
            b->last = vlast[i];
        }
    }
}

/* Plans one candidate schedule into p (which holds naive and the totals). */
static void plan_with_order(Plan *p, const PlanCtx *c, const int *order, const char *name)
{
    p->schedule = name;
    plan_set_order(p, c, order);
    p->buf = plan_alloc(c->a, c->n, sizeof(BufPlan));
    memcpy(p->buf, c->base, (size_t)c->n * sizeof(BufPlan));
    int *vlast = plan_liveness(p, c);
    int *head = plan_alloc(c->a, c->n, sizeof(int)), *glast = plan_alloc(c->a, c->n, sizeof(int));
    plan_inplace(p, c, vlast, head, glast);
    p->naive_bytes = 0;
    plan_offsets(p, c, head, glast);
    plan_mark_kept(p, c, head);
    plan_finish(p, c, vlast);
}

/* The candidate schedules, tried in this order (--planner=naive: the first). */
static const struct {
    const char *name;
    void (*build)(const PlanCtx *c, int *order);
} plan_schedules[] = {
    {"index order", plan_sched_index},
    {"memory-greedy", plan_sched_greedy},
    {"memory-greedy reversed", plan_sched_reverse},
};

/* The kept candidate's arrays, moved from its scratch arena into a. */
static void plan_keep_arrays(Plan *p, Arena *a)
{
    int n = p->g->n;
    int *order = plan_alloc(a, n, sizeof(int)), *step_of = plan_alloc(a, n, sizeof(int));
    BufPlan *buf = plan_alloc(a, n, sizeof(BufPlan));
    memcpy(order, p->order, (size_t)n * sizeof *order);
    memcpy(step_of, p->step_of, (size_t)n * sizeof *step_of);
    memcpy(buf, p->buf, (size_t)n * sizeof *buf);
    p->order = order, p->step_of = step_of, p->buf = buf;
}

/* Each candidate is planned in a scratch arena, dropped unless it is the
 * best so far, so that the memory stays that of two candidates. */
void plan_build(Plan *p, const Graph *g, Arena *a, int naive) { plan_build_ws(p, g, a, naive, 0); }

void plan_build_ws(Plan *p, const Graph *g, Arena *a, int naive, int workspaces)
{
    double t0 = plan_now_ms();
    PlanCtx c;
    memset(p, 0, sizeof *p);
    p->g = g;
    p->naive = naive;
    plan_ctx_init(&c, g, a, &p->grad_bytes);
    plan_workspaces(g, c.base, workspaces);
    plan_totals(p, c.base);
    int tries = naive ? 1 : (int)(sizeof plan_schedules / sizeof plan_schedules[0]);
    Plan best = *p;
    Arena scratch[2];
    int kept = -1;
    for (int k = 0; k < tries; k++) {
        int slot = kept == 0 ? 1 : 0;
        arena_init(&scratch[slot]);
        c.a = &scratch[slot];
        Plan cand = *p;
        int *order = plan_alloc(c.a, g->n, sizeof(int));
        plan_schedules[k].build(&c, order);
        plan_with_order(&cand, &c, order, plan_schedules[k].name);
        if (k == 0 || cand.arena_bytes < best.arena_bytes) {
            if (kept >= 0)
                arena_free(&scratch[kept]);
            best = cand;
            kept = slot;
        } else {
            arena_free(&scratch[slot]);
        }
    }
    plan_keep_arrays(&best, a);
    arena_free(&scratch[kept]);
    *p = best;
    p->plan_ms = plan_now_ms() - t0;
}

int plan_dies_at(const Plan *p, int id, int step)
{
    const BufPlan *r = &p->buf[p->buf[id].root];
    return r->cls == SC_ARENA && step == r->last && !(r->kept && step == p->fwd_end - 1);
}

/* ---- dumps -------------------------------------------------------------- */
static const char *plan_class_name(StorageClass c)
{
    switch (c) {
    case SC_NONE: return "none";
    case SC_CONST: return "const";
    case SC_PARAM: return "param";
    case SC_STATE: return "state";
    case SC_BATCH: return "batch";
    case SC_GRAD: return "grad";
    case SC_ARENA: return "arena";
    case SC_ALIAS: return "alias";
    }
    return "?";
}

static double plan_ratio(size_t a, size_t b)
{
    return b ? (double)a / (double)b : 1.0;
}

static int plan_count_matmuls(const Graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n; i++)
        k += g->nodes[i].op == OP_MATMUL && g->nodes[i].stage == STAGE_FORWARD;
    return k;
}

static int plan_count_inplace(const Plan *p)
{
    int k = 0;
    for (int i = 0; i < p->g->n; i++)
        k += p->buf[i].inplace_of >= 0;
    return k;
}

void plan_dump(FILE *out, const Plan *p)
{
    fprintf(out, "plan: params %zu B, param grads %zu B, optimizer state %zu B, ", p->param_bytes, p->grad_bytes,
            p->state_bytes - p->running_bytes);
    if (p->running_bytes)
        fprintf(out, "running statistics %zu B, ", p->running_bytes);
    fprintf(out, "batch %zu B, consts %zu B\n", p->batch_bytes, p->const_bytes);
    fprintf(out, "plan: arena %zu B (naive %zu B, lower bound %zu B, arena/lower bound %.3f, arena/naive %.3f)\n",
            p->arena_bytes, p->naive_bytes, p->lower_bound, plan_ratio(p->arena_bytes, p->lower_bound),
            plan_ratio(p->arena_bytes, p->naive_bytes));
    fprintf(out, "plan: steps %d (forward %d, backward %d, update %d), schedule %s, in place %d, matmuls %d\n",
            p->n_steps, p->fwd_end, p->bwd_end - p->fwd_end, p->n_steps - p->bwd_end, p->schedule,
            plan_count_inplace(p), plan_count_matmuls(p->g));
}

static const char *plan_node_name(const Graph *g, int i, char *buf, size_t len)
{
    if (g->nodes[i].name)
        return g->nodes[i].name;
    snprintf(buf, len, "t%d", i);
    return buf;
}

/* "in place of x", "alias of x", or "" */
static const char *plan_note(const Plan *p, int i, char *buf, size_t len)
{
    char nb[32];
    const BufPlan *b = &p->buf[i];
    buf[0] = 0;
    if (b->inplace_of >= 0)
        snprintf(buf, len, "in place of %s", plan_node_name(p->g, b->inplace_of, nb, sizeof nb));
    else if (b->cls == SC_ALIAS)
        snprintf(buf, len, "alias of %s (%s)", plan_node_name(p->g, b->root, nb, sizeof nb),
                 plan_class_name(p->buf[b->root].cls));
    return buf;
}

/* Column widths of the report: the longest name, op and shape. */
typedef struct ReportCols {
    int name, op, shape;
} ReportCols;

static ReportCols plan_report_cols(const Plan *p)
{
    ReportCols w = {4, 2, 5};
    char nb[32], sb[64];
    for (int i = 0; i < p->g->n; i++) {
        int ln = (int)strlen(plan_node_name(p->g, i, nb, sizeof nb)), lo = (int)strlen(op_name(p->g->nodes[i].op));
        if (p->buf[i].ws_bytes) /* NAME.col, im2col */
            ln += 4, lo = lo > 6 ? lo : 6;
        int ls = (int)strlen(shape_str(p->g->nodes[i].shape, sb, sizeof sb));
        w.name = ln > w.name ? ln : w.name;
        w.op = lo > w.op ? lo : w.op;
        w.shape = ls > w.shape ? ls : w.shape;
    }
    return w;
}

/* One buffer: step, name, op, shape, class, bytes, live steps, offset
 * (g+N in the gradient block), and what it shares. */
static void plan_report_row(FILE *out, const Plan *p, ReportCols w, int s)
{
    int i = p->order[s];
    const BufPlan *b = &p->buf[i];
    char nb[32], sb[64], note[96], off[24] = "-", live[32] = "-";
    if (b->cls == SC_ARENA || b->cls == SC_GRAD || b->cls == SC_ALIAS) {
        snprintf(off, sizeof off, "%s%zu", b->cls == SC_GRAD ? "g+" : "", b->offset);
        snprintf(live, sizeof live, "%d..%d", b->first, b->last);
    }
    fprintf(out, "%5d  %-*s  %-*s  %-*s  %-6s %9zu  %-9s %9s", s, w.name, plan_node_name(p->g, i, nb, sizeof nb),
            w.op, op_name(p->g->nodes[i].op), w.shape, shape_str(p->g->nodes[i].shape, sb, sizeof sb),
            plan_class_name(b->cls), b->bytes, live, off);
    fprintf(out, "%s%s\n", *plan_note(p, i, note, sizeof note) ? "  " : "", note);
    if (b->ws_bytes) { /* the workspace, on a line of its own under its node */
        char wn[64];
        const char *nm = plan_node_name(p->g, i, nb, sizeof nb);
        snprintf(wn, sizeof wn, "%s.col", nm);
        snprintf(live, sizeof live, "%d..%d", s, s);
        fprintf(out, "%5s  %-*s  %-*s  %-*s  %-6s %9zu  %-9s %9zu  workspace of %s\n", "", w.name, wn, w.op, "im2col",
                w.shape, shape_str(plan_conv_cols(p->g, i), sb, sizeof sb), "arena", b->ws_bytes, live, b->ws_offset, nm);
    }
}

void plan_report(FILE *out, const Plan *p)
{
    fprintf(out, "memory plan of %s: B = %d, %d steps (forward %d, backward %d, update %d), schedule: %s%s\n",
            p->g->model ? p->g->model : "model", p->g->batch, p->n_steps, p->fwd_end, p->bwd_end - p->fwd_end,
            p->n_steps - p->bwd_end, p->schedule, p->naive ? ", planner: naive" : "");
    ReportCols w = plan_report_cols(p);
    fprintf(out, "%5s  %-*s  %-*s  %-*s  %-6s %9s  %-9s %9s  %s\n", "step", w.name, "name", w.op, "op", w.shape,
            "shape", "class", "bytes", "live", "offset", "shares");
    for (int s = 0; s < p->n_steps; s++)
        if (p->buf[p->order[s]].cls != SC_NONE)
            plan_report_row(out, p, w, s);
    fprintf(out, "\nparams           %10zu B\n", p->param_bytes);
    fprintf(out, "param gradients  %10zu B  (one block; offsets g+N)\n", p->grad_bytes);
    fprintf(out, "optimizer state  %10zu B\n", p->state_bytes - p->running_bytes);
    if (p->running_bytes)
        fprintf(out, "running stats    %10zu B  (batchnorm: saved, not trained)\n", p->running_bytes);
    fprintf(out, "batch            %10zu B\n", p->batch_bytes);
    fprintf(out, "consts           %10zu B\n", p->const_bytes);
    fprintf(out, "arena            %10zu B  (naive %zu B, lower bound %zu B)\n", p->arena_bytes, p->naive_bytes,
            p->lower_bound);
    fprintf(out, "arena / lower bound %.3f, arena / naive %.3f, in place %d\n",
            plan_ratio(p->arena_bytes, p->lower_bound), plan_ratio(p->arena_bytes, p->naive_bytes),
            plan_count_inplace(p));
    fprintf(out, "plan time        %10.3f ms\n", p->plan_ms);
}
