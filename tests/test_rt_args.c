/* test_rt_args.c: flags of emitted programs, --help, and the log lines
 * (progress, summary, CSV log, lr schedule).
 */
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ASSERT_HAS(s, sub) ck_assert_msg(strstr((s), (sub)) != NULL, "'%s' lacks '%s'", (s), (sub))
#define ASSERT_FEQ(a, b) ck_assert_msg((a) == (b), "%.9g != %.9g", (double)(a), (double)(b))

/* A memory stream and what was written to it. */
typedef struct { FILE *f; char *buf; size_t len; } Mem;

static void mem_open(Mem *m)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    ck_assert_ptr_nonnull(m->f);
}

static const char *mem_text(Mem *m)
{
    fflush(m->f);
    return m->buf;
}

static void mem_close(Mem *m)
{
    fclose(m->f);
    free(m->buf);
}

/* Parses a NULL-terminated argv; returns the status, err text in *msg. */
static int parse(NnrtArgs *a, Mem *err, const char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    mem_open(err);
    return nnrt_args_parse(argc, (char **)(void *)argv, a, "prog", err->f);
}

START_TEST(test_defaults_unset)
{
    NnrtArgs a;
    Mem e;
    const char *argv[] = { "prog", NULL };
    ck_assert_msg(parse(&a, &e, argv) == 0, "%s", mem_text(&e));
    ck_assert_int_eq(a.epochs, -1);
    ck_assert(isnan(a.lr));
    ck_assert_int_eq(a.has_seed, 0);
    ck_assert_int_eq(a.n_data, 0);
    ck_assert_int_eq(a.n_test, 0);
    ck_assert_ptr_null(a.save);
    ck_assert_ptr_null(a.load);
    ck_assert_ptr_null(a.log_csv);
    ck_assert_int_eq(a.quiet + a.gradcheck + a.help, 0);
    ck_assert_int_eq(a.save_every, 0);
    ck_assert_int_eq(a.log_every, -1);
    ck_assert_str_eq(mem_text(&e), "");
    mem_close(&e);
    nnrt_args_free(&a);
}
END_TEST

START_TEST(test_every_flag_both_forms)
{
    NnrtArgs a;
    Mem e;
    const char *argv[] = { "prog", "--epochs", "12", "--lr=0.5", "--seed", "18446744073709551615",
                           "--data=img.gz,lab.gz", "--test", "t.csv", "--save", "out.st",
                           "--load=in.st", "--log-csv", "log.csv", "--quiet", "--gradcheck",
                           "--save-every", "5", "--log-every=0", NULL };
    ck_assert_msg(parse(&a, &e, argv) == 0, "%s", mem_text(&e));
    ck_assert_int_eq(a.epochs, 12);
    ASSERT_FEQ(a.lr, 0.5f);
    ck_assert_int_eq(a.has_seed, 1);
    ck_assert_uint_eq(a.seed, UINT64_MAX);
    ck_assert_int_eq(a.n_data, 2);
    ck_assert_str_eq(a.data[0], "img.gz");
    ck_assert_str_eq(a.data[1], "lab.gz");
    ck_assert_int_eq(a.n_test, 1);
    ck_assert_str_eq(a.test[0], "t.csv");
    ck_assert_str_eq(a.save, "out.st");
    ck_assert_str_eq(a.load, "in.st");
    ck_assert_str_eq(a.log_csv, "log.csv");
    ck_assert_int_eq(a.quiet, 1);
    ck_assert_int_eq(a.gradcheck, 1);
    ck_assert_int_eq(a.help, 0);
    ck_assert_int_eq(a.save_every, 5);
    ck_assert_int_eq(a.log_every, 0);
    mem_close(&e);
    nnrt_args_free(&a);
    ck_assert_ptr_null(a.owned[0]);
}
END_TEST

