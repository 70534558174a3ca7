/* test_plan.c: the memory plan (plan.c) on graphs built by hand.
 *
 *   - properties over 300 random training graphs (chains, diamonds and
 *     branches of elementwise ops, matmuls, reductions, broadcasts, views,
 *     softmax, dropout masks; then autodiff), with both planners: the
 *     schedule is a topological order that keeps the stages in order; no
 *     two buffers whose intervals overlap share a byte; offsets aligned;
 *     lower bound <= arena <= naive; every value is live wherever it is
 *     read; in place only where the input dies; and a byte-level replay of
 *     the schedule finds every input still holding its value when read;
 *   - hand-made cases whose optimum is the lower bound: a chain whose
 *     in-place is blocked by a second reader, a diamond, a branch held
 *     across the backward pass;
 *   - in place taken where allowed, refused where the input is read later
 *     (directly, through a view, as the loss or output), refused for EQ
 *     and for a broadcast that grows the value;
 *   - storage classes: scalar consts, the param-gradient block (in param
 *     order, 64-byte aligned, a shared gradient placed once), aliases;
 *   - goldens: plan_dump and plan_report (less the time) of the two-layer
 *     net of twolayer.nn built by hand (tests/golden/plan_twolayer_hand.*),
 *     and the report of models/twolayer.nn itself through parse, sema,
 *     autodiff and optimize (tests/golden/plan_twolayer.report: what
 *     `nnc --report` prints, less the time), whose totals must equal the
 *     hand-built net's; NNC_UPDATE_GOLDEN=1 rewrites them;
 *   - a 20,000-layer MLP planned within the test's timeout (the schedulers
 *     and the offsets near-linear), valid and at the lower bound;
 *   - timing: a 784-100-10 MLP with B = 1 (printed, not asserted).
 *
 * Run from the repository root (the golden paths are relative).
 */
#include "plan.h"

#include "offsets.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

#define GOLDEN_DUMP "tests/golden/plan_twolayer_hand.txt"
#define GOLDEN_REPORT "tests/golden/plan_twolayer_hand.report"
#define GOLDEN_MODEL_REPORT "tests/golden/plan_twolayer.report"
#define TWOLAYER_NN "models/twolayer.nn"

static const Loc L = {"test.nn", 1, 1, 1};

/* ---- building graphs ---------------------------------------------------- */
typedef struct TestGraph {
    Arena a;
    Graph g;
} TestGraph;

static void tg_init(TestGraph *t, int batch)
{
    arena_init(&t->a);
    graph_init(&t->g, &t->a);
    t->g.model = "test";
    t->g.batch = batch;
    t->g.train.opt = OPT_SGD;
    t->g.train.lr = 0.1;
    t->g.train.momentum = 0.9;
    t->g.train.eps = 1e-8;
    t->g.train.beta1 = 0.9;
    t->g.train.beta2 = 0.999;
    t->g.train.rho = 0.95;
    t->g.train.batch = batch;
    t->g.train.epochs = 1;
}

static int leaf(Graph *g, Op op, Shape s, DType dt, const char *name)
{
    int id = graph_add(g, op, NULL, 0, s, dt, L);
    graph_node(g, id)->name = name;
    return id;
}

static Shape shp2(int a, int b) { return shape_make(2, (int[]){a, b}); }
static Shape shp1(int a) { return shape_make(1, &a); }

/* A node with attributes: add, let the caller set them, then infer. */
static int raw(Graph *g, Op op, const int *in, int n_in)
{
    return graph_add(g, op, in, n_in, shape_scalar(), DT_F32, L);
}

static int infer(Graph *g, int id)
{
    char msg[256];
    const char *err = shape_infer(g, graph_node(g, id), msg, sizeof msg);
    ck_assert_msg(err == NULL, "%s", err ? err : "");
    return id;
}

static int op1(Graph *g, Op op, int x) { return graph_op(g, NULL, op, &x, 1, L, NO_ATTRS); }
static int op2(Graph *g, Op op, int x, int y) { return graph_op(g, NULL, op, (int[]){x, y}, 2, L, NO_ATTRS); }

static int named(Graph *g, int id, const char *name)
{
    graph_node(g, id)->name = name;
    return id;
}

static int reshape(Graph *g, int x, Shape to)
{
    int id = raw(g, OP_RESHAPE, &x, 1);
    graph_node(g, id)->to = to;
    return infer(g, id);
}

static int reduce(Graph *g, Op op, int x, unsigned axes, int keepdims)
{
    int id = raw(g, op, &x, 1);
    graph_node(g, id)->axes = axes;
    graph_node(g, id)->keepdims = keepdims;
    return infer(g, id);
}

static int softmax(Graph *g, int x)
{
    int id = raw(g, OP_SOFTMAX, &x, 1);
    graph_node(g, id)->axis = graph_node(g, x)->shape.rank - 1;
    return infer(g, id);
}

static int param(Graph *g, Shape s, const char *name)
{
    int id = leaf(g, OP_PARAM, s, DT_F32, name);
    graph_node(g, id)->init = INIT_RANDN;
    graph_node(g, id)->c[0] = 0.01;
    return id;
}

/* y = x @ W + b for a new W [in, out] and b [out]. */
static int dense(Graph *g, int x, int out, const char *w, const char *b)
{
    int in = graph_node(g, x)->shape.d[1];
    int mm = op2(g, OP_MATMUL, x, param(g, shp2(in, out), w));
    return op2(g, OP_ADD, mm, param(g, shp1(out), b));
}

static int buf_of(const Plan *p, int id) { return p->buf[id].root; }

