/* test_grad.c: every gradient nnc derives, checked against numbers.
 *
 *   - one test per op of the language, named after it (test_grad_exp, ...,
 *     test_grad_mlp), so a missing op is visible: for every variant of the
 *     op (each broadcasting pattern, each axis set and keepdims, transposed
 *     operands, repeated indices, class-id and one-hot labels, ...) a small
 *     model is compiled (parse, sema, autodiff, optimize), and the reference
 *     interpreter's analytic gradient of every trained param (the backward
 *     graph) is compared with central finite differences through the
 *     interpreter's forward pass, in double:
 *         num = (L(p + h) - L(p - h)) / 2h,  h = 1e-6,
 *         err = |ana - num| / max(1, |ana|, |num|)  must stay below 1e-6.
 *     The value f under test is weighted by a fixed random tensor R (an
 *     input, or a frozen param): loss = sum(f * R), so the incoming gradient
 *     of f is arbitrary, not all ones.  Values are drawn away from kinks
 *     (relu, abs, clip) and without ties (max, min);
 *   - ops the language cannot write directly (a matmul with transpose flags,
 *     pad, scatter_add, sign, eq) on graphs built by hand;
 *   - test_grad_every_op: every differentiable op of ops.h was checked;
 *   - the two-layer net against backprop written out by hand (1e-12);
 *   - weight sharing: a param used twice gets the sum, through a branch
 *     rule node;
 *   - DCE: no gradient node for inputs, labels, frozen params, or values
 *     that lead to no trained param, in every model checked and models/.
 * After the suite, one line: ops and variants checked, the worst error.
 * The tests run in one process (CK_NOFORK) so that the tally adds up.
 */
#include "graph.h"
#include "interp.h"
#include "sema.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define FD_H 1e-6
#define TOL 1e-6
#define ROWS 3 /* rows of the batch; B is bound to 32 */

/* ---- the tally of the suite ------------------------------------------------ */
static int tally_ops, tally_variants;
static double tally_worst;
static char tally_where[256];
static char op_checked[OP_COUNT]; /* a node of this op had its VJP checked */

/* ---- random numbers (splitmix64) ------------------------------------------ */
typedef struct Rng {
    uint64_t s;
} Rng;

static double rng_unit(Rng *r)
{
    uint64_t x = (r->s += 0x9e3779b97f4a7c15u);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    x ^= x >> 31;
    return (double)(x >> 11) / 9007199254740992.0;
}

static double rng_range(Rng *r, double lo, double hi) { return lo + (hi - lo) * rng_unit(r); }

/* ---- compiling a model ------------------------------------------------------ */
typedef struct Net {
    Arena a;
    Graph g;
} Net;

/* Parse, sema, autodiff, optimize; the model must compile without a word. */
static void net_source(Net *m, const char *src)
{
    arena_init(&m->a);
    graph_init(&m->g, &m->a);
    char *msgs = NULL;
    size_t len = 0;
    FILE *sink = open_memstream(&msgs, &len);
    ck_assert(sink != NULL);
    Diag d;
    diag_init(&d, sink, "grad.nn", src, strlen(src));
    Program *p = parse_program(&m->a, &d, "grad.nn", src, strlen(src));
    if (p && d.errors == 0)
        sema_lower(&m->g, &d, p, 0);
    fclose(sink);
    int clean = p && d.errors == 0 && d.warnings == 0 && m->g.loss >= 0;
    if (!clean) {
        static char report[4096];
        snprintf(report, sizeof report, "%s", msgs);
        free(msgs);
        ck_abort_msg("the model does not compile cleanly:\n%s\n%s", src, report);
    }
    free(msgs);
    autodiff(&m->g);
    optimize(&m->g);
}

static void net_free(Net *m) { arena_free(&m->a); }

static int node_named(const Graph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
            return i;
    ck_abort_msg("no node named %s", name);
    return -1;
}

static int node_exists(const Graph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
            return 1;
    return 0;
}

static int trained(const Node *n) { return n->op == OP_PARAM && !n->frozen; }

/* ---- building graphs by hand (ops the language does not write) -------------- */
static const Loc HL = {"hand.nn", 1, 1, 1};

static void net_hand(Net *m)
{
    arena_init(&m->a);
    graph_init(&m->g, &m->a);
    m->g.model = "hand";
    m->g.batch = 32;
    sema_train_defaults(&m->g.train);
}

static int hand_leaf(Net *m, Op op, Shape s, DType dt, const char *name, int frozen)
{
    int id = graph_add(&m->g, op, NULL, 0, s, dt, HL);
    graph_node(&m->g, id)->name = name;
    graph_node(&m->g, id)->frozen = frozen;
    return id;
}

static int hand_raw(Net *m, Op op, const int *in, int n_in)
{
    return graph_add(&m->g, op, in, n_in, shape_scalar(), DT_F32, HL);
}

static int hand_infer(Net *m, int id)
{
    char msg[256];
    const char *err = shape_infer(&m->g, graph_node(&m->g, id), msg, sizeof msg);
    ck_assert_msg(err == NULL, "hand-built node: %s", err ? err : "");
    return id;
}

static int hand_op(Net *m, Op op, int a, int b)
{
    int in[2] = {a, b};
    return hand_infer(m, hand_raw(m, op, in, b < 0 ? 1 : 2));
}

/* loss = sum(f * R), R a frozen param of f's shape; then autodiff, optimize. */
static void hand_finish(Net *m, int f)
{
    int r = hand_leaf(m, OP_PARAM, m->g.nodes[f].shape, DT_F32, "R", 1);
    int s = hand_raw(m, OP_SUM, (int[]){hand_op(m, OP_MUL, f, r)}, 1);
    graph_node(&m->g, s)->axes = (1u << m->g.nodes[f].shape.rank) - 1;
    m->g.loss = hand_infer(m, s);
    graph_node(&m->g, m->g.loss)->name = "loss";
    autodiff(&m->g);
    optimize(&m->g);
}

static Shape shp(int rank, int a, int b, int c)
{
    int d[3] = {a, b, c};
    return shape_make(rank, d);
}

/* ---- drawing values ----------------------------------------------------------- */
enum { LAB_ONEHOT, LAB_UNIT, LAB_BINARY, LAB_SOFT };

typedef struct Fill {
    double lo, hi;       /* trained params: uniform in [lo, hi] (both 0: [-1, 1]) */
    double in_lo, in_hi; /* inputs and frozen params (both 0: [-1, 1]) */
    double kink[3];      /* trained values keep 0.02 away from these */
    int n_kink;
    int distinct;        /* trained values on a shuffled even grid: no ties (max, min) */
    int classes;         /* i32 inputs and labels: ids in [0, classes) (0: 3) */
    int labels;          /* f32 labels: LAB_ONEHOT rows, LAB_UNIT in (0.05, 0.95), LAB_BINARY 0/1,
                            LAB_SOFT rows of positive values that sum to 1 */
} Fill;

static double draw_trained(Rng *r, const Fill *f, double lo, double hi)
{
    for (;;) {
        double v = rng_range(r, lo, hi);
        int ok = 1;
        for (int k = 0; k < f->n_kink; k++)
            ok &= fabs(v - f->kink[k]) > 0.02;
        if (ok)
            return v;
    }
}

static void fill_grid(Rng *r, double *x, long cnt, double lo, double hi)
{
    for (long j = 0; j < cnt; j++)
        x[j] = lo + (hi - lo) * ((double)j + 0.5) / (double)cnt;
    for (long j = cnt - 1; j > 0; j--) {
        long k = (long)(rng_unit(r) * (double)(j + 1));
        double t = x[j];
        x[j] = x[k];
        x[k] = t;
    }
}

static void fill_node(Interp *it, int id, const Fill *f, Rng *r)
{
    const Node *n = &it->g->nodes[id];
    long cnt = interp_numel(it, id);
    double *x = interp_value(it, id);
    double lo = f->lo == f->hi ? -1 : f->lo, hi = f->lo == f->hi ? 1 : f->hi;
    double ilo = f->in_lo == f->in_hi ? -1 : f->in_lo, ihi = f->in_lo == f->in_hi ? 1 : f->in_hi;
    int classes = f->classes ? f->classes : 3;
    long width = n->shape.rank ? n->shape.d[n->shape.rank - 1] : 1;
    if (n->dtype == DT_I32) {
        for (long j = 0; j < cnt; j++)
            x[j] = (double)(long)(rng_unit(r) * classes);
    } else if (n->op == OP_LABEL && f->labels == LAB_ONEHOT) {
        for (long j = 0; j < cnt; j += width) {
            long hot = (long)(rng_unit(r) * (double)width);
            for (long k = 0; k < width; k++)
                x[j + k] = k == hot;
        }
    } else if (n->op == OP_LABEL && f->labels == LAB_SOFT) {
        for (long j = 0; j < cnt; j += width) {
            double total = 0;
            for (long k = 0; k < width; k++)
                total += x[j + k] = rng_range(r, 0.1, 1);
            for (long k = 0; k < width; k++)
                x[j + k] /= total;
        }
    } else if (n->op == OP_LABEL) {
        for (long j = 0; j < cnt; j++)
            x[j] = f->labels == LAB_BINARY ? (double)(rng_unit(r) < 0.5) : rng_range(r, 0.05, 0.95);
    } else if (trained(n) && f->distinct) {
        fill_grid(r, x, cnt, lo, hi);
    } else {
        for (long j = 0; j < cnt; j++)
            x[j] = trained(n) ? draw_trained(r, f, lo, hi) : rng_range(r, ilo, ihi);
    }
}

/* ---- the check ------------------------------------------------------------------- */

/* Forward nodes that lead to a trained param: the only ones that may have a
 * gradient (computed here again, independently of autodiff's own). */
static char *leads_to_trained(const Graph *g)
{
    char *need = calloc((size_t)g->n_forward + 1, 1);
    ck_assert(need != NULL);
    for (int i = 0; i < g->n_forward; i++) {
        const Node *n = &g->nodes[i];
        need[i] = trained(n);
        for (int k = 0; k < n->n_in && n->op != OP_ACCURACY; k++)
            need[i] |= need[n->in[k]];
    }
    return need;
}

/* DCE: inputs, labels, frozen params and whatever depends on none of the
 * trained params have no gradient, and no backward node works for them. */
static void check_dce(const Graph *g, const char *what)
{
    char *need = leads_to_trained(g);
    for (int i = 0; i < g->n_forward; i++)
        ck_assert_msg(need[i] || g->grad[i] < 0, "%s: %s (%s) needs no gradient but has node %d", what,
                      g->nodes[i].name ? g->nodes[i].name : "?", op_name(g->nodes[i].op), g->grad[i]);
    for (int i = g->n_forward; i < g->n; i++) {
        int of = g->nodes[i].grad_of;
        ck_assert_msg(g->nodes[i].stage != STAGE_FORWARD, "%s: node %d after the forward graph is forward", what, i);
        ck_assert_msg(of < 0 || (of < g->n_forward && need[of]), "%s: backward node %d works for %s, which needs no gradient",
                      what, i, of >= 0 ? g->nodes[of].name : "?");
    }
    free(need);
}

/* Gradient nodes inherit the place of the forward node they differentiate
 * (a branch-rule add: of the consumer whose VJP added it), and a param's
 * gradient is named after it: dW, or d<value> when an add (or an identity
 * that optimize removed) passed the gradient of an outer value through. */