/* --init-from and --plot take file names; --init-from with --load is refused. */
START_TEST(test_init_from_and_plot)
{
    NnrtArgs a;
    Mem e;
    const char *argv[] = { "prog", "--init-from", "p.st", "--plot=chart.svg", NULL };
    ck_assert_msg(parse(&a, &e, argv) == 0, "%s", mem_text(&e));
    ck_assert_str_eq(a.init_from, "p.st");
    ck_assert_str_eq(a.plot, "chart.svg");
    ck_assert_ptr_null(a.load);
    mem_close(&e);
    nnrt_args_free(&a);
    const char *both[] = { "prog", "--load=c.st", "--init-from", "p.st", NULL };
    ck_assert_int_eq(parse(&a, &e, both), 2);
    ck_assert_str_eq(mem_text(&e), "prog: --init-from and --load cannot be used together: --load "
                     "resumes a run (params, optimizer, epoch), --init-from starts a new one from "
                     "given params (try 'prog --help')\n");
    mem_close(&e);
    nnrt_args_free(&a);
    const char *empty[] = { "prog", "--plot=", NULL };
    ck_assert_int_eq(parse(&a, &e, empty), 2);
    ck_assert_str_eq(mem_text(&e), "prog: --plot wants a file name, got '' (try 'prog --help')\n");
    mem_close(&e);
    nnrt_args_free(&a);
}
END_TEST

/* --predict and --out take file names; --out needs --predict, --predict
 * needs params (--load or --init-from) and refuses the flags of training. */
START_TEST(test_predict_and_out)
{
    NnrtArgs a;
    Mem e;
    const char *argv[] = { "prog", "--predict", "in.csv", "--out=o.csv", "--load", "m.st", "--quiet", NULL };
    ck_assert_msg(parse(&a, &e, argv) == 0, "%s", mem_text(&e));
    ck_assert_str_eq(a.predict, "in.csv");
    ck_assert_str_eq(a.out, "o.csv");
    mem_close(&e);
    nnrt_args_free(&a);
    const char *init[] = { "prog", "--predict=in.csv", "--init-from", "p.st", NULL };
    ck_assert_msg(parse(&a, &e, init) == 0, "%s", mem_text(&e));
    ck_assert_ptr_null(a.out);
    mem_close(&e);
    nnrt_args_free(&a);
    static struct {
        const char *argv[8];
        const char *want;
    } bad[] = {
        { { "prog", "--predict", "in.csv", NULL }, "prog: --predict needs the trained params: "
          "--load CHECKPOINT or --init-from FILE (try 'prog --help')\n" },
        { { "prog", "--out", "o.csv", "--load", "m.st", NULL }, "prog: --out names where --predict "
          "writes; there is no --predict (try 'prog --help')\n" },
        { { "prog", "--predict", "", "--load", "m.st", NULL }, "prog: --predict wants a file name, "
          "got '' (try 'prog --help')\n" },
        { { "prog", "--predict", "i", "--load", "m.st", "--save", "s.st", NULL }, "prog: --predict "
          "trains nothing and reads no training data, so --save has no effect with it (try 'prog --help')\n" },
        { { "prog", "--predict", "i", "--load", "m.st", "--data", "d.csv", NULL }, "so --data has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--lr", "0.1", NULL }, "so --lr has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--seed", "1", NULL }, "so --seed has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--test", "t.csv", NULL }, "so --test has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--log-csv", "l.csv", NULL }, "so --log-csv has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--plot", "p.svg", NULL }, "so --plot has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--save-every", "2", NULL }, "so --save-every has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--log-every", "0", NULL }, "so --log-every has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--gradcheck", NULL }, "so --gradcheck has no effect" },
        { { "prog", "--predict", "i", "--load", "m.st", "--epochs", "0", NULL }, "so --epochs has no effect" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(parse(&a, &e, bad[i].argv), 2);
        ASSERT_HAS(mem_text(&e), bad[i].want);
        const char *t = mem_text(&e);
        ck_assert_msg(strchr(t, '\n') == t + strlen(t) - 1, "not one line: %s", t);
        mem_close(&e);
        nnrt_args_free(&a);
    }
}
END_TEST

START_TEST(test_repeated_flag_last_wins)
{
    NnrtArgs a;
    Mem e;
    const char *argv[] = { "prog", "--data", "a.csv", "--data", "b.csv", "--epochs=0", "--help", NULL };
    ck_assert_msg(parse(&a, &e, argv) == 0, "%s", mem_text(&e));
    ck_assert_str_eq(a.data[0], "b.csv");
    ck_assert_int_eq(a.n_data, 1);
    ck_assert_int_eq(a.epochs, 0);
    ck_assert_int_eq(a.help, 1);
    mem_close(&e);
    nnrt_args_free(&a);
}
END_TEST

