/* test_fold.c: what folding (optimize.c) leaves for the plan and the
 * emitters, on small models run through the pipeline of main.c (sema,
 * optimize, autodiff, optimize, plan):
 *
 *   - every param gradient that an update reads is written by a backward
 *     step of its own: a backward node that is not a leaf, in the gradient
 *     block (SC_GRAD), scheduled among the backward steps, and the one
 *     g->grad names for the param (the emitted params table points there).
 *     The models make gradients that fold to constants (uniform or not, one
 *     element or many), the seed dL/dL itself, another param, a forward
 *     value, and a gradient two params share; with clipping, grad_norm
 *     reads the written gradients.
 *   - no folded constant has more than 4096 elements: broadcast_to(2,
 *     [3000, 3000]) stays a broadcast of a scalar (a fill), and optimize
 *     takes well under a second on it.
 *   - a one-element constant that an op reads from memory (matmul, concat,
 *     a copy, ...) has a buffer (SC_CONST); one read only as a value in an
 *     expression has none (SC_NONE).
 */
#include "graph.h"
#include "plan.h"

#include <check.h>
#include <string.h>
#include <time.h>

typedef struct Net {
    Arena a;
    Graph g;
    Plan p;
} Net;

static const char *const tail = "output y;\nminimize loss;\n"
                                "train { data = spiral(classes=3, points=10, seed=1); optimizer = %s; batch = 5; }\n";

/* Builds the model whose params and loss are `body`, x and t declared and
 * y = mlp(x) defined; opt is the optimizer. */
static void net_build(Net *m, const char *body, const char *opt)
{
    char src[4096], t[1024];
    snprintf(t, sizeof t, tail, opt);
    snprintf(src, sizeof src, "model fold;\ninput x: f32[B, 2];\nlabel t: i32[B];\ny = mlp(x, [4, 3], act=sigmoid);\n%s\n%s", body, t);
    arena_init(&m->a);
    graph_init(&m->g, &m->a);
    char *msgs = NULL;
    size_t len = 0;
    FILE *sink = open_memstream(&msgs, &len);
    ck_assert(sink != NULL);
    Diag d;
    diag_init(&d, sink, "fold.nn", src, strlen(src));
    Program *p = parse_program(&m->a, &d, "fold.nn", src, strlen(src));
    if (p && d.errors == 0)
        sema_lower(&m->g, &d, p, 0);
    fclose(sink);
    int clean = p && d.errors == 0;
    if (!clean) {
        static char report[4096];
        snprintf(report, sizeof report, "%s", msgs);
        free(msgs);
        ck_abort_msg("the model does not compile:\n%s\n%s", src, report);
    }
    free(msgs);
    optimize(&m->g);
    autodiff(&m->g);
    optimize(&m->g);
    plan_build(&m->p, &m->g, &m->a, 0);
}

static int param_named(const Graph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_PARAM && strcmp(g->nodes[i].name, name) == 0)
            return i;
    ck_abort_msg("no param %s", name);
    return -1;
}

static int is_update(Op op) { return op_class(op) == OPC_UPD && op != OP_GRAD_NORM; }

/* The invariant: each update's gradient is a backward step's own result in
 * the gradient block.  Returns the number of updates. */
static int check_grads_written(const Net *m)
{
    const Graph *g = &m->g;
    int updates = 0;
    for (int u = 0; u < g->n; u++) {
        const Node *un = &g->nodes[u];
        if (un->op == OP_GRAD_NORM)
            for (int k = 0; k < un->n_in; k++)
                ck_assert_msg(m->p.buf[un->in[k]].cls == SC_GRAD, "grad_norm reads %s, not a gradient in the block",
                              g->nodes[un->in[k]].name);
        if (!is_update(un->op))
            continue;
        updates++;
        int p = un->in[0], d = un->in[1];
        const Node *dn = &g->nodes[d];
        const char *pname = g->nodes[p].name;
        ck_assert_msg(op_class(dn->op) != OPC_LEAF, "the gradient of %s is a %s: nothing writes it", pname,
                      op_name(dn->op));
        ck_assert_msg(dn->stage == STAGE_BACKWARD, "the gradient of %s is not a backward step", pname);
        ck_assert_msg(m->p.buf[d].cls == SC_GRAD, "the gradient of %s is not in the gradient block", pname);
        int s = m->p.step_of[d];
        ck_assert_msg(s >= m->p.fwd_end && s < m->p.bwd_end, "the gradient of %s runs at step %d, outside the "
                      "backward steps [%d, %d)", pname, s, m->p.fwd_end, m->p.bwd_end);
        ck_assert_msg(g->grad[p] == d, "g->grad names node %d for %s, the update reads %d", g->grad[p], pname, d);
    }
    return updates;
}