static void check_places_and_names(const Graph *g, const char *what)
{
    for (int i = g->n_forward; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        int branch = n->rule && strstr(n->rule, "branch gradients add");
        if (n->stage == STAGE_BACKWARD && n->grad_of >= 0 && !branch)
            ck_assert_msg(n->loc.line == g->nodes[n->grad_of].loc.line, "%s: node %d (%s) is at line %d, its value at %d",
                          what, i, op_name(n->op), n->loc.line, g->nodes[n->grad_of].loc.line);
        if (n->stage == STAGE_BACKWARD && n->op != OP_CONST)
            ck_assert_msg(n->rule != NULL, "%s: backward node %d (%s) has no rule", what, i, op_name(n->op));
    }
    for (int i = 0; i < g->n_forward; i++) {
        if (!trained(&g->nodes[i]) || g->grad[i] < 0)
            continue;
        int passed = 0;
        for (int j = 0; j < g->n_forward; j++)
            passed |= j != i && g->grad[j] == g->grad[i];
        const char *name = g->nodes[g->grad[i]].name;
        ck_assert_msg(name && name[0] == 'd', "%s: the gradient of %s is named %s", what, g->nodes[i].name,
                      name ? name : "(none)");
        ck_assert_msg(passed || strcmp(name + 1, g->nodes[i].name) == 0 || !node_exists(g, name + 1),
                      "%s: the gradient of %s is named %s", what, g->nodes[i].name, name);
    }
}

static double loss_at(Interp *it)
{
    interp_run(it, STAGE_FORWARD);
    return interp_value(it, it->g->loss)[0];
}

typedef struct Worst {
    double err, ana, num;
    const char *param;
    long at;
} Worst;

/* Compares the analytic gradient of every trained param with central
 * differences; returns the worst error. */
static Worst compare_param(Interp *it, int p)
{
    const Graph *g = it->g;
    Worst w = {0, 0, 0, g->nodes[p].name, -1};
    long cnt = interp_numel(it, p);
    double *x = interp_value(it, p), *ana = interp_value(it, g->grad[p]);
    double *keep = malloc((size_t)cnt * sizeof *keep);
    ck_assert(keep != NULL);
    memcpy(keep, ana, (size_t)cnt * sizeof *keep); /* the forward runs below leave it alone, but be sure */
    for (long j = 0; j < cnt; j++) {
        double x0 = x[j];
        x[j] = x0 + FD_H;
        double lp = loss_at(it);
        x[j] = x0 - FD_H;
        double lm = loss_at(it);
        x[j] = x0;
        double num = (lp - lm) / (2 * FD_H);
        double err = fabs(keep[j] - num) / fmax(1, fmax(fabs(keep[j]), fabs(num)));
        if (err >= w.err)
            w = (Worst){err, keep[j], num, g->nodes[p].name, j};
    }
    free(keep);
    return w;
}

static void note_checked_ops(const Graph *g)
{
    for (int i = 0; i < g->n_forward; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->grad[g->nodes[i].in[k]] >= 0)
                op_checked[g->nodes[i].op] = 1;
}

/* The gradient check of one compiled model. */
static void check_net(const char *op, const char *what, Net *m, const Fill *f, uint64_t seed)
{
    Graph *g = &m->g;
    char where[256];
    snprintf(where, sizeof where, "%s, %s", op, what);
    check_dce(g, where);
    check_places_and_names(g, where);
    Interp it;
    interp_init(&it, g, ROWS);
    it.mask_seed = 12345;
    Rng r = {seed};
    for (int i = 0; i < g->n_forward; i++)
        if (g->nodes[i].op == OP_INPUT || g->nodes[i].op == OP_LABEL || g->nodes[i].op == OP_PARAM)
            fill_node(&it, i, f, &r);
    interp_run(&it, STAGE_BACKWARD);
    ck_assert_msg(isfinite(interp_value(&it, g->loss)[0]), "%s: the loss is not finite", where);
    Worst worst = {0, 0, 0, NULL, -1};
    int n_trained = 0;
    for (int i = 0; i < g->n_forward; i++) {
        if (!trained(&g->nodes[i]))
            continue;
        n_trained++;
        ck_assert_msg(g->grad[i] >= 0, "%s: param %s got no gradient", where, g->nodes[i].name);
        Worst w = compare_param(&it, i);
        if (w.err >= worst.err)
            worst = w;
    }
    interp_free(&it);
    ck_assert_msg(n_trained > 0, "%s: nothing is trained", where);
    ck_assert_msg(worst.err < TOL, "%s: worst relative error %.3g at d%s[%ld] (analytic %.15g, numeric %.15g)",
                  where, worst.err, worst.param, worst.at, worst.ana, worst.num);
    note_checked_ops(g);
    tally_variants++;
    if (worst.err >= tally_worst) {
        tally_worst = worst.err;
        snprintf(tally_where, sizeof tally_where, "%s", where);
    }
}

/* ---- variants written in the language ---------------------------------------- */
#define ANY {.lo = 0}
static const Fill any = ANY;

typedef struct Variant {
    const char *what;   /* the variant, as failure messages name it */
    const char *decls;  /* params P, Q, ... (trained) and inputs */
    const char *expr;   /* f, the value under test */
    const char *weight; /* f's shape: loss = sum(f * R) with R random; NULL: f is the loss */
    Fill fill;
} Variant;

static void variant_source(char *buf, size_t len, const Variant *v)
{
    if (!v->weight)
        snprintf(buf, len, "model grad;\n%s\nloss = %s;\nminimize loss;\n", v->decls, v->expr);
    else if (v->weight[1] == 'B') /* per-sample weights: an input */
        snprintf(buf, len, "model grad;\n%s\ninput R: f32%s;\nf = %s;\nloss = sum(f * R);\nminimize loss;\n",
                 v->decls, v->weight, v->expr);
    else
        snprintf(buf, len,
                 "model grad;\n%s\nparam R: %s;\nf = %s;\nloss = sum(f * R);\nminimize loss;\ntrain { freeze = [R]; }\n",
                 v->decls, v->weight, v->expr);
}

static void check_variants(const char *op, const Variant *v, int n)
{
    tally_ops++;
    for (int i = 0; i < n; i++) {
        char src[2048];
        variant_source(src, sizeof src, &v[i]);
        Net m;
        net_source(&m, src);
        check_net(op, v[i].what, &m, &v[i].fill, 1000u * (uint64_t)tally_ops + (uint64_t)i);
        net_free(&m);
    }
}

#define CHECK(op, variants) check_variants(op, variants, (int)(sizeof variants / sizeof variants[0]))

/* ---- elementwise, one input ---------------------------------------------------- */
#define P23 "param P: [2, 3];"
#define XB "input X: f32[B, 2];"

START_TEST(test_grad_neg)
{
    static const Variant v[] = {
        {"-P", P23, "-P", "[2, 3]", ANY},
        {"-(X @ P) with rows", XB P23, "-(X @ P)", "[B, 3]", ANY},
    };
    CHECK("neg", v);
}
END_TEST

START_TEST(test_grad_exp)
{
    static const Variant v[] = {
        {"exp(P)", P23, "exp(P)", "[2, 3]", ANY},
        {"exp(X @ P) with rows", XB P23, "exp(X @ P)", "[B, 3]", ANY},
    };
    CHECK("exp", v);
}
END_TEST

START_TEST(test_grad_log)
{
    static const Variant v[] = {
        {"log(P), P in [0.5, 2]", P23, "log(P)", "[2, 3]", {.lo = 0.5, .hi = 2}},
        {"log(exp(X @ P))", XB P23, "log(exp(X @ P))", "[B, 3]", ANY},
    };
    CHECK("log", v);
}
END_TEST

START_TEST(test_grad_sqrt)
{
    static const Variant v[] = {
        {"sqrt(P), P in [0.5, 2]", P23, "sqrt(P)", "[2, 3]", {.lo = 0.5, .hi = 2}},
    };
    CHECK("sqrt", v);
}
END_TEST

START_TEST(test_grad_sin)
{
    static const Variant v[] = {
        {"sin(P), P in [-3, 3]", P23, "sin(P)", "[2, 3]", {.lo = -3, .hi = 3}},
    };
    CHECK("sin", v);
}
END_TEST

START_TEST(test_grad_cos)
{
    static const Variant v[] = {
        {"cos(P), P in [-3, 3]", P23, "cos(P)", "[2, 3]", {.lo = -3, .hi = 3}},
    };
    CHECK("cos", v);
}
END_TEST

START_TEST(test_grad_abs)
{
    static const Variant v[] = {
        {"abs(P), away from 0", P23, "abs(P)", "[2, 3]", {.kink = {0}, .n_kink = 1}},
    };
    CHECK("abs", v);
}
END_TEST

START_TEST(test_grad_sigmoid)
{
    static const Variant v[] = {
        {"sigmoid(P), P in [-3, 3]", P23, "sigmoid(P)", "[2, 3]", {.lo = -3, .hi = 3}},
        {"sigmoid(X @ P) with rows", XB P23, "sigmoid(X @ P)", "[B, 3]", ANY},
    };
    CHECK("sigmoid", v);
}
END_TEST

START_TEST(test_grad_tanh)
{
    static const Variant v[] = {
        {"tanh(P), P in [-2, 2]", P23, "tanh(P)", "[2, 3]", {.lo = -2, .hi = 2}},
    };
    CHECK("tanh", v);
}
END_TEST

START_TEST(test_grad_relu)
{
    static const Variant v[] = {
        {"relu(P), away from 0", P23, "relu(P)", "[2, 3]", {.kink = {0}, .n_kink = 1}},
    };
    CHECK("relu", v);
}
END_TEST

START_TEST(test_grad_leaky_relu)
{
    static const Variant v[] = {
        {"leaky_relu(P), slope 0.2 by default", P23, "leaky_relu(P)", "[2, 3]", {.kink = {0}, .n_kink = 1}},
        {"leaky_relu(P, slope=0.05)", P23, "leaky_relu(P, slope=0.05)", "[2, 3]", {.kink = {0}, .n_kink = 1}},
    };
    CHECK("leaky_relu", v);
}
END_TEST

START_TEST(test_grad_softplus)
{
    static const Variant v[] = {
        {"softplus(P), P in [-4, 4]", P23, "softplus(P)", "[2, 3]", {.lo = -4, .hi = 4}},
        {"softplus(P) on both sides of 20, where it becomes x", P23, "softplus(P)", "[2, 3]",
         {.lo = 15, .hi = 25, .kink = {20}, .n_kink = 1}},
    };
    CHECK("softplus", v);
}
END_TEST

START_TEST(test_grad_elu)
{
    static const Variant v[] = {
        {"elu(P), alpha 1 by default", P23, "elu(P)", "[2, 3]", {.lo = -3, .hi = 3, .kink = {0}, .n_kink = 1}},
        {"elu(P, alpha=0.5)", P23, "elu(P, alpha=0.5)", "[2, 3]", {.lo = -3, .hi = 3, .kink = {0}, .n_kink = 1}},
    };
    CHECK("elu", v);
}
END_TEST

START_TEST(test_grad_silu)
{
    static const Variant v[] = {
        {"silu(P), P in [-5, 5]", P23, "silu(P)", "[2, 3]", {.lo = -5, .hi = 5}},
    };
    CHECK("silu", v);
}
END_TEST

START_TEST(test_grad_gelu)
{
    static const Variant v[] = {
        {"gelu(P), P in [-4, 4]", P23, "gelu(P)", "[2, 3]", {.lo = -4, .hi = 4}},
        {"gelu(X @ P) with rows", XB P23, "gelu(X @ P)", "[B, 3]", ANY},
    };
    CHECK("gelu", v);
}
END_TEST

/* The activations' values at four points against the definitions
 * evaluated independently (Python's math module, double):
 *   softplus ln(1 + eˣ), elu eˣ - 1 below 0 (alpha 1), silu x·σ(x),
 *   gelu ½x(1 + tanh(√(2/π)(x + 0.044715x³))). */
