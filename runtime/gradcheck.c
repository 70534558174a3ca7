/* gradcheck.c: --gradcheck, the model's backward against finite differences.
 *
 * On the first min(B, rows) rows, in row order:
 *   1. forward(TRAIN) then backward: the analytic gradient a.  The sampled
 *      entries are copied out at once, since the model may keep its grads
 *      in arena memory that a later forward reuses.
 *   2. for each sampled element p of each param with a gradient:
 *        n = (L(p + h) - L(p - h)) / (h+ + h-)
 *      where h = 1e-3 and h+, h- are the steps the float param actually
 *      took; L is forward(TRAIN_SAME_MASK), so dropout keeps its masks.
 *      The param is put back bit for bit after each element.
 *      The same with the step h/4 gives n4.
 *   3. err = |a - n| / max(|a|, |n|, floor), and the same for n4; the
 *      smaller of the two counts.  n has the smaller rounding noise, n4
 *      the smaller truncation error (long float sums, as in a batch norm
 *      over B·H·W values after a convolution, make the noise the larger
 *      of the two); where they disagree by more than 1% the element is a
 *      kink (below), so taking the closer one loosens the check by at
 *      most that 1%, and a wrong gradient still shows against both.
 *      floor = 1000 * FLT_EPSILON * max(1, |L|) / h   (about 0.12 max(1,|L|)).
 *      So err <= 1e-2 means: a and n agree to 1%, or differ by no more
 *      than 10 float roundings of the loss would move n (10 eps |L| / h).
 *      A float forward is rounded to a few eps |L| (more after long sums),
 *      which makes n noisy by several times eps |L| / h; without the floor
 *      that noise reads as a large relative error wherever a gradient is
 *      near zero.  The price: a param whose gradients are all far below
 *      the floor is checked only to that absolute accuracy; a wrong
 *      gradient of the size of the floor or above shows as an error near 1.
 * An element where the loss is not smooth within the step (a relu at 0,
 * a max at a tie: the one-sided slopes, or the central differences with
 * steps h and h/4, disagree by more than 1%) is left out, and the report
 * says so.
 * Params of up to 200 elements are checked whole; larger ones by a
 * stratified sample: one element drawn from each of 200 equal strides, by
 * an NnrtRng with a fixed seed, so every run checks the same elements.
 */
#include "nnrt.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NNRT_GC_SAMPLES 200
#define NNRT_GC_SEED 0x6772616463686bULL /* "gradchk" */

/* "[2,10]" */
static void nnrt_gc_shape(const NnrtTensor *t, char *buf, size_t len)
{
    size_t u = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->rank && u < len; i++) {
        int n = snprintf(buf + u, len - u, i ? ",%d" : "[%d", t->shape[i]);
        if (n < 0)
            return;
        u += (size_t)n;
    }
    if (u < len)
        snprintf(buf + u, len - u, t->rank ? "]" : "[]");
}

/* The element indices to check; returns how many (<= NNRT_GC_SAMPLES). */
static size_t nnrt_gc_sample(const NnrtTensor *t, NnrtRng *rng, size_t *idx)
{
    if (t->numel <= NNRT_GC_SAMPLES) {
        for (size_t i = 0; i < t->numel; i++)
            idx[i] = i;
        return t->numel;
    }
    size_t stride = t->numel / NNRT_GC_SAMPLES;
    uint32_t r = stride > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)stride;
    for (size_t k = 0; k < NNRT_GC_SAMPLES; k++)
        idx[k] = k * stride + nnrt_rng_below(rng, r);
    return NNRT_GC_SAMPLES;
}

/* Central difference of the loss in element i of t with step h; up and
 * down receive the two one-sided slopes. */
static double nnrt_gc_diff(const NnrtModel *m, const NnrtTensor *t, size_t i, int n, double l0, double h,
                           double *up, double *down)
{
    float v = t->data[i];
    t->data[i] = (float)((double)v + h);
    double hp = (double)t->data[i] - (double)v;
    double lp = (double)m->forward(m->x_buf, m->t_buf, n, NNRT_TRAIN_SAME_MASK);
    t->data[i] = (float)((double)v - h);
    double hm = (double)v - (double)t->data[i];
    double lm = (double)m->forward(m->x_buf, m->t_buf, n, NNRT_TRAIN_SAME_MASK);
    t->data[i] = v;
    *up = (lp - l0) / hp;
    *down = (l0 - lm) / hm;
    return (lp - lm) / (hp + hm);
}

/* The numeric gradient of element i.  *kink is set where the loss is not
 * smooth within the step (relu at 0, max at a tie): the one-sided slopes,
 * or the central differences with steps h and h/4, disagree by more than
 * 1%.  No difference quotient there says anything about the gradient.
 * Returns the difference with step h, and the one with h/4 in *num4. */