/* ---- checking a plan ---------------------------------------------------- */
/* The schedule: a permutation of the nodes, stage by stage, inputs first. */
static void check_schedule(const Plan *p)
{
    const Graph *g = p->g;
    ck_assert_int_eq(p->n_steps, g->n);
    for (int s = 0; s < p->n_steps; s++) {
        int i = p->order[s];
        ck_assert_int_eq(p->step_of[i], s);
        Stage want = s < p->fwd_end ? STAGE_FORWARD : s < p->bwd_end ? STAGE_BACKWARD : STAGE_UPDATE;
        ck_assert_int_eq(g->nodes[i].stage, want);
        for (int k = 0; k < g->nodes[i].n_in; k++)
            ck_assert_int_lt(p->step_of[g->nodes[i].in[k]], s);
    }
}

/* The head of i's in-place chain. */
static int chain_head(const Plan *p, int i)
{
    while (p->buf[i].inplace_of >= 0)
        i = p->buf[i].inplace_of;
    return i;
}

/* The last step that reads x or a view of x. */
static int last_reader(const Plan *p, int x)
{
    int last = -1;
    for (int i = 0; i < p->g->n; i++)
        for (int k = 0; k < p->g->nodes[i].n_in; k++)
            if (buf_of(p, p->g->nodes[i].in[k]) == x && p->step_of[i] > last)
                last = p->step_of[i];
    return last;
}

static int is_kept(const Plan *p, int x)
{
    const Graph *g = p->g;
    return (g->loss >= 0 && buf_of(p, g->loss) == x) || (g->output >= 0 && buf_of(p, g->output) == x) ||
           (g->metric >= 0 && buf_of(p, g->metric) == x);
}

/* In place only over an arena value of the same shape that dies here. */
static void check_inplace(const Plan *p)
{
    const Graph *g = p->g;
    for (int i = 0; i < g->n; i++) {
        int x = p->buf[i].inplace_of;
        if (x < 0)
            continue;
        ck_assert(!p->naive);
        ck_assert_int_eq(p->buf[i].cls, SC_ARENA);
        ck_assert_int_eq(p->buf[x].cls, SC_ARENA);
        ck_assert(shape_eq(g->nodes[i].shape, g->nodes[x].shape));
        ck_assert_int_eq(last_reader(p, x), p->step_of[i]);
        ck_assert(!is_kept(p, x) || p->step_of[i] >= p->fwd_end);
        ck_assert_uint_eq(p->buf[i].offset, p->buf[x].offset);
        ck_assert_int_eq(p->buf[i].first, p->buf[x].first);
        ck_assert_int_eq(p->buf[i].last, p->buf[x].last);
    }
}

/* Every read happens inside its root's interval; aliases share offsets;
 * the loss and output live to the end of the forward pass. */
static void check_liveness(const Plan *p)
{
    const Graph *g = p->g;
    for (int i = 0; i < g->n; i++) {
        const BufPlan *b = &p->buf[i];
        if (b->cls == SC_ALIAS)
            ck_assert_uint_eq(b->offset, p->buf[b->root].offset);
        if (b->cls == SC_ARENA) {
            ck_assert_int_le(b->first, p->step_of[i]);
            ck_assert_int_eq(b->kept, is_kept(p, chain_head(p, i)) || b->kept);
            ck_assert(plan_dies_at(p, i, b->last) == !(b->kept && b->last == p->fwd_end - 1));
            ck_assert(!plan_dies_at(p, i, b->last - 1));
        }
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int r = buf_of(p, g->nodes[i].in[k]);
            if (p->buf[r].cls == SC_ARENA) {
                ck_assert_int_le(p->buf[r].first, p->step_of[i]);
                ck_assert_int_ge(p->buf[r].last, p->step_of[i]);
            }
        }
    }
    int kept[3] = {g->loss, g->output, g->metric};
    for (int k = 0; k < 3; k++)
        if (kept[k] >= 0 && p->buf[buf_of(p, kept[k])].cls == SC_ARENA)
            ck_assert_int_ge(p->buf[buf_of(p, kept[k])].last, p->fwd_end - 1);
}

/* A node's workspace (plan_build_ws): aligned, inside the arena, and
 * sharing no byte with any buffer live at the node's step; its bytes are
 * added to *naive. */
static void check_workspaces(const Plan *p, size_t *naive)
{
    const Graph *g = p->g;
    for (int i = 0; i < g->n; i++) {
        const BufPlan *w = &p->buf[i];
        if (!w->ws_bytes)
            continue;
        int s = p->step_of[i];
        *naive += offsets_align(w->ws_bytes, PLAN_ALIGN);
        ck_assert_uint_eq(w->ws_offset % PLAN_ALIGN, 0);
        ck_assert_uint_le(w->ws_offset + w->ws_bytes, p->arena_bytes);
        for (int j = 0; j < g->n; j++) {
            const BufPlan *b = &p->buf[j];
            if (b->cls != SC_ARENA || !b->bytes || s < b->first || s > b->last)
                continue;
            ck_assert_msg(w->ws_offset + offsets_align(w->ws_bytes, PLAN_ALIGN) <= b->offset ||
                              b->offset + offsets_align(b->bytes, PLAN_ALIGN) <= w->ws_offset,
                          "the workspace of node %d shares bytes with node %d, live at its step %d", i, j, s);
        }
    }
}

/* Offsets aligned, inside the arena, and no two buffers (chains) whose
 * intervals overlap share a byte.  Also the lower bound, recounted. */