START_TEST(test_activation_values)
{
    static const double x[4] = {-2, -0.5, 0.5, 3};
    static const struct {
        const char *act;
        double want[4];
    } v[] = {
        {"softplus", {0.1269280110429726, 0.47407698418010669, 0.97407698418010669, 3.0485873515737421}},
        {"elu", {-0.8646647167633873, -0.39346934028736658, 0.5, 3}},
        {"silu", {-0.23840584404423509, -0.1887703343990727, 0.3112296656009273, 2.8577223804673002}},
        {"gelu", {-0.045402305912224938, -0.15428599017485606, 0.34571400982514394, 2.9963626079182268}},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char src[256];
        snprintf(src, sizeof src, "model act;\nparam P: [4];\nf = %s(P);\nloss = sum(f);\nminimize loss;\n", v[i].act);
        Net m;
        net_source(&m, src);
        Interp it;
        interp_init(&it, &m.g, ROWS);
        interp_set(&it, node_named(&m.g, "P"), x);
        interp_run(&it, STAGE_FORWARD);
        const double *f = interp_value(&it, node_named(&m.g, "f"));
        for (int k = 0; k < 4; k++)
            ck_assert_msg(fabs(f[k] - v[i].want[k]) < 1e-15 * (1 + fabs(v[i].want[k])), "%s(%g) = %.17g, want %.17g",
                          v[i].act, x[k], f[k], v[i].want[k]);
        interp_free(&it);
        net_free(&m);
    }
}
END_TEST

START_TEST(test_grad_clip)
{
    static const Variant v[] = {
        {"clip(P, -0.5, 0.5), values on both sides of both bounds", P23, "clip(P, -0.5, 0.5)", "[2, 3]",
         {.kink = {-0.5, 0.5}, .n_kink = 2}},
        {"clip(P, lo=0, hi=2) by keyword", P23, "clip(P, lo=0, hi=2)", "[2, 3]", {.lo = -1, .hi = 3, .kink = {0, 2}, .n_kink = 2}},
    };
    CHECK("clip", v);
}
END_TEST

START_TEST(test_grad_pow)
{
    static const Variant v[] = {
        {"P ** 2", P23, "P ** 2", "[2, 3]", ANY},
        {"P ** 3", P23, "P ** 3", "[2, 3]", ANY},
        {"P ** 0.5, P > 0", P23, "P ** 0.5", "[2, 3]", {.lo = 0.5, .hi = 2}},
        {"P ** -1, P > 0", P23, "P ** -1", "[2, 3]", {.lo = 0.5, .hi = 2}},
        {"(X @ P) ** 2 with rows", XB P23, "(X @ P) ** 2", "[B, 3]", ANY},
    };
    CHECK("pow", v);
}
END_TEST

/* ---- elementwise, two inputs: every broadcasting pattern ------------------------- */
/* The same patterns for + - * /; the divisors are kept positive. */
#define BINARY_VARIANTS(OP, F)                                                                              \
    {"same shape [2,3] " OP " [2,3]", "param P: [2, 3]; param Q: [2, 3];", "P " OP " Q", "[2, 3]", F},       \
    {"row vector [2,3] " OP " [3]", "param P: [2, 3]; param Q: [3];", "P " OP " Q", "[2, 3]", F},            \
    {"row vector first [3] " OP " [2,3]", "param P: [2, 3]; param Q: [3];", "Q " OP " P", "[2, 3]", F},      \
    {"column [2,3] " OP " [2,1]", "param P: [2, 3]; param Q: [2, 1];", "P " OP " Q", "[2, 3]", F},           \
    {"one element [2,3] " OP " [1]", "param P: [2, 3]; param Q: [1];", "P " OP " Q", "[2, 3]", F},           \
    {"scalar constant [2,3] " OP " 1.5", P23, "P " OP " 1.5", "[2, 3]", F},                                   \
    {"scalar constant 1.5 " OP " [2,3]", P23, "1.5 " OP " P", "[2, 3]", F},                                   \
    {"both sides broadcast [3,1] " OP " [1,4]", "param P: [3, 1]; param Q: [1, 4];", "P " OP " Q", "[3, 4]", F}, \
    {"rank 3 [2,1,3] " OP " [4,1]", "param P: [2, 1, 3]; param Q: [4, 1];", "P " OP " Q", "[2, 4, 3]", F},   \
    {"one value twice P " OP " P", P23, "P " OP " P", "[2, 3]", F},                                           \
    {"rows [B,3] " OP " [B,3]", XB "param P: [2, 3]; param Q: [2, 3];", "(X @ P) " OP " (X @ Q)", "[B, 3]", F}, \
    {"row vector over the B rows [B,3] " OP " [3]", XB "param P: [2, 3]; param Q: [3];", "(X @ P) " OP " Q", "[B, 3]", F}, \
    {"column [B,3] " OP " [B,1]", XB "param P: [2, 3]; param Q: [2, 1];", "(X @ P) " OP " (X @ Q)", "[B, 3]", F}, \
    {"column first [B,1] " OP " [B,3]", XB "param P: [2, 3]; param Q: [2, 1];", "(X @ Q) " OP " (X @ P)", "[B, 3]", F}, \
    {"both broadcast [B,1] " OP " [3]", XB "param P: [3]; param Q: [2, 1];", "(X @ Q) " OP " P", "[B, 3]", F}, \
    {"input without gradient [B,2] " OP " [2]", XB "param P: [2];", "X " OP " P", "[B, 2]", F}

#define POSITIVE {.lo = 0.5, .hi = 2, .in_lo = 0.5, .in_hi = 1.5}

START_TEST(test_grad_add)
{
    static const Variant v[] = {BINARY_VARIANTS("+", ANY)};
    CHECK("add", v);
}
END_TEST

START_TEST(test_grad_sub)
{
    static const Variant v[] = {BINARY_VARIANTS("-", ANY)};
    CHECK("sub", v);
}
END_TEST

START_TEST(test_grad_mul)
{
    static const Variant v[] = {BINARY_VARIANTS("*", ANY)};
    CHECK("mul", v);
}
END_TEST

START_TEST(test_grad_div)
{
    static const Variant v[] = {BINARY_VARIANTS("/", POSITIVE)};
    CHECK("div", v);
}
END_TEST

/* ---- linear algebra ---------------------------------------------------------------- */

/* f = op(P)·op(Q) with the transpose flags set on the forward matmul (the
 * language writes x.T @ y as a transpose node; the IR can fold it). */
static void check_matmul_flags(int ta, int tb)
{
    Net m;
    net_hand(&m);
    /* op(P) is [2, 3], op(Q) is [3, 4] */
    int p = hand_leaf(&m, OP_PARAM, ta ? shp(2, 3, 2, 0) : shp(2, 2, 3, 0), DT_F32, "P", 0);
    int q = hand_leaf(&m, OP_PARAM, tb ? shp(2, 4, 3, 0) : shp(2, 3, 4, 0), DT_F32, "Q", 0);
    int mm = hand_raw(&m, OP_MATMUL, (int[]){p, q}, 2);
    graph_node(&m.g, mm)->ta = ta;
    graph_node(&m.g, mm)->tb = tb;
    hand_finish(&m, hand_infer(&m, mm));
    char what[64];
    snprintf(what, sizeof what, "IR matmul with flags ta=%d tb=%d", ta, tb);
    check_net("matmul", what, &m, &any, 77u + (uint64_t)(2 * ta + tb));
    net_free(&m);
}

START_TEST(test_grad_matmul)
{
    static const Variant v[] = {
        {"P @ Q, [2,3] @ [3,4]", "param P: [2, 3]; param Q: [3, 4];", "P @ Q", "[2, 4]", ANY},
        {"X @ P with rows, input without gradient", XB P23, "X @ P", "[B, 3]", ANY},
        {"(X @ P) @ Q: dA through the rows", XB "param P: [2, 3]; param Q: [3, 4];", "(X @ P) @ Q", "[B, 4]", ANY},
        {"x.T @ y: P.T @ Q", "param P: [3, 2]; param Q: [3, 4];", "P.T @ Q", "[2, 4]", ANY},
        {"x @ W.T: P @ Q.T", "param P: [2, 3]; param Q: [4, 3];", "P @ Q.T", "[2, 4]", ANY},
        {"x.T @ W.T: P.T @ Q.T", "param P: [3, 2]; param Q: [4, 3];", "P.T @ Q.T", "[2, 4]", ANY},
        {"rows times a transposed weight: X @ P.T", XB "param P: [3, 2];", "X @ P.T", "[B, 3]", ANY},
        {"one param on both sides: P @ P.T", P23, "P @ P.T", "[2, 2]", ANY},
        {"square P @ P", "param P: [3, 3];", "P @ P", "[3, 3]", ANY},
    };
    CHECK("matmul", v);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            check_matmul_flags(ta, tb);
}
END_TEST

START_TEST(test_grad_transpose)
{
    static const Variant v[] = {
        {"P.T", P23, "P.T", "[3, 2]", ANY},
        {"transpose(P), axes None", P23, "transpose(P)", "[3, 2]", ANY},
        {"transpose(P, axes=[1, 0])", P23, "transpose(P, axes=[1, 0])", "[3, 2]", ANY},
        {"transpose(P, axes=[0, 1]), the identity", P23, "transpose(P, axes=[0, 1])", "[2, 3]", ANY},
        {"rank 3, axes [2, 0, 1]", "param P: [2, 3, 4];", "transpose(P, axes=[2, 0, 1])", "[4, 2, 3]", ANY},
        {"rank 3, axes [1, 2, 0]", "param P: [2, 3, 4];", "transpose(P, axes=[1, 2, 0])", "[3, 4, 2]", ANY},
        {"rank 3 .T reverses the axes", "param P: [2, 3, 4];", "P.T", "[4, 3, 2]", ANY},
        {"rank 4, axes [3, 1, 0, 2]", "param P: [2, 3, 2, 2];", "transpose(P, axes=[3, 1, 0, 2])", "[2, 3, 2, 2]", ANY},
        {"rows kept first, axes [0, 2, 1]", "input X: f32[B, 2, 3];" P23, "transpose(X * P, axes=[0, 2, 1])", "[B, 3, 2]", ANY},
        {"P.T.T folds away", P23, "P.T.T", "[2, 3]", ANY},
    };
    CHECK("transpose", v);
}
END_TEST

START_TEST(test_grad_reshape)
{
    static const Variant v[] = {
        {"[2,3] to [3,2]", P23, "reshape(P, [3, 2])", "[3, 2]", ANY},
        {"[2,3] to [6]", P23, "reshape(P, [6])", "[6]", ANY},
        {"[2,3] to [1,6,1]", P23, "reshape(P, [1, 6, 1])", "[1, 6, 1]", ANY},
        {"[2,3] to [2,3], the identity", P23, "reshape(P, [2, 3])", "[2, 3]", ANY},
        {"rows [B,2,3] to [B,6]", "input X: f32[B, 2, 3];" P23, "reshape(X * P, [B, 6])", "[B, 6]", ANY},
        {"rows [B,6] to [B,3,2]", XB P23, "reshape(reshape(X @ P, [B, 3]) * 1.0, [B, 3, 1])", "[B, 3, 1]", ANY},
    };
    CHECK("reshape", v);
}
END_TEST

START_TEST(test_grad_flatten)
{
    static const Variant v[] = {
        {"flatten rows [B,2,3] to [B,6]", "input X: f32[B, 2, 3];" P23, "flatten(X * P)", "[B, 6]", ANY},
        {"flatten [2,3,2] to [12]", "param P: [2, 3, 2];", "flatten(P)", "[12]", ANY},
    };
    CHECK("flatten", v);
}
END_TEST

START_TEST(test_grad_broadcast_to)
{
    static const Variant v[] = {
        {"[3] to [4,3]", "param P: [3];", "broadcast_to(P, [4, 3])", "[4, 3]", ANY},
        {"[2,1] to [2,3]", "param P: [2, 1];", "broadcast_to(P, [2, 3])", "[2, 3]", ANY},
        {"[1] to [2,3]", "param P: [1];", "broadcast_to(P, [2, 3])", "[2, 3]", ANY},
        {"[1,3] to [2,2,3]", "param P: [1, 3];", "broadcast_to(P, [2, 2, 3])", "[2, 2, 3]", ANY},
        {"[3] over the rows to [B,3]", "param P: [3];", "broadcast_to(P, [B, 3])", "[B, 3]", ANY},
        {"[2,3] to itself", P23, "broadcast_to(P, [2, 3])", "[2, 3]", ANY},
    };
    CHECK("broadcast_to", v);
}
END_TEST

