/* test_rt_train.c: the driver end to end, with a model written by hand.
 *
 * The model is logistic regression on gate("and"):
 *     z = x W + b          x [n,2], W [2,1], b [1]
 *     loss = mean_i softplus(z_i) - t_i z_i        (sigmoid cross-entropy)
 *     dz_i = (sigmoid(z_i) - t_i) / n,  dW = x^T dz,  db = sum_i dz_i
 * trained with momentum (v = 0.9 v - lr g; p += v), so checkpoints carry
 * optimizer state.  B = 3 over 4 rows: every epoch ends with a partial
 * batch.  Switches below break it on purpose: a wrong backward (gradcheck
 * must fail) and a NaN loss at a chosen step (exit 3).
 */
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ASSERT_HAS(s, sub) ck_assert_msg(strstr((s), (sub)) != NULL, "'%s' lacks '%s'", (s), (sub))

enum { B = 3 };

static float W[2], b[1], dW[2], db[1], vW[2], vb[1];
static float xs[B * 2], zs[B], ts[B];      /* the last forward, for backward */
static float x_buf[B * 2], t_buf[B], y_buf[B];
static int wrong_backward;                  /* db doubled: gradcheck must fail */
static int nan_at = -1;                     /* the TRAIN forward that returns NaN */
static int train_forwards, modes_seen;

static NnrtTensor params[2] = {
    { "W", W, dW, 2, { 2, 1 }, 2 },
    { "b", b, db, 1, { 1 }, 1 },
};
static NnrtTensor state[2] = {
    { "opt.W.v", vW, NULL, 2, { 2, 1 }, 2 },
    { "opt.b.v", vb, NULL, 1, { 1 }, 1 },
};

static void lr_init(uint64_t seed)
{
    NnrtRng r;
    nnrt_rng_seed_stream(&r, seed, NNRT_STREAM_INIT);
    nnrt_init_normal(W, 2, 0.1f, &r);
    nnrt_init_fill(b, 1, 0.0f);
    nnrt_init_fill(vW, 2, 0.0f);
    nnrt_init_fill(vb, 1, 0.0f);
}

static float lr_forward(const float *x, const void *t, int n, int mode)
{
    const float *tt = t;
    double sum = 0.0;
    modes_seen |= 1 << mode;
    for (int i = 0; i < n; i++) {
        float z = x[2 * i] * W[0] + x[2 * i + 1] * W[1] + b[0];
        xs[2 * i] = x[2 * i];
        xs[2 * i + 1] = x[2 * i + 1];
        zs[i] = z;
        ts[i] = tt[i];
        double zd = (double)z;
        sum += fmax(zd, 0.0) - zd * (double)tt[i] + log1p(exp(-fabs(zd)));
    }
    if (mode == NNRT_TRAIN && ++train_forwards == nan_at)
        return NAN;
    return (float)(sum / n);
}

static void lr_backward(int n)
{
    dW[0] = dW[1] = db[0] = 0.0f;
    for (int i = 0; i < n; i++) {
        float dz = (1.0f / (1.0f + expf(-zs[i])) - ts[i]) / (float)n;
        dW[0] += xs[2 * i] * dz;
        dW[1] += xs[2 * i + 1] * dz;
        db[0] += dz;
    }
    if (wrong_backward)
        db[0] *= 2.0f;
}

static void lr_update(float lr, long step)
{
    (void)step;
    for (int k = 0; k < 2; k++) {
        vW[k] = 0.9f * vW[k] - lr * dW[k];
        W[k] += vW[k];
    }
    vb[0] = 0.9f * vb[0] - lr * db[0];
    b[0] += vb[0];
}

/* One step as an emitted train_step takes it: a non-finite loss changes nothing. */
static float lr_train_step(const NnrtData *d, const uint32_t *perm, size_t start, int n, float lr, long step)
{
    nnrt_gather(d, perm, start, (size_t)n, x_buf, t_buf);
    float loss = lr_forward(x_buf, t_buf, n, NNRT_TRAIN);
    if (!isfinite(loss))
        return loss;
    lr_backward(n);
    lr_update(lr, step);
    return loss;
}

static void lr_predict(const float *x, int n, float *y)
{
    for (int i = 0; i < n; i++)
        y[i] = x[2 * i] * W[0] + x[2 * i + 1] * W[1] + b[0];
}

static void make_model(NnrtModel *m)
{
    memset(m, 0, sizeof *m);
    m->name = "gate_and";
    m->batch = B;
    m->in_dim = 2;
    m->label_kind = NNRT_LABEL_FLOAT;
    m->label_dim = 1;
    m->out_dim = 1;
    m->acc_kind = NNRT_ACC_THRESHOLD;
    m->acc_threshold = 0.0f; /* logits */
    m->params = params;
    m->n_params = 2;
    m->state = state;
    m->n_state = 2;
    m->init = lr_init;
    m->forward = lr_forward;
    m->backward = lr_backward;
    m->update = lr_update;
    m->predict = lr_predict;
    m->train_step = lr_train_step;
    m->epochs = 200;
    m->lr = 0.5f;
    m->final_lr = 0.5f;
    m->decay = NNRT_DECAY_NONE;
    m->shuffle = 1;
    m->seed = 7;
    m->eval_every = 1;
    nnrt_source_init(&m->data);
    m->data.kind = NNRT_SRC_GATE;
    m->data.gate = "and";
    nnrt_source_init(&m->test);
    m->x_buf = x_buf;
    m->t_buf = t_buf;
    m->y_buf = y_buf;
    wrong_backward = 0;
    nan_at = -1;
    train_forwards = modes_seen = 0;
}

