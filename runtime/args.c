/* args.c: the command line of an emitted trainer.
 *
 * One table lists every flag (name, value placeholder, help line); parsing
 * and --help both read it.  Values not given stay "unset" (epochs -1, lr
 * NaN, has_seed 0, NULL paths) so that the train block's defaults apply.
 * "--flag value" and "--flag=value" are the same.  A bad command line gets
 * one line naming the flag and the way to --help, and status 2.
 */
#include "nnrt.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    NNRT_FLAG_EPOCHS, NNRT_FLAG_LR, NNRT_FLAG_SEED, NNRT_FLAG_DATA, NNRT_FLAG_TEST,
    NNRT_FLAG_SAVE, NNRT_FLAG_SAVE_EVERY, NNRT_FLAG_LOAD, NNRT_FLAG_INIT_FROM, NNRT_FLAG_LOG_CSV,
    NNRT_FLAG_LOG_EVERY, NNRT_FLAG_PLOT, NNRT_FLAG_QUIET, NNRT_FLAG_GRADCHECK, NNRT_FLAG_PREDICT,
    NNRT_FLAG_OUT, NNRT_FLAG_HELP
} NnrtFlagId;

typedef struct NnrtFlag {
    NnrtFlagId id;
    const char *name;    /* without the leading "--" */
    const char *arg;     /* value placeholder, NULL for a switch */
    const char *help;
} NnrtFlag;

static const NnrtFlag nnrt_flags[] = {
    { NNRT_FLAG_EPOCHS, "epochs", "N", "epochs to train" },
    { NNRT_FLAG_LR, "lr", "X", "learning rate, where the schedule starts" },
    { NNRT_FLAG_SEED, "seed", "N", "seed for params, shuffling and dropout" },
    { NNRT_FLAG_DATA, "data", "PATH[,PATH]", "training data: IMAGES,LABELS for idx, FILE for csv" },
    { NNRT_FLAG_TEST, "test", "PATH[,PATH]", "test data, the same forms" },
    { NNRT_FLAG_SAVE, "save", "FILE", "write a checkpoint (safetensors) at the end" },
    { NNRT_FLAG_SAVE_EVERY, "save-every", "N", "also write the checkpoint after every N-th epoch; 0: only at the end" },
    { NNRT_FLAG_LOAD, "load", "FILE", "resume from a checkpoint: params, optimizer, epoch, step" },
    { NNRT_FLAG_INIT_FROM, "init-from", "FILE", "params from a safetensors file, by name (optimizer fresh)" },
    { NNRT_FLAG_LOG_CSV, "log-csv", "FILE", "write epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc per epoch" },
    { NNRT_FLAG_LOG_EVERY, "log-every", "N", "a progress line every N steps; 0: one an epoch" },
    { NNRT_FLAG_PLOT, "plot", "FILE.svg", "draw loss and accuracy per epoch (SVG) at the end" },
    { NNRT_FLAG_QUIET, "quiet", NULL, "print only the summary" },
    { NNRT_FLAG_GRADCHECK, "gradcheck", NULL, "check the gradients on the first batch and exit" },
    { NNRT_FLAG_PREDICT, "predict", "FILE", "outputs (and class) for FILE's rows (CSV or IDX "
      "images) as CSV; trains nothing; needs --load or --init-from" },
    { NNRT_FLAG_OUT, "out", "FILE", "where --predict writes (default standard output)" },
    { NNRT_FLAG_HELP, "help", NULL, "print this help" },
};
#define NNRT_N_FLAGS (sizeof nnrt_flags / sizeof nnrt_flags[0])

/* The flag named by "--name" or "--name=value" (name_len counts up to '='). */
static const NnrtFlag *nnrt_flag_find(const char *name, size_t name_len)
{
    for (size_t i = 0; i < NNRT_N_FLAGS; i++)
        if (strlen(nnrt_flags[i].name) == name_len && strncmp(nnrt_flags[i].name, name, name_len) == 0)
            return &nnrt_flags[i];
    return NULL;
}

/* Levenshtein distance between s[0..m) and t, capped: 99 when either is
 * longer than 40 characters (no flag is). */
