/* log.c: what a training run tells its user.
 *
 *   nnrt_now            seconds on the monotonic clock (for "time 0.01s")
 *   nnrt_log_progress   "| epoch 3 | iter 10/10 | time 0.01s | loss 0.9123"
 *   nnrt_log_summary    "done: 300 epochs, 3000 steps in 0.12s (41.13 us a step) | loss ... | acc ..."
 *   nnrt_tick_draw      on a terminal, one line redrawn in place:
 *                       "epoch 3/300 | step 5/10 | 41200 samples/s | loss 0.9123 | ETA 12s"
 *   NnrtCsvLog          epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc; NaN = empty field
 *   nnrt_errf           the one-line error every loader returns
 *
 * Figures that do not exist (no test set, no accuracy) are passed as NaN
 * and left out, so one function serves every model.
 */
#include "nnrt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char nnrt_csv_header[] = "epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n";

double nnrt_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int nnrt_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* " | WHAT loss L | WHAT acc A", each only when it is a number. */
static void nnrt_log_set(FILE *out, const char *what, double loss, double acc)
{
    if (!isnan(loss))
        fprintf(out, " | %s loss %.4f", what, loss);
    if (!isnan(acc))
        fprintf(out, " | %s acc %.4f", what, acc);
}

int nnrt_write_check(FILE *f, const char *what, char *err, size_t errlen)
{
    errno = 0;
    if (fflush(f) == 0 && !ferror(f))
        return 0;
    return nnrt_write_error(what, errno, err, errlen);
}

int nnrt_write_error(const char *what, int errnum, char *err, size_t errlen)
{
    return nnrt_errf(err, errlen, "cannot write %s: %s", what,
                     errnum ? strerror(errnum) : "a write failed (is the disk full?)");
}

int nnrt_log_progress(FILE *out, int epoch, long iter, long iters, double secs,
                      double loss, double test_loss, double test_acc)
{
    return nnrt_log_progress_val(out, epoch, iter, iters, secs, loss, (double)NAN, (double)NAN,
                                 test_loss, test_acc);
}

