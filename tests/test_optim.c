/* test_optim.c: the update stage (autodiff.c builds it, interp.c runs it)
 * against the optimizers' published formulas, written out again here
 * (DeZero's SGD, MomentumSGD, AdaGrad, AdaDelta, Adam):
 *
 *   sgd       p -= lr·g
 *   momentum  v = μ·v - lr·g;  p += v
 *   adagrad   h += g²;  p -= lr·g / (√h + ε)
 *   adadelta  msg = ρ·msg + (1-ρ)·g²;  Δ = √((msdx + ε) / (msg + ε))·g;
 *             msdx = ρ·msdx + (1-ρ)·Δ²;  p -= Δ
 *   adam      m += (1-β1)·(g - m);  v += (1-β2)·(g² - v);
 *             lr_t = lr·√(1-β2^t) / (1-β1^t);  p -= lr_t·m / (√v + ε)
 *
 * with the gradient g first clipped by the global norm over every trained
 * param's gradient (scale = clip / (norm + 1e-6) when norm > clip, as
 * PyTorch's clip_grad_norm_), then weight decay added (g + wd·p, L2 as in
 * PyTorch's weight_decay, not AdamW's decoupled form).
 *
 * Each optimizer runs three steps, alone, with weight decay, with clipping
 * that bites, with both, and with clipping that does not bite; after every
 * step the params and the optimizer state must match the formulas to
 * 1e-12, and a frozen param must not move at all.  The gradient each step
 * uses is the one the interpreter's backward pass computed (test_grad.c
 * checks it).  The learning rate comes from Interp.lr (a schedule sets it
 * per step): step 3 halves it.
 */
#include "graph.h"
#include "interp.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define ROWS 4
#define STEPS 3
#define TOL 1e-12

typedef struct Net {
    Arena a;
    Graph g;
} Net;

