/* nnrt_mpi.c: the MPI backend of train.c's driver and the main of a
 * program built with nnc --mpi (nnrt_mpi.h says what a step does).
 *
 *   nnrt_mpi_run = MPI_Init -> hooks.start -> flags -> B % N check ->
 *                  --predict on rank 0 | --gradcheck over the ranks |
 *                  nnrt_run_on(MPI backend) -> hash check ->
 *                  MPI_Finalize (or MPI_Abort after a failure of its own)
 *
 * Every collective is on MPI_COMM_WORLD and every rank calls the same ones
 * in the same order: the driver's decisions (the steps, the epochs, early
 * stopping, the stop signal) all come from values every rank holds alike.
 */
#include "nnrt_mpi.h"

#include <mpi.h>

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct NnrtMpi {
    NnrtModel *m;
    const NnrtMpiHooks *hooks;
    int rank, ranks;
    const NnrtData *sets[NNRT_SETS];
    const uint32_t *perm;  /* the epoch's order of rows */
    float lr;
    long step;             /* updates done */
    float *best;           /* early stopping: a copy of the params */
    int sig;               /* the stop signal agreed at the last step (0: none) */
    FILE *step_log;        /* NNRT_STEP_LOG (rank 0): every step's loss, %.9g */
} NnrtMpi;

/* ---- sums over the ranks ---------------------------------------------------- */

/* The end of req awaited: MPI_Test in a loop for up to 2 ms (a partner
 * that is running arrives within that: the ranks do the same work), then
 * tests between sleeps growing from 50 µs to 1 ms.  A rank whose partner
 * is not running (a machine with more ranks than free cores) gives its
 * core away instead of spinning on it.  A sleep is never shorter than the
 * kernel's timer slack (about 50 µs), so sleeping from the start would
 * cost that much at every step even on an idle machine. */
static void nnrt_mpi_wait(MPI_Request *req)
{
    int done = 0;
    const double spin_until = nnrt_now() + 2e-3;
    long ns = 50000;
    for (;;) {
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        if (nnrt_now() < spin_until)
            continue;
        struct timespec t = { 0, ns };
        nanosleep(&t, NULL);
        ns = ns < 1000000 ? ns * 2 : 1000000;
    }
}

/* v[0..n) summed over every rank, in place, in pieces an int can count.
 * A blocking MPI_Allreduce: Open MPI runs it with its shared-memory and
 * network collectives, which move the 318 KB of fashion_relu's gradient
 * in about 100 µs between two ranks of one machine; the non-blocking
 * MPI_Iallreduce advances only inside MPI_Test and took 2-3 times as
 * long (docs/mpi.md).  Waiting inside it yields the core
 * (mpi_yield_when_idle, set by nnrt_mpi_run). */