static void check_offsets(const Plan *p)
{
    const Graph *g = p->g;
    size_t naive = 0;
    for (int i = 0; i < g->n; i++) {
        const BufPlan *a = &p->buf[i];
        if (a->cls != SC_ARENA)
            continue;
        naive += offsets_align(a->bytes, PLAN_ALIGN);
        ck_assert_uint_eq(a->offset % PLAN_ALIGN, 0);
        ck_assert_uint_le(a->offset + a->bytes, p->arena_bytes);
        for (int j = i + 1; j < g->n; j++) {
            const BufPlan *b = &p->buf[j];
            if (b->cls != SC_ARENA || chain_head(p, i) == chain_head(p, j) || !a->bytes || !b->bytes)
                continue;
            if (a->first <= b->last && b->first <= a->last)
                ck_assert_msg(a->offset + offsets_align(a->bytes, PLAN_ALIGN) <= b->offset ||
                                  b->offset + offsets_align(b->bytes, PLAN_ALIGN) <= a->offset,
                              "nodes %d and %d overlap in time and bytes", i, j);
        }
    }
    check_workspaces(p, &naive);
    ck_assert_uint_eq(naive, p->naive_bytes);
    ck_assert_uint_ge(p->arena_bytes, p->lower_bound);
    ck_assert_uint_le(p->arena_bytes, p->naive_bytes);
    size_t peak = 0;
    for (int s = 0; s < p->n_steps; s++) {
        size_t live = 0;
        for (int i = 0; i < g->n; i++)
            if (p->buf[i].cls == SC_ARENA && chain_head(p, i) == i && p->buf[i].first <= s && s <= p->buf[i].last)
                live += offsets_align(p->buf[i].bytes, PLAN_ALIGN);
        live += offsets_align(p->buf[p->order[s]].ws_bytes, PLAN_ALIGN); /* the step's workspace */
        peak = live > peak ? live : peak;
    }
    ck_assert_uint_eq(peak, p->lower_bound);
    if (p->naive)
        ck_assert_uint_eq(p->arena_bytes, p->naive_bytes);
}

/* Marks the blocks of node i's bytes as holding `tag` (0: poison). */
static void replay_stamp(const Plan *p, int *tag, int i, int value)
{
    const BufPlan *b = &p->buf[i];
    for (size_t o = b->offset; b->cls == SC_ARENA && o < b->offset + b->bytes; o += PLAN_ALIGN)
        tag[o / PLAN_ALIGN] = value;
}

/* Node n's bytes must still hold its value (tag n + 1). */
static void replay_expect(const Plan *p, const int *tag, int n, int step)
{
    const BufPlan *b = &p->buf[n];
    for (size_t o = b->offset; b->cls == SC_ARENA && o < b->offset + b->bytes; o += PLAN_ALIGN)
        ck_assert_msg(tag[o / PLAN_ALIGN] == n + 1, "step %d reads node %d, overwritten by %d (0: poison)", step, n,
                      tag[o / PLAN_ALIGN] - 1);
}

/* Runs the schedule over a model of the arena, one tag per 64-byte block
 * saying whose value the block holds, as the emitter's poison mode does:
 * after each step the buffers that plan_dies_at() reports dead are
 * poisoned.  Every input must still hold its own value when read, and the
 * loss and output at the end of the forward pass. */
static void check_replay(const Plan *p)
{
    const Graph *g = p->g;
    int *tag = calloc(p->arena_bytes / PLAN_ALIGN + 1, sizeof *tag);
    for (int s = 0; s < p->n_steps; s++) {
        int n = p->order[s];
        for (int k = 0; k < g->nodes[n].n_in; k++)
            replay_expect(p, tag, buf_of(p, g->nodes[n].in[k]), s);
        for (size_t o = p->buf[n].ws_offset; o < p->buf[n].ws_offset + p->buf[n].ws_bytes; o += PLAN_ALIGN)
            tag[o / PLAN_ALIGN] = 0; /* the workspace's scribbles */
        replay_stamp(p, tag, n, n + 1);
        for (int i = 0; i < g->n; i++)
            if (p->buf[i].cls == SC_ARENA && p->buf[i].inplace_of < 0 && plan_dies_at(p, i, s))
                replay_stamp(p, tag, i, 0);
        if (s == p->fwd_end - 1 && g->output >= 0)
            replay_expect(p, tag, buf_of(p, g->output), s);
        if (s == p->fwd_end - 1 && g->loss >= 0)
            replay_expect(p, tag, buf_of(p, g->loss), s);
    }
    free(tag);
}

static void check_plan(const Plan *p)
{
    check_schedule(p);
    check_inplace(p);
    check_liveness(p);
    check_offsets(p);
    check_replay(p);
}

/* Plans g with both planners, checks both; returns the real plan in *p. */
static void plan_checked(Plan *p, TestGraph *t)
{
    Plan naive;
    plan_build(&naive, &t->g, &t->a, 1);
    check_plan(&naive);
    plan_build(p, &t->g, &t->a, 0);
    check_plan(p);
    ck_assert_uint_eq(p->naive_bytes, naive.naive_bytes);
    ck_assert_uint_le(p->arena_bytes, naive.arena_bytes);
}

/* ---- random graphs ------------------------------------------------------ */
typedef struct TestRng {
    uint64_t s;
} TestRng;

static int below(TestRng *r, int n)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (int)(r->s % (uint64_t)n);
}

typedef struct RandGraph {
    Graph *g;
    TestRng *rng;
    int vals[64], nv; /* the [B, w] values built so far */
} RandGraph;

static int rg_width(RandGraph *r) { return (int[]){1, 2, 3, 5, 8, 16, 33}[below(r->rng, 7)]; }
static int rg_wid(RandGraph *r, int v) { return r->g->nodes[v].shape.d[1]; }

/* A recent value (chains) most of the time, any value (branches held long,
 * diamonds) otherwise. */
static int rg_pick(RandGraph *r)
{
    if (below(r->rng, 3))
        return r->vals[r->nv - 1 - below(r->rng, r->nv < 3 ? r->nv : 3)];
    return r->vals[below(r->rng, r->nv)];
}

/* Another value of the same width as v, or a new bias param. */
static int rg_partner(RandGraph *r, int v)
{
    for (int tries = 0; tries < 4; tries++) {
        int u = r->vals[below(r->rng, r->nv)];
        if (rg_wid(r, u) == rg_wid(r, v))
            return u;
    }
    if (below(r->rng, 4) == 0) /* two params sharing one gradient: p1 + p2 */
        return op2(r->g, OP_ADD, param(r->g, shp1(rg_wid(r, v)), NULL), param(r->g, shp1(rg_wid(r, v)), NULL));
    return param(r->g, shp1(rg_wid(r, v)), NULL);
}

