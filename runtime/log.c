/* log.c: what a training run tells its user.
 *
 *   nnrt_now            seconds on the monotonic clock (for "time 0.01s")
 *   nnrt_log_progress   "| epoch 3 | iter 10/10 | time 0.01s | loss 0.9123"
 *   nnrt_log_summary    "done: 300 epochs, 3000 steps in 0.12s (41.13 us a step) | loss ... | acc ..."
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
#include <string.h>
#include <time.h>

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

int nnrt_log_summary(FILE *out, int epochs, long steps, double secs, double loss,
                     double acc, double test_loss, double test_acc)
{
    return nnrt_log_summary_val(out, epochs, steps, secs, loss, acc, (double)NAN, (double)NAN,
                                test_loss, test_acc);
}

int nnrt_log_summary_val(FILE *out, int epochs, long steps, double secs, double loss,
                         double acc, double val_loss, double val_acc, double test_loss,
                         double test_acc)
{
    fprintf(out, "done: %d epoch%s, %ld step%s in %.2fs", epochs, epochs == 1 ? "" : "s", steps, steps == 1 ? "" : "s",
            secs);
    if (steps > 0)
        fprintf(out, " (%.2f us a step)", secs * 1e6 / (double)steps);
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
    if (fputs("epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n", log->f) < 0 || fflush(log->f) != 0) {
        fclose(log->f);
        log->f = NULL;
        return nnrt_errf(err, errlen, "cannot write log %s: %s", path, strerror(errno));
    }
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