/* argv must fail with status 2 and exactly the line want. */
static void check_bad(const char **argv, const char *want)
{
    NnrtArgs a;
    Mem e;
    ck_assert_int_eq(parse(&a, &e, argv), 2);
    ck_assert_str_eq(mem_text(&e), want);
    mem_close(&e);
    nnrt_args_free(&a);
}

START_TEST(test_bad_flags)
{
    const char *a1[] = { "prog", "--frobnicate", NULL };
    check_bad(a1, "prog: unknown flag '--frobnicate' (try 'prog --help')\n");
    const char *a2[] = { "prog", "--epochs", "ten", NULL };
    check_bad(a2, "prog: --epochs wants a whole number >= 0, got 'ten' (try 'prog --help')\n");
    const char *a3[] = { "prog", "--epochs", NULL };
    check_bad(a3, "prog: --epochs needs a value N (try 'prog --help')\n");
    const char *a4[] = { "prog", "--lr=-1", NULL };
    check_bad(a4, "prog: --lr wants a number > 0, got '-1' (try 'prog --help')\n");
    const char *a5[] = { "prog", "--lr", "nan", NULL };
    check_bad(a5, "prog: --lr wants a number > 0, got 'nan' (try 'prog --help')\n");
    const char *a6[] = { "prog", "--seed=-3", NULL };
    check_bad(a6, "prog: --seed wants a whole number >= 0, got '-3' (try 'prog --help')\n");
    const char *a7[] = { "prog", "--quiet=yes", NULL };
    check_bad(a7, "prog: --quiet takes no value (try 'prog --help')\n");
    const char *a8[] = { "prog", "data.csv", NULL };
    check_bad(a8, "prog: unexpected argument 'data.csv' (try 'prog --help')\n");
    const char *a9[] = { "prog", "--data", "a,b,c", NULL };
    check_bad(a9, "prog: --data wants PATH or PATH,PATH, got 'a,b,c' (try 'prog --help')\n");
    const char *a10[] = { "prog", "--test=,b", NULL };
    check_bad(a10, "prog: --test wants PATH or PATH,PATH, got ',b' (try 'prog --help')\n");
    const char *a11[] = { "prog", "--epochs", "99999999999", NULL };
    check_bad(a11, "prog: --epochs wants a whole number >= 0, got '99999999999' (try 'prog --help')\n");
    const char *a12[] = { "prog", "--save=", NULL };
    check_bad(a12, "prog: --save wants a file name, got '' (try 'prog --help')\n");
    const char *a13[] = { "prog", "--", NULL };
    check_bad(a13, "prog: unexpected argument '--' (try 'prog --help')\n");
    const char *a14[] = { "prog", "--epoch", "3", NULL };
    check_bad(a14, "prog: unknown flag '--epoch'; did you mean '--epochs'? (try 'prog --help')\n");
    const char *a15[] = { "prog", "--log-evry=2", NULL };
    check_bad(a15, "prog: unknown flag '--log-evry'; did you mean '--log-every'? (try 'prog --help')\n");
    const char *a16[] = { "prog", "--sav", "x", NULL };
    check_bad(a16, "prog: unknown flag '--sav'; did you mean '--save'? (try 'prog --help')\n");
    const char *a17[] = { "prog", "--save-every", "-1", NULL };
    check_bad(a17, "prog: --save-every wants a whole number >= 0, got '-1' (try 'prog --help')\n");
    const char *a18[] = { "prog", "--log-every", "x", NULL };
    check_bad(a18, "prog: --log-every wants a whole number >= 0, got 'x' (try 'prog --help')\n");
}
END_TEST