static int nnrt_edit_distance(const char *s, size_t m, const char *t)
{
    size_t n = strlen(t);
    if (m > 40 || n > 40)
        return 99;
    int row[41];
    for (size_t j = 0; j <= n; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= m; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= n; j++) {
            int up = row[j], best = diag + (s[i - 1] != t[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[n];
}

/* The flag nearest to name[0..len): edit distance at most 2, or at most a
 * third of the name for longer ones ("--log-evry" -> log-every); NULL
 * when none is that close. */
static const NnrtFlag *nnrt_flag_closest(const char *name, size_t len)
{
    const NnrtFlag *best = NULL;
    int limit = len / 3 > 2 ? (int)(len / 3) : 2, best_d = limit + 1;
    for (size_t i = 0; i < NNRT_N_FLAGS; i++) {
        int d = nnrt_edit_distance(name, len, nnrt_flags[i].name);
        if (d < best_d) {
            best_d = d;
            best = &nnrt_flags[i];
        }
    }
    return best;
}

/* "unknown flag '--epoch'; did you mean '--epochs'? (try 'PROG --help')" */
static void nnrt_flag_unknown(FILE *err, const char *prog, const char *name, size_t len)
{
    const NnrtFlag *near = nnrt_flag_closest(name, len);
    fprintf(err, "%s: unknown flag '--%.*s'", prog, len > 200 ? 200 : (int)len, name);
    if (near)
        fprintf(err, "; did you mean '--%s'?", near->name);
    fprintf(err, " (try '%s --help')\n", prog);
}

static int nnrt_parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < 0 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int nnrt_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '+' || *s == ' ')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int nnrt_parse_lr(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v <= 0.0 || v > 1e30)
        return -1;
    *out = (float)v;
    return 0;
}

/* "A" or "A,B" into a malloc'd copy cut at the comma; -1 when a part is
 * empty or there are more than two. */
static int nnrt_parse_paths(const char *s, char **owned, const char *out[2], int *n)
{
    const char *comma = strchr(s, ',');
    if (!*s || (comma && (comma == s || !comma[1] || strchr(comma + 1, ','))))
        return -1;
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len + 1);
    free(*owned);
    *owned = copy;
    out[0] = copy;
    out[1] = NULL;
    *n = 1;
    if (comma) {
        copy[comma - s] = '\0';
        out[1] = copy + (comma - s) + 1;
        *n = 2;
    }
    return 0;
}

/* Stores one flag's value; -1 with what it wants in *want. */
static int nnrt_flag_set(NnrtArgs *a, const NnrtFlag *f, const char *v, const char **want)
{
    switch (f->id) {
    case NNRT_FLAG_EPOCHS: *want = "a whole number >= 0"; return nnrt_parse_int(v, &a->epochs);
    case NNRT_FLAG_LR: *want = "a number > 0"; return nnrt_parse_lr(v, &a->lr);
    case NNRT_FLAG_SEED:
        *want = "a whole number >= 0";
        a->has_seed = 1;
        return nnrt_parse_u64(v, &a->seed);
    case NNRT_FLAG_DATA:
        *want = "PATH or PATH,PATH";
        return nnrt_parse_paths(v, &a->owned[0], a->data, &a->n_data);
    case NNRT_FLAG_TEST:
        *want = "PATH or PATH,PATH";
        return nnrt_parse_paths(v, &a->owned[1], a->test, &a->n_test);
    case NNRT_FLAG_SAVE: a->save = v; break;
    case NNRT_FLAG_SAVE_EVERY: *want = "a whole number >= 0"; return nnrt_parse_int(v, &a->save_every);
    case NNRT_FLAG_LOG_EVERY: *want = "a whole number >= 0"; return nnrt_parse_int(v, &a->log_every);
    case NNRT_FLAG_LOAD: a->load = v; break;
    case NNRT_FLAG_INIT_FROM: a->init_from = v; break;
    case NNRT_FLAG_LOG_CSV: a->log_csv = v; break;
    case NNRT_FLAG_PLOT: a->plot = v; break;
    case NNRT_FLAG_PREDICT: a->predict = v; break;
    case NNRT_FLAG_OUT: a->out = v; break;
    case NNRT_FLAG_QUIET: a->quiet = 1; return 0;
    case NNRT_FLAG_GRADCHECK: a->gradcheck = 1; return 0;
    case NNRT_FLAG_HELP: a->help = 1; return 0;
    }
    *want = "a file name"; /* save, load, init-from, log-csv, plot, predict, out */
    return *v ? 0 : -1;
}