/* ---- running it ------------------------------------------------------------ */
typedef struct { FILE *f; char *buf; size_t len; } Mem;

static const char *mem_text(Mem *m)
{
    fflush(m->f);
    return m->buf ? m->buf : "";
}

typedef struct { int rc; Mem out, err; } Run;

/* Runs the model with argv (NULL-terminated, without the program name);
 * r must stay put while its streams are open. */
static void run(Run *r, NnrtModel *m, const char **argv)
{
    const char *full[32] = { "gate_and" };
    int argc = 1;
    for (; argv && argv[argc - 1]; argc++)
        full[argc] = argv[argc - 1];
    memset(r, 0, sizeof *r);
    r->out.f = open_memstream(&r->out.buf, &r->out.len);
    r->err.f = open_memstream(&r->err.buf, &r->err.len);
    NnrtArgs a;
    r->rc = nnrt_args_parse(argc, (char **)(void *)full, &a, "gate_and", r->err.f);
    if (r->rc == 0)
        r->rc = nnrt_run(m, &a, r->out.f, r->err.f);
    nnrt_args_free(&a);
    mem_text(&r->out);
    mem_text(&r->err);
}

static void run_free(Run *r)
{
    fclose(r->out.f);
    fclose(r->err.f);
    free(r->out.buf);
    free(r->err.buf);
}

static int count_lines(const char *s, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *p = s; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, pl) == 0;
    return n;
}

static double accuracy_now(void)
{
    float x[8], t[4], y[4];
    nnrt_gate_table("and", x, t);
    lr_predict(x, 4, y);
    int ok = 0;
    for (int i = 0; i < 4; i++)
        ok += (y[i] >= 0.0f) == (t[i] >= 0.5f);
    return ok / 4.0;
}

static char tmpdir[64];
static char files[8][128];
static int nfiles;

