/* test_e2e_interp.c: the emitted C program against the reference interpreter.
 *
 * For each model below, the first 20 training steps of the program that
 * nnc emits are run in float, and the same 20 steps of the same graph are
 * run by the reference interpreter (interp.c) in double, from the same
 * initial params on the same batches; the 20 losses must agree within
 * 1e-4, relative (to max(|loss|, 1e-3)).
 *
 * The emitted side: the test runs `build/nnc MODEL -o DIR/NAME.c` and
 * builds tests/e2e/step_driver.c around that file.  The driver #includes
 * it whole, renames its main and catches its call to nnrt_main(), so the
 * emitted main fills in its NnrtModel as for a real run; the driver then
 * loads the data with nnrt_data_load, calls the model's own init(seed),
 * prints the params, and runs gather -> forward(TRAIN) -> backward ->
 * update(lr, k) on the first full batches in the order the trainer takes
 * them (the runtime's per-epoch permutation: seeded by seed + epoch when
 * the model shuffles), printing each step's loss (%.9g).
 *
 * The reference side: this test parses the model and builds the graph
 * through the compiler library (parse_program, sema_lower, autodiff, and
 * optimize for one of the two runs), sets each PARAM node to the printed
 * initial values (by name), loads the data with the same runtime calls
 * from the train block as sema resolved it (not from what the emitter
 * wrote), takes the batches in the same order (nnrt_shuffle with the train
 * block's seed and shuffle flag), and runs interp_run(STAGE_UPDATE) per
 * step with lr from the train block (nnrt_lr_at over epochs of rows/B
 * steps) and step = k.
 *
 * Why this is an independent check of the emitter: the two sides share
 * only the graph, the runtime's data loading and the elementwise formulas
 * of ops.h (one C expression an op, compiled in double here and printed
 * for floats there; test_grad.c checks each against finite differences
 * and the newer activations' values against independent figures).  Everything that stands
 * between the graph and the numbers of the emitted program -- the memory
 * plan (offsets, in-place reuse, buffer lifetimes), fusion of elementwise
 * chains and of softmax+cross-entropy, the GEMM calls with their transpose
 * flags and leading dimensions, the emitted backward and optimizer loops,
 * the constants and train-block settings written into main -- is absent
 * from the interpreter, which evaluates node by node in double with plain
 * loops written a second time (matmul, reductions, softmax, losses,
 * optimizers).  Running it on the
 * graph before optimize as well also takes the optimizer's rewrites out of
 * the reference.  A wrong offset, a buffer reused too early, a transpose
 * flag, an lr or momentum constant, a bias correction or a missed scale
 * shows up as a loss that leaves the interpreter's within a few steps;
 * float rounding alone stays far below 1e-4 over 20 steps.
 *
 * The same check runs on library mode (--emit library) for cnn_bars,
 * bag_ids and bn_bars: step_driver built with -DLIB_NAME runs the
 * library's own init and train_step on the same batches, then its running
 * statistics and M_loss (the rows marked lib/ad, lib/opt).
 *
 * Models: twolayer (SGD), xor (momentum, BCE chain, glorot), spiral_mlp
 * (mlp sugar, momentum, an accuracy metric), tests/e2e/spiral_adam (Adam,
 * clip_grad, weight_decay, tanh, leaky_relu), tests/e2e/adam_rate (Adam's
 * bias correction alone, under a constant gradient, to 1e-6: a correction
 * computed in float is 6e-6 off), tests/e2e/gate_adagrad
 * (Adagrad, exponential lr decay across epochs, one-hot labels, softmax,
 * mse), tests/e2e/spiral_acts (softplus, elu, silu, gelu), tests/e2e/table_adadelta (a table source, ReLU, sigmoid_cross_entropy,
 * Adadelta), tests/e2e/csv3 (a CSV source), tests/e2e/cnn_bars (conv,
 * conv2d with stride 2, max_pool, padded avg_pool, flatten, on 8x8 images
 * from a CSV file; --target cuda must refuse it with one line; built
 * twice, im2col + GEMM and --blas none's direct loops), models/lenet
 * (LeNet on MNIST, with data/mnist present: make mnist),
 * tests/e2e/bn_bars (batchnorm per channel and per feature; after the 20
 * steps its running statistics and a forward(EVAL) with them are compared
 * too, as for every model that has them; refused by --target cuda with one
 * line), tests/e2e/bag_ids (an i32 input of token ids from a CSV file, the
 * embedding gather E[ids] and its scatter-add; refused by --target cuda
 * with one line); with Fashion-MNIST installed
 * also fashion_relu (IDX, scale, He init, ReLU, B = 100) and mnist_tanh
 * (normalize, momentum with linear decay).  Models with dropout are left
 * out: the interpreter draws its masks from its own generator.
 *
 * Run from the repository root after `make` (make test does both): it
 * needs build/nnc, build/libnnrt.a and $CC (default cc).  Its files go to
 * build/e2e/interp.PID, removed when every test passed; nnc and the
 * runtime are used from a copy made there first (bin/nnc, bin/libnnrt.a,
 * runtime/nnrt.h: the layout nnc finds its runtime in), so a rebuild
 * while the test runs changes nothing.
 */