static void net_source(Net *m, const char *src)
{
    arena_init(&m->a);
    graph_init(&m->g, &m->a);
    char *msgs = NULL;
    size_t len = 0;
    FILE *sink = open_memstream(&msgs, &len);
    ck_assert(sink != NULL);
    Diag d;
    diag_init(&d, sink, "optim.nn", src, strlen(src));
    Program *p = parse_program(&m->a, &d, "optim.nn", src, strlen(src));
    if (p && d.errors == 0)
        sema_lower(&m->g, &d, p, 0);
    fclose(sink);
    int clean = p && d.errors == 0 && d.warnings == 0;
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

static int node_named(const Graph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- the optimizers, as published ------------------------------------------ */
typedef struct Hyper {
    OptKind opt;
    double lr, mu, eps, rho, beta1, beta2, wd, clip;
} Hyper;

/* One param's state, in the test's own arrays. */
typedef struct Slot {
    double *p, *s1, *s2; /* s1: v, h, msg, m;  s2: msdx, v */
    long cnt;
} Slot;

static void step_one(const Hyper *h, Slot *s, const double *grad, double scale, double lr, long t)
{
    for (long i = 0; i < s->cnt; i++) {
        double g = grad[i] * scale + h->wd * s->p[i];
        switch (h->opt) {
        case OPT_SGD:
            s->p[i] -= lr * g;
            break;
        case OPT_MOMENTUM: /* v = μ·v - lr·g; p += v */
            s->s1[i] = h->mu * s->s1[i] - lr * g;
            s->p[i] += s->s1[i];
            break;
        case OPT_ADAGRAD: /* h += g²; p -= lr·g/(√h+ε) */
            s->s1[i] += g * g;
            s->p[i] -= lr * g / (sqrt(s->s1[i]) + h->eps);
            break;
        case OPT_ADADELTA: { /* msg, Δ, msdx, p -= Δ */
            s->s1[i] = h->rho * s->s1[i] + (1 - h->rho) * g * g;
            double dx = sqrt((s->s2[i] + h->eps) / (s->s1[i] + h->eps)) * g;
            s->s2[i] = h->rho * s->s2[i] + (1 - h->rho) * dx * dx;
            s->p[i] -= dx;
            break;
        }
        case OPT_ADAM: { /* m, v, lr_t, p -= lr_t·m/(√v+ε) */
            s->s1[i] += (1 - h->beta1) * (g - s->s1[i]);
            s->s2[i] += (1 - h->beta2) * (g * g - s->s2[i]);
            double lr_t = lr * sqrt(1 - pow(h->beta2, (double)t)) / (1 - pow(h->beta1, (double)t));
            s->p[i] -= lr_t * s->s1[i] / (sqrt(s->s2[i]) + h->eps);
            break;
        }
        }
    }
}

/* ---- the check -------------------------------------------------------------- */
static const char *const slot_names[][2] = {{NULL, NULL}, {"v", NULL}, {"h", NULL}, {"msg", "msdx"}, {"m", "v"}};

typedef struct Case {
    const char *optimizer; /* the train block's optimizer = ... */
    const char *extra;     /* more of the train block */
    Hyper h;
    int clip_bites;        /* the first step's norm exceeds clip_grad */
} Case;

static double rel(double a, double b) { return fabs(a - b) / fmax(1, fmax(fabs(a), fabs(b))); }

static void compare(const char *what, const char *name, long step, const double *got, const double *want, long cnt)
{
    for (long i = 0; i < cnt; i++)
        ck_assert_msg(rel(got[i], want[i]) < TOL, "%s, step %ld: %s[%ld] = %.17g, by the formula %.17g (error %.3g)", what,
                      step, name, i, got[i], want[i], rel(got[i], want[i]));
}

/* The update stage's shape: one update node per trained param, of the
 * optimizer's op, with its state slots; none for the frozen param; a
 * grad_norm node over every trained gradient when clipping is on. */
static void check_structure(const Graph *g, const Case *c, const char *what)
{
    static const Op ops[] = {OP_SGD, OP_MOMENTUM, OP_ADAGRAD, OP_ADADELTA, OP_ADAM};
    int updates = 0, norms = 0;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_GRAD_NORM) {
            norms++;
            ck_assert_msg(n->n_in == 2, "%s: grad_norm over %d gradients, want 2 (W, b)", what, n->n_in);
        } else if (op_class(n->op) == OPC_UPD) {
            updates++;
            ck_assert_msg(n->op == ops[c->h.opt], "%s: update op %s", what, op_name(n->op));
            ck_assert_msg(g->nodes[n->in[0]].op == OP_PARAM && !g->nodes[n->in[0]].frozen, "%s: %s updates %s", what,
                          n->name, g->nodes[n->in[0]].name);
            ck_assert_msg(n->in[1] == g->grad[n->in[0]], "%s: %s does not read the gradient of its param", what, n->name);
            ck_assert_msg(n->clip == (c->h.clip > 0), "%s: %s clip flag %d", what, n->name, n->clip);
        } else if (n->op == OP_STATE) {
            ck_assert_msg(!g->nodes[n->state_of].frozen, "%s: the frozen param has optimizer state", what);
        }
    }
    ck_assert_msg(updates == 2, "%s: %d update nodes, want 2 (W, b; F is frozen)", what, updates);
    ck_assert_msg(norms == (c->h.clip > 0), "%s: %d grad_norm nodes", what, norms);
}

