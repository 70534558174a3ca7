/* train.c: the driver every emitted main hands control to, for every
 * backend (nnrt.h: NnrtBackend).
 *
 *   nnrt_main   = flags -> nnrt_run
 *   nnrt_run    = nnrt_run_on with the CPU backend (the model's own
 *                 functions on the host: the end of this file)
 *   nnrt_run_on = config (flags over the train block) -> load data ->
 *                 prepare the backend -> init, --init-from or --load ->
 *                 [gradcheck] -> epochs -> summary -> checkpoint (with the
 *                 training set's input figures and class names in its
 *                 metadata) -> [plot: the epochs there were, however the
 *                 run ended]; or, with --predict, nnrt_predict (predict.c)
 *
 * Everything the loop needs (the permutation, the step losses, the copy
 * for the checkpoint, --plot's history, the backend's own buffers) is
 * allocated before the first epoch; the loop itself makes each epoch's
 * permutation, hands runs of steps to the backend and takes their losses
 * in order.  Schedules, logging cadence and early stopping are described
 * in nnrt.h.
 *
 * A run that stops early still writes the checkpoint it was asked for.
 * When a checkpoint is due (--save or the train block's), the params and
 * optimizer state are copied at every epoch boundary (one memcpy an epoch,
 * after the backend's pull); a non-finite loss, or an output that cannot
 * be written (the CSV log, stdout on a full disk), stops the run and saves
 * that copy: the last good state, which --load resumes exactly (same
 * epoch, same permutation).
 *
 * SIGINT and SIGTERM (nnrt_stop_*, stop.c) only set a flag.  The loop looks at
 * it after each run of steps (one step on the CPU): the run at hand is
 * finished (and, when it ended the epoch, the epoch's end too), then the
 * state after it is written with its epoch, step and batch (nnrt_interrupt),
 * and the run exits 130.  --load of that file goes on at the next batch of
 * the same permutation, so an interrupted and resumed run ends with the
 * params of an unbroken one.
 */
#include "nnrt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One run: the model, its settings after the flags, and what it owns. */
typedef struct NnrtRun {
    NnrtModel *m;
    NnrtBackend *b;        /* where the steps and evaluations run */
    const NnrtArgs *a;
    FILE *out, *err;
    int epochs, quiet;
    float lr;
    uint64_t seed;
    const char *save;
    int log_every, save_every;
    char *stop_path;       /* an interrupt's and --save-every's checkpoint: save, or
                              MODEL.interrupted.safetensors (owned) */
    NnrtSource src, test_src;
    NnrtData train, test;
    NnrtData val;          /* rows held out of train (validation=) */
    int has_test, has_val, early;
    uint32_t *perm;
    float *losses;         /* the losses of one run of steps (b->chunk) */
    float *snap;           /* params then state at an epoch boundary (with a checkpoint due) */
    int snap_epoch;        /* the position that snap holds; snap_epoch -1: none yet */
    long snap_step, snap_batch;
    double best_loss;
    int best_epoch;
    NnrtCsvLog log;
    NnrtHistory hist;      /* --plot: the figures of every epoch run */
    int epoch;             /* epochs completed */
    long step;             /* updates done, over all epochs */
    long batch;            /* batches done of epoch `epoch` (an interrupted one), else 0 */
    long step0;            /* step when this run began: its throughput counts from here */
    double rows_run;       /* rows this run has trained on (samples/s) */
    int nothing_left;      /* --load was already at --epochs: no training, no save */
    double t0;
    NnrtTick tick;         /* the progress line on a terminal */
    int sig;               /* the signal that stopped the run, or 0 */
    char msg[1024];
} NnrtRun;

float nnrt_lr_at(float lr, float final_lr, int decay, int e, int epochs)
{
    if (epochs <= 1)
        return lr;
    double f = (double)e / (double)(epochs - 1);
    switch (decay) {
    case NNRT_DECAY_LINEAR: return (float)((double)lr + ((double)final_lr - (double)lr) * f);
    case NNRT_DECAY_EXPONENTIAL:
        if (!(lr > 0.0f) || !(final_lr > 0.0f))
            return lr;
        return (float)((double)lr * pow((double)final_lr / (double)lr, f));
    default: return lr;
    }
}

/* ---- evaluation ------------------------------------------------------------ */

static size_t nnrt_argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Correct predictions among n rows of y (out_dim each) against labels t as
 * gathered; *count grows by the number of predictions judged. */
static size_t nnrt_correct(const NnrtModel *m, const NnrtData *d, const float *y,
                           const void *t, size_t n, size_t *count)
{
    size_t ok = 0, w = m->out_dim;
    const int32_t *tc = d->tc ? (const int32_t *)t : NULL;
    const float *tf = d->tc ? NULL : (const float *)t;
    for (size_t i = 0; i < n; i++) {
        if (m->acc_kind == NNRT_ACC_ARGMAX) {
            size_t want = tc ? (size_t)tc[i] : nnrt_argmax(tf + i * d->t_dim, d->t_dim);
            ok += nnrt_argmax(y + i * w, w) == want;
            *count += 1;
            continue;
        }
        for (size_t j = 0; j < w; j++) { /* THRESHOLD: every output a 0/1 guess */
            int guess = y[i * w + j] >= m->acc_threshold;
            int want = tc ? tc[i] != 0 : tf[i * d->t_dim + (d->t_dim == w ? j : 0)] >= 0.5f;
            ok += guess == want;
            *count += 1;
        }
    }
    return ok;
}

/* Rows [from, to) in batches of B: loss (forward EVAL) weighted by rows,
 * right predictions and predictions judged (predict vs labels), added to
 * sums[0..2]. */
