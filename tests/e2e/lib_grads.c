/* lib_grads.c: library mode's gradients, for params whose gradients no
 * backward op computes (tests/e2e/const_grads.nn: folded constants, the
 * seed dL/dL, other params).
 *
 * Built by tests/run_e2e.sh around that model's library (nnc --emit
 * library): cc -I DIR tests/e2e/lib_grads.c DIR/const_grads.c -lm.
 *
 * The saved params are the params' floats in order, little-endian, so each
 * float k can be moved through const_grads_load.  For every float of the
 * small params and every 97th of the rest, the gradient is taken by central
 * differences of const_grads_loss (h = 1e-2; the constant gradients are
 * exact, the loss being linear in those params):
 *     g_k = (L(p + h e_k) - L(p - h e_k)) / 2h
 * Then one const_grads_train_step from the same params.  The model trains
 * with Adam, whose first step moves each float by lr·g/(|g| + eps) — lr
 * against the gradient's sign, whatever the gradient's size (clipping
 * scales every gradient alike) — so where |g_k| >= 0.1 the step must be
 * -lr·sign(g_k) within 10%.  A gradient never written into the gradient
 * block (zero) moves nothing and fails.  One line per failing float (at
 * most 10), a summary, exit 0 when all hold.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "const_grads.h"

#define ROWS 8
#define NFLOATS (CONST_GRADS_SAVE_BYTES / 4)
#define P_FLOATS 30000 /* P: [300, 100], the first param saved */
#define STRIDE 97

static uint8_t p0[CONST_GRADS_SAVE_BYTES], buf[CONST_GRADS_SAVE_BYTES], p1[CONST_GRADS_SAVE_BYTES];

static float get(const uint8_t *b, size_t k)
{
    uint32_t u = 0;
    for (int i = 0; i < 4; i++)
        u |= (uint32_t)b[4 * k + (size_t)i] << (8 * i);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put(uint8_t *b, size_t k, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++)
        b[4 * k + (size_t)i] = (uint8_t)(u >> (8 * i));
}

static float loss_at(const float *x, const int32_t *t, size_t k, float v)
{
    memcpy(buf, p0, sizeof buf);
    put(buf, k, v);
    if (const_grads_load(buf, sizeof buf) != 0)
        return NAN;
    return const_grads_loss(x, t, ROWS);
}

int main(void)
{
    const float lr = 0.01f, h = 1e-2f;
    float x[ROWS * CONST_GRADS_IN_DIM];
    int32_t t[ROWS];
    for (int i = 0; i < ROWS * CONST_GRADS_IN_DIM; i++)
        x[i] = 0.25f * (float)(i % 5) - 0.5f;
    for (int r = 0; r < ROWS; r++)
        t[r] = r % CONST_GRADS_CLASSES;
    const_grads_init(1);
    const_grads_set_lr(lr);
    if (const_grads_save(p0, sizeof p0) != sizeof p0) {
        printf("FAIL const_grads_save\n");
        return 1;
    }
    static float grad[NFLOATS];
    static char picked[NFLOATS];
    for (size_t k = 0; k < NFLOATS; k++) { /* every 97th float of P, every float after it */
        picked[k] = k % STRIDE == 0 || k >= P_FLOATS;
        if (!picked[k])
            continue;
        float v = get(p0, k);
        grad[k] = (loss_at(x, t, k, v + h) - loss_at(x, t, k, v - h)) / (2 * h);
    }
    const_grads_load(p0, sizeof p0);
    float l = const_grads_train_step(x, t, ROWS);
    const_grads_save(p1, sizeof p1);
    int checked = 0, failed = 0;
    double worst = 0;
    for (size_t k = 0; k < NFLOATS; k++) {
        if (!picked[k] || fabsf(grad[k]) < 0.1f)
            continue;
        float step = get(p1, k) - get(p0, k), want = grad[k] > 0 ? -lr : lr;
        double err = fabs((double)step - want) / lr;
        worst = err > worst ? err : worst;
        checked++;
        if (!(err <= 0.1) && failed++ < 10)
            printf("FAIL float %zu of the saved params: gradient %g by differences, Adam's first step %g, want %g\n",
                   k, (double)grad[k], (double)step, (double)want);
    }
    printf("%s %d floats with |gradient| >= 0.1 of %d saved: Adam's first step -lr·sign(g) within %.2g%% "
           "(loss %g)\n", failed || checked == 0 || !isfinite(l) ? "FAIL" : "ok  ", checked, NFLOATS,
           100 * worst, (double)l);
    return failed || checked == 0 || !isfinite(l);
}