static void run_case(const Case *c)
{
    char src[1024], what[256];
    snprintf(src, sizeof src,
             "model optim;\ninput x: f32[B, 3];\nlabel t: i32[B];\n"
             "param W: [3, 4];\nparam b: [4];\nparam F: [3, 4];\n"
             "y = x @ W + b + x @ F;\nloss = softmax_cross_entropy(y, t);\nminimize loss;\n"
             "train { optimizer = %s; freeze = [F]; %s }\n",
             c->optimizer, c->extra);
    snprintf(what, sizeof what, "%s %s", c->optimizer, c->extra[0] ? c->extra : "(plain)");
    Net m;
    net_source(&m, src);
    Graph *g = &m.g;
    check_structure(g, c, what);
    Interp it;
    interp_init(&it, g, ROWS);
    static const double x[ROWS * 3] = {0.5, -1.0, 0.25, 1.5, 0.3, -0.7, -0.2, 0.8, 1.1, 0.9, -1.3, 0.4};
    static const double t[ROWS] = {0, 2, 3, 1};
    double W[12], b[4], F[12];
    for (int i = 0; i < 12; i++) {
        W[i] = sin(1.7 * i + 0.3);
        F[i] = cos(0.9 * i);
    }
    for (int i = 0; i < 4; i++)
        b[i] = 0.1 * i - 0.15;
    int ids[3] = {node_named(g, "W"), node_named(g, "b"), node_named(g, "F")};
    interp_set(&it, node_named(g, "x"), x);
    interp_set(&it, node_named(g, "t"), t);
    interp_set(&it, ids[0], W);
    interp_set(&it, ids[1], b);
    interp_set(&it, ids[2], F);

    double zeros[2][2][12] = {{{0}}};
    Slot ref[2] = {{W, zeros[0][0], zeros[0][1], 12}, {b, zeros[1][0], zeros[1][1], 4}};
    const char *pname[2] = {"W", "b"};
    for (long step = 1; step <= STEPS; step++) {
        double lr = step == 3 ? c->h.lr / 2 : c->h.lr;
        it.lr = lr;
        it.step = step;
        interp_run(&it, STAGE_UPDATE);
        /* the gradients this step used: the backward values, computed before the update */
        const double *grad[2] = {interp_value(&it, g->grad[ids[0]]), interp_value(&it, g->grad[ids[1]])};
        double sq = 0;
        for (int k = 0; k < 2; k++)
            for (long i = 0; i < ref[k].cnt; i++)
                sq += grad[k][i] * grad[k][i];
        double norm = sqrt(sq), scale = c->h.clip > 0 && norm > c->h.clip ? c->h.clip / (norm + 1e-6) : 1;
        if (step == 1)
            ck_assert_msg((scale < 1) == c->clip_bites, "%s: gradient norm %g against clip_grad %g", what, norm, c->h.clip);
        for (int k = 0; k < 2; k++) {
            step_one(&c->h, &ref[k], grad[k], scale, lr, step);
            compare(what, pname[k], step, interp_value(&it, ids[k]), ref[k].p, ref[k].cnt);
            for (int s = 0; s < 2 && slot_names[c->h.opt][s]; s++) {
                char state[64];
                snprintf(state, sizeof state, "opt.%s.%s", pname[k], slot_names[c->h.opt][s]);
                int sid = node_named(g, state);
                ck_assert_msg(sid >= 0 && g->nodes[sid].op == OP_STATE, "%s: no state %s", what, state);
                compare(what, state, step, interp_value(&it, sid), s == 0 ? ref[k].s1 : ref[k].s2, ref[k].cnt);
            }
        }
        ck_assert_msg(memcmp(interp_value(&it, ids[2]), F, sizeof F) == 0, "%s, step %ld: the frozen F moved", what, step);
    }
    interp_free(&it);
    arena_free(&m.a);
}

/* Every optimizer with: nothing, weight decay, clipping that bites, both,
 * and clipping that does not bite. */
static void run_optimizer(const char *optimizer, Hyper h)
{
    static const struct {
        const char *extra;
        double wd, clip;
        int bites;
    } mods[] = {
        {"", 0, 0, 0},
        {"weight_decay = 0.01;", 0.01, 0, 0},
        {"clip_grad = 0.05;", 0, 0.05, 1},
        {"clip_grad = 0.05; weight_decay = 0.1;", 0.1, 0.05, 1},
        {"clip_grad = 100;", 0, 100, 0},
    };
    for (size_t k = 0; k < sizeof mods / sizeof mods[0]; k++) {
        Case c = {optimizer, mods[k].extra, h, mods[k].bites};
        c.h.wd = mods[k].wd;
        c.h.clip = mods[k].clip;
        run_case(&c);
    }
}