#include "base.h"
#include "ast.h"
#include "graph.h"
#include "emit_common.h"
#include "interp.h"
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEPS 20
#define REL_TOL 1e-4
#define LOSS_FLOOR 1e-3 /* relative to max(|loss|, this) */
#define MAX_PARAMS 64
#define FASHION "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
#define MNIST "data/mnist/train-images-idx3-ubyte"

static char work[256]; /* build/e2e/interp.PID */

/* ---- the emitted program's run, as step_driver printed it ----------------- */
typedef struct Emitted {
    char model[128];
    size_t rows, in_dim, batch;
    int n_params;
    char *name[MAX_PARAMS];
    size_t numel[MAX_PARAMS];
    double *val[MAX_PARAMS];
    int running[MAX_PARAMS]; /* 1: a running statistic after the steps, not an initial param */
    int steps;
    double lr[STEPS], loss[STEPS];
    double eval_loss;        /* forward(EVAL) on the last batch */
} Emitted;

static void emitted_free(Emitted *em)
{
    for (int i = 0; i < em->n_params; i++) {
        free(em->name[i]);
        free(em->val[i]);
    }
    memset(em, 0, sizeof *em);
}

/* The whole output of a command, NUL-terminated (NULL if it failed). */
static char *run_capture(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "cannot run %s", cmd);
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    ck_assert(buf != NULL);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert(buf != NULL);
        }
    }
    buf[len] = '\0';
    if (pclose(p) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* "param NAME NUMEL v0 v1 ..." or "running NAME NUMEL v0 v1 ..." */
static void parse_param(Emitted *em, char *line)
{
    int running = strncmp(line, "running ", 8) == 0;
    char *end, *name = line + (running ? 8 : 6), *sp = strchr(name, ' ');
    ck_assert_msg(sp != NULL && em->n_params < MAX_PARAMS, "bad param line from step_driver");
    *sp = '\0';
    int i = em->n_params++;
    em->running[i] = running;
    em->name[i] = strdup(name);
    em->numel[i] = (size_t)strtoul(sp + 1, &end, 10);
    em->val[i] = malloc((em->numel[i] ? em->numel[i] : 1) * sizeof(double));
    ck_assert(em->name[i] != NULL && em->val[i] != NULL);
    for (size_t k = 0; k < em->numel[i]; k++) {
        char *p = end;
        em->val[i][k] = strtod(p, &end);
        ck_assert_msg(end != p, "param %s: %zu values, %zu read", name, em->numel[i], k);
    }
}

static void parse_emitted(Emitted *em, char *out)
{
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long k;
        double lr, loss;
        if (strncmp(line, "param ", 6) == 0 || strncmp(line, "running ", 8) == 0)
            parse_param(em, line);
        else if (sscanf(line, "eval %lf", &em->eval_loss) == 1)
            continue;
        else if (sscanf(line, "model %127s", em->model) == 1)
            continue;
        else if (sscanf(line, "data %zu %zu %zu", &em->rows, &em->in_dim, &em->batch) == 3)
            continue;
        else if (sscanf(line, "step %ld lr %lf loss %lf", &k, &lr, &loss) == 3) {
            ck_assert_msg(k == em->steps + 1 && k <= STEPS, "step %ld out of order", k);
            em->lr[em->steps] = lr;
            em->loss[em->steps++] = loss;
        }
    }
}