static void setup(void)
{
    strcpy(tmpdir, "/tmp/nnrt_train_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    nfiles = 0;
}

static void teardown(void)
{
    for (int i = 0; i < nfiles; i++) {
        unlink(files[i]);
        char tmp[sizeof files[0] + 8];
        strcpy(tmp, files[i]);
        strcat(tmp, ".tmp");
        unlink(tmp);
    }
    rmdir(tmpdir);
}

static const char *tpath(const char *name)
{
    snprintf(files[nfiles], sizeof files[0], "%s/%s", tmpdir, name);
    return files[nfiles++];
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- a backend of the test's own (nnrt.h: NnrtBackend) -------------------------
 * Built as a device backend is: the params and state live in its own copy
 * (dev), the host tensors are overwritten with NaN whenever it is done with
 * them (a host tensor the driver reads without pull, or a backend copy it
 * does not push, shows), it runs up to 3 steps a call and goes on past a
 * non-finite loss.  On call term_at of steps it raises SIGTERM. */
typedef struct Stash {
    NnrtModel *m;
    const NnrtData *sets[NNRT_SETS];
    const uint32_t *perm;
    float lr, dev[6], best[3];
    long step;
    int calls, term_at, released;
} Stash;
static Stash stash;

static float *const host[6] = { &W[0], &W[1], &b[0], &vW[0], &vW[1], &vb[0] };

static void stash_in(void)
{
    for (int i = 0; i < 6; i++)
        *host[i] = stash.dev[i];
}

static void stash_out(void)
{
    for (int i = 0; i < 6; i++) {
        stash.dev[i] = *host[i];
        *host[i] = NAN;
    }
}

static int stash_prepare(NnrtBackend *bk, NnrtModel *m, const NnrtData *const sets[NNRT_SETS],
                         int early, char *err, size_t errlen)
{
    (void)bk, (void)early, (void)err, (void)errlen;
    stash.m = m;
    memcpy(stash.sets, sets, sizeof stash.sets);
    return 0;
}

static void stash_push(NnrtBackend *bk)
{
    (void)bk;
    stash_out();
}

static void stash_pull(NnrtBackend *bk)
{
    (void)bk;
    stash_in();
}

static void stash_epoch(NnrtBackend *bk, const uint32_t *perm, float lr, long step, long first)
{
    (void)bk, (void)first;
    stash.perm = perm;
    stash.lr = lr;
    stash.step = step;
}

static void stash_steps(NnrtBackend *bk, long from, long to, float *losses)
{
    const NnrtModel *m = stash.m;
    const NnrtData *d = stash.sets[NNRT_SET_TRAIN];
    ck_assert(to > from && to - from <= bk->chunk);
    stash_in();
    for (long it = from; it < to; it++) {
        int n = (int)nnrt_batch_rows(m, d->rows, it);
        nnrt_gather(d, stash.perm, (size_t)it * B, (size_t)n, x_buf, t_buf);
        losses[it - from] = lr_forward(x_buf, t_buf, n, NNRT_TRAIN);
        lr_backward(n);
        lr_update(stash.lr, ++stash.step);
    }
    stash_out();
    if (++stash.calls == stash.term_at)
        raise(SIGTERM);
}

static void stash_evaluate(NnrtBackend *bk, int set, int want_loss, double *loss, double *acc)
{
    (void)bk;
    stash_in();
    nnrt_evaluate(stash.m, stash.sets[set], loss, acc);
    if (!want_loss)
        *loss = NAN;
    stash_out();
}

static void stash_best(NnrtBackend *bk, int restore)
{
    (void)bk;
    for (int i = 0; i < 3; i++) {
        if (restore)
            stash.dev[i] = stash.best[i];
        else
            stash.best[i] = stash.dev[i];
    }
}

static void stash_release(NnrtBackend *bk)
{
    (void)bk;
    stash.released++;
}

/* run() on the test's backend */
static void run_stash(Run *r, NnrtModel *m, const char **argv)
{
    const char *full[32] = { "gate_and" };
    int argc = 1;
    for (; argv && argv[argc - 1]; argc++)
        full[argc] = argv[argc - 1];
    memset(r, 0, sizeof *r);
    r->out.f = open_memstream(&r->out.buf, &r->out.len);
    r->err.f = open_memstream(&r->err.buf, &r->err.len);
    NnrtArgs a;
    NnrtBackend bk = { &stash, 3, stash_prepare, stash_push, stash_pull, stash_epoch, stash_steps,
                       stash_evaluate, stash_best, stash_release };
    int term_at = stash.term_at;
    memset(&stash, 0, sizeof stash);
    stash.term_at = term_at;
    r->rc = nnrt_args_parse(argc, (char **)(void *)full, &a, "gate_and", r->err.f);
    if (r->rc == 0)
        r->rc = nnrt_run_on(m, &bk, &a, r->out.f, r->err.f);
    nnrt_args_free(&a);
    ck_assert_int_eq(stash.released, 1);
    mem_text(&r->out);
    mem_text(&r->err);
}

/* The model on 20 spiral rows: 7 batches an epoch (the last of 2 rows). */
static void make_spiral_model(NnrtModel *m)
{
    make_model(m);
    m->data.kind = NNRT_SRC_SPIRAL;
    m->data.classes = 2;
    m->data.points = 10;
    m->data.seed = 3;
    m->test = m->data;
    m->test.seed = 4;
}

/* s without its times ("time T.TTs" of a progress line, "in T.TTs (U us
 * a step)" of the summary): what two runs of the same training share. */
static char *without_times(const char *s)
{
    char *t = malloc(strlen(s) + 1), *o = t;
    while (*s) {
        if (strncmp(s, "time ", 5) == 0 || strncmp(s, " in ", 4) == 0) {
            const char *bar = strstr(s, " | ");
            s = bar ? bar : s + strlen(s);
            continue;
        }
        *o++ = *s++;
    }
    *o = '\0';
    return t;
}

static void assert_same_file(const char *p1, const char *p2)
{
    char a[4096], c[4096];
    FILE *f1 = fopen(p1, "rb"), *f2 = fopen(p2, "rb");
    ck_assert_msg(f1 && f2, "%s or %s is missing", p1, p2);
    size_t n1 = fread(a, 1, sizeof a, f1), n2 = fread(c, 1, sizeof c, f2);
    fclose(f1);
    fclose(f2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, c, n1) == 0, "%s and %s differ", p1, p2);
}

/* ---- tests --------------------------------------------------------------------- */

/* A backend that runs 3 steps a call, keeps the params to itself and
 * reads every loss back late trains as the CPU backend does: the same
 * progress lines (log_every 2 ends runs early), test figures, CSV rows,
 * early stopping and checkpoint, byte for byte. */
START_TEST(test_backend_runs_as_the_cpu)
{
    NnrtModel m;
    const char *ck[2] = { tpath("cpu.st"), tpath("m.st") }; /* m.st: the name printed */
    const char *log[2] = { tpath("cpu.csv"), tpath("stash.csv") };
    char *out[2];
    for (int k = 0; k < 2; k++) {
        make_spiral_model(&m);
        m.early_stopping = 1;
        const char *argv[] = { "--epochs", "30", "--log-every", "2", "--lr", "0.3", "--save", ck[1],
                               "--log-csv", log[k], NULL };
        Run r;
        (k ? run_stash : run)(&r, &m, argv);
        ck_assert_msg(r.rc == 0, "%s", r.err.buf);
        ck_assert_str_eq(r.err.buf, "");
        out[k] = without_times(r.out.buf);
        run_free(&r);
        ck_assert_int_eq(k ? 0 : rename(ck[1], ck[0]), 0);
    }
    ck_assert_str_eq(out[1], out[0]);
    ASSERT_HAS(out[0], "| epoch 1 | iter 2/7 |  | loss ");
    ASSERT_HAS(out[0], "| epoch 1 | iter 7/7 |  | loss ");
    ASSERT_HAS(out[0], "| test loss ");
    ASSERT_HAS(out[0], "best params restored\n");
    assert_same_file(log[0], log[1]);
    assert_same_file(ck[0], ck[1]);
    free(out[0]);
    free(out[1]);
}
END_TEST

/* A non-finite loss in the middle of a run of steps is reported at its
 * own epoch and step, and the checkpoint of the last epoch boundary is
 * saved, as on the CPU backend. */
START_TEST(test_backend_nan_in_a_run)
{
    NnrtModel m;
    const char *ck[2] = { tpath("cpu.st"), tpath("stash.st") };
    for (int k = 0; k < 2; k++) {
        make_spiral_model(&m);
        nan_at = 9; /* epoch 2, its second batch: inside the run [0, 3) */
        const char *argv[] = { "--epochs", "4", "--save", ck[k], NULL };
        Run r;
        (k ? run_stash : run)(&r, &m, argv);
        ck_assert_int_eq(r.rc, 3);
        ASSERT_HAS(r.err.buf, "nnrt: loss is nan at epoch 2 step 9; stopping\n");
        ASSERT_HAS(r.err.buf, "the state at the end of epoch 1 (step 7)");
        run_free(&r);
    }
    assert_same_file(ck[0], ck[1]);
}
END_TEST

/* SIGTERM during a run of steps stops after it (batch 6 of epoch 2), with
 * the backend's state in the checkpoint; resumed, the run ends with the
 * unbroken run's checkpoint. */
START_TEST(test_backend_interrupt_and_resume)
{
    NnrtModel m;
    const char *whole = tpath("whole.st"), *ck = tpath("parts.st");
    const char *a1[] = { "--epochs", "3", "--save", whole, NULL };
    Run r;
    make_spiral_model(&m);
    run_stash(&r, &m, a1);
    ck_assert_int_eq(r.rc, 0);
    run_free(&r);
    const char *a2[] = { "--epochs", "3", "--save", ck, NULL };
    stash.term_at = 5; /* epoch 1: [0,3) [3,6) [6,7); epoch 2: [0,3) [3,6) */
    make_spiral_model(&m);
    run_stash(&r, &m, a2);
    stash.term_at = 0;
    ck_assert_int_eq(r.rc, NNRT_EXIT_INTERRUPTED);
    ASSERT_HAS(r.err.buf, "nnrt: interrupted by SIGTERM in epoch 2 after batch 6 of 7 (step 13)");
    run_free(&r);
    const char *a3[] = { "--epochs", "3", "--save", ck, "--load", ck, NULL };
    make_spiral_model(&m);
    run_stash(&r, &m, a3);
    ck_assert_msg(r.rc == 0, "%s", r.err.buf);
    ASSERT_HAS(r.out.buf, "(batch 6 of epoch 2 done)");
    run_free(&r);
    assert_same_file(whole, ck);
}
END_TEST


START_TEST(test_trains_to_full_accuracy)
{
    NnrtModel m;
    make_model(&m);
    Run r;
    run(&r, &m, NULL);
    ck_assert_msg(r.rc == 0, "%s", r.err.buf);
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch "), 200);
    ck_assert_int_eq(strncmp(r.out.buf, "| epoch 1 | iter 2/2 | time ", 28), 0);
    ASSERT_HAS(r.out.buf, "| epoch 200 | iter 2/2 | time ");
    ASSERT_HAS(r.out.buf, "done: 200 epochs, 400 steps in ");
    ASSERT_HAS(r.out.buf, "| acc 1.0000\n");
    ck_assert_str_eq(r.err.buf, "");
    ck_assert(accuracy_now() == 1.0);
    ck_assert_int_eq(modes_seen, (1 << NNRT_TRAIN) | (1 << NNRT_EVAL));
    run_free(&r);
}
END_TEST

START_TEST(test_quiet_prints_only_the_summary)
{
    NnrtModel m;
    make_model(&m);
    const char *argv[] = { "--quiet", "--epochs=5", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(count_lines(r.out.buf, ""), 1);
    ck_assert_int_eq(strncmp(r.out.buf, "done: 5 epochs, 10 steps in ", 28), 0);
    run_free(&r);
}
END_TEST

START_TEST(test_log_every_counts_steps)
{
    NnrtModel m;
    make_model(&m);
    m.log_every = 3;
    const char *argv[] = { "--epochs", "3", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 0);
    /* steps 1..6; lines at steps 3 (epoch 2, iter 1) and 6 (epoch 3, iter 2) */
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch "), 2);
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch 2 | iter 1/2 |"), 1);
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch 3 | iter 2/2 |"), 1);
    run_free(&r);
}
END_TEST

START_TEST(test_flags_override_and_seed_determinism)
{
    NnrtModel m;
    float w1[2], w2[2], w3[2];
    make_model(&m);
    const char *a1[] = { "--epochs", "4", "--seed=11", "--lr", "0.1", NULL };
    Run r;
    run(&r, &m, a1);
    ASSERT_HAS(r.out.buf, "done: 4 epochs, 8 steps");
    memcpy(w1, W, sizeof W);
    run_free(&r);
    run(&r, &m, a1);
    memcpy(w2, W, sizeof W);
    run_free(&r);
    const char *a2[] = { "--epochs", "4", "--seed=12", "--lr", "0.1", NULL };
    run(&r, &m, a2);
    memcpy(w3, W, sizeof W);
    run_free(&r);
    ck_assert_mem_eq(w1, w2, sizeof w1);
    ck_assert(memcmp(w1, w3, sizeof w1) != 0);
}
END_TEST

START_TEST(test_csv_log_lines)
{
    NnrtModel m;
    make_model(&m);
    const char *log = tpath("log.csv");
    const char *argv[] = { "--epochs", "7", "--log-csv", log, NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 0);
    run_free(&r);
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    int n = 0;
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n");
    while (fgets(line, sizeof line, f)) {
        n++;
        int epoch;
        double loss, acc, lr;
        ck_assert_int_eq(sscanf(line, "%d,%lf,%lf,,,%lf,,", &epoch, &loss, &acc, &lr), 4);
        ck_assert_int_eq(epoch, n);
        ck_assert(loss > 0 && acc >= 0 && acc <= 1);
        ck_assert_double_eq_tol(lr, 0.5, 1e-9);
    }
    fclose(f);
    ck_assert_int_eq(n, 7);
}
END_TEST

/* A model whose optimizer has no learning rate (adadelta: no_lr): --lr
 * changes nothing, says so in one line on stderr, and neither the CSV log
 * nor --help shows a rate. */
START_TEST(test_no_lr_ignores_lr_flag)
{
    NnrtModel m;
    float w_flag[2], w_plain[2];
    make_model(&m);
    m.no_lr = 1;
    const char *log = tpath("nolr.csv");
    const char *with_lr[] = { "--epochs", "3", "--lr", "0.1", "--log-csv", log, NULL };
    Run r;
    run(&r, &m, with_lr);
    ck_assert_int_eq(r.rc, 0);
    memcpy(w_flag, W, sizeof W);
    ck_assert_int_eq(count_lines(r.err.buf, ""), 1);
    ASSERT_HAS(r.err.buf, "nnrt: warning: --lr changes nothing");
    ASSERT_HAS(r.err.buf, "has no learning rate");
    run_free(&r);
    const char *plain[] = { "--epochs", "3", NULL };
    run(&r, &m, plain);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.err.buf ? r.err.buf : "", "");
    memcpy(w_plain, W, sizeof W);
    run_free(&r);
    ck_assert_mem_eq(w_flag, w_plain, sizeof w_flag);
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    int n = 0;
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f)) {
        n++;
        size_t len = strlen(line);
        ck_assert_msg(len >= 2 && line[len - 2] == ',', "the lr field of '%s' is not empty", line);
    }
    fclose(f);
    ck_assert_int_eq(n, 3);
    Mem help = { NULL, NULL, 0 };
    help.f = open_memstream(&help.buf, &help.len);
    nnrt_args_usage(help.f, "gate_and", &m);
    ASSERT_HAS(mem_text(&help), "(default none: the optimizer takes no learning rate)");
    fclose(help.f);
    free(help.buf);
}
END_TEST

