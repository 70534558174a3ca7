/* plot.c: --plot FILE.svg, the loss and accuracy per epoch as an SVG chart.
 *
 * The run records one NnrtFigures per epoch into an NnrtHistory allocated
 * before its first epoch (nothing is allocated inside the loop); at the
 * end (finished, stopped early, stopped by a NaN loss or a failed write)
 * nnrt_plot_svg draws whatever history there is:
 *
 *   +--------------------- title: the model's name ---------------------+
 *   |  loss panel                       |  accuracy panel (models with  |
 *   |  y ticks, gridlines, curves       |  an accuracy only)            |
 *   |  x ticks (epochs), "epoch"        |                               |
 *   |  legend: train, test, val         |                               |
 *   +-------------------------------------------------------------------+
 *
 * One table (nnrt_series) says which figure goes into which panel in which
 * colour; a series with no finite value is neither drawn nor in the
 * legend.  Non-finite values (not measured: NaN; a diverged test loss:
 * inf) are skipped and the line joins the finite ones around them; points
 * get markers when a series has few of them, so a one-epoch run still
 * shows its figures.  Ticks fall on round numbers (1, 2 or 5 times a power
 * of ten).  The file is written through NnrtOutFile (outfile.c): PATH
 * changes only once every write, the flush to disk and the close have
 * succeeded.
 */
#include "nnrt.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the history ---------------------------------------------------------------- */

int nnrt_history_init(NnrtHistory *h, size_t cap, int has_acc, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    h->has_acc = has_acc;
    if (cap == 0)
        cap = 1;
    if (cap > SIZE_MAX / sizeof *h->rows || !(h->rows = malloc(cap * sizeof *h->rows)))
        return nnrt_errf(err, errlen, "--plot: out of memory for the figures of %zu epochs", cap);
    h->cap = cap;
    return 0;
}

void nnrt_history_add(NnrtHistory *h, const NnrtFigures *f)
{
    if (h->rows && h->n < h->cap)
        h->rows[h->n++] = *f;
}

void nnrt_history_free(NnrtHistory *h)
{
    free(h->rows);
    memset(h, 0, sizeof *h);
}

/* ---- what is drawn ----------------------------------------------------------------- */

enum { NNRT_PANEL_LOSS = 0, NNRT_PANEL_ACC = 1 };

static const struct NnrtSeries {
    const char *label;
    int panel;
    const char *colour;
    size_t offset;            /* of the figure in NnrtFigures */
} nnrt_series[] = {
    { "train", NNRT_PANEL_LOSS, "#1f77b4", offsetof(NnrtFigures, loss) },
    { "test", NNRT_PANEL_LOSS, "#d62728", offsetof(NnrtFigures, test_loss) },
    { "val", NNRT_PANEL_LOSS, "#2ca02c", offsetof(NnrtFigures, val_loss) },
    { "train", NNRT_PANEL_ACC, "#1f77b4", offsetof(NnrtFigures, acc) },
    { "test", NNRT_PANEL_ACC, "#d62728", offsetof(NnrtFigures, test_acc) },
    { "val", NNRT_PANEL_ACC, "#2ca02c", offsetof(NnrtFigures, val_acc) },
};
#define NNRT_N_SERIES (int)(sizeof nnrt_series / sizeof nnrt_series[0])

/* Geometry, in SVG user units (pixels). */
#define NNRT_SVG_PANEL_W 460.0
#define NNRT_SVG_H 390.0
#define NNRT_LEFT 64.0      /* plot area inside a panel: x from LEFT to PANEL_W - RIGHT */
#define NNRT_RIGHT 18.0
#define NNRT_TOP 52.0       /* y from TOP to TOP + PLOT_H */
#define NNRT_PLOT_H 250.0
#define NNRT_MARKERS 40     /* series of at most this many points get markers */

static double nnrt_fig(const NnrtHistory *h, size_t i, int s)
{
    double v;
    memcpy(&v, (const char *)&h->rows[i] + nnrt_series[s].offset, sizeof v);
    return v;
}

/* How many finite values series s has. */
static size_t nnrt_series_count(const NnrtHistory *h, int s)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        n += isfinite(nnrt_fig(h, i, s)) != 0;
    return n;
}

/* ---- axes ----------------------------------------------------------------------------- */

/* An axis from lo to hi with ticks every step (lo and hi multiples of step). */
typedef struct NnrtAxis {
    double lo, hi, step;
    int decimals;           /* for the tick labels; -1: %g */
} NnrtAxis;