void nnrt_evaluate_rows(const NnrtModel *m, const NnrtData *d, size_t from, size_t to, int want_loss,
                        double sums[3])
{
    size_t B = m->batch;
    int want_acc = m->acc_kind != NNRT_ACC_NONE;
    for (size_t start = from; start < to; start += B) {
        size_t n = to - start < B ? to - start : B, count = 0;
        nnrt_gather(d, NULL, start, n, m->x_buf, m->t_buf);
        if (want_loss)
            sums[0] += (double)m->forward(m->x_buf, m->t_buf, (int)n, NNRT_EVAL) * (double)n;
        if (want_acc) {
            m->predict(m->x_buf, (int)n, m->y_buf);
            sums[1] += (double)nnrt_correct(m, d, m->y_buf, m->t_buf, n, &count);
            sums[2] += (double)count;
        }
    }
}

/* Loss: forward(EVAL) weighted by rows; acc: predict vs labels. */
static void nnrt_eval_pass(const NnrtModel *m, const NnrtData *d, int want_loss, double *loss,
                           double *acc)
{
    double sums[3] = { 0.0, 0.0, 0.0 };
    nnrt_evaluate_rows(m, d, 0, d->rows, want_loss, sums);
    *loss = want_loss && d->rows ? sums[0] / (double)d->rows : (double)NAN;
    *acc = m->acc_kind != NNRT_ACC_NONE && sums[2] > 0 ? sums[1] / sums[2] : (double)NAN;
}

void nnrt_evaluate(const NnrtModel *m, const NnrtData *d, double *loss, double *acc)
{
    nnrt_eval_pass(m, d, 1, loss, acc);
}

/* ---- setting up ------------------------------------------------------------- */

/* The descriptor has what the driver will call and fill. */
static int nnrt_model_check(const NnrtModel *m, char *err, size_t errlen)
{
    const char *missing = !m->name ? "name" : !m->init ? "init" : !m->forward ? "forward"
                        : !m->backward ? "backward" : !m->update ? "update" : !m->train_step ? "train_step"
                        : !m->x_buf ? "x_buf" : !m->t_buf ? "t_buf" : NULL;
    if (missing)
        return nnrt_errf(err, errlen, "the model descriptor has no %s", missing);
    if (m->batch == 0 || m->batch > INT_MAX || m->in_dim == 0)
        return nnrt_errf(err, errlen, "model %s: batch (%zu) and in_dim (%zu) must be >= 1",
                         m->name, m->batch, m->in_dim);
    if (m->acc_kind != NNRT_ACC_NONE && (!m->predict || !m->y_buf || m->out_dim == 0))
        return nnrt_errf(err, errlen, "model %s: accuracy needs predict, y_buf and out_dim", m->name);
    if (m->label_kind == NNRT_LABEL_FLOAT && m->label_dim == 0)
        return nnrt_errf(err, errlen, "model %s: float labels need label_dim >= 1", m->name);
    if (m->n_running < 0 || m->n_running > m->n_state)
        return nnrt_errf(err, errlen, "model %s: n_running (%d) must lie in [0, n_state = %d]", m->name,
                         m->n_running, m->n_state);
    return 0;
}

/* src = tmpl with the paths of --data/--test: two paths are IDX images and
 * labels, one path a CSV file. */
static int nnrt_apply_paths(NnrtSource *src, const NnrtSource *tmpl, const char *const paths[2],
                            int n, const char *flag, char *err, size_t errlen)
{
    *src = *tmpl;
    if (n == 0)
        return 0;
    if (n == 2 && tmpl->kind == NNRT_SRC_CSV)
        return nnrt_errf(err, errlen, "%s: csv data takes one path, not two", flag);
    if (n == 1 && tmpl->kind == NNRT_SRC_IDX)
        return nnrt_errf(err, errlen, "%s: idx data takes two paths, IMAGES,LABELS", flag);
    if (n == 2) {
        src->kind = NNRT_SRC_IDX;
        src->images = paths[0];
        src->labels = paths[1];
        return 0;
    }
    if (tmpl->kind != NNRT_SRC_CSV) {
        src->csv_label = -1;
        src->csv_header = 1;
    }
    src->kind = NNRT_SRC_CSV;
    src->csv_path = paths[0];
    return 0;
}

/* Flags over the train block (--data/--test paths replace the sources'
 * files). */
static int nnrt_run_config(NnrtRun *r)
{
    const NnrtModel *m = r->m;
    const NnrtArgs *a = r->a;
    r->epochs = a->epochs >= 0 ? a->epochs : m->epochs;
    r->lr = isnan(a->lr) || m->no_lr ? m->lr : a->lr;
    if (m->no_lr && !isnan(a->lr) && r->b->rank == 0)
        fprintf(r->err, "nnrt: warning: --lr changes nothing: %s's optimizer (adadelta) has no learning rate\n",
                m->name);
    r->seed = a->has_seed ? a->seed : m->seed;
    r->save = r->b->rank != 0 ? NULL : a->save ? a->save : m->checkpoint; /* rank 0 writes */
    r->log_every = a->log_every >= 0 ? a->log_every : m->log_every;
    r->save_every = a->save_every;
    r->quiet = a->quiet;
    if (nnrt_apply_paths(&r->src, &m->data, a->data, a->n_data, "--data", r->msg, sizeof r->msg) < 0)
        return -1;
    const NnrtSource *tmpl = m->test.kind != NNRT_SRC_NONE ? &m->test : &m->data;
    if (a->n_test)
        return nnrt_apply_paths(&r->test_src, tmpl, a->test, a->n_test, "--test", r->msg,
                                sizeof r->msg);
    r->test_src = m->test;
    return 0;
}