/* The first lines of a file (a compiler's complaints), for a message. */
static const char *file_head(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    char *cut = buf;
    for (int lines = 0; lines < 4 && (cut = strchr(cut, '\n')) != NULL; lines++)
        cut++;
    if (cut)
        *cut = '\0';
    return buf;
}

/* Runs a shell command whose stderr goes to DIR/NAME.log; fails the test
 * with the command and the log's first lines if it exits non-zero. */
static void run_step(const char *cmd, const char *name)
{
    char full[8192], log[512], head[1024];
    snprintf(log, sizeof log, "%s/%s.log", work, name);
    snprintf(full, sizeof full, "%s 2>%s", cmd, log);
    ck_assert_msg(system(full) == 0, "failed: %s\n%s", cmd, file_head(log, head, sizeof head));
}

/* Emits MODEL (with nnc's flags) into the work directory, builds the step
 * driver around it, runs STEPS steps and reads what it printed.  lib: the
 * steps are those of the model's library (--emit library,
 * DIR/lib/NAME.c), from its own init. */
static void emitted_run(const char *model, const char *flags, const char *name, Emitted *em, int lib)
{
    char cmd[4096], log[512], head[1024], libflags[1024] = "";
    const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
    memset(em, 0, sizeof *em);
    snprintf(cmd, sizeof cmd, "%s/bin/nnc %s %s -o %s/%s.c", work, flags, model, work, name);
    run_step(cmd, name);
    if (lib) {
        snprintf(cmd, sizeof cmd, "mkdir -p %s/lib && %s/bin/nnc %s --emit library -o %s/lib/%s.c", work, work, model,
                 work, name);
        run_step(cmd, name);
        snprintf(libflags, sizeof libflags, "-DLIB_NAME=%s -DLIB_H='\"%s/lib/%s.h\"' %s/lib/%s.c", name, work, name,
                 work, name);
    }
    snprintf(cmd, sizeof cmd,
             "%s -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I. -DNNC_GENERATED='\"%s/%s.c\"' "
             "$(%s/bin/nnc --cflags) tests/e2e/step_driver.c %s $(%s/bin/nnc --libs) -o %s/%s-steps",
             cc, work, name, work, libflags, work, work, name);
    run_step(cmd, name);
    snprintf(cmd, sizeof cmd, "%s/%s-steps %d 2>%s/%s.log", work, name, STEPS, work, name);
    snprintf(log, sizeof log, "%s/%s.log", work, name);
    char *out = run_capture(cmd);
    ck_assert_msg(out != NULL, "failed: %s\n%s", cmd, file_head(log, head, sizeof head));
    parse_emitted(em, out);
    free(out);
    ck_assert_msg(em->steps == STEPS, "%s: step_driver printed %d steps, want %d", name, em->steps, STEPS);
    ck_assert_msg(em->n_params > 0, "%s: step_driver printed no params", name);
}

/* ---- the reference: the graph through the compiler library -------------- */
typedef struct Ref {
    Arena a;
    Graph g;
} Ref;

