/* predict.c: --predict FILE [--out FILE], a trained model's outputs for
 * rows of inputs, with no training data read and nothing trained.
 *
 *   params   --load CHECKPOINT: the params only (optimizer state is not
 *            read, other tensors are ignored); or --init-from FILE, params
 *            alone from any safetensors file (no figures: as an old
 *            checkpoint below)
 *   figures  the checkpoint's __metadata__ (nnrt.h): the input scale, the
 *            normalization mode and its figures, the class names.  A
 *            checkpoint without them (written before they were kept) gets
 *            the train block's scale, and is refused when the model
 *            normalizes: its figures came from data that is not here
 *   rows     FILE: IDX images (the magic starts 00 00; 0x803, raw or
 *            gzip), else CSV whose rows have in_dim fields (inputs only)
 *            or in_dim + 1 (the label column where the train block's csv
 *            source has it, else the last, skipped unread); a first line
 *            one of whose input fields is not a number is a header
 *            (nnrt_csv_read_inputs)
 *   output   a header line "y0,...,y{out_dim-1}[,class...]", then a line a
 *            row: the outputs as "%.9g" (every float round-trips), then the
 *            class as nnrt_correct judges accuracy: the argmax for
 *            NNRT_ACC_ARGMAX, one 0/1 per output for THRESHOLD (y >=
 *            acc_threshold); the class's name instead of its id where the
 *            checkpoint has class names, quoted as CSV quotes
 *
 * Rows are converted by nnrt_gather (the formula training used) and go
 * through predict in batches of B, the last one smaller.  --out FILE is
 * written through NnrtOutFile and renamed over FILE once complete, so a
 * failed run leaves FILE as it was; without --out the lines go to standard
 * output.  SIGINT or SIGTERM stops the run after the batch at hand (exit
 * 130), removing FILE.tmp.
 */
#include "nnrt.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct NnrtPred {
    NnrtModel *m;
    const NnrtArgs *a;
    FILE *out, *err;       /* standard output (the closing line), standard error (warnings) */
    NnrtCkptMeta meta;     /* the checkpoint's figures (class names kept here) */
    NnrtData d;            /* the rows, with the input transforms */
    FILE *f;               /* where the CSV goes: out, or file.f */
    NnrtOutFile file;      /* --out FILE, written whole or not at all */
    int to_file;           /* file is open */
    char msg[1024];
} NnrtPred;

/* ---- the model and its params -------------------------------------------------- */

static int nnrt_pred_check(const NnrtModel *m, char *err, size_t errlen)
{
    const char *missing = !m->name ? "name" : !m->init ? "init" : !m->predict ? "predict"
                        : !m->x_buf ? "x_buf" : !m->y_buf ? "y_buf" : NULL;
    if (missing)
        return nnrt_errf(err, errlen, "the model descriptor has no %s (--predict needs it)", missing);
    if (m->batch == 0 || m->batch > INT_MAX || m->in_dim == 0 || m->out_dim == 0)
        return nnrt_errf(err, errlen, "model %s: batch (%zu), in_dim (%zu) and out_dim (%zu) must "
                         "be >= 1", m->name, m->batch, m->in_dim, m->out_dim);
    if (m->n_running < 0 || m->n_running > m->n_state)
        return nnrt_errf(err, errlen, "model %s: n_running (%d) must lie in [0, n_state = %d]", m->name,
                         m->n_running, m->n_state);
    return 0;
}

/* init (every buffer defined; the CUDA driver's device set up), then the
 * checkpoint's params and figures. */
static int nnrt_pred_params(NnrtPred *p)
{
    NnrtModel *m = p->m;
    m->init(m->seed);
    nnrt_ckpt_meta_want(m, &p->meta);
    if (p->a->init_from && m->data.normalize != NNRT_NORM_NONE)
        return nnrt_errf(p->msg, sizeof p->msg, "--init-from %s gives params only, and model %s "
                         "normalizes its inputs with its training set's mean and std, which are "
                         "not here; predict with --load of a checkpoint this program saved, which "
                         "keeps them", p->a->init_from, m->name);
    if (p->a->init_from && m->n_running > 0)
        return nnrt_errf(p->msg, sizeof p->msg, "--init-from %s gives params only, and model %s "
                         "predicts with the running statistics of its batch norms (%s, ...), which "
                         "are not params; predict with --load of a checkpoint this program saved, "
                         "which keeps them", p->a->init_from, m->name, m->state[0].name);
    if (p->a->init_from) /* params alone: no figures */
        return nnrt_init_from(m, p->a->init_from, p->err, p->msg, sizeof p->msg);
    return nnrt_ckpt_load(p->a->load, m->name, NULL, NULL, &p->meta, m->params, m->n_params,
                          m->state, m->n_running, p->msg, sizeof p->msg); /* the running statistics too */
}