START_TEST(test_grad_sum_to)
{
    static const Variant v[] = {
        {"[2,3] to [3]", P23, "sum_to(P, [3])", "[3]", ANY},
        {"[2,3] to [2,1]", P23, "sum_to(P, [2, 1])", "[2, 1]", ANY},
        {"[2,3] to [1,3]", P23, "sum_to(P, [1, 3])", "[1, 3]", ANY},
        {"[2,3] to [1]", P23, "sum_to(P, [1])", "[1]", ANY},
        {"[2,3,4] to [3,1]", "param P: [2, 3, 4];", "sum_to(P, [3, 1])", "[3, 1]", ANY},
        {"rows [B,3] to [3]", XB P23, "sum_to(X @ P, [3])", "[3]", ANY},
        {"rows [B,3] to [B,1]", XB P23, "sum_to(X @ P, [B, 1])", "[B, 1]", ANY},
    };
    CHECK("sum_to", v);
}
END_TEST

START_TEST(test_grad_concat)
{
    static const Variant v[] = {
        {"axis 0, [2,3] and [1,3]", "param P: [2, 3]; param Q: [1, 3];", "concat([P, Q], 0)", "[3, 3]", ANY},
        {"axis 0 by default", "param P: [2, 3]; param Q: [1, 3];", "concat([P, Q])", "[3, 3]", ANY},
        {"axis 1, [2,3] and [2,2]", "param P: [2, 3]; param Q: [2, 2];", "concat([P, Q], 1)", "[2, 5]", ANY},
        {"axis -1, [2,3] and [2,2]", "param P: [2, 3]; param Q: [2, 2];", "concat([P, Q], axis=-1)", "[2, 5]", ANY},
        {"three parts, one param twice", "param P: [2, 3]; param Q: [2, 2];", "concat([P, Q, P], 1)", "[2, 8]", ANY},
        {"rows, axis 1", XB "param P: [2, 3]; param Q: [2, 1];", "concat([X @ P, X @ Q], 1)", "[B, 4]", ANY},
        {"an input part without gradient", XB P23, "concat([X, X @ P], 1)", "[B, 5]", ANY},
    };
    CHECK("concat", v);
}
END_TEST

START_TEST(test_grad_index)
{
    static const Variant v[] = {
        {"x[i]: P[1] drops the axis", "param P: [3, 4];", "P[1]", "[4]", ANY},
        {"x[-1]: negative index", "param P: [3, 4];", "P[-1]", "[4]", ANY},
        {"x[i:j]: P[0:2]", "param P: [3, 4];", "P[0:2]", "[2, 4]", ANY},
        {"x[i:]: P[1:]", "param P: [3, 4];", "P[1:]", "[2, 4]", ANY},
        {"x[:, i]: P[:, 1]", "param P: [3, 4];", "P[:, 1]", "[3]", ANY},
        {"x[:, i:j]: P[:, 1:3]", "param P: [3, 4];", "P[:, 1:3]", "[3, 2]", ANY},
        {"x[i, j]: P[2, 1]", "param P: [3, 4];", "P[2, 1]", "[1]", ANY},
        {"rank 3 x[:, 1:3, 0]", "param P: [2, 4, 3];", "P[:, 1:3, 0]", "[2, 2]", ANY},
        {"rows (X @ P)[:, 1]", XB P23, "(X @ P)[:, 1]", "[B]", ANY},
        {"rows (X @ P)[:, 0:2]", XB P23, "(X @ P)[:, 0:2]", "[B, 2]", ANY},
        {"two slices of one param add up", "param P: [3, 4];", "P[0:2] + P[1:3]", "[2, 4]", ANY},
    };
    CHECK("index", v);
}
END_TEST

START_TEST(test_grad_gather)
{
    static const Variant v[] = {
        {"x[idx] with repeated indices: P[[0, 2, 0, 0]]", "param P: [3, 4];", "P[[0, 2, 0, 0]]", "[4, 4]", ANY},
        {"x[idx] one row: P[[1]]", "param P: [3, 4];", "P[[1]]", "[1, 4]", ANY},
        {"x[idx] of a vector: P[[2, 2, 1]]", "param P: [3];", "P[[2, 2, 1]]", "[3]", ANY},
        {"x[ids] by an i32 input (embedding)", "input I: i32[B]; param P: [3, 4];", "P[I]", "[B, 4]",
         {.classes = 3}},
        {"x[ids] by an i32 label, rank 3", "label I: i32[B]; param P: [5, 2, 2];", "P[I]", "[B, 2, 2]", {.classes = 5}},
    };
    CHECK("gather", v);
}
END_TEST

/* ---- reductions: axis None, each axis, axis lists, keepdims ------------------------- */
#define REDUCE_VARIANTS(FN, F)                                                                               \
    {FN "(P), axis None", P23, FN "(P)", "[1]", F},                                                          \
    {FN "(P, keepdims=true), axis None", P23, FN "(P, keepdims=true)", "[1, 1]", F},                         \
    {FN "(P, axis=0)", P23, FN "(P, axis=0)", "[3]", F},                                                     \
    {FN "(P, axis=0, keepdims=true)", P23, FN "(P, axis=0, keepdims=true)", "[1, 3]", F},                    \
    {FN "(P, axis=1)", P23, FN "(P, axis=1)", "[2]", F},                                                     \
    {FN "(P, axis=1, keepdims=true)", P23, FN "(P, axis=1, keepdims=true)", "[2, 1]", F},                    \
    {FN "(P, axis=-1)", P23, FN "(P, axis=-1)", "[2]", F},                                                   \
    {FN "(P, axis=[0, 1])", P23, FN "(P, axis=[0, 1])", "[1]", F},                                           \
    {FN "(P, axis=[0, 2]), rank 3", "param P: [2, 3, 4];", FN "(P, axis=[0, 2])", "[3]", F},                 \
    {FN "(P, axis=[0, 2], keepdims=true)", "param P: [2, 3, 4];", FN "(P, axis=[0, 2], keepdims=true)", "[1, 3, 1]", F}, \
    {FN "(P, axis=1), rank 3", "param P: [2, 3, 4];", FN "(P, axis=1)", "[2, 4]", F},                        \
    {FN " over the rows, axis=0", XB P23, FN "(X @ P, axis=0)", "[3]", F},                                   \
    {FN " over the rows, axis=0, keepdims", XB P23, FN "(X @ P, axis=0, keepdims=true)", "[1, 3]", F},       \
    {FN " per row, axis=1", XB P23, FN "(X @ P, axis=1)", "[B]", F},                                         \
    {FN " per row, axis=1, keepdims", XB P23, FN "(X @ P, axis=1, keepdims=true)", "[B, 1]", F},             \
    {FN " of rows, axis None", XB P23, FN "(X @ P)", "[1]", F}

#define NO_TIES {.distinct = 1}

START_TEST(test_grad_sum)
{
    static const Variant v[] = {REDUCE_VARIANTS("sum", ANY)};
    CHECK("sum", v);
}
END_TEST

START_TEST(test_grad_mean)
{
    static const Variant v[] = {REDUCE_VARIANTS("mean", ANY)};
    CHECK("mean", v);
}
END_TEST

START_TEST(test_grad_max)
{
    static const Variant v[] = {REDUCE_VARIANTS("max", NO_TIES)};
    CHECK("max", v);
}
END_TEST

START_TEST(test_grad_min)
{
    static const Variant v[] = {REDUCE_VARIANTS("min", NO_TIES)};
    CHECK("min", v);
}
END_TEST

/* ---- images: conv2d, pooling, flatten, global average pooling ------------------------- */
START_TEST(test_grad_conv2d)
{
    static const Variant v[] = {
        {"conv2d 1 channel, 3×3 over 5×5", "input X: f32[B, 1, 5, 5]; param P: [2, 1, 3, 3];", "conv2d(X, P)",
         "[B, 2, 3, 3]", ANY},
        {"Cin 3, stride 2, pad 1, bias", "input X: f32[B, 3, 5, 5]; param P: [4, 3, 3, 3]; param Q: [4];",
         "conv2d(X, P, Q, stride=2, pad=1)", "[B, 4, 3, 3]", ANY},
        {"non-square kernel 2×3, pad 1, by keyword", "input X: f32[B, 2, 4, 5]; param P: [3, 2, 2, 3];",
         "conv2d(X, W=P, pad=1)", "[B, 3, 5, 5]", ANY},
        {"the input's gradient: stride 2, pad 1", "param P: [2, 2, 4, 4]; param Q: [3, 2, 3, 3];",
         "conv2d(P, Q, stride=2, pad=1)", "[2, 3, 2, 2]", ANY},
        {"the input's gradient: non-square 3×2, Cin 2", "param P: [1, 2, 5, 4]; param Q: [2, 2, 3, 2];",
         "conv2d(P, Q)", "[1, 2, 3, 3]", ANY},
        {"stride 3 leaves the last row and column unread", "param P: [1, 1, 7, 7]; param Q: [1, 1, 3, 3];",
         "conv2d(P, Q, stride=3)", "[1, 1, 2, 2]", ANY},
        {"two convs over rows, bias left out", "input X: f32[B, 1, 6, 6]; param P: [2, 1, 3, 3]; param Q: [3, 2, 2, 2];",
         "conv2d(tanh(conv2d(X, P)), Q, stride=2)", "[B, 3, 2, 2]", ANY},
        {"pad larger than the kernel's reach: pad 2, 1×1", "param P: [1, 2, 3, 3]; param Q: [2, 2, 1, 1]; param S: [2];",
         "conv2d(P, Q, S, pad=2)", "[1, 2, 7, 7]", ANY},
    };
    CHECK("conv2d", v);
}
END_TEST

START_TEST(test_grad_conv)
{
    static const Variant v[] = {
        {"conv(X, 3, kernel=3, pad=1, act=tanh)", "input X: f32[B, 2, 4, 4];", "conv(X, 3, kernel=3, pad=1, act=tanh)",
         "[B, 3, 4, 4]", ANY},
        {"conv(X, 2, kernel=2, stride=2, bias=false)", "input X: f32[B, 1, 4, 4];",
         "conv(X, 2, kernel=2, stride=2, bias=false)", "[B, 2, 2, 2]", ANY},
    };
    CHECK("conv", v);
}
END_TEST

START_TEST(test_grad_max_pool)
{
    static const Variant v[] = {
        {"max_pool(P) 2×2, no ties", "param P: [2, 3, 4, 4];", "max_pool(P)", "[2, 3, 2, 2]", NO_TIES},
        {"size 3, stride 2, pad 1: overlapping windows", "param P: [1, 2, 5, 5];", "max_pool(P, size=3, stride=2, pad=1)",
         "[1, 2, 3, 3]", NO_TIES},
        {"size 2, stride 1", "param P: [1, 1, 4, 4];", "max_pool(P, size=2, stride=1)", "[1, 1, 3, 3]", NO_TIES},
        {"size 2 over 5×5: the last row and column unread", "param P: [1, 1, 5, 5];", "max_pool(P)", "[1, 1, 2, 2]",
         NO_TIES},
        {"rows [B, H, W]", "input X: f32[B, 4, 4]; param P: [4, 4];", "max_pool(X * P)", "[B, 2, 2]", NO_TIES},
        {"after a conv, with rows", "input X: f32[B, 1, 5, 5]; param P: [2, 1, 2, 2];", "max_pool(conv2d(X, P))",
         "[B, 2, 2, 2]", ANY},
    };
    CHECK("max_pool", v);
}
END_TEST