static int rg_view(RandGraph *r, int v)
{
    int w = rg_wid(r, v);
    int t = reshape(r->g, v, shape_make(3, (int[]){DIM_B, 1, w}));
    t = op1(r->g, below(r->rng, 2) ? OP_TANH : OP_SIGMOID, t);
    return reshape(r->g, t, shp2(DIM_B, w));
}

static int rg_step(RandGraph *r)
{
    static const Op un[] = {OP_SIGMOID, OP_TANH, OP_RELU, OP_NEG, OP_EXP, OP_SIN, OP_ABS};
    static const Op bin[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV};
    Graph *g = r->g;
    int v = rg_pick(r);
    switch (below(r->rng, 10)) {
    case 0: case 1: return op1(g, un[below(r->rng, 7)], v);
    case 2: case 3: return op2(g, bin[below(r->rng, 4)], v, rg_partner(r, v));
    case 4: return op2(g, OP_MATMUL, v, param(g, shp2(rg_wid(r, v), rg_width(r)), NULL));
    case 5: return op2(g, OP_MUL, v, reduce(g, below(r->rng, 2) ? OP_SUM : OP_MAX, v, 2u, 1));
    case 6: return rg_view(r, v);
    case 7: return softmax(g, v);
    case 8: return op2(g, OP_MUL, v, leaf(g, OP_DROPMASK, g->nodes[v].shape, DT_F32, NULL));
    default: { /* v + (u @ [w_u, 1]): a second branch joins, broadcast */
        int u = rg_pick(r);
        return op2(g, OP_ADD, v, op2(g, OP_MATMUL, u, param(g, shp2(rg_wid(r, u), 1), NULL)));
    }
    }
}

/* A random model: x [B, w] through 3..30 random steps, then a loss. */
static void random_graph(TestGraph *t, TestRng *rng)
{
    static const int batches[] = {1, 3, 8, 30};
    tg_init(t, batches[below(rng, 4)]);
    Graph *g = &t->g;
    RandGraph r = {g, rng, {0}, 0};
    int x = leaf(g, OP_INPUT, shp2(DIM_B, rg_width(&r)), DT_F32, "x");
    r.vals[r.nv++] = op2(g, OP_MATMUL, x, param(g, shp2(g->nodes[x].shape.d[1], rg_width(&r)), "W0"));
    int steps = 3 + below(rng, 28);
    for (int k = 0; k < steps && r.nv < 64; k++)
        r.vals[r.nv++] = rg_step(&r);
    int y = r.vals[r.nv - 1];
    if (below(rng, 2)) {
        int lab = leaf(g, OP_LABEL, shp1(DIM_B), DT_I32, "t");
        g->loss = op2(g, OP_SOFTMAX_CE, y, lab);
    } else {
        g->loss = reduce(g, OP_SUM, y, 3u, 0);
    }
    g->output = below(rng, 3) ? y : r.vals[below(rng, r.nv)];
    g->train.opt = (OptKind)below(rng, 5);
    g->train.clip_grad = below(rng, 3) == 0 ? 1.0 : 0.0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_PARAM && below(rng, 8) == 0)
            g->nodes[i].frozen = 1;
    autodiff(g);
}

START_TEST(test_random_graphs)
{
    TestRng rng = {0x9e3779b97f4a7c15ull};
    int inplace = 0, aliases = 0, won[3] = {0, 0, 0};
    size_t arena = 0, index_arena = 0;
    for (int k = 0; k < 300; k++) {
        TestGraph t;
        random_graph(&t, &rng);
        Plan p;
        plan_checked(&p, &t);
        for (int i = 0; i < t.g.n; i++) {
            inplace += p.buf[i].inplace_of >= 0;
            aliases += p.buf[i].cls == SC_ALIAS;
        }
        won[strcmp(p.schedule, "index order") == 0 ? 0 : strcmp(p.schedule, "memory-greedy") == 0 ? 1 : 2]++;
        arena += p.arena_bytes;
        Plan naive;
        plan_build(&naive, &t.g, &t.a, 1);
        index_arena += naive.lower_bound; /* index order without in place: a reference */
        arena_free(&t.a);
    }
    printf("random graphs: 300, in-place nodes %d, aliases %d; schedule kept: index order %d, memory-greedy %d, "
           "reversed %d; total arena %zu B (index order without in place: lower bound %zu B)\n",
           inplace, aliases, won[0], won[1], won[2], arena, index_arena);
    ck_assert_int_gt(inplace, 100);
    ck_assert_int_gt(aliases, 50);
}
END_TEST

/* The same graph plans the same way twice. */
START_TEST(test_deterministic)
{
    TestRng r1 = {12345}, r2 = {12345};
    TestGraph t1, t2;
    random_graph(&t1, &r1);
    random_graph(&t2, &r2);
    Plan p1, p2;
    plan_build(&p1, &t1.g, &t1.a, 0);
    plan_build(&p2, &t2.g, &t2.a, 0);
    ck_assert_int_eq(p1.n_steps, p2.n_steps);
    for (int s = 0; s < p1.n_steps; s++)
        ck_assert_int_eq(p1.order[s], p2.order[s]);
    for (int i = 0; i < t1.g.n; i++)
        ck_assert_uint_eq(p1.buf[i].offset, p2.buf[i].offset);
    arena_free(&t1.a);
    arena_free(&t2.a);
}
END_TEST

/* ---- hand-made cases with a known optimum ------------------------------- */
/* B = 4, width 16: every [B, 16] value is 256 bytes. */
#define W16 256