START_TEST(test_fold_grad_constants)
{
    /* P, Q: gradients that fold (Q's to the constants [1, 1, 2]); s: the
     * seed; a, b: each other; c: a forward value (the loss of y); e, f:
     * one shared constant gradient */
    static const char *const bodies[] = {
        "param P: [30, 10] = zeros;\nloss = softmax_cross_entropy(y, t) + sum(P);",
        "param P: [300, 100] = zeros;\nloss = softmax_cross_entropy(y, t) + 0.5 * sum(P);",
        "param Q: [3] = zeros;\n"
        "loss = softmax_cross_entropy(y, t) + sum(Q * concat([broadcast_to(1.0, [2]), broadcast_to(2.0, [1])], 0));",
        "param s: [] = zeros;\nloss = softmax_cross_entropy(y, t) + s;",
        "param a: [] = ones;\nparam b: [] = ones;\nloss = softmax_cross_entropy(y, t) + a * b;",
        "param c: [] = ones;\nloss = softmax_cross_entropy(y, t) * c;",
        "param e: [2] = zeros;\nparam f: [2] = zeros;\nloss = softmax_cross_entropy(y, t) + sum(e) + sum(f);",
        "param C: [3, 1] = zeros;\nloss = softmax_cross_entropy(y, t) + sum(C @ reshape(2.0, [1, 1]));",
    };
    static const char *const opts[] = {"sgd(lr=0.1)", "adam(lr=0.01)"};
    for (size_t b = 0; b < sizeof bodies / sizeof *bodies; b++)
        for (int o = 0; o < 2; o++) {
            for (int clip = 0; clip < 2; clip++) {
                char opt[128];
                snprintf(opt, sizeof opt, "%s; clip_grad = %s", opts[o], clip ? "1.0" : "0");
                Net m;
                net_build(&m, bodies[b], opt);
                int updates = check_grads_written(&m);
                ck_assert_msg(updates >= 5, "model %zu: %d updates", b, updates); /* the mlp's four, and more */
                arena_free(&m.a);
            }
        }
}
END_TEST

/* A constant gradient becomes a fill (broadcast_to of its one value), one
 * whose values differ a copy (reshape) of the constant. */
START_TEST(test_fold_grad_fill_and_copy)
{
    Net m;
    net_build(&m, "param P: [30, 10] = zeros;\nparam Q: [3] = zeros;\n"
                  "loss = softmax_cross_entropy(y, t) + 3 * sum(P) + "
                  "sum(Q * concat([broadcast_to(1.0, [2]), broadcast_to(2.0, [1])], 0));",
              "sgd(lr=0.1)");
    const Graph *g = &m.g;
    const Node *dp = &g->nodes[g->grad[param_named(g, "P")]], *dq = &g->nodes[g->grad[param_named(g, "Q")]];
    ck_assert_int_eq(dp->op, OP_BROADCAST_TO);
    const Node *v = &g->nodes[dp->in[0]];
    ck_assert(v->op == OP_CONST && v->shape.rank == 0 && v->data[0] == 3);
    ck_assert_int_eq(dq->op, OP_RESHAPE);
    const Node *w = &g->nodes[dq->in[0]];
    ck_assert(w->op == OP_CONST && w->shape.rank == 1 && w->shape.d[0] == 3);
    ck_assert(w->data[0] == 1 && w->data[1] == 1 && w->data[2] == 2);
    ck_assert_int_eq(m.p.buf[dq->in[0]].cls, SC_CONST);
    arena_free(&m.a);
}
END_TEST

START_TEST(test_fold_cap)
{
    Net m;
    clock_t t0 = clock();
    net_build(&m, "param P: [3000, 1] = zeros;\n"
                  "loss = softmax_cross_entropy(y, t) + sum(P * broadcast_to(2.0, [3000, 3000]));",
              "sgd(lr=0.1)");
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    const Graph *g = &m.g;
    int fills = 0;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->op == OP_CONST)
            ck_assert_msg(shape_numel(n->shape, 1) <= 4096, "a folded constant of %ld elements",
                          shape_numel(n->shape, 1));
        if (n->op == OP_BROADCAST_TO && n->shape.rank == 2 && n->shape.d[0] == 3000 && n->shape.d[1] == 3000 &&
            g->nodes[n->in[0]].op == OP_CONST)
            fills++;
    }
    ck_assert_msg(fills >= 1, "broadcast_to(2.0, [3000, 3000]) is gone");
    ck_assert_msg(secs < 1.0, "the pipeline took %.2f s", secs);
    check_grads_written(&m);
    arena_free(&m.a);
}
END_TEST

/* The readers of a one-element constant decide whether it needs a buffer. */
START_TEST(test_fold_scalar_const_storage)
{
    Net m;
    net_build(&m, "param C: [3, 1] = zeros;\nparam R: [3] = zeros;\n"
                  "loss = softmax_cross_entropy(y, t) + sum(C @ reshape(2.0, [1, 1])) + "
                  "sum(concat([reshape(5.0, [1]), R], 0)) + sum(R * 7.0);",
              "sgd(lr=0.1)");
    const Graph *g = &m.g;
    int seen = 0;
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_CONST || shape_numel(n->shape, 1) != 1)
            continue;
        if (n->data[0] == 2 || n->data[0] == 5) { /* read by matmul, by concat */
            ck_assert_msg(m.p.buf[i].cls == SC_CONST, "the constant %g read from memory has no buffer", n->data[0]);
            seen++;
        } else if (n->data[0] == 7) { /* read by a product only */
            ck_assert_msg(m.p.buf[i].cls == SC_NONE, "the constant 7, a literal, has a buffer");
            seen++;
        }
    }
    ck_assert_int_ge(seen, 3);
    arena_free(&m.a);
}
END_TEST

static Suite *fold_suite(void)
{
    Suite *s = suite_create("fold");
    TCase *tc = tcase_create("folding");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fold_grad_constants);
    tcase_add_test(tc, test_fold_grad_fill_and_copy);
    tcase_add_test(tc, test_fold_cap);
    tcase_add_test(tc, test_fold_scalar_const_storage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fold_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