START_TEST(test_grad_avg_pool)
{
    static const Variant v[] = {
        {"avg_pool(P) 2×2", "param P: [2, 3, 4, 4];", "avg_pool(P)", "[2, 3, 2, 2]", ANY},
        {"size 3, stride 2, pad 1", "param P: [1, 2, 5, 5];", "avg_pool(P, size=3, stride=2, pad=1)", "[1, 2, 3, 3]",
         ANY},
        {"size 2, stride 1, pad 1", "param P: [1, 1, 4, 4];", "avg_pool(P, size=2, stride=1, pad=1)", "[1, 1, 5, 5]",
         ANY},
        {"rows [B, C, H, W]", "input X: f32[B, 2, 4, 4]; param P: [2, 1, 1];", "avg_pool(X * P, size=2)",
         "[B, 2, 2, 2]", ANY},
    };
    CHECK("avg_pool", v);
}
END_TEST

START_TEST(test_grad_images)
{
    static const Variant v[] = {
        {"flatten [B, C, H, W] after max_pool", "input X: f32[B, 2, 4, 4]; param P: [2, 4, 4];",
         "flatten(max_pool(X * P))", "[B, 8]", ANY},
        {"global average pooling: mean(axis=[2, 3])", "input X: f32[B, 2, 3, 3]; param P: [3, 2, 2, 2];",
         "mean(conv2d(X, P, pad=1), axis=[2, 3])", "[B, 3]", ANY},
        {"conv2d -> relu -> max_pool -> flatten -> matmul -> softmax_cross_entropy",
         "input X: f32[B, 1, 6, 6]; label T: i32[B]; param P: [2, 1, 3, 3]; param Q: [8, 3];",
         "softmax_cross_entropy(flatten(max_pool(relu(conv2d(X, P)))) @ Q, T)", NULL, ANY},
    };
    CHECK("images", v);
}
END_TEST

/* conv2d, max_pool and avg_pool forward against figures worked out by hand:
 * x = 1..9 as one 3×3 image (channel 0) and ones (channel 1);
 * W[0] = [[1, 2], [3, 4]] over channel 0 and ones over channel 1, b = 0.5.
 *   stride 1, pad 0: Σ of the 2×2 window·W[0] + 4 + b, e.g. 1+4+12+20 + 4.5 = 41.5
 *   stride 2, pad 1: the in-image part of each window, e.g. the corner
 *   (rows -1..0, cols -1..0) holds x[0,0]·4 = 4, plus 1 one, plus b = 5.5
 *   max_pool size 2 stride 1 of channel 0: [[5, 6], [8, 9]]
 *   avg_pool size 2 stride 2 pad 1 of channel 0: [[1, 5], [11, 28]] / 4
 * and flatten keeps the row-major order: channel 0's rows, then channel 1's. */
START_TEST(test_window_values)
{
    static const struct {
        const char *expr;
        double want[18];
        int n;
    } v[] = {
        {"flatten(P)", {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 18}, /* row-major, as PyTorch's */
        {"conv2d(P, W, b)", {41.5, 51.5, 71.5, 81.5}, 4},
        {"conv2d(P, W, b, stride=2, pad=1)", {5.5, 20.5, 38.5, 81.5}, 4},
        {"max_pool(P[:, 0:1], size=2, stride=1)", {5, 6, 8, 9}, 4},
        {"max_pool(P[:, 0:1], size=2, stride=2, pad=1)", {1, 3, 7, 9}, 4},
        {"avg_pool(P[:, 0:1], size=2, stride=2, pad=1)", {0.25, 1.25, 2.75, 7}, 4},
        {"avg_pool(P, size=3)", {5, 1}, 2},
    };
    static const double x[18] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static const double w[8] = {1, 2, 3, 4, 1, 1, 1, 1}, b[1] = {0.5};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char src[512];
        snprintf(src, sizeof src,
                 "model win;\nparam P: [1, 2, 3, 3];\nparam W: [1, 2, 2, 2];\nparam b: [1];\nf = %s;\n"
                 "loss = sum(f) + sum(W) + sum(b);\nminimize loss;\n", v[i].expr);
        Net m;
        net_source(&m, src);
        Interp it;
        interp_init(&it, &m.g, ROWS);
        interp_set(&it, node_named(&m.g, "P"), x);
        interp_set(&it, node_named(&m.g, "W"), w);
        interp_set(&it, node_named(&m.g, "b"), b);
        interp_run(&it, STAGE_FORWARD);
        int f = node_named(&m.g, "f");
        ck_assert_msg(interp_numel(&it, f) == v[i].n, "%s: %ld values, want %d", v[i].expr, interp_numel(&it, f), v[i].n);
        for (int k = 0; k < v[i].n; k++)
            ck_assert_msg(fabs(interp_value(&it, f)[k] - v[i].want[k]) < 1e-12, "%s[%d] = %.17g, want %g", v[i].expr,
                          k, interp_value(&it, f)[k], v[i].want[k]);
        interp_free(&it);
        net_free(&m);
    }
}
END_TEST

/* ---- batch norm: the training path (batch statistics) ---------------------------------- */
START_TEST(test_grad_batchnorm)
{
    static const Variant v[] = {
        {"batchnorm of [B, 3] features", "input X: f32[B, 2]; param P: [2, 3];", "batchnorm(X @ P)", "[B, 3]", ANY},
        {"momentum and eps given", "input X: f32[B, 3]; param P: [3, 2];", "batchnorm(tanh(X @ P), momentum=0.3, eps=0.01)",
         "[B, 2]", ANY},
        {"per channel of [B, C, H, W], after a conv", "input X: f32[B, 2, 3, 3]; param P: [3, 2, 2, 2];",
         "batchnorm(conv2d(X, P, pad=1))", "[B, 3, 4, 4]", ANY},
        {"conv -> batchnorm -> relu -> max_pool -> flatten -> softmax_cross_entropy",
         "input X: f32[B, 1, 4, 4]; label T: i32[B]; param P: [2, 1, 3, 3]; param Q: [8, 3];\n"
         "c = conv2d(X, P, pad=1);\nh = batchnorm(c);",
         "softmax_cross_entropy(flatten(max_pool(relu(h))) @ Q, T)", NULL, ANY},
    };
    CHECK("batchnorm", v);
}
END_TEST

/* Batch norm's values against figures worked out by hand, eps = 5:
 *   feature 0 over 4 rows: 0, 0, 4, 4: μ = 2, σ² = 4 (unbiased 16/3), σ = √(4 + 5) = 3,
 *     x̂ = -2/3, -2/3, 2/3, 2/3
 *   feature 1: 0, 6, 0, 6: μ = 3, σ² = 9 (unbiased 12), σ = √14, x̂ = ∓3/√14
 * with γ = [2, -1], β = [0.5, 1]: y = x̂·γ + β.  One update with momentum
 * 0.5 from mean 0, var 1: mean = [1, 1.5], var = [(1 + 16/3)/2, (1 + 12)/2].
 * Evaluation reads the running mean [1, -1] and var [4, 11] (σ = 3, 4):
 *   x̂0 = (x - 1)/3 = -1/3, -1/3, 1, 1;  x̂1 = (x + 1)/4 = 1/4, 7/4, 1/4, 7/4.
 * The same numbers laid out as images [2, 2, 1, 2] (each channel's m = n·H·W
 * = 4 values) give the same statistics. */
static void bn_values_check(const char *decl, const double *x, const int *at)
{
    char src[512];
    snprintf(src, sizeof src, "model bnv;\n%s\nh = batchnorm(X, momentum=0.5, eps=5);\n"
             "loss = sum(h * h);\nminimize loss;\n", decl);
    Net m;
    net_source(&m, src);
    static const double gamma[2] = {2, -1}, beta[2] = {0.5, 1};
    const double r14 = 3 / sqrt(14);
    const double xh[8] = {-2.0 / 3, -r14, -2.0 / 3, r14, 2.0 / 3, -r14, 2.0 / 3, r14}; /* row by row, [4, 2] */
    const double xe[8] = {-1.0 / 3, 0.25, -1.0 / 3, 1.75, 1, 0.25, 1, 1.75};
    const double mean1[2] = {1, 1.5}, var1[2] = {(1 + 16.0 / 3) / 2, 6.5};
    static const double run_mean[2] = {1, -1}, run_var[2] = {4, 11};
    for (int eval = 0; eval <= 1; eval++) {
        Interp it;
        interp_init(&it, &m.g, at ? 2 : 4);
        interp_init_params(&it, 7);
        int X = node_named(&m.g, "X"), f = node_named(&m.g, "h");
        int mean = node_named(&m.g, "h.mean"), var = node_named(&m.g, "h.var");
        ck_assert_msg(interp_value(&it, var)[1] == 1 && interp_value(&it, mean)[1] == 0, "running stats start at 0, 1");
        interp_set(&it, X, x);
        interp_set(&it, node_named(&m.g, "h.gamma"), gamma);
        interp_set(&it, node_named(&m.g, "h.beta"), beta);
        if (eval) {
            interp_set(&it, mean, run_mean);
            interp_set(&it, var, run_var);
        }
        it.eval = eval;
        interp_run(&it, eval ? STAGE_FORWARD : STAGE_UPDATE);
        for (int k = 0; k < 8; k++) { /* value k of the [4, 2] order: row k/2, feature k%2 */
            int i = at ? at[k] : k, feat = k % 2;
            double want = (eval ? xe : xh)[k] * gamma[feat] + beta[feat];
            ck_assert_msg(fabs(interp_value(&it, f)[i] - want) < 1e-12, "%s, %s: f[%d] = %.17g, want %.17g", decl,
                          eval ? "eval" : "train", i, interp_value(&it, f)[i], want);
        }
        for (int k = 0; k < 2; k++) { /* the update moves them in training; evaluation leaves them */
            double wm = eval ? run_mean[k] : mean1[k], wv = eval ? run_var[k] : var1[k];
            ck_assert_msg(fabs(interp_value(&it, mean)[k] - wm) < 1e-12 && fabs(interp_value(&it, var)[k] - wv) < 1e-12,
                          "%s, %s: running mean[%d] %.17g, var %.17g; want %.17g, %.17g", decl, eval ? "eval" : "train",
                          k, interp_value(&it, mean)[k], interp_value(&it, var)[k], wm, wv);
        }
        interp_free(&it);
    }
    net_free(&m);
}