START_TEST(test_test_set_figures)
{
    NnrtModel m;
    make_model(&m);
    m.test.kind = NNRT_SRC_GATE;
    m.test.gate = "and";
    m.eval_every = 2;
    const char *argv[] = { "--epochs", "100", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch "), 100);
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch 1 | iter 2/2 |"), 1);
    ASSERT_HAS(r.out.buf, "| epoch 2 | iter 2/2 | time ");
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch 1 "), 1);
    /* only even epochs carry test figures */
    const char *e1 = strstr(r.out.buf, "| epoch 1 "), *e2 = strstr(r.out.buf, "| epoch 2 ");
    const char *t1 = strstr(e1, "test");
    ck_assert(t1 > strchr(e1, '\n'));
    ck_assert(strstr(e2, "test") < strchr(e2, '\n'));
    ASSERT_HAS(r.out.buf, " | test acc 1.0000\ndone: 100 epochs");
    ASSERT_HAS(r.out.buf, "| acc 1.0000 | test loss ");
    run_free(&r);
}
END_TEST

START_TEST(test_save_load_resume_matches_unbroken_run)
{
    NnrtModel m;
    float unbroken[5], resumed[5];
    char err[256];
    make_model(&m);
    const char *a = tpath("a.st"), *bb = tpath("b.st"), *c = tpath("c.st");
    const char *full[] = { "--epochs", "20", "--save", a, NULL };
    Run r;
    run(&r, &m, full);
    ck_assert_int_eq(r.rc, 0);
    ASSERT_HAS(r.out.buf, "saved ");
    memcpy(unbroken, W, 8), memcpy(unbroken + 2, b, 4), memcpy(unbroken + 3, vW, 8);
    run_free(&r);
    const char *half[] = { "--epochs", "10", "--save", bb, NULL };
    run(&r, &m, half);
    ck_assert_int_eq(r.rc, 0);
    run_free(&r);
    const char *rest[] = { "--epochs", "20", "--load", bb, "--save", c, NULL };
    run(&r, &m, rest);
    ck_assert_int_eq(r.rc, 0);
    ASSERT_HAS(r.out.buf, "resumed from ");
    ASSERT_HAS(r.out.buf, " at epoch 10, step 20\n");
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch "), 10);
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch 11 |"), 1);
    ASSERT_HAS(r.out.buf, "done: 20 epochs, 40 steps");
    memcpy(resumed, W, 8), memcpy(resumed + 2, b, 4), memcpy(resumed + 3, vW, 8);
    run_free(&r);
    ck_assert_mem_eq(unbroken, resumed, sizeof unbroken);
    long epoch, step;
    lr_init(0);
    ck_assert_int_eq(nnrt_ckpt_load(c, "gate_and", &epoch, &step, NULL, params, 2, state, 2, err, sizeof err), 0);
    ck_assert_int_eq(epoch, 20);
    ck_assert_int_eq(step, 40);
    ck_assert_mem_eq(W, unbroken, 8);
}
END_TEST

/* The train block's checkpoint, with the training set's input figures:
 * the gate's inputs * 0.5 are 0 and 0.5, half each: mean 0.25, std 0.25. */
START_TEST(test_checkpoint_from_train_block)
{
    NnrtModel m;
    make_model(&m);
    m.checkpoint = tpath("block.st");
    m.data.scale = 0.5f;
    m.data.normalize = NNRT_NORM_ALL;
    const char *argv[] = { "--epochs", "2", "--quiet", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 0);
    ck_assert(exists(m.checkpoint));
    ck_assert(!exists(tpath("block.st.tmp")));
    run_free(&r);
    NnrtCkptMeta meta;
    char err[256];
    nnrt_ckpt_meta_want(&m, &meta);
    ck_assert_uint_eq(meta.in_dim, 2);
    ck_assert_uint_eq(meta.max_classes, 2); /* a threshold: 0/1 */
    ck_assert_msg(nnrt_ckpt_load(m.checkpoint, "gate_and", NULL, NULL, &meta, params, 2, state, 2, err,
                                 sizeof err) == 0, "%s", err);
    ck_assert(meta.has_inputs && meta.normalize == NNRT_NORM_ALL);
    ck_assert(meta.scale == 0.5f && meta.mean == 0.25f && meta.std == 0.25f);
    nnrt_ckpt_meta_free(&meta);
}
END_TEST

START_TEST(test_load_errors)
{
    NnrtModel m;
    make_model(&m);
    const char *other = tpath("other.st");
    char err[256];
    float w[3] = { 0 };
    NnrtTensor t[1] = { { "W", w, NULL, 2, { 3, 1 }, 3 } };
    ck_assert_int_eq(nnrt_ckpt_save(other, "xor", 1, 1, NULL, t, 1, NULL, 0, err, sizeof err), 0);
    const char *argv[] = { "--load", other, NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 1);
    ASSERT_HAS(r.err.buf, "nnrt: checkpoint ");
    ASSERT_HAS(r.err.buf, "other.st was written by model 'xor', not 'gate_and'\n");
    ck_assert_int_eq(count_lines(r.err.buf, ""), 1);
    run_free(&r);
}
END_TEST

START_TEST(test_nan_loss_stops_with_3_and_saves_last_epoch)
{
    NnrtModel m;
    make_model(&m);
    const char *ck = tpath("keep.st");
    const char *first[] = { "--epochs", "2", "--save", ck, NULL };
    Run r;
    run(&r, &m, first);
    ck_assert_int_eq(r.rc, 0);
    run_free(&r);
    FILE *f = fopen(ck, "rb");
    unsigned char before[512], after[512];
    size_t n1 = fread(before, 1, sizeof before, f);
    fclose(f);
    make_model(&m);
    nan_at = 5; /* epoch 3, step 5 */
    const char *second[] = { "--epochs", "10", "--save", ck, NULL };
    run(&r, &m, second);
    ck_assert_int_eq(r.rc, 3);
    /* the stop saves the state at the end of epoch 2: the bytes an
     * unbroken two-epoch run saved */
    ASSERT_HAS(r.err.buf, "nnrt: loss is nan at epoch 3 step 5; stopping\n");
    ASSERT_HAS(r.err.buf, "keep.st: the state at the end of epoch 2 (step 4), the last before the stop;");
    ck_assert_int_eq(count_lines(r.err.buf, ""), 2);
    ck_assert_ptr_null(strstr(r.out.buf, "done:"));
    run_free(&r);
    f = fopen(ck, "rb");
    size_t n2 = fread(after, 1, sizeof after, f);
    fclose(f);
    ck_assert_uint_eq(n1, n2);
    ck_assert_mem_eq(before, after, n1);
}
END_TEST

START_TEST(test_gradcheck_passes_and_restores)
{
    NnrtModel m;
    make_model(&m);
    lr_init(7); /* what the driver's init(seed 7) will give */
    float w0[2], b0 = b[0];
    memcpy(w0, W, sizeof W);
    const char *argv[] = { "--gradcheck", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_msg(r.rc == 0, "%s", r.out.buf);
    ASSERT_HAS(r.out.buf, "gradcheck W [2,1]: max rel err ");
    ASSERT_HAS(r.out.buf, " (2 checked)\n");
    ASSERT_HAS(r.out.buf, "gradcheck b [1]: max rel err ");
    ASSERT_HAS(r.out.buf, " (1 checked)\n");
    ASSERT_HAS(r.out.buf, "(limit 1e-02): ok\n");
    ck_assert_mem_eq(W, w0, sizeof W); /* params as init left them */
    ck_assert(b[0] == b0);
    ck_assert(modes_seen & (1 << NNRT_TRAIN_SAME_MASK));
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch"), 0);
    run_free(&r);
}
END_TEST

START_TEST(test_gradcheck_catches_a_wrong_backward)
{
    NnrtModel m;
    make_model(&m);
    wrong_backward = 1;
    const char *argv[] = { "--gradcheck", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 1);
    ASSERT_HAS(r.out.buf, "gradcheck W [2,1]: max rel err ");
    ASSERT_HAS(r.out.buf, "): FAILED\n");
    /* W's gradient is right, b's is doubled: b is the one flagged */
    double ew = 1, eb = 0;
    sscanf(strstr(r.out.buf, "gradcheck W"), "gradcheck W [2,1]: max rel err %lf", &ew);
    sscanf(strstr(r.out.buf, "gradcheck b"), "gradcheck b [1]: max rel err %lf", &eb);
    ck_assert_double_lt(ew, 1e-2);
    ck_assert_double_gt(eb, 0.3);
    run_free(&r);
}
END_TEST

START_TEST(test_gradcheck_direct_on_resumed_params)
{
    NnrtModel m;
    NnrtData d;
    char err[256];
    make_model(&m);
    ck_assert_int_eq(nnrt_data_load(&m.data, 2, NNRT_LABEL_FLOAT, 1, 0, &d, NULL, err, sizeof err), 0);
    lr_init(3);
    W[0] = 2.0f, W[1] = -1.0f, b[0] = 0.5f;
    FILE *devnull = fopen("/dev/null", "w");
    ck_assert_int_eq(nnrt_gradcheck(&m, &d, devnull), 0);
    wrong_backward = 1;
    ck_assert_int_eq(nnrt_gradcheck(&m, &d, devnull), 1);
    fclose(devnull);
    ck_assert(W[0] == 2.0f && W[1] == -1.0f && b[0] == 0.5f);
    nnrt_data_free(&d);
}
END_TEST

START_TEST(test_early_stopping_restores_best)
{
    NnrtModel m;
    float after1[3];
    make_model(&m);
    const char *one[] = { "--epochs", "1", NULL };
    Run r;
    run(&r, &m, one);
    memcpy(after1, W, 8), after1[2] = b[0];
    run_free(&r);
    /* the test set is NAND: learning AND makes its loss rise at once */
    make_model(&m);
    m.test.kind = NNRT_SRC_GATE;
    m.test.gate = "nand";
    m.early_stopping = 1;
    m.checkpoint = tpath("early.st");
    run(&r, &m, NULL);
    ck_assert_int_eq(r.rc, 0);
    ASSERT_HAS(r.out.buf, "early stop at epoch 2: test loss ");
    ASSERT_HAS(r.out.buf, "(epoch 1); best params restored\n");
    ASSERT_HAS(r.out.buf, "done: 2 epochs, 4 steps");
    ck_assert(W[0] == after1[0] && W[1] == after1[1] && b[0] == after1[2]);
    ck_assert(exists(m.checkpoint));
    run_free(&r);
}
END_TEST

START_TEST(test_early_stopping_without_test_set)
{
    NnrtModel m;
    make_model(&m);
    m.early_stopping = 1;
    const char *argv[] = { "--epochs", "3", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.err.buf, "nnrt: early_stopping needs a test set or validation; ignored\n");
    ASSERT_HAS(r.out.buf, "done: 3 epochs");
    run_free(&r);
}
END_TEST

START_TEST(test_drop_last)
{
    NnrtModel m;
    make_model(&m);
    m.drop_last = 1;
    const char *argv[] = { "--epochs", "5", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 0);
    ASSERT_HAS(r.out.buf, "| epoch 1 | iter 1/1 |");
    ASSERT_HAS(r.out.buf, "done: 5 epochs, 5 steps");
    run_free(&r);
    m.batch = 5; /* more than the 4 rows: nothing to train on */
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err.buf, "nnrt: the training set has 4 rows, fewer than one batch of 5, "
                                "and drop_last is on\n");
    run_free(&r);
}
END_TEST

START_TEST(test_csv_data_flag)
{
    NnrtModel m;
    make_model(&m);
    const char *csv = tpath("and.csv");
    FILE *f = fopen(csv, "w");
    fputs("x1,x2,y\n0,0,0\n0,1,0\n1,0,0\n1,1,1\n", f);
    fclose(f);
    const char *argv[] = { "--data", csv, "--test", csv, "--quiet", NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_msg(r.rc == 0, "%s", r.err.buf);
    ASSERT_HAS(r.out.buf, "| acc 1.0000 | test loss ");
    ASSERT_HAS(r.out.buf, "| test acc 1.0000\n");
    run_free(&r);
}
END_TEST

START_TEST(test_data_errors_exit_1)
{
    NnrtModel m;
    make_model(&m);
    const char *missing = tpath("missing.csv");
    const char *a1[] = { "--data", missing, NULL };
    Run r;
    run(&r, &m, a1);
    ck_assert_int_eq(r.rc, 1);
    ASSERT_HAS(r.err.buf, "nnrt: cannot open ");
    ASSERT_HAS(r.err.buf, "missing.csv: No such file or directory\n");
    ck_assert_int_eq(count_lines(r.err.buf, ""), 1);
    run_free(&r);
    const char *a2[] = { "--data", "im.gz,lb.gz", NULL };
    run(&r, &m, a2);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err.buf, "nnrt: cannot open im.gz: No such file or directory\n");
    run_free(&r);
    m.in_dim = 3;
    run(&r, &m, NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err.buf, "nnrt: gate(\"and\"): rows have 2 inputs, the model's input has 3 (f32[B,3])\n");
    run_free(&r);
    make_model(&m);
    m.data.kind = NNRT_SRC_NONE;
    run(&r, &m, NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err.buf, "nnrt: model gate_and has no training data (a data= source or --data)\n");
    run_free(&r);
    make_model(&m);
    m.data.kind = NNRT_SRC_CSV;
    m.data.csv_path = missing;
    const char *a3[] = { "--data", "a,b", NULL };
    run(&r, &m, a3);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err.buf, "nnrt: --data: csv data takes one path, not two\n");
    run_free(&r);
}
END_TEST