static void nnrt_args_reset(NnrtArgs *a)
{
    memset(a, 0, sizeof *a);
    a->epochs = -1;
    a->log_every = -1;
    a->lr = NAN;
}

/* One argv entry (and the next one when it is the value); returns the
 * number of entries used, or -1 after printing the error. */
static int nnrt_args_one(int argc, char **argv, int i, NnrtArgs *a, const char *prog, FILE *err)
{
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
        fprintf(err, "%s: unexpected argument '%s' (try '%s --help')\n", prog, arg, prog);
        return -1;
    }
    const char *eq = strchr(arg + 2, '=');
    size_t name_len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    const NnrtFlag *f = nnrt_flag_find(arg + 2, name_len);
    if (!f) {
        nnrt_flag_unknown(err, prog, arg + 2, name_len);
        return -1;
    }
    if (!f->arg && eq) {
        fprintf(err, "%s: --%s takes no value (try '%s --help')\n", prog, f->name, prog);
        return -1;
    }
    const char *v = eq ? eq + 1 : "";
    int used = 1;
    if (f->arg && !eq) {
        if (i + 1 >= argc) {
            fprintf(err, "%s: --%s needs a value %s (try '%s --help')\n", prog, f->name, f->arg, prog);
            return -1;
        }
        v = argv[i + 1];
        used = 2;
    }
    const char *want = "";
    if (nnrt_flag_set(a, f, v, &want) < 0) {
        fprintf(err, "%s: --%s wants %s, got '%s' (try '%s --help')\n", prog, f->name, want, v, prog);
        return -1;
    }
    return used;
}

/* Flags that cannot go together; 2 after printing the error: --init-from
 * with --load; --out without --predict; --predict (which trains nothing)
 * with a training flag, or without params to predict with. */
static int nnrt_args_conflicts(const NnrtArgs *a, const char *prog, FILE *err)
{
    const char *clash = a->epochs >= 0 ? "--epochs" : !isnan(a->lr) ? "--lr"
                      : a->has_seed ? "--seed" : a->n_data ? "--data" : a->n_test ? "--test"
                      : a->save ? "--save" : a->save_every > 0 ? "--save-every"
                      : a->log_csv ? "--log-csv" : a->log_every >= 0 ? "--log-every"
                      : a->plot ? "--plot" : a->gradcheck ? "--gradcheck" : NULL;
    if (a->help)
        return 0;
    if (a->init_from && a->load) {
        fprintf(err, "%s: --init-from and --load cannot be used together: --load resumes a run "
                "(params, optimizer, epoch), --init-from starts a new one from given params "
                "(try '%s --help')\n", prog, prog);
        return 2;
    }
    if (a->out && !a->predict) {
        fprintf(err, "%s: --out names where --predict writes; there is no --predict (try '%s "
                "--help')\n", prog, prog);
        return 2;
    }
    if (a->predict && clash) {
        fprintf(err, "%s: --predict trains nothing and reads no training data, so %s has no "
                "effect with it (try '%s --help')\n", prog, clash, prog);
        return 2;
    }
    if (a->predict && !a->load && !a->init_from) {
        fprintf(err, "%s: --predict needs the trained params: --load CHECKPOINT or --init-from "
                "FILE (try '%s --help')\n", prog, prog);
        return 2;
    }
    return 0;
}

int nnrt_args_parse(int argc, char **argv, NnrtArgs *a, const char *prog, FILE *err)
{
    nnrt_args_reset(a);
    a->argc = argc;
    a->argv = argv;
    for (int i = 1; i < argc;) {
        int used = nnrt_args_one(argc, argv, i, a, prog, err);
        if (used < 0)
            return 2;
        i += used;
    }
    return nnrt_args_conflicts(a, prog, err);
}