START_TEST(test_optim_sgd)
{
    run_optimizer("sgd(lr=0.5)", (Hyper){.opt = OPT_SGD, .lr = 0.5});
}
END_TEST

START_TEST(test_optim_momentum)
{
    run_optimizer("momentum(lr=0.1, momentum=0.8)", (Hyper){.opt = OPT_MOMENTUM, .lr = 0.1, .mu = 0.8});
    run_optimizer("momentum(lr=0.05)", (Hyper){.opt = OPT_MOMENTUM, .lr = 0.05, .mu = 0.9});
}
END_TEST

START_TEST(test_optim_adagrad)
{
    run_optimizer("adagrad(lr=0.1, eps=1e-4)", (Hyper){.opt = OPT_ADAGRAD, .lr = 0.1, .eps = 1e-4});
    run_optimizer("adagrad()", (Hyper){.opt = OPT_ADAGRAD, .lr = 0.001, .eps = 1e-8});
}
END_TEST

START_TEST(test_optim_adadelta)
{
    run_optimizer("adadelta(rho=0.9, eps=1e-4)", (Hyper){.opt = OPT_ADADELTA, .rho = 0.9, .eps = 1e-4});
    run_optimizer("adadelta()", (Hyper){.opt = OPT_ADADELTA, .rho = 0.95, .eps = 1e-6});
}
END_TEST

START_TEST(test_optim_adam)
{
    run_optimizer("adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6)",
                  (Hyper){.opt = OPT_ADAM, .lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6});
    run_optimizer("adam()", (Hyper){.opt = OPT_ADAM, .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
}
END_TEST

/* One Adam step moves every weight by about lr (the bias correction makes
 * m/√v = ±1 at t = 1): a check of the formula that needs no reference. */
START_TEST(test_optim_adam_first_step_is_lr)
{
    Case c = {"adam(lr=0.01)", "", {.opt = OPT_ADAM, .lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}, 0};
    Net m;
    char src[512];
    snprintf(src, sizeof src,
             "model optim;\ninput x: f32[B, 3];\nlabel t: i32[B];\nparam W: [3, 4] = randn(std=1);\n"
             "y = x @ W;\nloss = softmax_cross_entropy(y, t);\nminimize loss;\ntrain { optimizer = %s; }\n",
             c.optimizer);
    net_source(&m, src);
    Interp it;
    interp_init(&it, &m.g, ROWS);
    interp_init_params(&it, 42);
    static const double x[ROWS * 3] = {0.5, -1.0, 0.25, 1.5, 0.3, -0.7, -0.2, 0.8, 1.1, 0.9, -1.3, 0.4};
    static const double t[ROWS] = {0, 2, 3, 1};
    interp_set(&it, node_named(&m.g, "x"), x);
    interp_set(&it, node_named(&m.g, "t"), t);
    int w = node_named(&m.g, "W");
    double before[12];
    memcpy(before, interp_value(&it, w), sizeof before);
    it.step = 1;
    interp_run(&it, STAGE_UPDATE);
    for (int i = 0; i < 12; i++) {
        double moved = fabs(interp_value(&it, w)[i] - before[i]);
        ck_assert_msg(fabs(moved - 0.01) < 1e-6, "adam step 1 moved W[%d] by %g, want lr = 0.01", i, moved);
    }
    interp_free(&it);
    arena_free(&m.a);
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("update stage");
    tcase_add_test(tc, test_optim_sgd);
    tcase_add_test(tc, test_optim_momentum);
    tcase_add_test(tc, test_optim_adagrad);
    tcase_add_test(tc, test_optim_adadelta);
    tcase_add_test(tc, test_optim_adam);
    tcase_add_test(tc, test_optim_adam_first_step_is_lr);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(optim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