START_TEST(test_batchnorm_values)
{
    static const double rows[8] = {0, 0, 0, 6, 4, 0, 4, 6}; /* [4, 2], row by row */
    bn_values_check("input X: f32[B, 2];", rows, NULL);
    /* [2, 2, 1, 2]: sample b, channel c, position w at b·4 + c·2 + w; row
     * k/2 of the [4, 2] order is (b, w) = (k/4, k/2 % 2), its feature c = k % 2 */
    static const double images[8] = {0, 0, 0, 6, 4, 4, 0, 6};
    static const int at[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    bn_values_check("input X: f32[B, 2, 1, 2];", images, at);
}
END_TEST

/* ---- nn ---------------------------------------------------------------------------- */
START_TEST(test_grad_softmax)
{
    static const Variant v[] = {
        {"softmax(P) [2,4]", "param P: [2, 4];", "softmax(P)", "[2, 4]", {.lo = -2, .hi = 2}},
        {"softmax(P, axis=-1)", "param P: [2, 4];", "softmax(P, axis=-1)", "[2, 4]", ANY},
        {"softmax(P, axis=1)", "param P: [2, 4];", "softmax(P, axis=1)", "[2, 4]", ANY},
        {"softmax of a vector [5]", "param P: [5];", "softmax(P)", "[5]", ANY},
        {"softmax rank 3 [2,3,4]", "param P: [2, 3, 4];", "softmax(P)", "[2, 3, 4]", ANY},
        {"softmax(X @ P) with rows", XB P23, "softmax(X @ P)", "[B, 3]", ANY},
    };
    CHECK("softmax", v);
}
END_TEST

START_TEST(test_grad_log_softmax)
{
    static const Variant v[] = {
        {"log_softmax(P) [2,4]", "param P: [2, 4];", "log_softmax(P)", "[2, 4]", {.lo = -2, .hi = 2}},
        {"log_softmax(P, axis=1)", "param P: [2, 4];", "log_softmax(P, axis=1)", "[2, 4]", ANY},
        {"log_softmax of a vector [5]", "param P: [5];", "log_softmax(P)", "[5]", ANY},
        {"log_softmax rank 3 [2,3,4]", "param P: [2, 3, 4];", "log_softmax(P)", "[2, 3, 4]", ANY},
        {"log_softmax(X @ P) with rows", XB P23, "log_softmax(X @ P)", "[B, 3]", ANY},
    };
    CHECK("log_softmax", v);
}
END_TEST

/* The mask is fixed between the runs of one check (it depends on
 * Interp.mask_seed and the node); it must drop some values and scale the
 * others by 1/keep. */
static void check_mask(const char *src, double keep)
{
    Net m;
    net_source(&m, src);
    Interp it;
    interp_init(&it, &m.g, ROWS);
    it.mask_seed = 12345;
    interp_run(&it, STAGE_FORWARD);
    int masks = 0;
    for (int i = 0; i < m.g.n; i++) {
        if (m.g.nodes[i].op != OP_DROPMASK)
            continue;
        long cnt = interp_numel(&it, i), zeros = 0;
        const double *v = interp_value(&it, i);
        for (long j = 0; j < cnt; j++) {
            ck_assert_msg(v[j] == 0 || fabs(v[j] - 1 / keep) < 1e-15, "dropout mask value %g, keep %g", v[j], keep);
            zeros += v[j] == 0;
        }
        ck_assert_msg(zeros > 0 && zeros < cnt, "dropout mask drops %ld of %ld values", zeros, cnt);
        masks++;
    }
    ck_assert_msg(masks == 1, "%d dropout masks, want 1", masks);
    interp_free(&it);
    net_free(&m);
}

START_TEST(test_grad_dropout)
{
    static const Variant v[] = {
        {"dropout(P, keep=0.5), fixed mask", "param P: [4, 5];", "dropout(P, keep=0.5)", "[4, 5]", ANY},
        {"dropout(X @ P), keep 0.8 by default", XB P23, "dropout(X @ P)", "[B, 3]", ANY},
        {"dropout(P, keep=1) is the identity", P23, "dropout(P, keep=1)", "[2, 3]", ANY},
    };
    CHECK("dropout", v);
    check_mask("model grad;\nparam P: [4, 5];\nparam R: [4, 5];\nloss = sum(dropout(P, keep=0.5) * R);\n"
               "minimize loss;\ntrain { freeze = [R]; }\n",
               0.5);
}
END_TEST

START_TEST(test_grad_linear)
{
    static const Variant v[] = {
        {"linear(X, W, b)", XB "param P: [2, 3]; param Q: [3];", "linear(X, P, Q)", "[B, 3]", ANY},
        {"linear(X, W) without bias", XB P23, "linear(X, P)", "[B, 3]", ANY},
        {"linear(P, Q, b) of params", "param P: [2, 3]; param Q: [3, 4]; param S: [4];", "linear(P, Q, S)", "[2, 4]", ANY},
        {"linear(X, W.T, b)", XB "param P: [3, 2]; param Q: [3];", "linear(X, P.T, Q)", "[B, 3]", ANY},
    };
    CHECK("linear", v);
}
END_TEST

/* ---- losses --------------------------------------------------------------------------- */
#define SCORES XB "param P: [2, 3]; param Q: [3];"
#define IDS "label T: i32[B];"
#define ONEHOT "label T: f32[B, 3];"

START_TEST(test_grad_softmax_cross_entropy)
{
    static const Variant v[] = {
        {"i32 class ids", SCORES IDS, "softmax_cross_entropy(X @ P + Q, T)", NULL, ANY},
        {"f32 one-hot rows", SCORES ONEHOT, "softmax_cross_entropy(X @ P + Q, T)", NULL, {.labels = LAB_ONEHOT}},
        {"f32 soft rows that sum to 1", SCORES ONEHOT, "softmax_cross_entropy(X @ P + Q, T)", NULL, {.labels = LAB_SOFT}},
        {"ids, loss scaled by 3 (dL != 1)", SCORES IDS, "3 * softmax_cross_entropy(X @ P + Q, T)", NULL, ANY},
        {"one-hot, loss plus another term", SCORES ONEHOT, "softmax_cross_entropy(X @ P + Q, T) * 0.5 + sum(P * P)", NULL,
         {.labels = LAB_ONEHOT}},
        {"ids, 5 classes, large scores", XB "param P: [2, 5];" IDS, "softmax_cross_entropy(X @ P, T)", NULL,
         {.lo = -8, .hi = 8, .classes = 5}},
    };
    CHECK("softmax_cross_entropy", v);
}
END_TEST

START_TEST(test_grad_nll)
{
    static const Variant v[] = {
        {"nll(log_softmax(y), ids)", SCORES IDS, "nll(log_softmax(X @ P + Q), T)", NULL, ANY},
        {"nll(log_softmax(y), one-hot)", SCORES ONEHOT, "nll(log_softmax(X @ P + Q), T)", NULL, {.labels = LAB_ONEHOT}},
        {"nll of raw scores, ids", SCORES IDS, "nll(X @ P + Q, T)", NULL, ANY},
        {"nll of raw scores, soft f32 rows", SCORES ONEHOT, "nll(X @ P + Q, T)", NULL, {.labels = LAB_UNIT}},
        {"ids, loss scaled by 2 (dL != 1)", SCORES IDS, "2 * nll(log_softmax(X @ P + Q), T)", NULL, ANY},
    };
    CHECK("nll", v);
}
END_TEST

START_TEST(test_grad_mse)
{
    static const Variant v[] = {
        {"mse(y, t) with rows", SCORES ONEHOT, "mse(X @ P + Q, T)", NULL, {.labels = LAB_UNIT}},
        {"mse(y, t) of one column", XB "param P: [2, 1]; label T: f32[B, 1];", "mse(X @ P, T)", NULL, {.labels = LAB_UNIT}},
        {"mse(P, Q) of two params", "param P: [2, 3]; param Q: [2, 3];", "mse(P, Q)", NULL, ANY},
    };
    CHECK("mse", v);
}
END_TEST

START_TEST(test_grad_sse)
{
    static const Variant v[] = {
        {"sse(y, t) with rows", SCORES ONEHOT, "sse(X @ P + Q, T)", NULL, {.labels = LAB_UNIT}},
        {"sse(P, Q) of two params", "param P: [2, 3]; param Q: [2, 3];", "sse(P, Q)", NULL, ANY},
    };
    CHECK("sse", v);
}
END_TEST

START_TEST(test_grad_bce)
{
    static const Variant v[] = {
        {"bce(sigmoid(y), 0/1 targets)", XB "param P: [2, 1]; label T: f32[B, 1];", "bce(sigmoid(X @ P), T)", NULL,
         {.labels = LAB_BINARY}},
        {"bce(sigmoid(y), soft targets), 3 columns", SCORES ONEHOT, "bce(sigmoid(X @ P + Q), T)", NULL, {.labels = LAB_UNIT}},
        {"bce(P, Q) of params in (0.1, 0.9)", "param P: [2, 3]; param Q: [2, 3];", "bce(P, Q)", NULL, {.lo = 0.1, .hi = 0.9}},
    };
    CHECK("bce", v);
}
END_TEST

START_TEST(test_grad_sigmoid_cross_entropy)
{
    static const Variant v[] = {
        {"0/1 targets, one column", XB "param P: [2, 1]; label T: f32[B, 1];", "sigmoid_cross_entropy(X @ P, T)", NULL,
         {.labels = LAB_BINARY}},
        {"soft targets, 3 columns", SCORES ONEHOT, "sigmoid_cross_entropy(X @ P + Q, T)", NULL, {.labels = LAB_UNIT}},
        {"large scores, both signs", XB "param P: [2, 1]; label T: f32[B, 1];", "sigmoid_cross_entropy(X @ P, T)", NULL,
         {.lo = -6, .hi = 6, .labels = LAB_BINARY}},
        {"loss scaled by 3 (dL != 1)", SCORES ONEHOT, "3 * sigmoid_cross_entropy(X @ P + Q, T)", NULL, {.labels = LAB_BINARY}},
    };
    CHECK("sigmoid_cross_entropy", v);
}
END_TEST

/* ---- layers ---------------------------------------------------------------------------- */
static void check_layer(const char *op, const char *what, const char *src, const Fill *f, uint64_t seed)
{
    Net m;
    net_source(&m, src);
    check_net(op, what, &m, f, seed);
    net_free(&m);
}

#define LAYER_TAIL "input R: f32[B, 3];\nloss = sum(h * R);\nminimize loss;\n"

START_TEST(test_grad_dense)
{
    static const struct {
        const char *what, *call;
    } v[] = {
        {"act none", "dense(X, 3)"},
        {"act sigmoid", "dense(X, 3, act=sigmoid)"},
        {"act tanh", "dense(X, 3, act=tanh)"},
        {"act relu", "dense(X, 3, act=relu)"},
        {"act leaky_relu", "dense(X, 3, act=leaky_relu)"},
        {"act softplus", "dense(X, 3, act=softplus)"},
        {"act elu", "dense(X, 3, act=elu)"},
        {"act silu", "dense(X, 3, act=silu)"},
        {"act gelu", "dense(X, 3, act=gelu)"},
        {"act softmax", "dense(X, 3, act=softmax)"},
        {"bias=false", "dense(X, 3, act=sigmoid, bias=false)"},
        {"keep=0.5 (dropout)", "dense(X, 3, act=tanh, keep=0.5)"},
        {"init=randn(std=1)", "dense(X, 3, act=sigmoid, init=randn(std=1))"},
    };
    tally_ops++;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char src[512];
        snprintf(src, sizeof src, "model grad;\ninput X: f32[B, 4];\nh = %s;\n" LAYER_TAIL, v[i].call);
        check_layer("dense", v[i].what, src, &any, 5000 + i);
    }
}
END_TEST

START_TEST(test_grad_mlp)
{
    static const struct {
        const char *what, *call;
    } v[] = {
        {"one layer", "mlp(X, [3])"},
        {"two layers, act sigmoid by default", "mlp(X, [5, 3])"},
        {"three layers, act tanh", "mlp(X, [4, 4, 3], act=tanh)"},
        {"two layers, act relu", "mlp(X, [6, 3], act=relu, init=randn(std=1))"},
    };
    tally_ops++;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char src[512];
        snprintf(src, sizeof src, "model grad;\ninput X: f32[B, 4];\nh = %s;\n" LAYER_TAIL, v[i].call);
        check_layer("mlp", v[i].what, src, &any, 6000 + i);
    }
    check_layer("mlp", "two layers, softmax cross-entropy",
                "model grad;\ninput X: f32[B, 4];\nlabel T: i32[B];\ny = mlp(X, [5, 3], act=tanh);\n"
                "loss = softmax_cross_entropy(y, T);\nminimize loss;\n",
                &any, 6100);
}
END_TEST