START_TEST(test_usage_lists_flags_and_defaults)
{
    NnrtModel m;
    memset(&m, 0, sizeof m);
    m.name = "twolayer";
    m.epochs = 300;
    m.lr = 1.0f;
    m.final_lr = 0.1f;
    m.decay = NNRT_DECAY_LINEAR;
    m.seed = 1984;
    m.checkpoint = "twolayer.safetensors";
    nnrt_source_init(&m.data);
    nnrt_source_init(&m.test);
    m.data.kind = NNRT_SRC_SPIRAL;
    m.data.classes = 3;
    m.data.points = 100;
    m.data.seed = 1984;
    Mem o;
    mem_open(&o);
    nnrt_args_usage(o.f, "./twolayer", &m);
    const char *t = mem_text(&o);
    ASSERT_HAS(t, "usage: ./twolayer [flags]");
    ASSERT_HAS(t, "  --epochs N           epochs to train (default 300)\n");
    ASSERT_HAS(t, "--lr X");
    ASSERT_HAS(t, "(default 1, linear to 0.1)");
    ASSERT_HAS(t, "--seed N");
    ASSERT_HAS(t, "(default 1984)");
    ASSERT_HAS(t, "--data PATH[,PATH]");
    ASSERT_HAS(t, "(default spiral(classes=3, points=100, seed=1984))");
    ASSERT_HAS(t, "--test PATH[,PATH]");
    ASSERT_HAS(t, "(default none)");
    ASSERT_HAS(t, "(default twolayer.safetensors)");
    ASSERT_HAS(t, "--load FILE");
    ASSERT_HAS(t, "--log-csv FILE");
    ASSERT_HAS(t, "--init-from FILE");
    ASSERT_HAS(t, "--plot FILE.svg");
    ASSERT_HAS(t, "--save-every N");
    ASSERT_HAS(t, "--log-every N");
    ASSERT_HAS(t, "--quiet");
    ASSERT_HAS(t, "--gradcheck");
    ASSERT_HAS(t, "  --predict FILE       outputs (and class) for FILE's rows (CSV or IDX images) as "
                  "CSV; trains nothing; needs --load or --init-from\n");
    ASSERT_HAS(t, "  --out FILE           where --predict writes (default standard output)\n");
    ASSERT_HAS(t, "--help");
    int lines = 0;
    for (const char *p = t; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 2 + 17);
    mem_close(&o);
}
END_TEST

START_TEST(test_progress_and_summary_lines)
{
    Mem o;
    mem_open(&o);
    nnrt_log_progress(o.f, 3, 10, 10, 0.0125, 0.91234, (double)NAN, (double)NAN);
    nnrt_log_progress(o.f, 4, 5, 10, 1.5, 0.5, 0.45671, 0.85123);
    nnrt_log_progress(o.f, 5, 5, 10, 1.5, 0.5, 0.45671, (double)NAN);
    nnrt_log_summary(o.f, 300, 3000, 3000, 0.1234, 0.12962, 0.97333, (double)NAN, (double)NAN);
    nnrt_log_summary(o.f, 3, 30, 30, 2.0, 0.5, (double)NAN, 0.25, 0.75);
    nnrt_log_progress_val(o.f, 6, 5, 10, 1.5, 0.5, 0.3, 0.9, 0.45671, 0.85123);
    nnrt_log_summary_val(o.f, 3, 30, 30, 2.0, 0.5, 0.8, 0.3, (double)NAN, (double)NAN, (double)NAN);
    nnrt_log_summary(o.f, 30, 300, 0, 0.0001, 0.5, (double)NAN, (double)NAN, (double)NAN);
    nnrt_log_summary(o.f, 30, 300, 100, 0.5, 0.5, (double)NAN, (double)NAN, (double)NAN);
    ck_assert_str_eq(mem_text(&o),
                     "| epoch 3 | iter 10/10 | time 0.01s | loss 0.9123\n"
                     "| epoch 4 | iter 5/10 | time 1.50s | loss 0.5000 | test loss 0.4567 | test acc 0.8512\n"
                     "| epoch 5 | iter 5/10 | time 1.50s | loss 0.5000 | test loss 0.4567\n"
                     "done: 300 epochs, 3000 steps in 0.12s (41.13 us a step) | loss 0.1296 | acc 0.9733\n"
                     "done: 3 epochs, 30 steps in 2.00s (66666.67 us a step) | loss 0.5000 | test loss 0.2500 | test acc 0.7500\n"
                     "| epoch 6 | iter 5/10 | time 1.50s | loss 0.5000 | val loss 0.3000 | val acc 0.9000 | test loss 0.4567 | test acc 0.8512\n"
                     "done: 3 epochs, 30 steps in 2.00s (66666.67 us a step) | loss 0.5000 | acc 0.8000 | val loss 0.3000\n"
                     "done: 30 epochs, 300 steps in 0.00s | loss 0.5000\n"
                     "done: 30 epochs, 300 steps in 0.50s (5000.00 us a step) | loss 0.5000\n");
    mem_close(&o);
}
END_TEST