static void ref_build(Ref *r, const char *path, int optimized)
{
    size_t len;
    arena_init(&r->a);
    char *src = read_file(&r->a, path, &len);
    ck_assert_msg(src != NULL, "cannot read %s (run from the repository root)", path);
    Diag d;
    diag_init(&d, stderr, path, src, len);
    Program *prog = parse_program(&r->a, &d, path, src, len);
    graph_init(&r->g, &r->a);
    if (d.errors == 0)
        sema_lower(&r->g, &d, prog, 0);
    ck_assert_msg(d.errors == 0, "%s: %d errors", path, d.errors);
    autodiff(&r->g);
    if (optimized)
        optimize(&r->g);
}

static int ref_find(const Graph *g, Op op)
{
    int found = -1;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == op) {
            ck_assert_msg(found < 0, "more than one %s node", op_name(op));
            found = i;
        }
    return found;
}

/* The train block's data source in the runtime's terms (tables as floats
 * in *tx, *tt, freed by the caller). */
static void ref_source(const Source *s, long in_dim, NnrtSource *o, float **tx, float **tt)
{
    nnrt_source_init(o);
    *tx = *tt = NULL;
    switch (s->kind) {
    case SRC_NONE: ck_abort_msg("the model has no data source"); break;
    case SRC_SPIRAL:
        o->kind = NNRT_SRC_SPIRAL;
        o->classes = s->classes;
        o->points = s->points;
        o->seed = (uint64_t)s->seed;
        break;
    case SRC_XOR: o->kind = NNRT_SRC_XOR; break;
    case SRC_GATE: o->kind = NNRT_SRC_GATE; o->gate = s->gate; break;
    case SRC_IDX: o->kind = NNRT_SRC_IDX; o->images = s->images; o->labels = s->labels; break;
    case SRC_CSV:
        o->kind = NNRT_SRC_CSV;
        o->csv_path = s->path;
        o->csv_label = s->csv_label;
        o->csv_header = s->csv_header;
        break;
    case SRC_TABLE: {
        size_t nx = (size_t)s->table_rows * (size_t)in_dim, nt = (size_t)s->table_rows * (size_t)s->table_t_width;
        *tx = malloc(nx * sizeof(float));
        *tt = malloc(nt * sizeof(float));
        ck_assert(*tx != NULL && *tt != NULL);
        for (size_t i = 0; i < nx; i++)
            (*tx)[i] = (float)s->table_x[i];
        for (size_t i = 0; i < nt; i++)
            (*tt)[i] = (float)s->table_t[i];
        o->kind = NNRT_SRC_TABLE;
        o->table_x = *tx;
        o->table_t = *tt;
        o->table_rows = (size_t)s->table_rows;
        o->table_t_dim = (size_t)s->table_t_width;
        break;
    }
    }
    o->scale = (float)s->scale;
    o->normalize = s->normalize;
    o->flatten = s->flatten;
    o->one_hot = s->one_hot;
}

static int ref_decay(DecayKind k)
{
    switch (k) {
    case DECAY_NONE: return NNRT_DECAY_NONE;
    case DECAY_LINEAR: return NNRT_DECAY_LINEAR;
    case DECAY_EXPONENTIAL: return NNRT_DECAY_EXPONENTIAL;
    }
    return NNRT_DECAY_NONE;
}

/* Sets every PARAM node of the interpreter to the emitted initial values. */
static void ref_set_params(Interp *it, const Graph *g, const Emitted *em)
{
    int set = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op != OP_PARAM)
            continue;
        int j = 0;
        while (j < em->n_params && (em->running[j] || strcmp(em->name[j], g->nodes[i].name) != 0))
            j++;
        ck_assert_msg(j < em->n_params, "param %s: not among the emitted program's params", g->nodes[i].name);
        ck_assert_msg((size_t)interp_numel(it, i) == em->numel[j], "param %s: %ld values in the graph, %zu emitted",
                      g->nodes[i].name, interp_numel(it, i), em->numel[j]);
        interp_set(it, i, em->val[j]);
        set++;
    }
    int emitted = 0;
    for (int j = 0; j < em->n_params; j++)
        emitted += !em->running[j];
    ck_assert_msg(set == emitted, "%d params in the graph, %d emitted", set, emitted);
}