/* a = x@W; b = sigmoid(a) (in place of a); c = tanh(b); d = c + b, so b is
 * read twice and c cannot take it over; d takes c; e = neg(d) takes d.
 * At most two [B,16] values are live at once: 512 bytes. */
START_TEST(test_chain_second_reader)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 16), DT_F32, "x");
    int a = op2(g, OP_MATMUL, x, param(g, shp2(16, 16), "W"));
    int b = op1(g, OP_SIGMOID, a), c = op1(g, OP_TANH, b), d = op2(g, OP_ADD, c, b), e = op1(g, OP_NEG, d);
    Plan p;
    plan_checked(&p, &t);
    ck_assert_int_eq(p.buf[b].inplace_of, a);
    ck_assert_int_eq(p.buf[c].inplace_of, -1);
    ck_assert_int_eq(p.buf[d].inplace_of, c);
    ck_assert_int_eq(p.buf[e].inplace_of, d);
    ck_assert_uint_eq(p.lower_bound, 2 * W16);
    ck_assert_uint_eq(p.arena_bytes, 2 * W16);
    ck_assert_uint_eq(p.naive_bytes, 5 * W16);
    arena_free(&t.a);
}
END_TEST

/* a = x@W; b = sigmoid(a); c = tanh(a) (takes a, which dies there);
 * d = b * c (takes b).  Two values live at once. */
START_TEST(test_diamond)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 16), DT_F32, "x");
    int a = op2(g, OP_MATMUL, x, param(g, shp2(16, 16), "W"));
    int b = op1(g, OP_SIGMOID, a), c = op1(g, OP_TANH, a), d = op2(g, OP_MUL, b, c);
    Plan p;
    plan_checked(&p, &t);
    ck_assert_int_eq(p.buf[b].inplace_of, -1);
    ck_assert_int_eq(p.buf[c].inplace_of, a);
    ck_assert_int_eq(p.buf[d].inplace_of, b);
    ck_assert_uint_eq(p.arena_bytes, 2 * W16);
    ck_assert_uint_eq(p.lower_bound, 2 * W16);
    arena_free(&t.a);
}
END_TEST

/* A branch held across the backward pass: h = sigmoid(x@W1) is read by
 * the second layer and again by its own VJP deep in the backward pass.
 * loss = sum(h@W2) over everything, trained with sgd.  The plan must keep
 * h alive until sigmoid_grad and still reach the lower bound. */
START_TEST(test_branch_across_backward)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 16), DT_F32, "x");
    int h = op1(g, OP_SIGMOID, op2(g, OP_MATMUL, x, param(g, shp2(16, 16), "W1")));
    int y = op2(g, OP_MATMUL, h, param(g, shp2(16, 16), "W2"));
    g->loss = reduce(g, OP_SUM, y, 3u, 0);
    g->output = y;
    autodiff(g);
    Plan p;
    plan_checked(&p, &t);
    int sg = -1;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SIGMOID_GRAD)
            sg = i;
    ck_assert_int_ge(sg, 0);
    ck_assert_int_ge(p.step_of[sg], p.fwd_end);
    ck_assert_int_ge(p.buf[h].last, p.step_of[sg]);
    ck_assert_uint_eq(p.arena_bytes, p.lower_bound);
    arena_free(&t.a);
}
END_TEST

/* ---- in place ------------------------------------------------------------ */
/* y = sigmoid(x@W + b): the add takes the matmul's bytes, the sigmoid the
 * add's; one buffer. */
START_TEST(test_inplace_taken)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 16), DT_F32, "x");
    int mm = op2(g, OP_MATMUL, x, param(g, shp2(16, 16), "W"));
    int z = op2(g, OP_ADD, mm, param(g, shp1(16), "b"));
    int y = op1(g, OP_SIGMOID, z);
    op1(g, OP_NEG, y);
    Plan p;
    plan_checked(&p, &t);
    ck_assert_int_eq(p.buf[z].inplace_of, mm);
    ck_assert_int_eq(p.buf[y].inplace_of, z);
    ck_assert_uint_eq(p.buf[y].offset, p.buf[mm].offset);
    ck_assert_int_eq(p.buf[mm].first, p.step_of[mm]);
    ck_assert_uint_eq(p.arena_bytes, W16);
    arena_free(&t.a);
}
END_TEST

/* y = sigmoid(z) while z is read later (w = z * y): no in place. */
START_TEST(test_inplace_refused_later_reader)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 16), DT_F32, "x");
    int z = op2(g, OP_MATMUL, x, param(g, shp2(16, 16), "W"));
    int y = op1(g, OP_SIGMOID, z);
    int w = op2(g, OP_MUL, z, y);
    Plan p;
    plan_checked(&p, &t);
    ck_assert_int_eq(p.buf[y].inplace_of, -1);
    ck_assert_int_eq(p.buf[w].inplace_of, z);
    arena_free(&t.a);
}
END_TEST

/* z is read later through a view (r = reshape(z), read after y). */
START_TEST(test_inplace_refused_view_reader)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 16), DT_F32, "x");
    int z = op2(g, OP_MATMUL, x, param(g, shp2(16, 16), "W"));
    int r = reshape(g, z, shape_make(3, (int[]){DIM_B, 4, 4}));
    int y = op1(g, OP_SIGMOID, z);
    int u = op1(g, OP_TANH, r);
    Plan p;
    plan_checked(&p, &t);
    ck_assert_int_eq(p.buf[r].cls, SC_ALIAS);
    ck_assert_int_eq(p.buf[r].root, z);
    ck_assert_int_eq(p.buf[y].inplace_of, -1);
    ck_assert_int_ge(p.buf[z].last, p.step_of[u]);
    arena_free(&t.a);
}
END_TEST

/* The output, read by predict at the end of the forward pass, is never
 * taken over, even by its last reader; nor by EQ; nor when the result is
 * broadcast larger than the input. */