/* ---- what optimize rewrites keeps the gradient ------------------------------------------- */
START_TEST(test_grad_optimize_rewrites)
{
    static const Variant v[] = {
        {"P * 1 (identity)", P23, "P * 1", "[2, 3]", ANY},
        {"1 * P (identity)", P23, "1 * P", "[2, 3]", ANY},
        {"P + 0 (identity)", P23, "P + 0", "[2, 3]", ANY},
        {"0 + P (identity)", P23, "0 + P", "[2, 3]", ANY},
        {"P - 0 (identity)", P23, "P - 0", "[2, 3]", ANY},
        {"0 - P (no identity)", P23, "0 - P", "[2, 3]", ANY},
        {"P / 1 (identity)", P23, "P / 1", "[2, 3]", ANY},
        {"Q * 1 broadcast [1] to [2,3] (no identity)", "param Q: [1];", "Q * broadcast_to(1, [2, 3])", "[2, 3]", ANY},
        {"P * folded constant broadcast_to(2, [2,3])", P23, "P * broadcast_to(2, [2, 3])", "[2, 3]", ANY},
        {"P * exp(sum_to(broadcast_to(0.5, [4, 3]), [3])), folded", P23, "P * exp(sum_to(broadcast_to(0.5, [4, 3]), [3]))",
         "[2, 3]", ANY},
        {"CSE: sigmoid(P) * sigmoid(P)", P23, "sigmoid(P) * sigmoid(P)", "[2, 3]", ANY},
        {"CSE: tanh(X @ P) + tanh(X @ P)", XB P23, "tanh(X @ P) + tanh(X @ P)", "[B, 3]", ANY},
    };
    CHECK("optimize rewrites", v);
}
END_TEST

/* ---- IR ops the language does not write ------------------------------------------------ */

START_TEST(test_grad_pad)
{
    tally_ops++;
    for (int axis = 0; axis < 2; axis++) {
        Net m;
        net_hand(&m);
        int p = hand_leaf(&m, OP_PARAM, shp(2, 2, 3, 0), DT_F32, "P", 0);
        int pad = hand_raw(&m, OP_PAD, &p, 1);
        Node *n = graph_node(&m.g, pad);
        n->axis = axis;
        n->lo = 1;
        n->hi = axis == 0 ? 3 : 4;
        n->to = axis == 0 ? shp(2, 4, 3, 0) : shp(2, 2, 5, 0);
        hand_finish(&m, hand_infer(&m, pad));
        check_net("pad", axis == 0 ? "IR pad on axis 0" : "IR pad on axis 1", &m, &any, 300u + (uint64_t)axis);
        net_free(&m);
    }
}
END_TEST

START_TEST(test_grad_scatter_add)
{
    tally_ops++;
    Net m;
    net_hand(&m);
    int p = hand_leaf(&m, OP_PARAM, shp(2, 4, 3, 0), DT_F32, "P", 0);
    int idx = hand_leaf(&m, OP_CONST, shp(1, 4, 0, 0), DT_I32, "idx", 0);
    graph_node(&m.g, idx)->data = arena_alloc(&m.a, 4 * sizeof(double));
    memcpy(graph_node(&m.g, idx)->data, (double[]){2, 0, 2, 2}, 4 * sizeof(double));
    int sc = hand_raw(&m, OP_SCATTER_ADD, (int[]){p, idx}, 2);
    graph_node(&m.g, sc)->to = shp(2, 3, 3, 0);
    hand_finish(&m, hand_infer(&m, sc));
    check_net("scatter_add", "IR scatter_add with repeated indices", &m, &any, 400);
    net_free(&m);
}
END_TEST

/* sign and eq have a zero gradient: P + sign(P) and P * eq(P, Q) have the
 * gradient of P alone. */
START_TEST(test_grad_sign_eq)
{
    tally_ops++;
    Net m;
    net_hand(&m);
    int p = hand_leaf(&m, OP_PARAM, shp(2, 2, 3, 0), DT_F32, "P", 0);
    int q = hand_leaf(&m, OP_PARAM, shp(2, 2, 3, 0), DT_F32, "Q", 0);
    int f = hand_op(&m, OP_ADD, p, hand_op(&m, OP_SIGN, p, -1));
    f = hand_op(&m, OP_ADD, f, hand_op(&m, OP_MUL, q, hand_op(&m, OP_EQ, p, q)));
    hand_finish(&m, f);
    Fill away = {.kink = {0}, .n_kink = 1};
    check_net("sign, eq", "IR P + sign(P) + Q * (P == Q): zero gradients", &m, &away, 500);
    net_free(&m);
}
END_TEST

/* Every op of ops.h that has a VJP had it checked by one of the tests
 * above (they run first, in this process). */
START_TEST(test_grad_every_op)
{
    char missing[1024] = "";
    size_t u = 0;
    for (int op = 0; op < OP_COUNT; op++) {
        OpClass c = op_class((Op)op);
        int has_vjp = c == OPC_EW || c == OPC_RED || c == OPC_SHAPE || c == OPC_NN || c == OPC_LOSS;
        if (has_vjp && !op_checked[op] && u < sizeof missing)
            u += (size_t)snprintf(missing + u, sizeof missing - u, " %s", op_name((Op)op));
    }
    ck_assert_msg(u == 0, "ops whose gradient no test checked:%s", missing);
}
END_TEST

/* ---- the two-layer net against backprop by hand ----------------------------------------- */
#define TWO_SRC                                                               \
    "model twolayer;\nconst H = 3;\ninput x: f32[B, 2];\nlabel t: i32[B];\n"  \
    "param W1: [2, H] = randn(std=0.01);\nparam b1: [H] = zeros;\n"           \
    "param W2: [H, 3] = randn(std=0.01);\nparam b2: [3] = zeros;\n"           \
    "h = sigmoid(x @ W1 + b1);\ny = h @ W2 + b2;\n"                           \
    "loss = softmax_cross_entropy(y, t);\noutput y;\nminimize loss;\n"

static double rel(double a, double b) { return fabs(a - b) / fmax(1, fmax(fabs(a), fabs(b))); }

START_TEST(test_grad_twolayer_by_hand)
{
    enum { N = 2, D = 2, H = 3, K = 3 };
    static const double x[N][D] = {{0.3, -0.7}, {-1.2, 0.4}};
    static const int t[N] = {2, 0};
    static const double W1[D][H] = {{0.5, -0.3, 0.8}, {-0.6, 0.2, 0.1}};
    static const double b1[H] = {0.05, -0.1, 0.2};
    static const double W2[H][K] = {{0.7, -0.4, 0.3}, {-0.2, 0.9, -0.5}, {0.4, 0.1, -0.8}};
    static const double b2[K] = {-0.3, 0.1, 0.25};

    /* forward: z = x·W1 + b1, h = σ(z), y = h·W2 + b2, p = softmax(y) */
    double h[N][H], p[N][K], loss = 0;
    for (int r = 0; r < N; r++) {
        for (int j = 0; j < H; j++) {
            double z = b1[j];
            for (int i = 0; i < D; i++)
                z += x[r][i] * W1[i][j];
            h[r][j] = 1 / (1 + exp(-z));
        }
        double y[K], m = -INFINITY, s = 0;
        for (int k = 0; k < K; k++) {
            y[k] = b2[k];
            for (int j = 0; j < H; j++)
                y[k] += h[r][j] * W2[j][k];
            m = fmax(m, y[k]);
        }
        for (int k = 0; k < K; k++)
            s += exp(y[k] - m);
        for (int k = 0; k < K; k++)
            p[r][k] = exp(y[k] - m) / s;
        loss -= log(p[r][t[r]]) / N;
    }
    /* backward, by hand */
    double dy[N][K], dW2[H][K] = {{0}}, db2[K] = {0}, dz[N][H], dW1[D][H] = {{0}}, db1[H] = {0};
    for (int r = 0; r < N; r++)
        for (int k = 0; k < K; k++)
            dy[r][k] = (p[r][k] - (k == t[r])) / N;         /* dy = (softmax(y) - onehot)/n */
    for (int r = 0; r < N; r++)
        for (int k = 0; k < K; k++) {
            db2[k] += dy[r][k];                              /* db2 = Σ_rows dy */
            for (int j = 0; j < H; j++)
                dW2[j][k] += h[r][j] * dy[r][k];             /* dW2 = hᵀ·dy */
        }
    for (int r = 0; r < N; r++)
        for (int j = 0; j < H; j++) {
            double dh = 0;
            for (int k = 0; k < K; k++)
                dh += dy[r][k] * W2[j][k];                   /* dh = dy·W2ᵀ */
            dz[r][j] = dh * h[r][j] * (1 - h[r][j]);         /* dz = dh·h·(1-h) */
        }
    for (int r = 0; r < N; r++)
        for (int j = 0; j < H; j++) {
            db1[j] += dz[r][j];                              /* db1 = Σ_rows dz */
            for (int i = 0; i < D; i++)
                dW1[i][j] += x[r][i] * dz[r][j];             /* dW1 = xᵀ·dz */
        }

    Net m;
    net_source(&m, TWO_SRC);
    Graph *g = &m.g;
    Interp it;
    interp_init(&it, g, N);
    double tv[N] = {t[0], t[1]};
    interp_set(&it, node_named(g, "x"), &x[0][0]);
    interp_set(&it, node_named(g, "t"), tv);
    interp_set(&it, node_named(g, "W1"), &W1[0][0]);
    interp_set(&it, node_named(g, "b1"), b1);
    interp_set(&it, node_named(g, "W2"), &W2[0][0]);
    interp_set(&it, node_named(g, "b2"), b2);
    interp_run(&it, STAGE_BACKWARD);
    ck_assert_msg(rel(interp_value(&it, g->loss)[0], loss) < 1e-12, "twolayer: loss %.17g, by hand %.17g",
                  interp_value(&it, g->loss)[0], loss);
    const struct {
        const char *name;
        const double *want;
        int cnt;
    } grads[] = {{"W1", &dW1[0][0], D * H}, {"b1", db1, H}, {"W2", &dW2[0][0], H * K}, {"b2", db2, K}};
    double worst = 0;
    for (int k = 0; k < 4; k++) {
        int gid = g->grad[node_named(g, grads[k].name)];
        ck_assert_msg(gid >= 0, "twolayer: %s has no gradient", grads[k].name);
        const double *got = interp_value(&it, gid);
        for (int i = 0; i < grads[k].cnt; i++) {
            double e = rel(got[i], grads[k].want[i]);
            ck_assert_msg(e < 1e-12, "twolayer by hand: d%s[%d] = %.17g, by hand %.17g (error %.3g)", grads[k].name, i,
                          got[i], grads[k].want[i], e);
            worst = fmax(worst, e);
        }
    }
    interp_free(&it);
    net_free(&m);
    printf("twolayer by hand: dW1 db1 dW2 db2 agree, worst relative error %.2g\n", worst);
}
END_TEST

/* The backward graph is built from the rules docs/design.md names: MatMul's VJP
 * is two matmuls with transpose flags (no transpose node), the softmax
 * cross-entropy gradient is fused, a bias broadcast over rows is summed
 * back with sum_to, sum becomes broadcast_to, and x[idx] a scatter-add. */
static int backward_ops(const Graph *g, Op op)
{
    int n = 0;
    for (int i = g->n_forward; i < g->n; i++)
        n += g->nodes[i].op == op && g->nodes[i].stage == STAGE_BACKWARD;
    return n;
}