void nnrt_args_free(NnrtArgs *a)
{
    free(a->owned[0]);
    free(a->owned[1]);
    nnrt_args_reset(a);
}

/* s as one shell word: as it is when it holds only characters no shell
 * reads specially, else in single quotes ('\'' for a quote inside). */
static void nnrt_shell_word(FILE *out, const char *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_-+=/.,:@%";
    if (*s && strspn(s, safe) == strlen(s)) {
        fputs(s, out);
        return;
    }
    fputc('\'', out);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", out);
        else
            fputc(*s, out);
    }
    fputc('\'', out);
}

/* The run's command line (as parsed: every entry a flag or its value)
 * without its --load or --init-from, then "--load PATH". */
void nnrt_args_resume(FILE *out, const NnrtArgs *a, const char *prog, const char *path)
{
    nnrt_shell_word(out, a->argc > 0 && a->argv && a->argv[0] ? a->argv[0] : prog);
    for (int i = 1; a->argv && i < a->argc; i++) {
        const char *s = a->argv[i], *eq = strchr(s, '=');
        size_t len = eq ? (size_t)(eq - s) : strlen(s);
        const NnrtFlag *f = len > 2 ? nnrt_flag_find(s + 2, len - 2) : NULL;
        int with_value = f && f->arg && !eq && i + 1 < a->argc;
        if (f && (f->id == NNRT_FLAG_LOAD || f->id == NNRT_FLAG_INIT_FROM)) { /* the checkpoint has the params */
            i += with_value;
            continue;
        }
        fputc(' ', out);
        nnrt_shell_word(out, s);
        if (with_value) {
            fputc(' ', out);
            nnrt_shell_word(out, a->argv[++i]);
        }
    }
    fputs(" --load ", out);
    nnrt_shell_word(out, path);
}


/* The model's default for a flag, as text. */
static void nnrt_flag_default(const NnrtFlag *f, const NnrtModel *m, char *buf, size_t len)
{
    static const char *const decay[] = { "", ", linear", ", exponential" };
    buf[0] = '\0';
    switch (f->id) {
    case NNRT_FLAG_EPOCHS: snprintf(buf, len, "%d", m->epochs); break;
    case NNRT_FLAG_LR:
        if (m->no_lr)
            snprintf(buf, len, "none: the optimizer takes no learning rate");
        else if (m->decay == NNRT_DECAY_LINEAR || m->decay == NNRT_DECAY_EXPONENTIAL)
            snprintf(buf, len, "%g%s to %g", (double)m->lr, decay[m->decay], (double)m->final_lr);
        else
            snprintf(buf, len, "%g", (double)m->lr);
        break;
    case NNRT_FLAG_SEED: snprintf(buf, len, "%llu", (unsigned long long)m->seed); break;
    case NNRT_FLAG_DATA: nnrt_source_describe(&m->data, buf, len); break;
    case NNRT_FLAG_TEST: nnrt_source_describe(&m->test, buf, len); break;
    case NNRT_FLAG_SAVE: snprintf(buf, len, "%s", m->checkpoint ? m->checkpoint : "none"); break;
    case NNRT_FLAG_LOG_EVERY: snprintf(buf, len, "%d", m->log_every > 0 ? m->log_every : 0); break;
    default: break;
    }
}

void nnrt_args_usage(FILE *out, const char *prog, const NnrtModel *m)
{
    fprintf(out, "usage: %s [flags]   (model %s, trained as its train block says;\n"
                 "       flags override the block)\n", prog, m->name);
    for (size_t i = 0; i < NNRT_N_FLAGS; i++) {
        const NnrtFlag *f = &nnrt_flags[i];
        char left[64], def[600];
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        nnrt_flag_default(f, m, def, sizeof def);
        fprintf(out, "  %-20s %s", left, f->help);
        if (def[0])
            fprintf(out, " (default %s)", def);
        fputc('\n', out);
    }
}