START_TEST(test_bad_descriptor_and_flags)
{
    NnrtModel m;
    make_model(&m);
    m.forward = NULL;
    Run r;
    run(&r, &m, NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err.buf, "nnrt: the model descriptor has no forward\n");
    run_free(&r);
    make_model(&m);
    m.train_step = NULL;
    run(&r, &m, NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err.buf, "nnrt: the model descriptor has no train_step\n");
    run_free(&r);
    make_model(&m);
    const char *argv[] = { "--epochs", "x", NULL };
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 2);
    run_free(&r);
}
END_TEST

START_TEST(test_nnrt_main)
{
    NnrtModel m;
    make_model(&m);
    /* nnrt_main prints to stdout and stderr: send them to /dev/null and
     * back, so the suite's own report survives under CK_FORK=no */
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    FILE *null = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(null);
    dup2(fileno(null), 1);
    dup2(fileno(null), 2);
    char prog[] = "gate_and", epochs[] = "--epochs=3", help[] = "--help", nope[] = "--nope";
    char *ok[] = { prog, epochs, NULL };
    ck_assert_int_eq(nnrt_main(&m, 2, ok), 0);
    char *hl[] = { prog, help, NULL };
    ck_assert_int_eq(nnrt_main(&m, 2, hl), 0);
    char *bad[] = { prog, nope, NULL };
    int rc = nnrt_main(&m, 2, bad);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    fclose(null);
    ck_assert_int_eq(rc, 2);
}
END_TEST