START_TEST(test_grad_rule_shapes)
{
    Net m;
    net_source(&m, TWO_SRC);
    Graph *g = &m.g;
    ck_assert_msg(backward_ops(g, OP_TRANSPOSE) == 0, "twolayer: the backward graph has transpose nodes");
    ck_assert_msg(backward_ops(g, OP_MATMUL) == 3, "twolayer: %d backward matmuls, want 3 (dW1, dW2, dh)",
                  backward_ops(g, OP_MATMUL));
    const Node *dh = &g->nodes[g->grad[node_named(g, "h")]], *dW2 = &g->nodes[g->grad[node_named(g, "W2")]];
    ck_assert_msg(dh->op == OP_MATMUL && !dh->ta && dh->tb, "twolayer: dh is not dy · W2ᵀ by flags");
    ck_assert_msg(dW2->op == OP_MATMUL && dW2->ta && !dW2->tb, "twolayer: dW2 is not hᵀ · dy by flags");
    ck_assert_msg(backward_ops(g, OP_SOFTMAX_CE_GRAD) == 1 && backward_ops(g, OP_SOFTMAX_GRAD) == 0,
                  "twolayer: the softmax cross-entropy gradient is not the fused one");
    ck_assert_msg(g->nodes[g->grad[node_named(g, "b1")]].op == OP_SUM_TO, "twolayer: db1 is not a sum_to");
    ck_assert_msg(g->nodes[g->grad[node_named(g, "b2")]].op == OP_SUM_TO, "twolayer: db2 is not a sum_to");
    net_free(&m);

    net_source(&m, "model r;\nparam P: [3, 4];\nparam R: [4, 4];\nparam S: [2, 4];\nparam T: [3];\n"
                   "loss = sum(P[[0, 2, 0, 0]] * R) + sum(P[0:2] * S) + sum(sum(P, axis=1) * T);\n"
                   "minimize loss;\ntrain { freeze = [R, S, T]; }\n");
    ck_assert_msg(backward_ops(&m.g, OP_SCATTER_ADD) == 1, "x[idx]: no scatter_add in the backward graph");
    ck_assert_msg(backward_ops(&m.g, OP_PAD) == 1, "x[i:j]: no pad in the backward graph");
    ck_assert_msg(backward_ops(&m.g, OP_BROADCAST_TO) >= 1, "sum: no broadcast_to in the backward graph");
    net_free(&m);
}
END_TEST

/* ---- weight sharing --------------------------------------------------------------------- */

/* The number of branch-rule adds that sum gradients of forward node `of`. */
static int branch_adds(const Graph *g, int of)
{
    int n = 0;
    for (int i = g->n_forward; i < g->n; i++)
        if (g->nodes[i].op == OP_ADD && g->nodes[i].grad_of == of && g->nodes[i].rule &&
            strstr(g->nodes[i].rule, "branch"))
            n++;
    return n;
}

START_TEST(test_grad_weight_sharing)
{
    static const struct {
        const char *what, *src, *shared;
        int adds;
    } v[] = {
        {"W in two layers: h = sigmoid(X @ W); y = h @ W",
         "model share;\ninput X: f32[B, 3];\nlabel T: i32[B];\nparam W: [3, 3];\n"
         "h = sigmoid(X @ W);\ny = h @ W;\nloss = softmax_cross_entropy(y, T);\nminimize loss;\n",
         "W", 1},
        {"W three times: y = X @ W + sigmoid(X) @ W + tanh(X) @ W",
         "model share;\ninput X: f32[B, 3];\ninput R: f32[B, 3];\nparam W: [3, 3];\n"
         "y = X @ W + sigmoid(X) @ W + tanh(X) @ W;\nloss = sum(y * R);\nminimize loss;\n",
         "W", 2},
        /* autodiff runs before CSE: it sees two matmuls, each adding to dW */
        {"y = x @ W + sigmoid(x @ W): x @ W written twice",
         "model share;\ninput X: f32[B, 3];\ninput R: f32[B, 3];\nparam W: [3, 3];\n"
         "y = X @ W + sigmoid(X @ W);\nloss = sum(y * R);\nminimize loss;\n",
         "W", 1},
        {"one value used twice: z = X @ W; y = z + sigmoid(z)",
         "model share;\ninput X: f32[B, 3];\ninput R: f32[B, 3];\nparam W: [3, 3];\n"
         "z = X @ W;\ny = z + sigmoid(z);\nloss = sum(y * R);\nminimize loss;\n",
         "z", 1},
        {"b used in two sums: y = X @ W + b; z = y * b",
         "model share;\ninput X: f32[B, 3];\ninput R: f32[B, 3];\nparam W: [3, 3];\nparam b: [3];\n"
         "y = X @ W + b;\nz = y * b;\nloss = sum(z * R);\nminimize loss;\n",
         "b", 1},
    };
    tally_ops++;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        Net m;
        net_source(&m, v[i].src);
        int shared = node_named(&m.g, v[i].shared);
        ck_assert_msg(shared < m.g.n_forward, "%s: %s is not a forward value", v[i].what, v[i].shared);
        int adds = branch_adds(&m.g, shared);
        ck_assert_msg(adds == v[i].adds, "weight sharing, %s: %d branch-rule adds for d%s, want %d", v[i].what, adds,
                      v[i].shared, v[i].adds);
        ck_assert_msg(m.g.nodes[m.g.grad[shared]].op == OP_ADD, "weight sharing, %s: d%s is not the branch sum",
                      v[i].what, v[i].shared);
        check_net("weight sharing", v[i].what, &m, &any, 7000 + i);
        net_free(&m);
    }
}
END_TEST

/* ---- DCE --------------------------------------------------------------------------------- */

/* Frozen params get no gradient and no update; what feeds only frozen
 * params and inputs gets no gradient either. */
START_TEST(test_dce_frozen_and_inputs)
{
    static const struct {
        const char *what, *freeze;
        const char *no_grad[6];
    } v[] = {
        {"nothing frozen", "", {"x", "t", NULL}},
        {"W1 frozen", "freeze = [W1];", {"x", "t", "W1", NULL}},
        {"the first layer frozen", "freeze = [W1, b1];", {"x", "t", "W1", "b1", "h", NULL}},
        {"the last layer frozen", "freeze = [W2, b2];", {"x", "t", "W2", "b2", NULL}},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char src[1024];
        snprintf(src, sizeof src, TWO_SRC "train { %s }\n", v[i].freeze);
        Net m;
        net_source(&m, src);
        Graph *g = &m.g;
        check_dce(g, v[i].what);
        for (int k = 0; v[i].no_grad[k]; k++) {
            int id = node_named(g, v[i].no_grad[k]);
            ck_assert_msg(g->grad[id] < 0, "DCE, %s: %s has a gradient node", v[i].what, v[i].no_grad[k]);
            for (int j = g->n_forward; j < g->n; j++) {
                ck_assert_msg(g->nodes[j].grad_of != id, "DCE, %s: node %d is a gradient of %s", v[i].what, j,
                              v[i].no_grad[k]);
                if (g->nodes[j].op == OP_STATE || op_class(g->nodes[j].op) == OPC_UPD)
                    ck_assert_msg(g->nodes[j].n_in == 0 || g->nodes[j].in[0] != id || g->nodes[j].op == OP_GRAD_NORM,
                                  "DCE, %s: %s is updated", v[i].what, v[i].no_grad[k]);
            }
        }
        Fill f = {0};
        check_net("dce", v[i].what, &m, &f, 8000 + i);
        net_free(&m);
    }
}
END_TEST

/* Every model in models/ lowers, differentiates, and keeps DCE's promise. */
START_TEST(test_dce_every_model)
{
    DIR *dir = opendir("models");
    ck_assert_msg(dir != NULL, "run the tests from the repository root (models/ not found)");
    struct dirent *e;
    int count = 0;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".nn") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "models/%s", e->d_name);
        Arena tmp;
        arena_init(&tmp);
        size_t n;
        char *src = read_file(&tmp, path, &n);
        ck_assert_msg(src != NULL, "cannot read %s", path);
        char *copy = strndup(src, n);
        arena_free(&tmp);
        Net m;
        net_source(&m, copy);
        check_dce(&m.g, path);
        int updates = 0;
        for (int i = 0; i < m.g.n; i++)
            updates += op_class(m.g.nodes[i].op) == OPC_UPD && m.g.nodes[i].op != OP_GRAD_NORM;
        ck_assert_msg(updates > 0, "%s: no update nodes", path);
        net_free(&m);
        free(copy);
        count++;
    }
    closedir(dir);
    ck_assert_msg(count > 0, "no models in models/");
}
END_TEST

static Suite *grad_suite(void)
{
    Suite *s = suite_create("grad");
    TCase *ops = tcase_create("every op");
    tcase_add_test(ops, test_grad_neg);
    tcase_add_test(ops, test_grad_exp);
    tcase_add_test(ops, test_grad_log);
    tcase_add_test(ops, test_grad_sqrt);
    tcase_add_test(ops, test_grad_sin);
    tcase_add_test(ops, test_grad_cos);
    tcase_add_test(ops, test_grad_abs);
    tcase_add_test(ops, test_grad_sigmoid);
    tcase_add_test(ops, test_grad_tanh);
    tcase_add_test(ops, test_grad_relu);
    tcase_add_test(ops, test_grad_leaky_relu);
    tcase_add_test(ops, test_activation_values);
    tcase_add_test(ops, test_grad_softplus);
    tcase_add_test(ops, test_grad_elu);
    tcase_add_test(ops, test_grad_silu);
    tcase_add_test(ops, test_grad_gelu);
    tcase_add_test(ops, test_grad_clip);
    tcase_add_test(ops, test_grad_pow);
    tcase_add_test(ops, test_grad_add);
    tcase_add_test(ops, test_grad_sub);
    tcase_add_test(ops, test_grad_mul);
    tcase_add_test(ops, test_grad_div);
    tcase_add_test(ops, test_grad_matmul);
    tcase_add_test(ops, test_grad_transpose);
    tcase_add_test(ops, test_grad_reshape);
    tcase_add_test(ops, test_grad_flatten);
    tcase_add_test(ops, test_grad_broadcast_to);
    tcase_add_test(ops, test_grad_sum_to);
    tcase_add_test(ops, test_grad_concat);
    tcase_add_test(ops, test_grad_index);
    tcase_add_test(ops, test_grad_gather);
    tcase_add_test(ops, test_grad_sum);
    tcase_add_test(ops, test_grad_mean);
    tcase_add_test(ops, test_grad_max);
    tcase_add_test(ops, test_grad_min);
    tcase_add_test(ops, test_grad_conv2d);
    tcase_add_test(ops, test_grad_conv);
    tcase_add_test(ops, test_grad_max_pool);
    tcase_add_test(ops, test_grad_avg_pool);
    tcase_add_test(ops, test_grad_images);
    tcase_add_test(ops, test_window_values);
    tcase_add_test(ops, test_grad_batchnorm);
    tcase_add_test(ops, test_batchnorm_values);
    tcase_add_test(ops, test_grad_softmax);
    tcase_add_test(ops, test_grad_log_softmax);
    tcase_add_test(ops, test_grad_dropout);
    tcase_add_test(ops, test_grad_linear);
    tcase_add_test(ops, test_grad_softmax_cross_entropy);
    tcase_add_test(ops, test_grad_nll);
    tcase_add_test(ops, test_grad_mse);
    tcase_add_test(ops, test_grad_sse);
    tcase_add_test(ops, test_grad_bce);
    tcase_add_test(ops, test_grad_sigmoid_cross_entropy);
    tcase_add_test(ops, test_grad_dense);
    tcase_add_test(ops, test_grad_mlp);
    tcase_add_test(ops, test_grad_optimize_rewrites);
    tcase_add_test(ops, test_grad_pad);
    tcase_add_test(ops, test_grad_scatter_add);
    tcase_add_test(ops, test_grad_sign_eq);
    tcase_add_test(ops, test_grad_weight_sharing);
    tcase_add_test(ops, test_grad_every_op); /* last: it reads what the others checked */
    tcase_set_timeout(ops, 60);
    suite_add_tcase(s, ops);

    TCase *hand = tcase_create("by hand");
    tcase_add_test(hand, test_grad_twolayer_by_hand);
    tcase_add_test(hand, test_grad_rule_shapes);
    suite_add_tcase(s, hand);

    TCase *dce = tcase_create("dce");
    tcase_add_test(dce, test_dce_frozen_and_inputs);
    tcase_add_test(dce, test_dce_every_model);
    suite_add_tcase(s, dce);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(grad_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    int ir_ops = 0;
    for (int op = 0; op < OP_COUNT; op++)
        ir_ops += op_checked[op];
    printf("gradient check: %d ops (%d IR ops), %d variants, worst relative error %.2g (%s)\n", tally_ops, ir_ops,
           tally_variants, tally_worst, tally_where[0] ? tally_where : "-");
    return failed != 0;
}