static double nnrt_gc_numeric(const NnrtModel *m, const NnrtTensor *t, size_t i, int n, double l0,
                              double floor_, int *kink, double *num4)
{
    double up, down, up4, down4, h = NNRT_GRADCHECK_EPS;
    double num = nnrt_gc_diff(m, t, i, n, l0, h, &up, &down);
    *num4 = nnrt_gc_diff(m, t, i, n, l0, h / 4, &up4, &down4);
    double scale = fmax(fmax(fabs(up), fabs(down)), floor_);
    *kink = fabs(up - down) > 0.01 * scale || fabs(num - *num4) > 0.01 * scale;
    return num;
}

/* |a - n| / max(|a|, |n|, floor): see the top of the file. */
static double nnrt_gc_err(double a, double num, double floor_)
{
    return fabs(a - num) / fmax(fmax(fabs(a), fabs(num)), floor_);
}

/* The worst error over one param's sampled elements (NaN stays NaN);
 * elements at a kink are counted in *kinks and left out. */
static double nnrt_gc_param(const NnrtModel *m, const NnrtTensor *t, const size_t *idx,
                            const float *a, size_t count, int n, double l0, double floor_, size_t *kinks)
{
    double worst = 0.0;
    *kinks = 0;
    for (size_t k = 0; k < count; k++) {
        int kink;
        double num4, num = nnrt_gc_numeric(m, t, idx[k], n, l0, floor_, &kink, &num4);
        if (kink) {
            ++*kinks;
            continue;
        }
        double an = (double)a[k];
        double e = fmin(nnrt_gc_err(an, num, floor_), nnrt_gc_err(an, num4, floor_));
        if (isnan(e) || e > worst)
            worst = e;
    }
    return worst;
}

/* Samples every param and copies its analytic grads; counts[i] per param. */
static void nnrt_gc_collect(const NnrtModel *m, size_t *idx, float *a, size_t *counts)
{
    NnrtRng rng;
    nnrt_rng_seed(&rng, NNRT_GC_SEED);
    for (int p = 0; p < m->n_params; p++) {
        const NnrtTensor *t = &m->params[p];
        size_t *pi = idx + (size_t)p * NNRT_GC_SAMPLES;
        counts[p] = t->grad ? nnrt_gc_sample(t, &rng, pi) : 0;
        for (size_t k = 0; k < counts[p]; k++)
            a[(size_t)p * NNRT_GC_SAMPLES + k] = t->grad[pi[k]];
    }
}

static void nnrt_gc_report(const NnrtTensor *t, size_t count, size_t kinks, double err, FILE *out)
{
    char shape[96];
    nnrt_gc_shape(t, shape, sizeof shape);
    if (!t->grad)
        fprintf(out, "gradcheck %s %s: no gradient (frozen), skipped\n", t->name, shape);
    else
        fprintf(out, "gradcheck %s %s: max rel err %.1e (%zu checked", t->name, shape, err, count - kinks);
    if (t->grad)
        fprintf(out, kinks ? ", %zu at kinks left out)\n" : ")\n", kinks);
}

int nnrt_gradcheck(const NnrtModel *m, const NnrtData *d, FILE *out)
{
    size_t slots = (size_t)(m->n_params > 0 ? m->n_params : 1) * NNRT_GC_SAMPLES;
    size_t *idx = malloc(slots * sizeof *idx);
    float *a = malloc(slots * sizeof *a);
    size_t *counts = malloc(slots / NNRT_GC_SAMPLES * sizeof *counts);
    if (!idx || !a || !counts || d->rows == 0) {
        fprintf(out, "gradcheck: %s\n", d->rows ? "out of memory" : "no rows to check on");
        free(idx);
        free(a);
        free(counts);
        return 1;
    }
    int n = (int)(d->rows < m->batch ? d->rows : m->batch);
    nnrt_gather(d, NULL, 0, (size_t)n, m->x_buf, m->t_buf);
    double loss = (double)m->forward(m->x_buf, m->t_buf, n, NNRT_TRAIN);
    m->backward(n);
    nnrt_gc_collect(m, idx, a, counts);
    double floor_ = 1e3 * (double)FLT_EPSILON * fmax(1.0, fabs(loss)) / NNRT_GRADCHECK_EPS;
    double worst = 0.0;
    for (int p = 0; p < m->n_params; p++) {
        size_t off = (size_t)p * NNRT_GC_SAMPLES;
        size_t kinks;
        double e = nnrt_gc_param(m, &m->params[p], idx + off, a + off, counts[p], n, loss, floor_, &kinks);
        nnrt_gc_report(&m->params[p], counts[p], kinks, e, out);
        if (isnan(e) || e > worst)
            worst = e;
    }
    int ok = worst <= NNRT_GRADCHECK_LIMIT;
    fprintf(out, "gradcheck: worst %.1e (limit %.0e): %s\n", worst, NNRT_GRADCHECK_LIMIT,
            ok ? "ok" : "FAILED");
    free(idx);
    free(a);
    free(counts);
    return ok ? 0 : 1;
}