static void nnrt_mpi_sum_floats(float *v, size_t n)
{
    const size_t piece = (size_t)1 << 30;
    for (size_t at = 0; at < n; at += piece) {
        size_t k = n - at < piece ? n - at : piece;
        MPI_Allreduce(MPI_IN_PLACE, v + at, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

static void nnrt_mpi_sum_doubles(double *v, int n)
{
    MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

/* The host's grads (the block, else each tensor's) times scale (0: zeroed),
 * then summed over the ranks: one allreduce over the block. */
static void nnrt_mpi_host_reduce(const NnrtModel *m, float scale)
{
    for (int i = 0; i < m->n_params && !m->grads; i++) {
        float *g = m->params[i].grad;
        size_t n = m->params[i].numel;
        for (size_t j = 0; g && j < n; j++)
            g[j] = scale == 0.0f ? 0.0f : g[j] * scale;
        if (g)
            nnrt_mpi_sum_floats(g, n);
    }
    if (!m->grads)
        return;
    for (size_t j = 0; j < m->n_grads; j++)
        m->grads[j] = scale == 0.0f ? 0.0f : m->grads[j] * scale;
    nnrt_mpi_sum_floats(m->grads, m->n_grads);
}

static void nnrt_mpi_reduce(const NnrtMpi *p, float scale)
{
    if (p->hooks && p->hooks->reduce)
        p->hooks->reduce(p->hooks->ctx, scale);
    else
        nnrt_mpi_host_reduce(p->m, scale);
}

/* ---- one step --------------------------------------------------------------- */

/* This rank's share of n rows: [*lo, *lo + k). */
static size_t nnrt_mpi_share(const NnrtMpi *p, size_t n, size_t *lo)
{
    *lo = n * (size_t)p->rank / (size_t)p->ranks;
    return n * (size_t)(p->rank + 1) / (size_t)p->ranks - *lo;
}

/* m's forward(mode) of this rank's k rows at x, t (the rows from lo of a
 * batch of n), with dropout drawn where one process would draw it for
 * those rows; then every generator stands past the whole batch's draws.
 * Returns the loss times k (0 for no rows). */
static double nnrt_mpi_forward(const NnrtModel *m, const float *x, const void *t, size_t lo, size_t k,
                               size_t n, int mode)
{
    NnrtRng *rng = mode == NNRT_TRAIN && m->drop_rng ? m->drop_rng : NULL;
    NnrtRng at = rng ? *rng : (NnrtRng){ 0, 0 };
    double loss = 0.0;
    if (rng)
        nnrt_rng_advance(rng, (uint64_t)lo * m->drop_draws);
    if (k > 0)
        loss = (double)m->forward(x, t, (int)k, mode) * (double)k;
    if (rng) {
        *rng = at;
        nnrt_rng_advance(rng, (uint64_t)n * m->drop_draws);
    }
    return loss;
}

/* The sum over the ranks begun of this rank's loss times its rows and
 * whether it has seen SIGINT, SIGTERM since the run began catching them;
 * nnrt_mpi_batch_loss ends it. */
static void nnrt_mpi_loss_begin(double sums[3], double local, MPI_Request *req)
{
    int sig = nnrt_stop_signal();
    sums[0] = local;
    sums[1] = sig == SIGINT;
    sums[2] = sig == SIGTERM;
    MPI_Iallreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, req);
}

/* The mean loss of the whole batch of n rows, and the stop every rank
 * agrees on (p->sig). */
static double nnrt_mpi_batch_loss(NnrtMpi *p, double sums[3], MPI_Request *req, size_t n)
{
    nnrt_mpi_wait(req);
    p->sig = sums[1] > 0 ? SIGINT : sums[2] > 0 ? SIGTERM : 0;
    return sums[0] / (double)n;
}

/* One step over rows perm[start..start+n) of d, this rank's share of them.
 * The loss's sum runs while backward does (one wait for the ranks a step,
 * not two): a loss that is not finite is known before the grads are
 * summed and the params updated, so they stay as they were, as in one
 * process (whose backward does not run; here its result is dropped). */
static float nnrt_mpi_step(NnrtMpi *p, const NnrtData *d, size_t start, size_t n)
{
    NnrtModel *m = p->m;
    size_t lo, k = nnrt_mpi_share(p, n, &lo);
    double sums[3];
    MPI_Request req;
    if (k > 0)
        nnrt_gather(d, p->perm, start + lo, k, m->x_buf, m->t_buf);
    nnrt_mpi_loss_begin(sums, nnrt_mpi_forward(m, m->x_buf, m->t_buf, lo, k, n, NNRT_TRAIN), &req);
    if (k > 0)
        m->backward((int)k);
    float loss = (float)nnrt_mpi_batch_loss(p, sums, &req, n);
    if (!isfinite(loss))
        return loss; /* every rank stops here: the params stay as they were */
    nnrt_mpi_reduce(p, (float)((double)k / (double)n));
    m->update(p->lr, p->step + 1);
    return loss;
}

/* ---- the backend (nnrt.h: NnrtBackend) ---------------------------------------- */

static int nnrt_mpi_prepare(NnrtBackend *b, NnrtModel *m, const NnrtData *const sets[NNRT_SETS], int early,
                            char *err, size_t errlen)
{
    NnrtMpi *p = b->self;
    size_t total = nnrt_tensors_numel(m->params, m->n_params) + nnrt_tensors_numel(m->state, m->n_running);
    memcpy(p->sets, sets, sizeof p->sets);
    if (early && !(p->best = malloc((total ? total : 1) * sizeof(float))))
        return nnrt_errf(err, errlen, "out of memory for the best params");
    for (int i = 0; i < m->n_params && m->grads; i++) {
        const float *g = m->params[i].grad;
        if (g && (g < m->grads || (size_t)(g - m->grads) + m->params[i].numel > m->n_grads))
            return nnrt_errf(err, errlen, "model %s: the grad of %s lies outside the gradient block the "
                             "allreduce sums", m->name, m->params[i].name);
    }
    const char *path = getenv("NNRT_STEP_LOG");
    if (p->rank == 0 && path && *path && !(p->step_log = fopen(path, "w")))
        return nnrt_errf(err, errlen, "cannot write NNRT_STEP_LOG %s", path);
    return 0;
}

/* Rank 0's params and optimizer state (init, --init-from, --load) to every rank. */
static void nnrt_mpi_push(NnrtBackend *b)
{
    NnrtMpi *p = b->self;
    const NnrtModel *m = p->m;
    for (int s = 0; s < 2; s++) {
        const NnrtTensor *t = s ? m->state : m->params;
        for (int i = 0; i < (s ? m->n_state : m->n_params); i++)
            for (size_t at = 0; at < t[i].numel; at += (size_t)1 << 30) {
                size_t k = t[i].numel - at < ((size_t)1 << 30) ? t[i].numel - at : (size_t)1 << 30;
                MPI_Bcast(t[i].data + at, (int)k, MPI_FLOAT, 0, MPI_COMM_WORLD);
            }
    }
}

static void nnrt_mpi_epoch(NnrtBackend *b, const uint32_t *perm, float lr, long step, long first)
{
    NnrtMpi *p = b->self;
    (void)first;
    p->perm = perm;
    p->lr = lr;
    p->step = step;
}

static void nnrt_mpi_steps(NnrtBackend *b, long from, long to, float *losses)
{
    NnrtMpi *p = b->self;
    const NnrtData *d = p->sets[NNRT_SET_TRAIN];
    for (long it = from; it < to; it++) {
        size_t n = nnrt_batch_rows(p->m, d->rows, it);
        float loss = nnrt_mpi_step(p, d, (size_t)it * p->m->batch, n);
        losses[it - from] = loss;
        if (!isfinite(loss))
            return;
        p->step++;
        if (p->step_log)
            fprintf(p->step_log, "%ld %.9g\n", p->step, (double)loss);
    }
}

/* The set's batches split over the ranks (rank r: batches [nb*r/N,
 * nb*(r+1)/N)), their sums added up. */
static void nnrt_mpi_evaluate(NnrtBackend *b, int set, int want_loss, double *loss, double *acc)
{
    NnrtMpi *p = b->self;
    const NnrtData *d = p->sets[set];
    size_t B = p->m->batch, nb = (d->rows + B - 1) / B;
    size_t lo = nb * (size_t)p->rank / (size_t)p->ranks, hi = nb * (size_t)(p->rank + 1) / (size_t)p->ranks;
    double sums[3] = { 0.0, 0.0, 0.0 };
    nnrt_evaluate_rows(p->m, d, lo * B, hi * B < d->rows ? hi * B : d->rows, want_loss, sums);
    nnrt_mpi_sum_doubles(sums, 3);
    *loss = want_loss && d->rows ? sums[0] / (double)d->rows : (double)NAN;
    *acc = p->m->acc_kind != NNRT_ACC_NONE && sums[2] > 0 ? sums[1] / sums[2] : (double)NAN;
}

/* Early stopping: the params (and running statistics) kept or put back. */
static void nnrt_mpi_best(NnrtBackend *b, int restore)
{
    NnrtMpi *p = b->self;
    float *buf = p->best;
    for (int i = 0; i < p->m->n_params + p->m->n_running; i++) {
        const NnrtTensor *t = i < p->m->n_params ? &p->m->params[i] : &p->m->state[i - p->m->n_params];
        if (restore)
            memcpy(t->data, buf, t->numel * sizeof(float));
        else
            memcpy(buf, t->data, t->numel * sizeof(float));
        buf += t->numel;
    }
}

static void nnrt_mpi_release(NnrtBackend *b)
{
    NnrtMpi *p = b->self;
    free(p->best);
    p->best = NULL;
    if (p->step_log)
        fclose(p->step_log);
    p->step_log = NULL;
}

/* The stop signal of the last step's sum: the same on every rank. */
static int nnrt_mpi_agree(NnrtBackend *b, int sig)
{
    NnrtMpi *p = b->self;
    (void)sig;
    return p->sig;
}

static void nnrt_mpi_share_longs(NnrtBackend *b, long *v, int n)
{
    (void)b;
    MPI_Bcast(v, n, MPI_LONG, 0, MPI_COMM_WORLD);
}

/* ---- --gradcheck over the ranks ----------------------------------------------- */

/* The gradient check calls forward(x, t, n) and backward(n) on a whole
 * batch; these run them on this rank's share and sum over the ranks, so
 * what is checked is the gradient the ranks compute together. */
static NnrtMpi *nnrt_mpi_gc;
static NnrtModel nnrt_mpi_gc_model; /* the model's own functions */

static float nnrt_mpi_gc_forward(const float *x, const void *t, int n, int mode)
{
    const NnrtModel *m = &nnrt_mpi_gc_model;
    size_t lo, k = nnrt_mpi_share(nnrt_mpi_gc, (size_t)n, &lo);
    size_t t_row = m->label_kind == NNRT_LABEL_CLASS ? sizeof(int32_t) : m->label_dim * sizeof(float);
    double sums[3];
    MPI_Request req;
    nnrt_mpi_loss_begin(sums, nnrt_mpi_forward(m, x + lo * m->in_dim, (const char *)t + lo * t_row, lo, k,
                                               (size_t)n, mode), &req);
    return (float)nnrt_mpi_batch_loss(nnrt_mpi_gc, sums, &req, (size_t)n);
}

static void nnrt_mpi_gc_backward(int n)
{
    size_t lo, k = nnrt_mpi_share(nnrt_mpi_gc, (size_t)n, &lo);
    if (k > 0)
        nnrt_mpi_gc_model.backward((int)k);
    nnrt_mpi_reduce(nnrt_mpi_gc, (float)((double)k / (double)n));
}

/* m's forward and backward wrapped as above, with batch buffers of its
 * own (the wrapped forward copies a share into the model's). */
static int nnrt_mpi_gradcheck_model(NnrtMpi *p, NnrtModel *m, void **owned)
{
    size_t t_row = m->label_kind == NNRT_LABEL_CLASS ? sizeof(int32_t) : m->label_dim * sizeof(float);
    nnrt_mpi_gc = p;
    nnrt_mpi_gc_model = *m;
    owned[0] = calloc(m->batch, m->in_dim * sizeof(float));
    owned[1] = calloc(m->batch, t_row);
    if (!owned[0] || !owned[1])
        return -1;
    m->x_buf = owned[0];
    m->t_buf = owned[1];
    m->forward = nnrt_mpi_gc_forward;
    m->backward = nnrt_mpi_gc_backward;
    return 0;
}

/* ---- the program's main ------------------------------------------------------- */

/* FNV-1a over the bytes of the params and the optimizer state. */
static uint64_t nnrt_mpi_hash(const NnrtModel *m)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int s = 0; s < 2; s++) {
        const NnrtTensor *t = s ? m->state : m->params;
        for (int i = 0; i < (s ? m->n_state : m->n_params); i++) {
            const unsigned char *c = (const unsigned char *)t[i].data;
            for (size_t j = 0; j < t[i].numel * sizeof(float); j++)
                h = (h ^ c[j]) * 0x100000001b3ULL;
        }
    }
    return h;
}

/* After a run that ended well: the ranks' hashes compared; 0, or 1 when
 * they differ. */
static int nnrt_mpi_check_same(const NnrtMpi *p, const NnrtArgs *a, FILE *out)
{
    unsigned long long h = nnrt_mpi_hash(p->m), lo = h, hi = h;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (lo != hi) {
        if (p->rank == 0)
            fprintf(stderr, "nnrt: the params differ between the %d ranks after the run (hashes %016llx to "
                    "%016llx); a rank computed something else: is the same program and data on every rank?\n",
                    p->ranks, lo, hi);
        return 1;
    }
    if (p->rank == 0 && !a->quiet)
        fprintf(out, "%d ranks: params and optimizer state identical on every rank (hash %016llx)\n",
                p->ranks, lo);
    return 0;
}

/* B must split into equal shares: 0, or 2 after rank 0 said so. */
static int nnrt_mpi_check_batch(const NnrtMpi *p)
{
    if (p->m->batch % (size_t)p->ranks == 0)
        return 0;
    if (p->rank == 0)
        fprintf(stderr, "nnrt: batch %zu does not split over %d ranks: run it on a number of ranks that divides "
                "%zu (mpirun -np N), or build it with nnc --batch M for a multiple M of %d\n",
                p->m->batch, p->ranks, p->m->batch, p->ranks);
    return 2;
}

/* The run proper, after the flags: 0, 1, 2, 3 or 130. */
static int nnrt_mpi_train(NnrtMpi *p, NnrtArgs *a, FILE *out)
{
    NnrtModel *m = p->m;
    void *owned[2] = { NULL, NULL };
    int rc = nnrt_mpi_check_batch(p);
    if (rc)
        return rc;
    if (a->predict) /* rank 0 alone; no collectives */
        return p->rank == 0 ? nnrt_predict(m, a, out, stderr) : 0;
    if (a->gradcheck && nnrt_mpi_gradcheck_model(p, m, owned) < 0) {
        fprintf(stderr, "nnrt: out of memory for the gradient check's batch\n");
        rc = 1;
    }
    NnrtBackend b = { p, 1, nnrt_mpi_prepare, nnrt_mpi_push, NULL, nnrt_mpi_epoch, nnrt_mpi_steps,
                      nnrt_mpi_evaluate, nnrt_mpi_best, nnrt_mpi_release, p->rank, nnrt_mpi_agree,
                      nnrt_mpi_share_longs, p->ranks };
    if (rc == 0)
        rc = nnrt_run_on(m, &b, a, out, stderr);
    if (rc == 0 && !a->help)
        rc = nnrt_mpi_check_same(p, a, out);
    free(owned[0]);
    free(owned[1]);
    return rc;
}

int nnrt_mpi_run(NnrtModel *m, int argc, char **argv, const NnrtMpiHooks *hooks)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : m->name;
    if (m->blas_tune) /* before MPI_Init: it may exec the program again */
        m->blas_tune(argv);
    /* Open MPI spins while a rank waits in a collective; where the ranks
     * share cores with other work (or outnumber them), the spinning rank
     * holds the core its partner needs.  Yield instead, unless set. */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    MPI_Init(&argc, &argv);
    NnrtMpi p;
    memset(&p, 0, sizeof p);
    p.m = m;
    p.hooks = hooks;
    MPI_Comm_rank(MPI_COMM_WORLD, &p.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p.ranks);
    if (hooks && hooks->start)
        hooks->start(hooks->ctx, p.rank, p.ranks);
    FILE *out = p.rank == 0 ? stdout : fopen("/dev/null", "w");
    NnrtArgs a;
    int rc = out ? nnrt_args_parse(argc, argv, &a, prog, p.rank == 0 ? stderr : out) : 1;
    if (!out)
        fprintf(stderr, "nnrt: rank %d cannot open /dev/null for its standard output\n", p.rank);
    else if (rc == 0 && a.help && p.rank == 0)
        nnrt_args_usage(stdout, prog, m);
    else if (rc == 0 && !a.help)
        rc = nnrt_mpi_train(&p, &a, out);
    if (out)
        nnrt_args_free(&a);
    fflush(stdout);
    fflush(stderr);
    if (hooks && hooks->stop)
        hooks->stop(hooks->ctx);
    if (rc == 1) /* a failure of this rank's own, maybe of it alone: end them all */
        MPI_Abort(MPI_COMM_WORLD, 1);
    if (out && out != stdout)
        fclose(out);
    MPI_Finalize();
    return rc;
}

int nnrt_mpi_main(NnrtModel *m, int argc, char **argv)
{
    return nnrt_mpi_run(m, argc, argv, NULL);
}