int nnrt_log_progress_val(FILE *out, int epoch, long iter, long iters, double secs,
                          double loss, double val_loss, double val_acc, double test_loss,
                          double test_acc)
{
    fprintf(out, "| epoch %d | iter %ld/%ld | time %.2fs | loss %.4f",
            epoch, iter, iters, secs, loss);
    if (!isnan(val_loss))
        nnrt_log_set(out, "val", val_loss, val_acc);
    if (!isnan(test_loss))
        nnrt_log_set(out, "test", test_loss, test_acc);
    fputc('\n', out);
    errno = 0;
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

int nnrt_log_summary(FILE *out, int epochs, long steps, long run_steps, double secs,
                     double loss, double acc, double test_loss, double test_acc)
{
    return nnrt_log_summary_val(out, epochs, steps, run_steps, secs, loss, acc, (double)NAN,
                                (double)NAN, test_loss, test_acc);
}

int nnrt_log_summary_val(FILE *out, int epochs, long steps, long run_steps, double secs,
                         double loss, double acc, double val_loss, double val_acc,
                         double test_loss, double test_acc)
{
    fprintf(out, "done: %d epoch%s, %ld step%s in %.2fs", epochs, epochs == 1 ? "" : "s", steps, steps == 1 ? "" : "s",
            secs);
    if (run_steps > 0) {
        fprintf(out, " (%.2f us a step", secs * 1e6 / (double)run_steps);
        if (nnrt_threads() > 1)
            fprintf(out, ", %d threads", nnrt_threads());
        fputc(')', out);
    }
    fprintf(out, " | loss %.4f", loss);
    if (!isnan(acc))
        fprintf(out, " | acc %.4f", acc);
    nnrt_log_set(out, "val", val_loss, val_acc);
    nnrt_log_set(out, "test", test_loss, test_acc);
    fputc('\n', out);
    errno = 0;
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

int nnrt_csvlog_open(NnrtCsvLog *log, const char *path, char *err, size_t errlen)
{
    log->path = path;
    log->f = fopen(path, "w");
    if (!log->f)
        return nnrt_errf(err, errlen, "cannot write log %s: %s", path, strerror(errno));
    if (fputs(nnrt_csv_header, log->f) < 0 || fflush(log->f) != 0) {
        fclose(log->f);
        log->f = NULL;
        return nnrt_errf(err, errlen, "cannot write log %s: %s", path, strerror(errno));
    }
    return 0;
}

/* The figures of a kept row "epoch,loss,acc,test_loss,test_acc,lr,
 * val_loss,val_acc" after its epoch (rest points at the comma): a field
 * that is empty or not a finite number is NaN, as the row had it. */
static void nnrt_csvlog_figures(int epoch, const char *rest, NnrtFigures *f)
{
    double v[7]; /* loss acc test_loss test_acc lr val_loss val_acc */
    for (int i = 0; i < 7; i++) {
        v[i] = NAN;
        if (*rest != ',')
            continue;
        char *end;
        double x = strtod(++rest, &end);
        if (end != rest && (*end == ',' || *end == '\n') && isfinite(x))
            v[i] = x;
        rest += strcspn(rest, ",\n");
    }
    f->epoch = epoch;
    f->loss = v[0];
    f->acc = v[1];
    f->test_loss = v[2];
    f->test_acc = v[3];
    f->val_loss = v[5];
    f->val_acc = v[6];
}

/* The offset just after the last whole row of f (opened at the start of a
 * log whose header matched) whose epoch is <= epoch; rows are in order.
 * Each kept row's figures go into hist (NULL: none). */
static long nnrt_csvlog_keep(FILE *f, long epoch, NnrtHistory *hist)
{
    char line[512];
    long keep = ftell(f);
    while (fgets(line, sizeof line, f)) {
        char *end;
        size_t len = strlen(line);
        long e = strtol(line, &end, 10);
        if (len == 0 || line[len - 1] != '\n' || end == line || *end != ',' || e < 1 || e > epoch)
            break;
        if (hist) {
            NnrtFigures fig;
            nnrt_csvlog_figures((int)e, end, &fig);
            nnrt_history_add(hist, &fig);
        }
        keep = ftell(f);
    }
    return keep;
}

int nnrt_csvlog_resume(NnrtCsvLog *log, const char *path, long epoch, NnrtHistory *hist, char *err,
                       size_t errlen)
{
    char head[sizeof nnrt_csv_header];
    FILE *f = fopen(path, "r+");
    if (!f)
        return nnrt_csvlog_open(log, path, err, errlen);
    if (!fgets(head, sizeof head, f) || strcmp(head, nnrt_csv_header) != 0) {
        fclose(f);
        return nnrt_csvlog_open(log, path, err, errlen);
    }
    long keep = nnrt_csvlog_keep(f, epoch, hist);
    if (keep < 0 || fflush(f) != 0 || ftruncate(fileno(f), (off_t)keep) != 0 ||
        fseek(f, keep, SEEK_SET) != 0) {
        int saved = errno;
        fclose(f);
        return nnrt_errf(err, errlen, "cannot write log %s: %s", path, strerror(saved));
    }
    log->f = f;
    log->path = path;
    return 0;
}

/* ",%.6g" or "," for NaN */
static void nnrt_csv_field(FILE *f, double v)
{
    if (isnan(v))
        fputc(',', f);
    else
        fprintf(f, ",%.6g", v);
}

int nnrt_csvlog_row(NnrtCsvLog *log, int epoch, double loss, double acc,
                    double test_loss, double test_acc, double lr, char *err, size_t errlen)
{
    return nnrt_csvlog_row_val(log, epoch, loss, acc, test_loss, test_acc, lr, (double)NAN,
                               (double)NAN, err, errlen);
}

int nnrt_csvlog_row_val(NnrtCsvLog *log, int epoch, double loss, double acc, double test_loss,
                        double test_acc, double lr, double val_loss, double val_acc, char *err,
                        size_t errlen)
{
    if (!log->f)
        return 0;
    fprintf(log->f, "%d", epoch);
    nnrt_csv_field(log->f, loss);
    nnrt_csv_field(log->f, acc);
    nnrt_csv_field(log->f, test_loss);
    nnrt_csv_field(log->f, test_acc);
    nnrt_csv_field(log->f, lr);
    nnrt_csv_field(log->f, val_loss);
    nnrt_csv_field(log->f, val_acc);
    fputc('\n', log->f);
    errno = 0;
    if (fflush(log->f) != 0 || ferror(log->f))
        return nnrt_errf(err, errlen, "cannot write log %s: %s", log->path,
                         errno ? strerror(errno) : "a write failed (is the disk full?)");
    return 0;
}

int nnrt_csvlog_close(NnrtCsvLog *log, char *err, size_t errlen)
{
    if (!log->f)
        return 0;
    int bad = ferror(log->f);
    int rc = fclose(log->f);
    log->f = NULL;
    if (bad || rc != 0)
        return nnrt_errf(err, errlen, "cannot write log %s: %s", log->path, strerror(errno));
    return 0;
}

/* ---- the progress line on a terminal ----------------------------------------- */

void nnrt_tick_init(NnrtTick *t, FILE *out, int quiet)
{
    memset(t, 0, sizeof *t);
    int fd = fileno(out);
    t->on = !quiet && fd >= 0 && isatty(fd);
    t->last = -1.0;
}

/* "12s", "1m02s", "2h03m": the time left, rounded up to the second. */
static void nnrt_eta_text(double secs, char *buf, size_t len)
{
    if (!(secs >= 0.0) || secs > 1e9) {
        snprintf(buf, len, "?");
        return;
    }
    long s = (long)ceil(secs);
    if (s < 60)
        snprintf(buf, len, "%lds", s);
    else if (s < 3600)
        snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, len, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
}

/* The line's text (no \r, no newline) into buf. */
static int nnrt_tick_text(const NnrtTickFigures *f, char *buf, size_t len)
{
    char eta[32];
    nnrt_eta_text(f->eta, eta, sizeof eta);
    int n = snprintf(buf, len, "epoch %d/%d | step %ld/%ld | %.0f samples/s | loss %.4f", f->epoch,
                     f->epochs, f->iter, f->iters, f->samples_per_s, f->loss);
    if (n >= 0 && (size_t)n < len && !isnan(f->val_loss))
        n += snprintf(buf + n, len - (size_t)n, " | val loss %.4f", f->val_loss);
    if (n >= 0 && (size_t)n < len && !isnan(f->val_loss) && !isnan(f->val_acc))
        n += snprintf(buf + n, len - (size_t)n, " | val acc %.4f", f->val_acc);
    if (n >= 0 && (size_t)n < len && !isnan(f->test_loss))
        n += snprintf(buf + n, len - (size_t)n, " | test loss %.4f", f->test_loss);
    if (n >= 0 && (size_t)n < len && !isnan(f->test_loss) && !isnan(f->test_acc))
        n += snprintf(buf + n, len - (size_t)n, " | test acc %.4f", f->test_acc);
    if (n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " | ETA %s", eta);
    return n < 0 ? 0 : (size_t)n < len ? n : (int)len - 1;
}

int nnrt_tick_draw(NnrtTick *t, FILE *out, const NnrtTickFigures *f, int end)
{
    double now = nnrt_now();
    if (!t->on || (!end && t->last >= 0.0 && now - t->last < NNRT_TICK_SECS))
        return 0;
    char buf[256];
    int n = nnrt_tick_text(f, buf, sizeof buf);
    /* blank what the previous, longer line left on the screen */
    fprintf(out, "\r%s%*s", buf, t->width > n ? t->width - n : 0, "");
    t->width = n;
    t->last = now;
    t->open = !end;
    if (end) {
        fputc('\n', out);
        t->width = 0;
    }
    errno = 0;
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

void nnrt_tick_break(NnrtTick *t, FILE *out)
{
    if (!t->open)
        return;
    fputc('\n', out);
    fflush(out);
    t->open = 0;
    t->width = 0;
}