/* After the steps: each running statistic (batchnorm's h.mean, h.var, moved
 * by every update) against the interpreter's, and the loss of forward(EVAL)
 * on the last batch, which reads them, within tol (relative). */
static void ref_check_running(Interp *it, const Graph *g, const Emitted *em, double tol)
{
    int found = 0;
    for (int j = 0; j < em->n_params; j++) {
        if (!em->running[j])
            continue;
        int i = 0;
        while (i < g->n && !(graph_is_running(&g->nodes[i]) && strcmp(g->nodes[i].name, em->name[j]) == 0))
            i++;
        ck_assert_msg(i < g->n, "running statistic %s: not in the graph", em->name[j]);
        ck_assert_msg((size_t)interp_numel(it, i) == em->numel[j], "%s: numel differs", em->name[j]);
        for (size_t k = 0; k < em->numel[j]; k++) {
            double ref = interp_value(it, i)[k], got = em->val[j][k];
            ck_assert_msg(fabs(got - ref) <= tol * fmax(fabs(ref), LOSS_FLOOR),
                          "%s[%zu] after %d steps: the emitted program's %.9g, the interpreter's %.9g", em->name[j], k,
                          STEPS, got, ref);
        }
        found++;
    }
    int want = 0;
    for (int i = 0; i < g->n; i++)
        want += graph_is_running(&g->nodes[i]);
    ck_assert_msg(found == want, "%d running statistics in the graph, %d printed", want, found);
    it->eval = 1;
    interp_run(it, STAGE_FORWARD);
    it->eval = 0;
    double ref = interp_value(it, g->loss)[0];
    ck_assert_msg(fabs(em->eval_loss - ref) <= tol * fmax(fabs(ref), LOSS_FLOOR),
                  "forward(EVAL) after %d steps: the emitted program's loss %.9g, the interpreter's %.9g", STEPS,
                  em->eval_loss, ref);
}

/* The rows of epoch e in the trainer's order (nnrt.h: "One epoch e"). */
static void ref_perm(const TrainSpec *ts, uint32_t *perm, size_t rows, int e)
{
    for (size_t i = 0; i < rows; i++)
        perm[i] = (uint32_t)i;
    if (ts->shuffle) {
        NnrtRng rng;
        nnrt_rng_seed_stream(&rng, (uint64_t)ts->seed + (uint64_t)e, NNRT_STREAM_SHUFFLE);
        nnrt_shuffle(perm, rows, &rng);
    }
}

/* The batch of rows perm[start, start+B) into the interpreter's input and label. */
static void ref_feed(Interp *it, const NnrtData *d, const uint32_t *perm, int x, int t, size_t start, size_t b,
                     float *xf, void *tb)
{
    long nx = interp_numel(it, x), nt = interp_numel(it, t);
    double *xv = malloc((size_t)nx * sizeof(double)), *tv = malloc((size_t)nt * sizeof(double));
    ck_assert(xv != NULL && tv != NULL);
    nnrt_gather(d, perm, start, b, xf, tb);
    for (long i = 0; i < nx; i++)
        xv[i] = xf[i];
    for (long i = 0; i < nt; i++)
        tv[i] = d->label_kind == NNRT_LABEL_CLASS ? (double)((const int32_t *)tb)[i] : (double)((const float *)tb)[i];
    interp_set(it, x, xv);
    interp_set(it, t, tv);
    free(xv);
    free(tv);
}

/* STEPS steps of the graph in double, from the emitted initial params on
 * the same batches; losses into loss[]; the lr of each step is checked
 * against the emitted one. */