/* ---- validation ---------------------------------------------------------------- */

/* 8 rows of AND (inputs 0/1 plus i/100 to tell rows apart), written to
 * path; held: the rows validation=0.25 holds out under the model's seed
 * get the opposite label when flip is set. */
static void write_and8(const char *path, uint64_t seed, int flip)
{
    uint8_t held[8] = { 0 };
    if (flip) {
        uint32_t perm[8];
        NnrtRng rng;
        for (uint32_t i = 0; i < 8; i++)
            perm[i] = i;
        nnrt_rng_seed_stream(&rng, seed, NNRT_STREAM_VALIDATION);
        nnrt_shuffle(perm, 8, &rng);
        held[perm[0]] = held[perm[1]] = 1;
    }
    FILE *f = fopen(path, "w");
    fputs("x1,x2,y\n", f);
    for (int i = 0; i < 8; i++) {
        int a = i >> 1 & 1, b2 = i & 1, y = a & b2;
        fprintf(f, "%g,%g,%d\n", a + i / 100.0, b2 + i / 100.0, held[i] ? !y : y);
    }
    fclose(f);
}

START_TEST(test_validation_run)
{
    NnrtModel m;
    make_model(&m);
    const char *csv = tpath("and8.csv"), *log = tpath("val.csv");
    write_and8(csv, 7, 0);
    m.validation = 0.25f;
    const char *argv[] = { "--data", csv, "--epochs", "5", "--log-csv", log, NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_msg(r.rc == 0, "%s", r.err.buf);
    /* 6 rows trained on: 2 batches of B = 3 an epoch */
    ASSERT_HAS(r.out.buf, "done: 5 epochs, 10 steps");
    ck_assert_int_eq(count_lines(r.out.buf, "| epoch "), 5);
    ASSERT_HAS(r.out.buf, "| epoch 5 | iter 2/2 | time ");
    ck_assert(strstr(r.out.buf, " | val loss ") && strstr(r.out.buf, " | val acc "));
    const char *done = strstr(r.out.buf, "done: ");
    ck_assert_ptr_nonnull(done);
    ASSERT_HAS(done, " | val loss ");
    ASSERT_HAS(done, " | val acc ");
    run_free(&r);
    FILE *f = fopen(log, "r");
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n");
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        int epoch;
        double loss, acc, lr, vl, va;
        ck_assert_int_eq(sscanf(line, "%d,%lf,%lf,,,%lf,%lf,%lf", &epoch, &loss, &acc, &lr, &vl, &va), 6);
        ck_assert(vl > 0 && va >= 0 && va <= 1);
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, 5);
}
END_TEST