size_t nnrt_tensors_numel(const NnrtTensor *t, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += t[i].numel;
    return total;
}

/* validation=f: rows of the training set held out (seeded by the run's
 * seed), before the test set takes the training set's figures. */
static int nnrt_run_validation(NnrtRun *r)
{
    if (!(r->m->validation != 0.0f))
        return 0;
    char what[400], why[600];
    if (nnrt_data_split(&r->train, (double)r->m->validation, r->seed, &r->val, why,
                        sizeof why) == 0) {
        r->has_val = 1;
        return 0;
    }
    nnrt_source_describe(&r->src, what, sizeof what);
    return nnrt_errf(r->msg, sizeof r->msg, "%s: %s", what, why);
}

/* nnrt_data_load for the model, announced on out unless quiet when the
 * set is read from files (IDX, CSV): "loading FILE... " before (an IDX
 * gunzip takes a while), "N rows" or "failed" after. */
static int nnrt_load_set(NnrtRun *r, const NnrtSource *src, NnrtData *d, const NnrtData *stats)
{
    const NnrtModel *m = r->m;
    NnrtSource ids_src = *src; /* the model's input ids range goes with the source */
    ids_src.ids = m->in_ids;
    src = &ids_src;
    int say = !r->quiet && (src->kind == NNRT_SRC_IDX || src->kind == NNRT_SRC_CSV);
    if (say) {
        if (src->kind == NNRT_SRC_IDX)
            fprintf(r->out, "loading %s, %s... ", src->images, src->labels);
        else
            fprintf(r->out, "loading %s... ", src->csv_path);
        fflush(r->out);
    }
    int rc = nnrt_data_load(src, m->in_dim, m->label_kind, m->label_dim, nnrt_model_classes(m), d,
                            stats, r->msg, sizeof r->msg);
    if (say && rc < 0)
        fprintf(r->out, "failed\n");
    else if (say)
        fprintf(r->out, "%zu rows\n", d->rows);
    return rc;
}

/* The backend takes the sets (and, for early stopping, room for the best
 * params); the step losses of one of its runs. */
static int nnrt_run_prepare(NnrtRun *r)
{
    NnrtBackend *b = r->b;
    const NnrtData *sets[NNRT_SETS] = { &r->train, r->has_val ? &r->val : NULL,
                                        r->has_test ? &r->test : NULL };
    if (b->chunk < 1)
        return nnrt_errf(r->msg, sizeof r->msg, "the backend runs %ld steps at a time; it must "
                         "run at least 1", b->chunk);
    if (b->prepare(b, r->m, sets, r->early, r->msg, sizeof r->msg) < 0)
        return -1;
    if (!(r->losses = malloc((size_t)b->chunk * sizeof *r->losses)))
        return nnrt_errf(r->msg, sizeof r->msg, "out of memory for %ld step losses", b->chunk);
    return 0;
}

/* Training and test sets, the permutation, the backend's preparation and
 * the checkpoint's copy. */
static int nnrt_run_load(NnrtRun *r)
{
    NnrtModel *m = r->m;
    if (r->src.kind == NNRT_SRC_NONE)
        return nnrt_errf(r->msg, sizeof r->msg, "model %s has no training data (a data= "
                         "source or --data)", m->name);
    if (nnrt_load_set(r, &r->src, &r->train, NULL) < 0)
        return -1;
    if (nnrt_run_validation(r) < 0)
        return -1;
    r->has_test = r->test_src.kind != NNRT_SRC_NONE;
    if (r->has_test && nnrt_load_set(r, &r->test_src, &r->test, &r->train) < 0)
        return -1;
    r->perm = malloc(r->train.rows * sizeof *r->perm);
    if (!r->perm)
        return nnrt_errf(r->msg, sizeof r->msg, "out of memory for %zu rows", r->train.rows);
    r->early = m->early_stopping && (r->has_test || r->has_val);
    if (m->early_stopping && !r->early && r->b->rank == 0)
        fprintf(r->err, "nnrt: early_stopping needs a test set or validation; ignored\n");
    if (nnrt_run_prepare(r) < 0)
        return -1;
    size_t total = nnrt_tensors_numel(m->params, m->n_params) +
                   nnrt_tensors_numel(m->state, m->n_state);
    if (r->save && !(r->snap = malloc((total ? total : 1) * sizeof(float))))
        return nnrt_errf(r->msg, sizeof r->msg, "out of memory for the checkpoint's copy");
    if (!(r->stop_path = nnrt_stop_path(r->save, m->name)))
        return nnrt_errf(r->msg, sizeof r->msg, "out of memory for the checkpoint's name");
    return 0;
}

/* Batches an epoch takes: rows/B, plus one for the rest unless drop_last. */
static long nnrt_iters(const NnrtRun *r)
{
    size_t B = r->m->batch, rows = r->train.rows;
    return (long)(r->m->drop_last ? rows / B : (rows + B - 1) / B);
}

size_t nnrt_batch_rows(const NnrtModel *m, size_t rows, long it)
{
    size_t B = m->batch, start = (size_t)it * B;
    return rows - start < B ? rows - start : B;
}

/* After --load (at epoch, step, and batch inside the next epoch): refuses
 * a batch the data's epoch does not have, else prints the "resumed from"
 * line unless quiet. */