START_TEST(test_inplace_refused_kept_eq_broadcast)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 16), DT_F32, "x");
    int z = op2(g, OP_MATMUL, x, param(g, shp2(16, 16), "W"));
    g->output = z;
    int y = op1(g, OP_SIGMOID, z);
    int e = op2(g, OP_EQ, y, y);
    int s = reduce(g, OP_SUM, e, 2u, 1); /* [B, 1] */
    int big = op2(g, OP_ADD, s, e);      /* [B, 1] + [B, 16]: s is smaller; e dies here */
    int tiny = op2(g, OP_MATMUL, big, param(g, shp2(16, 1), "V"));
    int grow = op2(g, OP_MUL, tiny, big); /* [B,1] * [B,16] -> [B,16]: big dies, tiny does not fit */
    Plan p;
    plan_checked(&p, &t);
    ck_assert_int_eq(p.buf[y].inplace_of, -1);
    ck_assert_int_eq(p.buf[e].inplace_of, -1);
    ck_assert_int_eq(p.buf[big].inplace_of, e);
    ck_assert_int_eq(p.buf[grow].inplace_of, big);
    ck_assert_int_ge(p.buf[z].last, p.fwd_end - 1);
    arena_free(&t.a);
}
END_TEST

/* loss = -sum(x@W): the loss takes the sum's bytes in place; the chain
 * holds the loss, so it is not dead at the last forward step, when
 * forward returns it. */
START_TEST(test_loss_in_place_kept)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 16), DT_F32, "x");
    int sum = reduce(g, OP_SUM, op2(g, OP_MATMUL, x, param(g, shp2(16, 16), "W")), 3u, 0);
    g->loss = op1(g, OP_NEG, sum);
    g->output = g->loss;
    autodiff(g);
    Plan p;
    plan_checked(&p, &t);
    ck_assert_int_eq(p.buf[g->loss].inplace_of, sum);
    ck_assert(p.buf[sum].kept && p.buf[g->loss].kept);
    ck_assert_int_eq(p.buf[sum].last, p.fwd_end - 1);
    ck_assert(!plan_dies_at(&p, sum, p.fwd_end - 1));
    ck_assert(!plan_dies_at(&p, g->loss, p.fwd_end - 1));
    arena_free(&t.a);
}
END_TEST

/* ---- storage classes ----------------------------------------------------- */
START_TEST(test_classes_and_grad_block)
{
    TestGraph t;
    tg_init(&t, 4);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 3), DT_F32, "x");
    int w = param(g, shp2(3, 5), "W");
    int frozen = param(g, shp1(5), "f");
    graph_node(g, frozen)->frozen = 1;
    int b1 = param(g, shp1(5), "b1"), b2 = param(g, shp1(5), "b2");
    int two = leaf(g, OP_CONST, shape_scalar(), DT_F32, "two");
    graph_node(g, two)->c[0] = 2;
    int h = op2(g, OP_MUL, op2(g, OP_ADD, op2(g, OP_MATMUL, x, w), op2(g, OP_ADD, b1, b2)), two);
    h = op2(g, OP_ADD, h, frozen);
    int v = reshape(g, w, shp1(15)); /* a view of a param */
    g->loss = op2(g, OP_ADD, reduce(g, OP_SUM, h, 3u, 0), reduce(g, OP_SUM, v, 1u, 0));
    g->train.opt = OPT_ADAM;
    autodiff(g);
    Plan p;
    plan_checked(&p, &t);
    ck_assert_int_eq(p.buf[x].cls, SC_BATCH);
    ck_assert_int_eq(p.buf[w].cls, SC_PARAM);
    ck_assert_int_eq(p.buf[two].cls, SC_NONE);
    ck_assert_int_eq(p.buf[v].cls, SC_ALIAS);
    ck_assert_int_eq(p.buf[v].root, w);
    ck_assert_int_eq(g->grad[frozen], -1);
    /* W [3,5] 60 B -> 64; b1 and b2 share one gradient [5] 20 B -> 64 */
    ck_assert_int_eq(g->grad[b1], g->grad[b2]);
    ck_assert_int_eq(p.buf[g->grad[w]].cls, SC_GRAD);
    ck_assert_int_eq(p.buf[g->grad[b1]].cls, SC_GRAD);
    ck_assert_uint_eq(p.buf[g->grad[w]].offset, 0);
    ck_assert_uint_eq(p.buf[g->grad[b1]].offset, 64);
    ck_assert_uint_eq(p.grad_bytes, 128);
    ck_assert_uint_eq(p.param_bytes, 60 + 3 * 20);
    ck_assert_uint_eq(p.state_bytes, 2 * (60 + 20 + 20));
    ck_assert_uint_eq(p.batch_bytes, 4 * 3 * 4);
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op == OP_STATE)
            ck_assert_int_eq(p.buf[i].cls, SC_STATE);
        if (g->nodes[i].op == OP_ADAM)
            ck_assert_int_eq(p.buf[i].cls, SC_NONE);
    }
    arena_free(&t.a);
}
END_TEST

/* ---- the two-layer net of models/twolayer.nn, by hand --------------------- */
/* x [B,2] -> dense 10, sigmoid -> dense 3 -> softmax_cross_entropy with i32
 * labels; B = 30; sgd. */
static void twolayer(TestGraph *t)
{
    tg_init(t, 30);
    Graph *g = &t->g;
    g->model = "twolayer";
    g->train.lr = 1.0;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 2), DT_F32, "x");
    int lab = leaf(g, OP_LABEL, shp1(DIM_B), DT_I32, "t");
    int w1 = param(g, shp2(2, 10), "W1"), b1 = param(g, shp1(10), "b1");
    int w2 = param(g, shp2(10, 3), "W2"), b2 = param(g, shp1(3), "b2");
    int h = named(g, op1(g, OP_SIGMOID, op2(g, OP_ADD, op2(g, OP_MATMUL, x, w1), b1)), "h");
    int y = named(g, op2(g, OP_ADD, op2(g, OP_MATMUL, h, w2), b2), "y");
    g->loss = named(g, op2(g, OP_SOFTMAX_CE, y, lab), "loss");
    g->output = y;
    autodiff(g);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Compares text with the golden file, or rewrites it under NNC_UPDATE_GOLDEN. */