/* The resume command: argv without --load (either form), then --load PATH,
 * quoted where a shell would read it otherwise; a value that looks like
 * --load (of --save) is kept. */
START_TEST(test_resume_command)
{
    NnrtArgs a;
    Mem e, o;
    const char *argv[] = { "./m", "--load", "old.st", "--save", "--load", "--log-csv=my log.csv",
                           "--load=x", "--epochs", "9", "--data", "it's.csv", NULL };
    ck_assert_msg(parse(&a, &e, argv) == 0, "%s", mem_text(&e));
    mem_open(&o);
    nnrt_args_resume(o.f, &a, "prog", "m.interrupted.safetensors");
    ck_assert_str_eq(mem_text(&o), "./m --save --load '--log-csv=my log.csv' --epochs 9 --data "
                                   "'it'\\''s.csv' --load m.interrupted.safetensors");
    mem_close(&o);
    mem_close(&e);
    nnrt_args_free(&a);
}
END_TEST

/* --log-csv with --load keeps the rows up to the checkpoint's epoch. */
START_TEST(test_csv_log_resume)
{
    char dir[] = "/tmp/nnrt_log_XXXXXX", path[64], err[256], buf[512] = "";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n1,0.5,,,,0.1,,\n2,0.4,,,,0.1,,\n3,0.3,,,,0.1,,\n4,0.2", f);
    fclose(f);
    NnrtCsvLog log;
    ck_assert_int_eq(nnrt_csvlog_resume(&log, path, 2, NULL, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_csvlog_row(&log, 3, 0.25, (double)NAN, (double)NAN, (double)NAN, 0.1, err,
                                     sizeof err), 0);
    ck_assert_int_eq(nnrt_csvlog_close(&log, err, sizeof err), 0);
    f = fopen(path, "r");
    ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, f), 0);
    fclose(f);
    ck_assert_str_eq(buf, "epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n1,0.5,,,,0.1,,\n2,0.4,,,,0.1,,\n"
                          "3,0.25,,,,0.1,,\n");
    f = fopen(path, "w"); /* not a log: written afresh */
    fputs("a,b\n1,2\n", f);
    fclose(f);
    ck_assert_int_eq(nnrt_csvlog_resume(&log, path, 2, NULL, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_csvlog_close(&log, err, sizeof err), 0);
    f = fopen(path, "r");
    memset(buf, 0, sizeof buf);
    ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, f), 0);
    fclose(f);
    ck_assert_str_eq(buf, "epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n");
    unlink(path);
    ck_assert_int_eq(nnrt_csvlog_resume(&log, path, 2, NULL, err, sizeof err), 0); /* none: new */
    ck_assert_int_eq(nnrt_csvlog_close(&log, err, sizeof err), 0);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* --plot after --load: the kept rows of the log start the chart's history,
 * empty fields and junk read as NaN. */