static int nnrt_resumed(NnrtRun *r)
{
    long iters = nnrt_iters(r), batch = r->batch;
    const char *path = r->a->load;
    if (batch > 0 && batch >= iters)
        return nnrt_errf(r->msg, sizeof r->msg, "checkpoint %s stopped after batch %ld of epoch %d, "
                         "but an epoch here has %ld batches; was it trained on other data or "
                         "another batch size?", path, batch, r->epoch + 1, iters);
    if (!r->quiet && batch > 0)
        fprintf(r->out, "resumed from %s at epoch %d, step %ld (batch %ld of epoch %d done)\n",
                path, r->epoch, r->step, batch, r->epoch + 1);
    else if (!r->quiet)
        fprintf(r->out, "resumed from %s at epoch %d, step %ld\n", path, r->epoch, r->step);
    return 0;
}

/* The host tensors to the backend, and back. */
static void nnrt_push(NnrtRun *r)
{
    if (r->b->push)
        r->b->push(r->b);
}

static void nnrt_pull(NnrtRun *r)
{
    if (r->b->pull)
        r->b->pull(r->b);
}

/* --init-from FILE: the params from FILE over init's, the optimizer fresh. */
static int nnrt_run_init_from(NnrtRun *r)
{
    if (nnrt_init_from(r->m, r->a->init_from, r->err, r->msg, sizeof r->msg) < 0)
        return -1;
    if (!r->quiet)
        fprintf(r->out, "params from %s\n", r->a->init_from);
    return 0;
}

/* --load FILE: params, state (running statistics, optimizer state), epoch, step and batch. */
static int nnrt_run_resume(NnrtRun *r)
{
    NnrtModel *m = r->m;
    long epoch = 0, step = 0;
    NnrtCkptMeta meta; /* checked as the file is read; training uses its own figures */
    nnrt_ckpt_meta_want(m, &meta);
    if (nnrt_ckpt_load(r->a->load, m->name, &epoch, &step, &meta, m->params, m->n_params,
                       m->state, m->n_state, r->msg, sizeof r->msg) < 0)
        return -1;
    nnrt_ckpt_meta_free(&meta);
    r->epoch = epoch > INT_MAX ? INT_MAX : (int)epoch;
    r->step = step;
    r->batch = meta.batch;
    return nnrt_resumed(r);
}

/* init(seed), then the params of --init-from, or the checkpoint of --load
 * (read by rank 0 alone, which shares where it stands: epoch, step,
 * batch); then they are the backend's. */
static int nnrt_run_start(NnrtRun *r)
{
    r->m->init(r->seed);
    if (r->b->rank == 0 &&
        (r->a->init_from ? nnrt_run_init_from(r) < 0 : r->a->load && nnrt_run_resume(r) < 0))
        return -1;
    if (r->b->share) {
        long where[3] = { r->epoch, r->step, r->batch };
        r->b->share(r->b, where, 3);
        r->epoch = (int)where[0];
        r->step = where[1];
        r->batch = where[2];
    }
    nnrt_push(r);
    return 0;
}

/* The stop signal this process acts on: its own, or the one every rank
 * agreed on. */
static int nnrt_run_signal(NnrtRun *r)
{
    int sig = nnrt_stop_signal();
    return r->b->agree ? r->b->agree(r->b, sig) : sig;
}

/* n tensors <-> buf, one after the other; returns the end of buf. */
static float *nnrt_tensors_copy(const NnrtTensor *ts, int n, float *buf, int to_buf)
{
    for (int i = 0; i < n; i++) {
        const NnrtTensor *t = &ts[i];
        if (to_buf)
            memcpy(buf, t->data, t->numel * sizeof(float));
        else
            memcpy(t->data, buf, t->numel * sizeof(float));
        buf += t->numel;
    }
    return buf;
}

/* The checkpoint's copy: params and state now, at an epoch boundary. */
static void nnrt_snapshot(NnrtRun *r)
{
    if (!r->snap)
        return;
    nnrt_pull(r);
    float *end = nnrt_tensors_copy(r->m->params, r->m->n_params, r->snap, 1);
    nnrt_tensors_copy(r->m->state, r->m->n_state, end, 1);
    r->snap_epoch = r->epoch;
    r->snap_step = r->step;
    r->snap_batch = r->batch;
}

/* A run stopped by a bad loss or a failed write: the checkpoint it asked
 * for, of the copy (the model is done training, so the copy goes back
 * into it).  A failure here is printed at once: r->msg holds the stop's. */
static void nnrt_save_snapshot(NnrtRun *r)
{
    if (!r->snap || r->snap_epoch < 0)
        return;
    NnrtModel *m = r->m;
    float *end = nnrt_tensors_copy(m->params, m->n_params, r->snap, 0);
    nnrt_tensors_copy(m->state, m->n_state, end, 0);
    char msg[1024];
    NnrtCkptMeta meta;
    nnrt_ckpt_meta_of(&r->train, &meta);
    meta.batch = r->snap_batch;
    if (nnrt_ckpt_save(r->save, m->name, r->snap_epoch, r->snap_step, &meta, m->params,
                       m->n_params, m->state, m->n_state, msg, sizeof msg) < 0)
        fprintf(r->err, "nnrt: %s\n", msg);
    else if (meta.batch > 0)
        fprintf(r->err, "nnrt: saved %s: the state where this run began (epoch %d, step %ld), "
                "the last before the stop; --load %s resumes from there\n", r->save,
                r->snap_epoch, r->snap_step, r->save);
    else
        fprintf(r->err, "nnrt: saved %s: the state at the end of epoch %d (step %ld), the last "
                "before the stop; --load %s resumes from there\n", r->save, r->snap_epoch,
                r->snap_step, r->save);
}

/* Stopped by SIGINT or SIGTERM after a step: the state now, with its
 * position, into stop_path; one line with the command that resumes.
 * NNRT_EXIT_INTERRUPTED, or 1 when the checkpoint cannot be written. */