static void check_golden(const char *path, const char *text)
{
    if (getenv("NNC_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        fputs(text, f);
        fclose(f);
        return;
    }
    const char *want = read_all(path);
    ck_assert_msg(want != NULL, "cannot read %s (run from the repository root)", path);
    ck_assert_msg(strcmp(want, text) == 0, "%s differs; got:\n%s", path, text);
}

/* The report less its last line (the plan time). */
static char *report_text(const Plan *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    plan_report(f, p);
    fclose(f);
    char *last = strstr(text, "plan time");
    ck_assert(last != NULL);
    *last = 0;
    return text;
}

START_TEST(test_twolayer_golden)
{
    TestGraph t;
    twolayer(&t);
    Plan p;
    plan_checked(&p, &t);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    plan_dump(f, &p);
    fclose(f);
    check_golden(GOLDEN_DUMP, text);
    free(text);
    text = report_text(&p);
    check_golden(GOLDEN_REPORT, text);
    free(text);
    ck_assert_uint_eq(p.arena_bytes, p.lower_bound);
    ck_assert_uint_le(2 * p.arena_bytes, p.naive_bytes);
    arena_free(&t.a);
}
END_TEST

/* models/twolayer.nn through the real front end (parse, sema, autodiff,
 * optimize): its report equals tests/golden/plan_twolayer.report (what
 * `nnc --report models/twolayer.nn` prints, less the time), and its totals
 * equal those of the net built by hand above. */
START_TEST(test_twolayer_model_golden)
{
    Arena a;
    arena_init(&a);
    size_t len;
    char *src = read_file(&a, TWOLAYER_NN, &len);
    ck_assert_msg(src != NULL, "cannot read %s (run from the repository root)", TWOLAYER_NN);
    Diag d;
    diag_init(&d, stderr, TWOLAYER_NN, src, len);
    Program *prog = parse_program(&a, &d, TWOLAYER_NN, src, len);
    Graph g;
    graph_init(&g, &a);
    ck_assert_int_eq(d.errors, 0);
    sema_lower(&g, &d, prog, 0);
    ck_assert_int_eq(d.errors, 0);
    autodiff(&g);
    optimize(&g);
    Plan p;
    plan_build(&p, &g, &a, 0);
    check_plan(&p);
    char *text = report_text(&p);
    check_golden(GOLDEN_MODEL_REPORT, text);
    free(text);
    text = NULL;
    FILE *f = open_memstream(&text, &len);
    plan_dump(f, &p);
    fclose(f);
    check_golden(GOLDEN_DUMP, text);
    free(text);
    arena_free(&a);
}
END_TEST

/* ---- convolutions: the im2col workspaces --------------------------------------- */
/* A model file through the front end (parse, sema, autodiff, optimize),
 * planned with workspaces or without; the graph lives in a. */
static void plan_model_file(Plan *p, Graph *g, Arena *a, const char *path, int naive, int workspaces)
{
    size_t len;
    char *src = read_file(a, path, &len);
    ck_assert_msg(src != NULL, "cannot read %s (run from the repository root)", path);
    Diag d;
    diag_init(&d, stderr, path, src, len);
    Program *prog = parse_program(a, &d, path, src, len);
    graph_init(g, a);
    ck_assert_int_eq(d.errors, 0);
    sema_lower(g, &d, prog, 0);
    ck_assert_int_eq(d.errors, 0);
    autodiff(g);
    optimize(g);
    plan_build_ws(p, g, a, naive, workspaces);
}

/* models/lenet.nn and tests/e2e/cnn_bars.nn, planned for the program's
 * im2col + GEMM: every conv2d, conv2d_grad_x and conv2d_grad_w has a
 * workspace of one image's columns [Cin·KH·KW, OH·OW] (lenet's first
 * layer: [25, 784], 78,400 B) and nothing else has one; the plan passes
 * every check (no workspace shares a byte with a buffer live at its
 * step, the replay finds every input intact); the arena stays at the
 * lower bound, which the workspaces do not raise on lenet; and without
 * workspaces no node has one. */
START_TEST(test_conv_workspaces)
{
    static const char *const models[] = {"models/lenet.nn", "tests/e2e/cnn_bars.nn"};
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        Arena a;
        arena_init(&a);
        Graph g;
        Plan p, none, naive;
        plan_model_file(&p, &g, &a, models[m], 0, 1);
        check_plan(&p);
        ck_assert_uint_eq(p.arena_bytes, p.lower_bound);
        int convs = 0;
        for (int i = 0; i < g.n; i++) {
            Op op = g.nodes[i].op;
            int conv = op == OP_CONV2D || op == OP_CONV2D_GRAD_X || op == OP_CONV2D_GRAD_W;
            convs += conv;
            ck_assert_uint_eq(p.buf[i].ws_bytes, plan_conv_workspace(&g, i));
            ck_assert(conv ? p.buf[i].ws_bytes > 0 : p.buf[i].ws_bytes == 0);
        }
        ck_assert_int_ge(convs, 3);
        plan_build_ws(&naive, &g, &a, 1, 1);
        check_plan(&naive);
        plan_build(&none, &g, &a, 0);
        check_plan(&none);
        for (int i = 0; i < g.n; i++)
            ck_assert_uint_eq(none.buf[i].ws_bytes, 0);
        if (m == 0) { /* lenet: the workspaces fit in bytes that are dead at their steps */
            ck_assert_uint_eq(p.arena_bytes, none.arena_bytes);
            int c1 = -1;
            for (int i = 0; i < g.n && c1 < 0; i++)
                if (g.nodes[i].op == OP_CONV2D)
                    c1 = i;
            ck_assert_uint_eq(p.buf[c1].ws_bytes, 25 * 784 * 4);
        }
        printf("%s: arena %zu B = lower bound with im2col workspaces (%zu B without), naive %zu B\n", models[m],
               p.arena_bytes, none.arena_bytes, naive.arena_bytes);
        arena_free(&a);
    }
}
END_TEST

