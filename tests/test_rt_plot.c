/* test_rt_plot.c: the --plot chart (plot.c).
 *
 * The history keeps what fits its room and no more; the SVG has the
 * model's name as title (escaped), tick labels at round numbers on both
 * axes (epochs 1..300: 0, 50, ..., 300; losses 0.04..1.1: 0.0, 0.2, ...,
 * 1.2), no NaN or inf anywhere in it, one polyline per series with
 * figures, a legend entry for those only, one panel for a model without
 * accuracy; an empty history gives a chart that says so; a failed write
 * leaves the previous file and no temporary.
 */
#include "nnrt.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ASSERT_HAS(s, sub) ck_assert_msg(strstr((s), (sub)) != NULL, "chart lacks '%s'", (sub))
#define ASSERT_LACKS(s, sub) ck_assert_msg(strstr((s), (sub)) == NULL, "chart has '%s'", (sub))

static char tmpdir[64], path[128], tmp[160];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/nnrt_plot_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(path, sizeof path, "%s/p.svg", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
}

static void teardown(void)
{
    unlink(path);
    unlink(tmp);
    rmdir(tmpdir);
}

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

static size_t count(const char *s, const char *sub)
{
    size_t n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
        n++;
    return n;
}

/* epochs 1..n: loss from 1.1 down to 0.04, test figures every 3rd epoch
 * (inf at epoch 3), accuracy rising. */
static void fill(NnrtHistory *h, int n)
{
    for (int e = 1; e <= n; e++) {
        double t = n > 1 ? (double)(e - 1) / (n - 1) : 0.0;
        NnrtFigures f = { e, 1.1 - 1.06 * t, 0.3 + 0.6 * t, NAN, NAN, NAN, NAN };
        if (e % 3 == 0) {
            f.test_loss = e == 3 ? (double)INFINITY : 1.0 - 0.5 * t;
            f.test_acc = 0.35 + 0.5 * t;
        }
        nnrt_history_add(h, &f);
    }
}

START_TEST(test_history_room)
{
    NnrtHistory h;
    char err[128];
    ck_assert_int_eq(nnrt_history_init(&h, 3, 1, err, sizeof err), 0);
    fill(&h, 5);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_int_eq(h.rows[2].epoch, 3);
    nnrt_history_free(&h);
    ck_assert_ptr_null(h.rows);
    ck_assert_int_eq(nnrt_history_init(&h, SIZE_MAX / 2, 1, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "--plot: out of memory for the figures of") != NULL, "%s", err);
}
END_TEST

START_TEST(test_chart_ticks_and_series)
{
    NnrtHistory h;
    char err[256];
    ck_assert_int_eq(nnrt_history_init(&h, 300, 1, err, sizeof err), 0);
    fill(&h, 300);
    ck_assert_msg(nnrt_plot_svg(path, "a<b&c", &h, err, sizeof err) == 0, "%s", err);
    char *s = slurp(path);
    ASSERT_HAS(s, "<title>a&lt;b&amp;c</title>");
    ASSERT_HAS(s, "width=\"920\"");
    const char *epochs[] = { ">0<", ">50<", ">100<", ">150<", ">200<", ">250<", ">300<" };
    for (int i = 0; i < 7; i++)
        ck_assert_uint_eq(count(s, epochs[i]), 2); /* both panels */
    const char *loss[] = { ">0.0<", ">0.2<", ">0.4<", ">0.6<", ">0.8<", ">1.0<", ">1.2<" };
    for (int i = 0; i < 7; i++)
        ck_assert_msg(count(s, loss[i]) >= 1, "no tick %s", loss[i]);
    ASSERT_LACKS(s, ">1.4<");  /* accuracies stop at 1 */
    ASSERT_LACKS(s, "nan");
    ASSERT_LACKS(s, "inf");
    ck_assert_uint_eq(count(s, "<polyline"), 4);      /* train and test, two panels */
    ck_assert_uint_eq(count(s, ">train</text>"), 2);
    ck_assert_uint_eq(count(s, ">test</text>"), 2);
    ASSERT_LACKS(s, ">val</text>");
    ck_assert_uint_eq(count(s, "<circle"), 0);        /* 300 points: no markers */
    ASSERT_HAS(s, ">epoch</text>");
    ASSERT_HAS(s, ">loss</text>");
    ASSERT_HAS(s, ">accuracy</text>");
    ck_assert_int_eq(access(tmp, F_OK), -1);
    free(s);
    nnrt_history_free(&h);
}
END_TEST

/* One epoch, no accuracy: one panel, the point as a marker. */
START_TEST(test_one_epoch_one_panel)
{
    NnrtHistory h;
    char err[256];
    ck_assert_int_eq(nnrt_history_init(&h, 1, 0, err, sizeof err), 0);
    NnrtFigures f = { 1, 2.5, NAN, NAN, NAN, NAN, NAN };
    nnrt_history_add(&h, &f);
    ck_assert_msg(nnrt_plot_svg(path, "reg", &h, err, sizeof err) == 0, "%s", err);
    char *s = slurp(path);
    ASSERT_HAS(s, "width=\"460\"");
    ASSERT_LACKS(s, "accuracy");
    ck_assert_uint_eq(count(s, "<circle"), 1);
    ck_assert_uint_eq(count(s, ">train</text>"), 1);
    ASSERT_HAS(s, ">1<");
    free(s);
    nnrt_history_free(&h);
}
END_TEST

START_TEST(test_empty_history)
{
    NnrtHistory h;
    char err[256];
    ck_assert_int_eq(nnrt_history_init(&h, 0, 1, err, sizeof err), 0);
    ck_assert_msg(nnrt_plot_svg(path, "m", &h, err, sizeof err) == 0, "%s", err);
    char *s = slurp(path);
    ASSERT_HAS(s, "no loss figures (no epoch completed)");
    ASSERT_HAS(s, "no accuracy figures (no epoch completed)");
    ck_assert_uint_eq(count(s, "<polyline"), 0);
    ASSERT_HAS(s, "</svg>\n");
    free(s);
    nnrt_history_free(&h);
}
END_TEST

/* The target is a directory: the rename fails, nothing is left behind. */
START_TEST(test_failed_write)
{
    NnrtHistory h;
    char err[256];
    ck_assert_int_eq(nnrt_history_init(&h, 4, 1, err, sizeof err), 0);
    fill(&h, 4);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(nnrt_plot_svg(path, "m", &h, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot write plot ") && strstr(err, path), "%s", err);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    rmdir(path);
    nnrt_history_free(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_plot");
    TCase *tc = tcase_create("plot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_history_room);
    tcase_add_test(tc, test_chart_ticks_and_series);
    tcase_add_test(tc, test_one_epoch_one_panel);
    tcase_add_test(tc, test_empty_history);
    tcase_add_test(tc, test_failed_write);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