static int nnrt_interrupt(NnrtRun *r)
{
    NnrtModel *m = r->m;
    if (r->b->rank != 0) /* rank 0 writes the checkpoint and says so */
        return NNRT_EXIT_INTERRUPTED;
    NnrtCkptMeta meta;
    nnrt_ckpt_meta_of(&r->train, &meta);
    meta.batch = r->batch;
    nnrt_tick_break(&r->tick, r->out);
    fflush(r->out);
    if (nnrt_csvlog_close(&r->log, r->msg, sizeof r->msg) < 0)
        fprintf(r->err, "nnrt: %s\n", r->msg);
    nnrt_pull(r);
    if (nnrt_ckpt_save(r->stop_path, m->name, r->epoch, r->step, &meta, m->params, m->n_params,
                       m->state, m->n_state, r->msg, sizeof r->msg) < 0) {
        fprintf(r->err, "nnrt: interrupted by %s, and %s\n", nnrt_stop_signame(r->sig), r->msg);
        r->msg[0] = '\0';
        return 1;
    }
    if (r->batch > 0)
        fprintf(r->err, "nnrt: interrupted by %s in epoch %d after batch %ld of %ld (step %ld): "
                "saved %s; resume with: ", nnrt_stop_signame(r->sig), r->epoch + 1, r->batch,
                nnrt_iters(r), r->step, r->stop_path);
    else
        fprintf(r->err, "nnrt: interrupted by %s after epoch %d (step %ld): saved %s; resume "
                "with: ", nnrt_stop_signame(r->sig), r->epoch, r->step, r->stop_path);
    if (r->b->ranks > 1) /* the command runs under MPI's launcher again */
        fprintf(r->err, "mpirun -np %d ", r->b->ranks);
    nnrt_args_resume(r->err, r->a, m->name, r->stop_path);
    fputc('\n', r->err);
    fflush(r->err);
    return NNRT_EXIT_INTERRUPTED;
}

/* --save-every N: the checkpoint after every N-th epoch, unless it is the
 * last one and the run's own save follows.  0, or -1 on a write error. */
static int nnrt_save_every(NnrtRun *r)
{
    NnrtModel *m = r->m;
    if (r->save_every <= 0 || r->epoch % r->save_every != 0 || (r->save && r->epoch >= r->epochs) ||
        r->b->rank != 0)
        return 0;
    NnrtCkptMeta meta;
    nnrt_ckpt_meta_of(&r->train, &meta);
    nnrt_pull(r);
    if (nnrt_ckpt_save(r->stop_path, m->name, r->epoch, r->step, &meta, m->params, m->n_params,
                       m->state, m->n_state, r->msg, sizeof r->msg) < 0)
        return -1;
    nnrt_tick_break(&r->tick, r->out);
    if (!r->quiet)
        fprintf(r->out, "saved %s (epoch %d, step %ld)\n", r->stop_path, r->epoch, r->step);
    return 0;
}

/* ---- the loop ---------------------------------------------------------------- */

/* Per epoch: sums for the epoch and for the current progress window. */
typedef struct NnrtEpoch {
    int e;                  /* 0-based */
    float lr;
    long iters;
    double sum, rows;       /* the epoch's loss * rows and rows */
    double win_sum, win_rows;
    int logged;             /* a plain progress line was due in this epoch */
} NnrtEpoch;

/* An epoch's figures before any evaluation: NaN everywhere. */
static NnrtFigures nnrt_no_figures(int epoch)
{
    NnrtFigures f = { epoch, NAN, NAN, NAN, NAN, NAN, NAN };
    return f;
}

/* The progress line (with f's validation and test figures); -1 when
 * stdout cannot be written. */
static int nnrt_progress(NnrtRun *r, NnrtEpoch *ep, long iter, const NnrtFigures *f)
{
    double loss = ep->win_rows > 0 ? ep->win_sum / ep->win_rows : ep->sum / ep->rows;
    ep->win_sum = ep->win_rows = 0.0;
    ep->logged = 1;
    if (r->quiet || r->tick.on ||
        nnrt_log_progress_val(r->out, ep->e + 1, iter, ep->iters, nnrt_now() - r->t0, loss,
                              f->val_loss, f->val_acc, f->test_loss, f->test_acc) == 0)
        return 0;
    return nnrt_write_error("standard output", errno, r->msg, sizeof r->msg);
}

/* The terminal's line after step `iter` of the epoch (end: the epoch is
 * over; its figures f stay, with a newline when a plain line was due). */
static int nnrt_tick(NnrtRun *r, NnrtEpoch *ep, long iter, int end, const NnrtFigures *f)
{
    if (!r->tick.on)
        return 0;
    double secs = nnrt_now() - r->t0;
    long done = r->step - r->step0, left = ep->iters - iter + (long)(r->epochs - ep->e - 1) * ep->iters;
    NnrtTickFigures t = { ep->e + 1, r->epochs, iter, ep->iters, secs > 0 ? r->rows_run / secs : 0.0,
                          ep->rows > 0 ? ep->sum / ep->rows : (double)NAN, f->val_loss, f->val_acc,
                          f->test_loss, f->test_acc,
                          done > 0 ? secs / (double)done * (double)left : (double)NAN };
    int newline = end && (ep->logged || ep->e + 1 >= r->epochs);
    if (nnrt_tick_draw(&r->tick, r->out, &t, newline) == 0)
        return 0;
    return nnrt_write_error("standard output", errno, r->msg, sizeof r->msg);
}