static void ref_run(const Graph *g, const Emitted *em, double *loss)
{
    int x = ref_find(g, OP_INPUT), t = ref_find(g, OP_LABEL);
    ck_assert_msg(x >= 0 && t >= 0, "the graph has no input or no label");
    ck_assert_msg(ref_find(g, OP_DROPMASK) < 0, "a model with dropout: the masks would differ");
    long in_dim = shape_row_numel(g->nodes[x].shape), t_dim = shape_row_numel(g->nodes[t].shape);
    int kind = g->nodes[t].dtype == DT_I32 ? NNRT_LABEL_CLASS : NNRT_LABEL_FLOAT;
    NnrtSource src;
    NnrtData d;
    float *tx, *tt;
    char err[1024];
    ref_source(&g->train.data, in_dim, &src, &tx, &tt);
    src.ids = (size_t)emit_input_ids(g); /* an i32 input: ids read as integers, in [0, V) */
    ck_assert_msg(nnrt_data_load(&src, (size_t)in_dim, kind, (size_t)t_dim, (size_t)emit_label_classes(g), &d, NULL, err,
                                 sizeof err) == 0,
                  "%s", err);
    size_t b = (size_t)g->batch, per_epoch = d.rows / b;
    ck_assert_msg(d.rows == em->rows && b == em->batch && (size_t)in_dim == em->in_dim,
                  "data: %zu rows of %ld, B %zu here; %zu rows of %zu, B %zu emitted", d.rows, in_dim, b, em->rows,
                  em->in_dim, em->batch);
    Interp it;
    interp_init(&it, g, (int)b);
    interp_init_params(&it, 1); /* the running statistics to theirs (mean 0, var 1); the params, next */
    ref_set_params(&it, g, em);
    float *xf = malloc(b * (size_t)in_dim * sizeof(float));
    void *tb = malloc(b * (size_t)t_dim * sizeof(float));
    uint32_t *perm = malloc(d.rows * sizeof *perm);
    ck_assert(xf != NULL && tb != NULL && perm != NULL);
    const TrainSpec *ts = &g->train;
    for (int k = 0; k < STEPS; k++) {
        int epoch = k / (int)per_epoch;
        float lr = nnrt_lr_at((float)ts->lr, (float)ts->final_lr, ref_decay(ts->decay), epoch, ts->epochs);
        ck_assert_msg((float)em->lr[k] == lr, "step %d: lr %.9g emitted, %.9g in the train block", k + 1, em->lr[k],
                      (double)lr);
        if ((size_t)k % per_epoch == 0)
            ref_perm(ts, perm, d.rows, epoch);
        ref_feed(&it, &d, perm, x, t, (size_t)k % per_epoch * b, b, xf, tb);
        it.lr = lr;
        it.step = k + 1;
        interp_run(&it, STAGE_UPDATE);
        loss[k] = interp_value(&it, g->loss)[0];
    }
    ref_check_running(&it, g, em, REL_TOL);
    free(xf);
    free(tb);
    free(perm);
    interp_free(&it);
    nnrt_data_free(&d);
    free(tx);
    free(tt);
}

/* ---- the comparison ---------------------------------------------------------- */
static double rel_diff(double a, double ref)
{
    double scale = fabs(ref) > LOSS_FLOOR ? fabs(ref) : LOSS_FLOOR;
    return fabs(a - ref) / scale;
}