START_TEST(test_validation_early_stopping)
{
    /* the held-out rows carry the opposite labels: learning AND on the rest
     * makes their loss rise, and early stopping goes by it (no test set) */
    NnrtModel m;
    make_model(&m);
    const char *csv = tpath("flip8.csv");
    write_and8(csv, 7, 1);
    m.validation = 0.25f;
    m.early_stopping = 1;
    const char *argv[] = { "--data", csv, NULL };
    Run r;
    run(&r, &m, argv);
    ck_assert_msg(r.rc == 0, "%s", r.err.buf);
    ck_assert_str_eq(r.err.buf, "");
    ASSERT_HAS(r.out.buf, "early stop at epoch 2: val loss ");
    ASSERT_HAS(r.out.buf, "(epoch 1); best params restored\n");
    run_free(&r);
    /* too few rows to hold any out: a load error, exit 1 */
    make_model(&m);
    m.validation = 0.05f;
    run(&r, &m, argv);
    ck_assert_int_eq(r.rc, 1);
    ASSERT_HAS(r.err.buf, "validation=0.05 of 8 training rows holds out 0 and leaves 8 to train on");
    ck_assert_int_eq(count_lines(r.err.buf, ""), 1);
    run_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_train");
    TCase *tc = tcase_create("driver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_trains_to_full_accuracy);
    tcase_add_test(tc, test_quiet_prints_only_the_summary);
    tcase_add_test(tc, test_log_every_counts_steps);
    tcase_add_test(tc, test_flags_override_and_seed_determinism);
    tcase_add_test(tc, test_csv_log_lines);
    tcase_add_test(tc, test_no_lr_ignores_lr_flag);
    tcase_add_test(tc, test_test_set_figures);
    tcase_add_test(tc, test_save_load_resume_matches_unbroken_run);
    tcase_add_test(tc, test_checkpoint_from_train_block);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_nan_loss_stops_with_3_and_saves_last_epoch);
    tcase_add_test(tc, test_early_stopping_restores_best);
    tcase_add_test(tc, test_early_stopping_without_test_set);
    tcase_add_test(tc, test_validation_run);
    tcase_add_test(tc, test_validation_early_stopping);
    tcase_add_test(tc, test_drop_last);
    tcase_add_test(tc, test_csv_data_flag);
    tcase_add_test(tc, test_data_errors_exit_1);
    tcase_add_test(tc, test_bad_descriptor_and_flags);
    tcase_add_test(tc, test_nnrt_main);
    tcase_add_test(tc, test_backend_runs_as_the_cpu);
    tcase_add_test(tc, test_backend_nan_in_a_run);
    tcase_add_test(tc, test_backend_interrupt_and_resume);
    suite_add_tcase(s, tc);
    TCase *gc = tcase_create("gradcheck");
    tcase_add_checked_fixture(gc, setup, teardown);
    tcase_add_test(gc, test_gradcheck_passes_and_restores);
    tcase_add_test(gc, test_gradcheck_catches_a_wrong_backward);
    tcase_add_test(gc, test_gradcheck_direct_on_resumed_params);
    suite_add_tcase(s, gc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