/* The round number (1, 2 or 5 times a power of ten) nearest x > 0. */
static double nnrt_nice(double x)
{
    double p = pow(10.0, floor(log10(x)));
    double f = x / p;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * p;
}

/* [lo, hi] widened to round ticks, about `want` of them; integer steps
 * for epochs. */
static NnrtAxis nnrt_axis(double lo, double hi, int want, int integer)
{
    NnrtAxis a;
    if (!(hi > lo)) { /* one value, or none: a unit around it */
        double pad = fabs(lo) > 1.0 ? fabs(lo) * 0.1 : integer ? 1.0 : 0.5;
        lo -= pad;
        hi += pad;
    }
    a.step = nnrt_nice((hi - lo) / want);
    if (integer && a.step < 1.0)
        a.step = 1.0;
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    if (!(a.hi > a.lo) || (a.hi - a.lo) / a.step > 4.0 * want) { /* lost to rounding */
        a.lo = lo;
        a.hi = hi;
        a.step = hi - lo;
    }
    double e = floor(log10(a.step) + 1e-9);
    a.decimals = e >= 6 || e < -5 ? -1 : e >= 0 ? 0 : (int)-e;
    return a;
}

/* Tick k of axis a as text. */
static void nnrt_tick_text(const NnrtAxis *a, int k, char *buf, size_t len)
{
    double v = a->lo + a->step * k;
    if (fabs(v) < a->step * 1e-9)
        v = 0.0; /* not "-0.0" */
    if (a->decimals < 0)
        snprintf(buf, len, "%g", v);
    else
        snprintf(buf, len, "%.*f", a->decimals, v);
}

static int nnrt_ticks(const NnrtAxis *a)
{
    return (int)floor((a->hi - a->lo) / a->step + 0.5);
}

/* A panel's frame: where its plot area lies, its axes. */
typedef struct NnrtPanel {
    double x0, x1, y0, y1;  /* plot area: left, right, top, bottom */
    NnrtAxis xa, ya;
    int which;
} NnrtPanel;

static double nnrt_px(const NnrtPanel *p, double epoch)
{
    return p->x0 + (epoch - p->xa.lo) / (p->xa.hi - p->xa.lo) * (p->x1 - p->x0);
}

static double nnrt_py(const NnrtPanel *p, double v)
{
    return p->y1 - (v - p->ya.lo) / (p->ya.hi - p->ya.lo) * (p->y1 - p->y0);
}

/* The y range of a panel's finite values; 0 when there are none. */
static int nnrt_panel_range(const NnrtHistory *h, int panel, double *lo, double *hi)
{
    int any = 0;
    *lo = DBL_MAX;
    *hi = -DBL_MAX;
    for (int s = 0; s < NNRT_N_SERIES; s++) {
        if (nnrt_series[s].panel != panel)
            continue;
        for (size_t i = 0; i < h->n; i++) {
            double v = nnrt_fig(h, i, s);
            if (!isfinite(v))
                continue;
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
            any = 1;
        }
    }
    if (!any)
        *lo = *hi = panel == NNRT_PANEL_ACC ? 0.5 : 0.0;
    return any;
}

/* ---- drawing ----------------------------------------------------------------------------- */

/* s with & < > " ' as XML entities (the title is the model's name). */
static void nnrt_xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, f);
        }
    }
}

/* Gridlines and tick labels of both axes, the frame, the axis titles. */
static void nnrt_draw_axes(FILE *f, const NnrtPanel *p, double left)
{
    char t[48];
    for (int k = 0; k <= nnrt_ticks(&p->ya); k++) {
        double y = nnrt_py(p, p->ya.lo + p->ya.step * k);
        nnrt_tick_text(&p->ya, k, t, sizeof t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n",
                p->x0, y, p->x1, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", p->x0 - 6, y + 4, t);
    }
    for (int k = 0; k <= nnrt_ticks(&p->xa); k++) {
        double x = nnrt_px(p, p->xa.lo + p->xa.step * k);
        nnrt_tick_text(&p->xa, k, t, sizeof t);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n",
                x, p->y1, x, p->y1 + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, p->y1 + 18, t);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#000000\"/>\n", p->x0, p->y0, p->x1 - p->x0, p->y1 - p->y0);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">epoch</text>\n",
            (p->x0 + p->x1) / 2, p->y1 + 36);
    fprintf(f, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\" "
            "font-size=\"13\">%s</text>\n", left + 16, (p->y0 + p->y1) / 2,
            p->which == NNRT_PANEL_LOSS ? "loss" : "accuracy");
}