/* This epoch's order of rows: identity, shuffled from (seed + e). */
static void nnrt_epoch_perm(NnrtRun *r, int e)
{
    for (size_t i = 0; i < r->train.rows; i++)
        r->perm[i] = (uint32_t)i;
    if (r->m->shuffle) {
        NnrtRng rng;
        nnrt_rng_seed_stream(&rng, r->seed + (uint64_t)e, NNRT_STREAM_SHUFFLE);
        nnrt_shuffle(r->perm, r->train.rows, &rng);
    }
}

/* Where a run of steps from batch `it` ends: after at most b->chunk
 * steps, at the epoch's end, or where a progress line is due. */
static long nnrt_run_end(const NnrtRun *r, long it, long iters)
{
    long to = iters - it > r->b->chunk ? it + r->b->chunk : iters;
    if (r->log_every > 0) {
        long due = it + (r->log_every - r->step % r->log_every);
        to = due < to ? due : to;
    }
    return to;
}

/* Batches [from, to) on the backend, then their losses taken in order;
 * 3 at a non-finite loss (reported at its epoch and step). */
static int nnrt_steps(NnrtRun *r, NnrtEpoch *ep, long from, long to)
{
    r->b->steps(r->b, from, to, r->losses);
    for (long it = from; it < to; it++) {
        float loss = r->losses[it - from];
        double n = (double)nnrt_batch_rows(r->m, r->train.rows, it);
        if (!isfinite(loss)) {
            nnrt_tick_break(&r->tick, r->out);
            if (r->b->rank == 0)
                fprintf(r->err, "nnrt: loss is %s at epoch %d step %ld; stopping\n",
                    isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf", ep->e + 1, r->step + 1);
            return 3;
        }
        r->step++;
        double w = (double)loss * n;
        ep->sum += w;
        ep->rows += n;
        r->rows_run += n;
        ep->win_sum += w;
        ep->win_rows += n;
    }
    return 0;
}

/* Early stopping after an evaluation, on the validation loss when there
 * is a validation set, else the test loss.  1 to stop. */
static int nnrt_early_stop(NnrtRun *r, NnrtEpoch *ep, const NnrtFigures *f)
{
    double loss = r->has_val ? f->val_loss : f->test_loss;
    const char *what = r->has_val ? "val" : "test";
    if (loss < r->best_loss || r->best_epoch == 0) {
        r->best_loss = loss;
        r->best_epoch = ep->e + 1;
        r->b->best(r->b, 0);
        return 0;
    }
    if (!(loss > r->best_loss))
        return 0;
    r->b->best(r->b, 1);
    nnrt_tick_break(&r->tick, r->out);
    if (!r->quiet)
        fprintf(r->out, "early stop at epoch %d: %s loss %.4f rose above %.4f (epoch %d); "
                "best params restored\n", ep->e + 1, what, loss, r->best_loss, r->best_epoch);
    return 1;
}

/* The end of an epoch: validation and test evaluation, the last progress
 * line, the CSV row, the plot's history, early stopping.  Returns 1 to
 * stop, 0 to go on, -1 on a log error. */
static int nnrt_epoch_end(NnrtRun *r, NnrtEpoch *ep)
{
    NnrtModel *m = r->m;
    NnrtFigures f = nnrt_no_figures(ep->e + 1);
    double unused;
    int eval = (r->has_test || r->has_val) && m->eval_every > 0 && (ep->e + 1) % m->eval_every == 0;
    nnrt_snapshot(r);
    if (eval && r->has_val)
        r->b->evaluate(r->b, NNRT_SET_VAL, 1, &f.val_loss, &f.val_acc);
    if (eval && r->has_test)
        r->b->evaluate(r->b, NNRT_SET_TEST, 1, &f.test_loss, &f.test_acc);
    if ((r->log_every <= 0 || r->step % r->log_every == 0 || eval) &&
        nnrt_progress(r, ep, ep->iters, &f) < 0)
        return -1;
    if (nnrt_tick(r, ep, ep->iters, 1, &f) < 0)
        return -1;
    f.loss = ep->sum / ep->rows;
    if ((r->a->log_csv || r->a->plot) && m->acc_kind != NNRT_ACC_NONE) /* alike on every rank */
        r->b->evaluate(r->b, NNRT_SET_TRAIN, 0, &unused, &f.acc);
    double lr = m->no_lr ? (double)NAN : (double)ep->lr; /* no rate: an empty field */
    if (nnrt_csvlog_row_val(&r->log, ep->e + 1, f.loss, f.acc, f.test_loss, f.test_acc, lr,
                            f.val_loss, f.val_acc, r->msg, sizeof r->msg) < 0)
        return -1;
    nnrt_history_add(&r->hist, &f);
    if (!r->early || !eval)
        return 0;
    return nnrt_early_stop(r, ep, &f);
}

/* One epoch, from its batch `first` (> 0 only when resuming an
 * interrupted epoch): the permutation to the backend, then runs of steps
 * (nnrt_run_end), each followed by the progress line when due, the
 * terminal's line and a look at the stop signal.  0 go on, 1 early stop,
 * 3 non-finite loss, -1 log error, NNRT_EXIT_INTERRUPTED after a signal
 * (r->batch: the batches done). */
static int nnrt_epoch(NnrtRun *r, int e, long first)
{
    NnrtModel *m = r->m;
    NnrtEpoch ep = { e, nnrt_lr_at(r->lr, m->final_lr, m->decay, e, r->epochs), 0, 0, 0, 0, 0, 0 };
    NnrtFigures none = nnrt_no_figures(e + 1);
    ep.iters = nnrt_iters(r);
    nnrt_epoch_perm(r, e);
    r->b->epoch(r->b, r->perm, ep.lr, r->step, first);
    for (long it = first; it < ep.iters;) {
        long to = nnrt_run_end(r, it, ep.iters);
        int rc = nnrt_steps(r, &ep, it, to);
        if (rc)
            return rc;
        it = to;
        if (r->log_every > 0 && r->step % r->log_every == 0 && it < ep.iters &&
            nnrt_progress(r, &ep, it, &none) < 0)
            return -1;
        if (it < ep.iters && nnrt_tick(r, &ep, it, 0, &none) < 0)
            return -1;
        if (it < ep.iters && (r->sig = nnrt_run_signal(r)) != 0) {
            r->batch = it;
            return NNRT_EXIT_INTERRUPTED;
        }
    }
    r->epoch = e + 1;
    r->batch = 0;
    return nnrt_epoch_end(r, &ep);
}

/* The epochs left; 0 when done (or stopped early), else nnrt_epoch's code. */
static int nnrt_epochs(NnrtRun *r)
{
    for (int e = r->epoch; e < r->epochs; e++) {
        int rc = nnrt_epoch(r, e, e == r->epoch ? r->batch : 0);
        if (rc == 1)
            break;
        if (rc == 0 && nnrt_save_every(r) < 0)
            return -1;
        if (rc == 0 && e + 1 < r->epochs && (r->sig = nnrt_run_signal(r)) != 0)
            return NNRT_EXIT_INTERRUPTED;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int nnrt_train(NnrtRun *r)
{
    NnrtModel *m = r->m;
    if (m->drop_last && r->train.rows < m->batch && r->epoch < r->epochs)
        return nnrt_errf(r->msg, sizeof r->msg, "the training set has %zu rows, fewer than one "
                         "batch of %zu, and drop_last is on", r->train.rows, m->batch);
    if (r->a->plot && r->b->rank == 0 && nnrt_history_init(&r->hist, (size_t)(r->epochs > r->epoch ? r->epochs : r->epoch),
                                        m->acc_kind != NNRT_ACC_NONE, r->msg, sizeof r->msg) < 0)
        return -1;
    NnrtHistory *kept = r->a->plot ? &r->hist : NULL; /* a resumed log's rows start the chart */
    if (r->a->log_csv && r->b->rank == 0 && (r->a->load ? nnrt_csvlog_resume(&r->log, r->a->log_csv, r->epoch, kept,
                                                         r->msg, sizeof r->msg)
                                     : nnrt_csvlog_open(&r->log, r->a->log_csv, r->msg,
                                                        sizeof r->msg)) < 0)
        return -1;
    nnrt_snapshot(r);
    nnrt_stop_catch();
    int rc = nnrt_epochs(r);
    nnrt_stop_release();
    if (rc != 0)
        return rc;
    return nnrt_csvlog_close(&r->log, r->msg, sizeof r->msg);
}

/* The summary over the whole training (and test) set, then the checkpoint
 * (none when this run trained nothing: the loaded file is the state). */
static int nnrt_finish(NnrtRun *r)
{
    NnrtModel *m = r->m;
    double secs = nnrt_now() - r->t0;
    NnrtFigures f = nnrt_no_figures(r->epoch);
    nnrt_tick_break(&r->tick, r->out);
    r->b->evaluate(r->b, NNRT_SET_TRAIN, 1, &f.loss, &f.acc);
    if (r->has_val)
        r->b->evaluate(r->b, NNRT_SET_VAL, 1, &f.val_loss, &f.val_acc);
    if (r->has_test)
        r->b->evaluate(r->b, NNRT_SET_TEST, 1, &f.test_loss, &f.test_acc);
    if (r->save && !r->nothing_left) {
        NnrtCkptMeta meta;
        nnrt_ckpt_meta_of(&r->train, &meta);
        nnrt_pull(r);
        if (nnrt_ckpt_save(r->save, m->name, r->epoch, r->step, &meta, m->params, m->n_params,
                           m->state, m->n_state, r->msg, sizeof r->msg) < 0)
            return -1;
        if (!r->quiet)
            fprintf(r->out, "saved %s\n", r->save);
    }
    if (nnrt_log_summary_val(r->out, r->epoch, r->step, r->step - r->step0, secs, f.loss, f.acc, f.val_loss, f.val_acc,
                             f.test_loss, f.test_acc) < 0)
        return nnrt_write_error("standard output", errno, r->msg, sizeof r->msg);
    return 0;
}

/* --plot: the figures of the epochs run, however the run ended (after
 * the checkpoint and the summary; an error is printed here). */
static int nnrt_run_plot(NnrtRun *r)
{
    char msg[1024];
    if (!r->a->plot || !r->hist.rows || r->b->rank != 0)
        return 0;
    if (nnrt_plot_svg(r->a->plot, r->m->name, &r->hist, msg, sizeof msg) == 0)
        return 0;
    fprintf(r->err, "nnrt: %s\n", msg);
    return -1;
}

/* A --load already at --epochs: nothing to train. */
static int nnrt_nothing_left(NnrtRun *r)
{
    if (!r->a->load || r->epoch < r->epochs)
        return 0;
    if (!r->quiet)
        nnrt_stop_nothing_left(r->out, r->a->load, r->epoch, r->epochs);
    return r->nothing_left = 1;
}

static int nnrt_run_body(NnrtRun *r)
{
    if (nnrt_model_check(r->m, r->msg, sizeof r->msg) < 0 || nnrt_run_config(r) < 0 ||
        nnrt_run_load(r) < 0 || nnrt_run_start(r) < 0)
        return 1;
    if (r->a->gradcheck)
        return nnrt_gradcheck(r->m, &r->train, r->out);
    nnrt_tick_init(&r->tick, r->out, r->quiet);
    r->step0 = r->step;
    r->t0 = nnrt_now();
    int rc = nnrt_nothing_left(r) ? 0 : nnrt_train(r);
    if (rc == NNRT_EXIT_INTERRUPTED)
        return nnrt_interrupt(r); /* the plot of the epochs run follows, as for every stop */
    if (rc != 0) {
        nnrt_tick_break(&r->tick, r->out);
        if (rc != 3)
            fprintf(r->err, "nnrt: %s\n", r->msg);
        r->msg[0] = '\0';
        nnrt_save_snapshot(r);
        return rc == 3 ? 3 : 1;
    }
    return nnrt_finish(r) < 0 ? 1 : 0;
}

int nnrt_run_on(NnrtModel *m, NnrtBackend *b, const NnrtArgs *args, FILE *out, FILE *err)
{
    if (args->predict)
        return nnrt_predict(m, args, out, err);
    NnrtRun r;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.b = b;
    r.a = args;
    r.out = out;
    r.err = err;
    r.snap_epoch = -1;
    int rc = nnrt_run_body(&r);
    if (rc == 1 && r.msg[0])
        fprintf(err, "nnrt: %s\n", r.msg);
    if (nnrt_run_plot(&r) < 0 && rc == 0)
        rc = 1;
    if (r.log.f)
        nnrt_csvlog_close(&r.log, NULL, 0);
    b->release(b);
    nnrt_data_free(&r.train);
    nnrt_data_free(&r.test);
    nnrt_data_free(&r.val);
    free(r.perm);
    free(r.losses);
    free(r.snap);
    free(r.stop_path);
    nnrt_history_free(&r.hist);
    if (nnrt_write_check(out, "standard output", r.msg, sizeof r.msg) < 0 && rc == 0) {
        fprintf(err, "nnrt: %s\n", r.msg);
        rc = 1;
    }
    return rc;
}

/* ---- the CPU backend: the model's own functions on the host tensors ---------- */

typedef struct NnrtCpu {
    NnrtModel *m;
    const NnrtData *sets[NNRT_SETS];
    const uint32_t *perm;  /* the epoch's order of rows */
    float lr;
    long step;             /* updates done */
    float *best;           /* early stopping: a copy of the params, then of the running statistics */
} NnrtCpu;

static int nnrt_cpu_prepare(NnrtBackend *b, NnrtModel *m, const NnrtData *const sets[NNRT_SETS],
                            int early, char *err, size_t errlen)
{
    NnrtCpu *c = b->self;
    size_t total = nnrt_tensors_numel(m->params, m->n_params) + nnrt_tensors_numel(m->state, m->n_running);
    c->m = m;
    memcpy(c->sets, sets, sizeof c->sets);
    if (early && !(c->best = malloc((total ? total : 1) * sizeof(float))))
        return nnrt_errf(err, errlen, "out of memory for the best params");
    return 0;
}

static void nnrt_cpu_epoch(NnrtBackend *b, const uint32_t *perm, float lr, long step, long first)
{
    NnrtCpu *c = b->self;
    (void)first;
    c->perm = perm;
    c->lr = lr;
    c->step = step;
}

/* Each step is the model's train_step on rows perm[start..start+n):
 * gather -> forward(TRAIN) -> (a non-finite loss stops here) -> backward
 * -> update(lr, step). */
static void nnrt_cpu_steps(NnrtBackend *b, long from, long to, float *losses)
{
    NnrtCpu *c = b->self;
    const NnrtData *d = c->sets[NNRT_SET_TRAIN];
    for (long it = from; it < to; it++) {
        size_t n = nnrt_batch_rows(c->m, d->rows, it);
        float loss = c->m->train_step(d, c->perm, (size_t)it * c->m->batch, (int)n, c->lr, c->step + 1);
        losses[it - from] = loss;
        if (!isfinite(loss))
            return;
        c->step++;
    }
}

static void nnrt_cpu_evaluate(NnrtBackend *b, int set, int want_loss, double *loss, double *acc)
{
    NnrtCpu *c = b->self;
    nnrt_eval_pass(c->m, c->sets[set], want_loss, loss, acc);
}

static void nnrt_cpu_best(NnrtBackend *b, int restore)
{
    NnrtCpu *c = b->self;
    float *at = nnrt_tensors_copy(c->m->params, c->m->n_params, c->best, !restore);
    nnrt_tensors_copy(c->m->state, c->m->n_running, at, !restore); /* the statistics the params were evaluated with */
}

static void nnrt_cpu_release(NnrtBackend *b)
{
    NnrtCpu *c = b->self;
    free(c->best);
    c->best = NULL;
}

int nnrt_run(NnrtModel *m, const NnrtArgs *args, FILE *out, FILE *err)
{
    NnrtCpu cpu;
    memset(&cpu, 0, sizeof cpu);
    NnrtBackend b = { &cpu, 1, nnrt_cpu_prepare, NULL, NULL, nnrt_cpu_epoch, nnrt_cpu_steps,
                      nnrt_cpu_evaluate, nnrt_cpu_best, nnrt_cpu_release, 0, NULL, NULL, 1 };
    return nnrt_run_on(m, &b, args, out, err);
}

int nnrt_main(NnrtModel *m, int argc, char **argv)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : m->name;
    if (m->blas_tune)
        m->blas_tune(argv);
    NnrtArgs a;
    int rc = nnrt_args_parse(argc, argv, &a, prog, stderr);
    if (rc == 0 && a.help)
        nnrt_args_usage(stdout, prog, m);
    else if (rc == 0)
        rc = nnrt_run(m, &a, stdout, stderr);
    nnrt_args_free(&a);
    return rc;
}