/* x = (raw * scale - mean) / std with the checkpoint's figures, or the
 * train block's scale for a checkpoint that has none. */
static int nnrt_pred_transforms(NnrtPred *p)
{
    NnrtData *d = &p->d;
    NnrtCkptMeta *k = &p->meta;
    const NnrtModel *m = p->m;
    d->x_mean = 0.0f;
    d->x_std = 1.0f;
    if (!k->has_inputs) {
        if (m->data.normalize != NNRT_NORM_NONE)
            return nnrt_errf(p->msg, sizeof p->msg, "checkpoint %s has no normalization figures "
                             "(written before checkpoints kept them), and model %s normalizes "
                             "its inputs with its training set's; train again with --save to "
                             "write a checkpoint that has them", p->a->load, m->name);
        d->x_scale = m->data.scale == 0.0f ? 1.0f : m->data.scale;
        d->normalized = NNRT_NORM_NONE;
        return 0;
    }
    d->x_scale = k->scale;
    d->normalized = k->normalize;
    if (k->normalize == NNRT_NORM_ALL) {
        d->x_mean = k->mean;
        d->x_std = k->std;
    }
    d->col_mean = k->col_mean; /* ownership moves to d */
    d->col_std = k->col_std;
    k->col_mean = k->col_std = NULL;
    return 0;
}

/* ---- the rows -------------------------------------------------------------------- */

/* CSV rows: in_dim inputs, or in_dim inputs and the label where the train
 * block's csv source has it (else last); the header found out. */
static int nnrt_pred_csv(NnrtPred *p, const char *path)
{
    const NnrtModel *m = p->m;
    int label = m->data.kind == NNRT_SRC_CSV ? m->data.csv_label : -1;
    NnrtCsv c;
    if (nnrt_csv_read_inputs_ids(path, -1, m->in_dim, label, m->in_ids, &c, p->msg, sizeof p->msg) < 0)
        return -1;
    p->d.xf = c.x; /* ownership moves to d */
    p->d.rows = c.rows;
    return 0;
}