/* Series s as one line through its finite points, markers when few. */
static void nnrt_draw_series(FILE *f, const NnrtPanel *p, const NnrtHistory *h, int s)
{
    size_t n = nnrt_series_count(h, s);
    const char *c = nnrt_series[s].colour;
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c);
    for (size_t i = 0, k = 0; i < h->n; i++) {
        double v = nnrt_fig(h, i, s);
        if (isfinite(v))
            fprintf(f, "%s%.1f,%.1f", k++ ? " " : "", nnrt_px(p, h->rows[i].epoch), nnrt_py(p, v));
    }
    fprintf(f, "\"/>\n");
    for (size_t i = 0; n <= NNRT_MARKERS && i < h->n; i++) {
        double v = nnrt_fig(h, i, s);
        if (isfinite(v))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
                    nnrt_px(p, h->rows[i].epoch), nnrt_py(p, v), c);
    }
}

/* The legend below the axis title: a stroke and a label per series drawn. */
static void nnrt_draw_legend(FILE *f, const NnrtPanel *p, const NnrtHistory *h)
{
    double x = p->x0, y = p->y1 + 58;
    for (int s = 0; s < NNRT_N_SERIES; s++) {
        if (nnrt_series[s].panel != p->which || nnrt_series_count(h, s) == 0)
            continue;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"3\"/>\n", x, y - 4, x + 22, y - 4, nnrt_series[s].colour);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 28, y, nnrt_series[s].label);
        x += 80;
    }
}

/* One panel at horizontal offset left. */
static void nnrt_draw_panel(FILE *f, const NnrtHistory *h, int which, double left)
{
    NnrtPanel p;
    double lo, hi;
    p.which = which;
    p.x0 = left + NNRT_LEFT;
    p.x1 = left + NNRT_SVG_PANEL_W - NNRT_RIGHT;
    p.y0 = NNRT_TOP;
    p.y1 = NNRT_TOP + NNRT_PLOT_H;
    int any = nnrt_panel_range(h, which, &lo, &hi);
    p.ya = nnrt_axis(lo, hi, 5, 0);
    if (which == NNRT_PANEL_ACC && lo >= 0.0 && p.ya.lo < 0.0)
        p.ya.lo = 0.0; /* accuracies: no ticks past 0 and 1 */
    if (which == NNRT_PANEL_ACC && hi <= 1.0 && p.ya.hi > 1.0)
        p.ya.hi = 1.0;
    double first = h->n ? h->rows[0].epoch : 1, last = h->n ? h->rows[h->n - 1].epoch : 1;
    p.xa = nnrt_axis(first, last, 6, 1);
    nnrt_draw_axes(f, &p, left);
    if (!any)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no %s figures (no epoch "
                "completed)</text>\n", (p.x0 + p.x1) / 2, (p.y0 + p.y1) / 2,
                which == NNRT_PANEL_LOSS ? "loss" : "accuracy");
    for (int s = 0; s < NNRT_N_SERIES; s++)
        if (nnrt_series[s].panel == which && nnrt_series_count(h, s) > 0)
            nnrt_draw_series(f, &p, h, s);
    nnrt_draw_legend(f, &p, h);
}

/* The whole document. */
static void nnrt_plot_write(FILE *f, const char *title, const NnrtHistory *h)
{
    int panels = h->has_acc ? 2 : 1;
    double w = NNRT_SVG_PANEL_W * panels;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n",
            w, NNRT_SVG_H, w, NNRT_SVG_H);
    fprintf(f, "<title>");
    nnrt_xml_text(f, title);
    fprintf(f, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" "
            "font-weight=\"bold\">", w / 2);
    nnrt_xml_text(f, title);
    fprintf(f, "</text>\n");
    for (int k = 0; k < panels; k++)
        nnrt_draw_panel(f, h, k == 0 ? NNRT_PANEL_LOSS : NNRT_PANEL_ACC, NNRT_SVG_PANEL_W * k);
    fprintf(f, "</svg>\n");
}

/* ---- the file ------------------------------------------------------------------------------ */

int nnrt_plot_svg(const char *path, const char *title, const NnrtHistory *h, char *err,
                  size_t errlen)
{
    NnrtOutFile o;
    if (nnrt_out_open(&o, path, "plot", err, errlen) < 0)
        return -1;
    nnrt_plot_write(o.f, title, h);
    return nnrt_out_commit(&o, err, errlen);
}