START_TEST(test_csv_log_resume_history)
{
    char dir[] = "/tmp/nnrt_log_XXXXXX", path[64], err[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n"
          "1,0.5,0.75,0.625,0.7,0.1,,\n2,0.4,x,inf,,0.1,0.3,0.9\n3,0.3,,,,0.1,,\n", f);
    fclose(f);
    NnrtHistory h;
    ck_assert_int_eq(nnrt_history_init(&h, 5, 1, err, sizeof err), 0);
    NnrtCsvLog log;
    ck_assert_int_eq(nnrt_csvlog_resume(&log, path, 2, &h, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_csvlog_close(&log, err, sizeof err), 0);
    ck_assert_uint_eq(h.n, 2);
    ck_assert_int_eq(h.rows[0].epoch, 1);
    ck_assert(h.rows[0].loss == 0.5 && h.rows[0].acc == 0.75);
    ck_assert(h.rows[0].test_loss == 0.625 && h.rows[0].test_acc == 0.7);
    ck_assert(isnan(h.rows[0].val_loss) && isnan(h.rows[0].val_acc));
    ck_assert_int_eq(h.rows[1].epoch, 2);
    ck_assert(h.rows[1].loss == 0.4 && isnan(h.rows[1].acc));
    ck_assert(isnan(h.rows[1].test_loss) && isnan(h.rows[1].test_acc));
    ck_assert(h.rows[1].val_loss == 0.3 && h.rows[1].val_acc == 0.9);
    nnrt_history_free(&h);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_csv_log)
{
    char dir[] = "/tmp/nnrt_log_XXXXXX", path[64], err[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/log.csv", dir);
    NnrtCsvLog log;
    ck_assert_int_eq(nnrt_csvlog_open(&log, path, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_csvlog_row(&log, 1, 0.5, 0.75, (double)NAN, (double)NAN, 0.1, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_csvlog_row(&log, 2, 0.25, (double)NAN, 0.3, 0.9, 0.05, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_csvlog_row_val(&log, 3, 0.2, 0.8, (double)NAN, (double)NAN, 0.05, 0.35,
                                         0.875, err, sizeof err), 0);
    ck_assert_int_eq(nnrt_csvlog_close(&log, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    char buf[256] = "";
    ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, f), 0);
    fclose(f);
    ck_assert_str_eq(buf, "epoch,loss,acc,test_loss,test_acc,lr,val_loss,val_acc\n"
                          "1,0.5,0.75,,,0.1,,\n"
                          "2,0.25,,0.3,0.9,0.05,,\n"
                          "3,0.2,0.8,,,0.05,0.35,0.875\n");
    unlink(path);
    rmdir(dir);
    ck_assert_int_eq(nnrt_csvlog_open(&log, "/nonexistent/x/log.csv", err, sizeof err), -1);
    ck_assert_str_eq(err, "cannot write log /nonexistent/x/log.csv: No such file or directory");
}
END_TEST

START_TEST(test_lr_schedule)
{
    ASSERT_FEQ(nnrt_lr_at(1.0f, 0.1f, NNRT_DECAY_NONE, 5, 10), 1.0f);
    ASSERT_FEQ(nnrt_lr_at(1.0f, 0.0f, NNRT_DECAY_LINEAR, 0, 11), 1.0f);
    ck_assert_double_eq_tol((double)nnrt_lr_at(1.0f, 0.0f, NNRT_DECAY_LINEAR, 5, 11), 0.5, 1e-7);
    ck_assert_double_eq_tol((double)nnrt_lr_at(1.0f, 0.0f, NNRT_DECAY_LINEAR, 10, 11), 0.0, 1e-7);
    ck_assert_double_eq_tol((double)nnrt_lr_at(1.0f, 0.01f, NNRT_DECAY_EXPONENTIAL, 5, 11), 0.1, 1e-7);
    ck_assert_double_eq_tol((double)nnrt_lr_at(1.0f, 0.01f, NNRT_DECAY_EXPONENTIAL, 10, 11), 0.01, 1e-8);
    ASSERT_FEQ(nnrt_lr_at(1.0f, 0.0f, NNRT_DECAY_EXPONENTIAL, 5, 11), 1.0f); /* needs final > 0 */
    ASSERT_FEQ(nnrt_lr_at(0.3f, 0.1f, NNRT_DECAY_LINEAR, 0, 1), 0.3f);       /* one epoch */
}
END_TEST

START_TEST(test_now_and_errf)
{
    double t1 = nnrt_now(), t2 = nnrt_now();
    ck_assert(t1 > 0 && t2 >= t1);
    char err[8];
    ck_assert_int_eq(nnrt_errf(err, sizeof err, "%s:%d", "abcdef", 42), -1);
    ck_assert_str_eq(err, "abcdef:");
    ck_assert_int_eq(nnrt_errf(NULL, 0, "x"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_args");
    TCase *tc = tcase_create("args");
    tcase_add_test(tc, test_defaults_unset);
    tcase_add_test(tc, test_every_flag_both_forms);
    tcase_add_test(tc, test_init_from_and_plot);
    tcase_add_test(tc, test_predict_and_out);
    tcase_add_test(tc, test_repeated_flag_last_wins);
    tcase_add_test(tc, test_bad_flags);
    tcase_add_test(tc, test_usage_lists_flags_and_defaults);
    suite_add_tcase(s, tc);
    TCase *lg = tcase_create("log");
    tcase_add_test(lg, test_progress_and_summary_lines);
    tcase_add_test(lg, test_csv_log);
    tcase_add_test(lg, test_csv_log_resume);
    tcase_add_test(lg, test_csv_log_resume_history);
    tcase_add_test(lg, test_resume_command);
    tcase_add_test(lg, test_lr_schedule);
    tcase_add_test(lg, test_now_and_errf);
    suite_add_tcase(s, lg);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