/* IDX images (their magic starts with two zero bytes; gzip 1f 8b), else CSV. */
static int nnrt_pred_inputs(NnrtPred *p)
{
    const char *path = p->a->predict;
    unsigned char b[2] = { 1, 1 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return nnrt_errf(p->msg, sizeof p->msg, "cannot open %s: %s", path, strerror(errno));
    size_t got = fread(b, 1, 2, f);
    fclose(f);
    p->d.in_dim = p->m->in_dim;
    if (got < 2 || !((b[0] == 0 && b[1] == 0) || (b[0] == 0x1f && b[1] == 0x8b)))
        return nnrt_pred_csv(p, path);
    if (p->m->in_ids)
        return nnrt_errf(p->msg, sizeof p->msg, "%s: IDX images for a model whose input is i32 "
                         "ids; give a CSV file of ids", path);
    NnrtIdx im;
    if (nnrt_idx_read(path, 3, p->m->in_dim, &im, p->msg, sizeof p->msg) < 0)
        return -1;
    p->d.xb = im.bytes; /* ownership moves to d */
    p->d.rows = im.count;
    if (im.count == 0)
        return nnrt_errf(p->msg, sizeof p->msg, "%s: no images (the IDX header's count is 0)", path);
    return 0;
}

/* ---- the output ------------------------------------------------------------------ */

/* name as a CSV field: quoted ("" for ") when it holds a comma, a quote,
 * a line break, or spaces at an end, or is empty. */
static void nnrt_pred_name(FILE *f, const char *name)
{
    size_t n = strlen(name);
    int quote = n == 0 || strpbrk(name, ",\"\r\n") || name[0] == ' ' || name[0] == '\t' ||
                name[n - 1] == ' ' || name[n - 1] == '\t';
    if (!quote) {
        fputs(name, f);
        return;
    }
    fputc('"', f);
    for (; *name; name++) {
        if (*name == '"')
            fputc('"', f);
        fputc(*name, f);
    }
    fputc('"', f);
}

/* Class id as its name when the checkpoint has one, else its number. */
static void nnrt_pred_class(const NnrtPred *p, size_t id)
{
    fputc(',', p->f);
    if (id < p->meta.n_class_names)
        nnrt_pred_name(p->f, p->meta.class_names[id]);
    else
        fprintf(p->f, "%zu", id);
}

static void nnrt_pred_header(const NnrtPred *p)
{
    const NnrtModel *m = p->m;
    for (size_t j = 0; j < m->out_dim; j++)
        fprintf(p->f, j ? ",y%zu" : "y%zu", j);
    if (m->acc_kind == NNRT_ACC_ARGMAX || (m->acc_kind == NNRT_ACC_THRESHOLD && m->out_dim == 1))
        fputs(",class", p->f);
    for (size_t j = 0; m->acc_kind == NNRT_ACC_THRESHOLD && m->out_dim > 1 && j < m->out_dim; j++)
        fprintf(p->f, ",class%zu", j);
    fputc('\n', p->f);
}

/* One row: the outputs, then the class (argmax) or classes (threshold). */
static void nnrt_pred_line(const NnrtPred *p, const float *y)
{
    const NnrtModel *m = p->m;
    size_t w = m->out_dim, best = 0;
    for (size_t j = 0; j < w; j++) {
        fprintf(p->f, j ? ",%.9g" : "%.9g", (double)y[j]);
        best = y[j] > y[best] ? j : best;
    }
    if (m->acc_kind == NNRT_ACC_ARGMAX)
        nnrt_pred_class(p, best);
    for (size_t j = 0; m->acc_kind == NNRT_ACC_THRESHOLD && j < w; j++)
        nnrt_pred_class(p, y[j] >= m->acc_threshold);
    fputc('\n', p->f);
}

/* --out FILE through NnrtOutFile (FILE changes only when complete); else
 * standard output. */
static int nnrt_pred_open(NnrtPred *p)
{
    p->f = p->out;
    if (!p->a->out)
        return 0;
    if (nnrt_out_open(&p->file, p->a->out, "predictions", p->msg, sizeof p->msg) < 0)
        return -1;
    p->to_file = 1;
    p->f = p->file.f;
    return 0;
}

/* Every row through predict, B at a time; the lines written. */
static int nnrt_pred_write(NnrtPred *p)
{
    NnrtModel *m = p->m;
    size_t B = m->batch, rows = p->d.rows;
    const char *what = p->to_file ? p->a->out : "standard output";
    nnrt_pred_header(p);
    for (size_t start = 0; start < rows; start += B) {
        size_t n = rows - start < B ? rows - start : B;
        nnrt_gather(&p->d, NULL, start, n, m->x_buf, NULL);
        m->predict(m->x_buf, (int)n, m->y_buf);
        for (size_t i = 0; i < n; i++)
            nnrt_pred_line(p, m->y_buf + i * m->out_dim);
        if (ferror(p->f))
            return nnrt_write_error(what, errno, p->msg, sizeof p->msg);
        if (nnrt_stop_signal()) /* SIGINT/SIGTERM: stop between batches, FILE as it was */
            return nnrt_errf(p->msg, sizeof p->msg, "interrupted by %s after %zu of %zu rows: %s",
                             nnrt_stop_signame(nnrt_stop_signal()), start + n, rows,
                             p->to_file ? "nothing written" : "the output is incomplete");
    }
    if (!p->to_file)
        return nnrt_write_check(p->f, what, p->msg, sizeof p->msg);
    p->to_file = 0;
    p->f = p->out;
    return nnrt_out_commit(&p->file, p->msg, sizeof p->msg);
}

static int nnrt_pred_body(NnrtPred *p)
{
    if (nnrt_pred_check(p->m, p->msg, sizeof p->msg) < 0 || nnrt_pred_params(p) < 0 ||
        nnrt_pred_transforms(p) < 0 || nnrt_pred_inputs(p) < 0 || nnrt_pred_open(p) < 0 ||
        nnrt_pred_write(p) < 0)
        return -1;
    if (p->a->out && !p->a->quiet)
        fprintf(p->out, "predicted %zu rows: %s\n", p->d.rows, p->a->out);
    return 0;
}

int nnrt_predict(NnrtModel *m, const NnrtArgs *a, FILE *out, FILE *err)
{
    NnrtPred p;
    memset(&p, 0, sizeof p);
    p.m = m;
    p.a = a;
    p.out = out;
    p.err = err;
    nnrt_stop_catch();
    int rc = nnrt_pred_body(&p) < 0 ? (nnrt_stop_signal() ? NNRT_EXIT_INTERRUPTED : 1) : 0;
    nnrt_stop_release();
    if (rc)
        fprintf(err, "nnrt: %s\n", p.msg);
    if (p.to_file) /* a failure after --out's file was opened */
        nnrt_out_discard(&p.file);
    nnrt_data_free(&p.d);
    nnrt_ckpt_meta_free(&p.meta);
    if (nnrt_write_check(out, "standard output", p.msg, sizeof p.msg) < 0 && rc == 0) {
        fprintf(err, "nnrt: %s\n", p.msg);
        rc = 1;
    }
    return rc;
}