/* ---- a deep network ------------------------------------------------------- */
/* A 20,000-layer MLP (x: [B, 4], each layer relu(h @ W + b) of width 4,
 * SGD): 220,000 nodes whose activations nearly all live together at the
 * turn to the backward pass.  Scheduling and offsets used to take minutes
 * and gigabytes here (quadratic ready-list scans and conflict lists); the
 * test case's timeout bounds it now.  The plan is checked the linear way:
 * the schedule, every read inside its buffer's interval, and one Lifetime
 * per chain through offsets_check; the arena is at the lower bound. */
START_TEST(test_deep_mlp)
{
    enum { LAYERS = 20000 };
    TestGraph t;
    tg_init(&t, 8);
    Graph *g = &t.g;
    int h = leaf(g, OP_INPUT, shp2(DIM_B, 4), DT_F32, "x");
    int lab = leaf(g, OP_LABEL, shp1(DIM_B), DT_I32, "t");
    for (int k = 0; k < LAYERS; k++)
        h = op1(g, OP_RELU, dense(g, h, 4, "W", "b"));
    g->output = h;
    g->loss = op2(g, OP_SOFTMAX_CE, h, lab);
    autodiff(g);
    Plan p;
    plan_build(&p, g, &t.a, 0);
    check_schedule(&p);
    check_liveness(&p);
    Lifetime *life = malloc((size_t)g->n * sizeof *life);
    int m = 0;
    for (int i = 0; i < g->n; i++)
        if (p.buf[i].cls == SC_ARENA && chain_head(&p, i) == i)
            life[m++] = (Lifetime){p.buf[i].bytes, p.buf[i].first, p.buf[i].last, p.buf[i].offset};
    char why[200] = "";
    ck_assert_msg(offsets_check(life, m, PLAN_ALIGN, p.arena_bytes, why, sizeof why), "%s", why);
    ck_assert_uint_eq(offsets_lower_bound(life, m, PLAN_ALIGN), p.lower_bound);
    ck_assert_uint_eq(p.arena_bytes, p.lower_bound);
    printf("deep MLP: %d layers, %d steps, %d buffers, arena %zu B = lower bound, plan_build %.0f ms\n", LAYERS,
           p.n_steps, m, p.arena_bytes, p.plan_ms);
    free(life);
    arena_free(&t.a);
}
END_TEST

/* ---- timing --------------------------------------------------------------- */
START_TEST(bench_mlp_784_100_10)
{
    TestGraph t;
    tg_init(&t, 1);
    Graph *g = &t.g;
    int x = leaf(g, OP_INPUT, shp2(DIM_B, 784), DT_F32, "x");
    int lab = leaf(g, OP_LABEL, shp1(DIM_B), DT_I32, "t");
    int h = op1(g, OP_RELU, dense(g, x, 100, "W1", "b1"));
    g->output = dense(g, h, 10, "W2", "b2");
    g->loss = op2(g, OP_SOFTMAX_CE, g->output, lab);
    g->train.opt = OPT_ADAM;
    autodiff(g);
    Plan p;
    double best = 1e9;
    for (int k = 0; k < 20; k++) {
        plan_build(&p, g, &t.a, 0);
        best = p.plan_ms < best ? p.plan_ms : best;
    }
    check_plan(&p);
    printf("bench 784-100-10 B=1: %d steps, arena %zu B (lower bound %zu, naive %zu), plan_build %.3f ms (best of 20)\n",
           p.n_steps, p.arena_bytes, p.lower_bound, p.naive_bytes, best);
    arena_free(&t.a);
}
END_TEST

static Suite *plan_suite(void)
{
    Suite *s = suite_create("plan");
    TCase *props = tcase_create("properties");
    tcase_set_timeout(props, 60);
    tcase_add_test(props, test_random_graphs);
    tcase_add_test(props, test_deterministic);
    suite_add_tcase(s, props);
    TCase *deep = tcase_create("deep network");
    tcase_set_timeout(deep, 30);
    tcase_add_test(deep, test_deep_mlp);
    suite_add_tcase(s, deep);
    TCase *known = tcase_create("known optimum");
    tcase_add_test(known, test_chain_second_reader);
    tcase_add_test(known, test_diamond);
    tcase_add_test(known, test_branch_across_backward);
    suite_add_tcase(s, known);
    TCase *inplace = tcase_create("in place");
    tcase_add_test(inplace, test_inplace_taken);
    tcase_add_test(inplace, test_inplace_refused_later_reader);
    tcase_add_test(inplace, test_inplace_refused_view_reader);
    tcase_add_test(inplace, test_inplace_refused_kept_eq_broadcast);
    tcase_add_test(inplace, test_loss_in_place_kept);
    suite_add_tcase(s, inplace);
    TCase *classes = tcase_create("classes");
    tcase_add_test(classes, test_classes_and_grad_block);
    tcase_add_test(classes, test_twolayer_golden);
    tcase_add_test(classes, test_twolayer_model_golden);
    suite_add_tcase(s, classes);
    TCase *conv = tcase_create("conv workspaces");
    tcase_set_timeout(conv, 60);
    tcase_add_test(conv, test_conv_workspaces);
    suite_add_tcase(s, conv);
    TCase *bench = tcase_create("bench");
    tcase_add_test(bench, bench_mlp_784_100_10);
    suite_add_tcase(s, bench);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(plan_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