static void compare(const char *name, const char *which, const Emitted *em, const double *ref, double tol)
{
    int worst = 0;
    for (int k = 1; k < STEPS; k++)
        if (rel_diff(em->loss[k], ref[k]) > rel_diff(em->loss[worst], ref[worst]))
            worst = k;
    printf("e2e_interp %-14s %-9s: %d steps, loss %.6f -> %.6f (interp %.6f -> %.6f), worst rel diff %.1e at step %d\n",
           name, which, STEPS, em->loss[0], em->loss[STEPS - 1], ref[0], ref[STEPS - 1],
           rel_diff(em->loss[worst], ref[worst]), worst + 1);
    for (int k = 0; k < STEPS; k++)
        ck_assert_msg(rel_diff(em->loss[k], ref[k]) <= tol,
                      "%s (%s graph), step %d: the emitted program's loss %.9g, the interpreter's %.9g "
                      "(rel diff %.2e > %.0e)", name, which, k + 1, em->loss[k], ref[k],
                      rel_diff(em->loss[k], ref[k]), tol);
}

/* The whole check for one model: emitted (with nnc's flags) vs
 * interpreter on the graph as autodiff left it and as optimize left it,
 * within tol (relative); lib: the emitted library's steps (emitted_run). */
static void check_emitted(const char *path, const char *flags, double tol, int lib)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char name[128];
    snprintf(name, sizeof name, "%.*s%s", (int)(strcspn(base, ".")), base, *flags ? "_flags" : "");
    Emitted em;
    emitted_run(path, flags, name, &em, lib);
    for (int optimized = 0; optimized <= 1; optimized++) {
        Ref r;
        double ref[STEPS];
        ref_build(&r, path, optimized);
        ck_assert_str_eq(em.model, r.g.model);
        ref_run(&r.g, &em, ref);
        compare(name, optimized ? lib ? "lib/opt" : "optimized" : lib ? "lib/ad" : "autodiff", &em, ref, tol);
        arena_free(&r.a);
    }
    emitted_free(&em);
}

static void check_model_tol(const char *path, double tol)
{
    check_emitted(path, "", tol, 0);
}

static void check_model(const char *path)
{
    check_model_tol(path, REL_TOL);
}

/* The library (--emit library) of the model against the interpreter. */
static void check_library(const char *path)
{
    check_emitted(path, "", REL_TOL, 1);
}

/* models/lenet.nn reads MNIST from data/mnist (make mnist). */
static int have_mnist(void)
{
    if (access(MNIST, R_OK) == 0)
        return 1;
    printf("e2e_interp: %s not found (make mnist), skipped\n", MNIST);
    return 0;
}

static int have_fashion(void)
{
    if (access(FASHION, R_OK) == 0)
        return 1;
    printf("e2e_interp: %s not found (sh scripts/deps.sh data), skipped\n", FASHION);
    return 0;
}

/* ---- the tests ------------------------------------------------------------------ */
START_TEST(twolayer_sgd) { check_model("models/twolayer.nn"); }
END_TEST

START_TEST(xor_momentum_bce) { check_model("models/xor.nn"); }
END_TEST

START_TEST(spiral_mlp_momentum) { check_model("models/spiral_mlp.nn"); }
END_TEST

START_TEST(spiral_adam_clip_decay) { check_model("tests/e2e/spiral_adam.nn"); }
END_TEST

/* Adam's bias correction alone (the gradient is constant): 1e-6, where
 * float rounding of the correction itself costs 6e-6 at every step. */
START_TEST(adam_bias_correction) { check_model_tol("tests/e2e/adam_rate.nn", 1e-6); }
END_TEST

START_TEST(gate_adagrad_schedule) { check_model("tests/e2e/gate_adagrad.nn"); }
END_TEST

START_TEST(table_adadelta) { check_model("tests/e2e/table_adadelta.nn"); }
END_TEST

START_TEST(csv_source) { check_model("tests/e2e/csv3.nn"); }
END_TEST

START_TEST(smooth_activations) { check_model("tests/e2e/spiral_acts.nn"); }
END_TEST

/* The program convolves by im2col + GEMM (the default, BLAS), and by
 * direct loops under --blas none: both against the interpreter. */
START_TEST(cnn_conv_pool)
{
    check_model("tests/e2e/cnn_bars.nn");
}
END_TEST

START_TEST(cnn_direct_loops) { check_emitted("tests/e2e/cnn_bars.nn", "--blas none", REL_TOL, 0); }
END_TEST

/* LeNet on MNIST: a padded and an unpadded 5x5 convolution by im2col +
 * GEMM, max pooling, three dense layers, momentum, B = 32. */
START_TEST(lenet_mnist)
{
    if (have_mnist())
        check_model("models/lenet.nn");
}
END_TEST

/* Batch norm per channel of a conv and per feature of a dense layer: the
 * 20 losses, then the running statistics and forward(EVAL) with them. */
START_TEST(batchnorm_train_eval) { check_model("tests/e2e/bn_bars.nn"); }
END_TEST

/* Library mode's conv2d, pooling and gather (direct loops, its own expf
 * and logf, float accumulators) against the interpreter too. */
START_TEST(cnn_library) { check_library("tests/e2e/cnn_bars.nn"); }
END_TEST

START_TEST(ids_library) { check_library("tests/e2e/bag_ids.nn"); }
END_TEST

/* Library mode's batch norm (float sums), its running statistics as saved
 * by M_save after the params, and M_loss (evaluation) with them. */
START_TEST(batchnorm_library) { check_library("tests/e2e/bn_bars.nn"); }
END_TEST
END_TEST

/* An i32 input of token ids, [B, 6], read from CSV integer columns: the
 * embedding gather E[ids] ([B, 6, 8]) and its scatter-add into E's rows. */
START_TEST(bag_of_embeddings) { check_model("tests/e2e/bag_ids.nn"); }
END_TEST

START_TEST(fashion_relu_idx)
{
    if (have_fashion())
        check_model("models/fashion_relu.nn");
}
END_TEST

START_TEST(mnist_tanh_normalize)
{
    if (have_fashion())
        check_model("models/mnist_tanh.nn");
}
END_TEST

static Suite *e2e_interp_suite(void)
{
    Suite *s = suite_create("e2e_interp");
    TCase *tc = tcase_create("first 20 steps");
    tcase_add_test(tc, twolayer_sgd);
    tcase_add_test(tc, xor_momentum_bce);
    tcase_add_test(tc, spiral_mlp_momentum);
    tcase_add_test(tc, spiral_adam_clip_decay);
    tcase_add_test(tc, adam_bias_correction);
    tcase_add_test(tc, gate_adagrad_schedule);
    tcase_add_test(tc, table_adadelta);
    tcase_add_test(tc, csv_source);
    tcase_add_test(tc, smooth_activations);
    tcase_add_test(tc, cnn_conv_pool);
    tcase_add_test(tc, cnn_direct_loops);
    tcase_add_test(tc, lenet_mnist);
    tcase_add_test(tc, batchnorm_train_eval);
    tcase_add_test(tc, cnn_library);
    tcase_add_test(tc, ids_library);
    tcase_add_test(tc, batchnorm_library);
    tcase_add_test(tc, bag_of_embeddings);
    tcase_add_test(tc, fashion_relu_idx);
    tcase_add_test(tc, mnist_tanh_normalize);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    char cmd[2048];
    if (access("build/nnc", X_OK) != 0 || access("tests/e2e/step_driver.c", R_OK) != 0) {
        fprintf(stderr, "test_e2e_interp: run from the repository root after make (build/nnc, tests/e2e/)\n");
        return 1;
    }
    snprintf(work, sizeof work, "build/e2e/interp.%ld", (long)getpid());
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s/bin %s/runtime && cp build/nnc build/libnnrt.a %s/bin/ && "
             "cp runtime/nnrt.h %s/runtime/", work, work, work, work, work);
    if (system(cmd) != 0)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    SRunner *sr = srunner_create(e2e_interp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", work);
        if (system(cmd) != 0)
            return 1;
    } else {
        printf("test_e2e_interp: files kept in %s\n", work);
    }
    return failed != 0;
}
