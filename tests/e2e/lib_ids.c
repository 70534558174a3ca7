/* lib_ids.c: library mode's train step and loss against bad class ids.
 *
 * Built by tests/run_e2e.sh around models/spiral_mlp.nn's library (nnc
 * --emit library): cc -I DIR tests/e2e/lib_ids.c DIR/spiral_mlp.c -lm.
 * For each batch below (rows of valid ids with one bad id among them:
 * K, K + 1, -1, 2^24 + 1, INT32_MAX, INT32_MIN) spiral_mlp_train_step and
 * spiral_mlp_loss must return NaN and leave every param as it was
 * (spiral_mlp_save before and after, byte for byte); a batch of valid ids
 * must still train (a finite loss, changed params).  One line per case,
 * "ok ..." or "FAIL ...", exit 0 when all hold.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "spiral_mlp.h"

#define ROWS 4

static uint8_t before[SPIRAL_MLP_SAVE_BYTES], after[SPIRAL_MLP_SAVE_BYTES];
static int failed;

static void check(int ok, const char *what, int32_t id, double got)
{
    printf("%s %s, id %ld: %g\n", ok ? "ok  " : "FAIL", what, (long)id, got);
    failed |= !ok;
}

int main(void)
{
    static const int32_t bad[] = { SPIRAL_MLP_CLASSES, SPIRAL_MLP_CLASSES + 1, -1, 16777217, INT32_MAX,
                                   INT32_MIN };
    float x[ROWS * SPIRAL_MLP_IN_DIM];
    int32_t t[ROWS];
    for (int i = 0; i < ROWS * SPIRAL_MLP_IN_DIM; i++)
        x[i] = 0.25f * (float)(i % 5) - 0.5f;
    spiral_mlp_init(1);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        for (int r = 0; r < ROWS; r++)
            t[r] = r % SPIRAL_MLP_CLASSES;
        t[b % ROWS] = bad[b];
        spiral_mlp_save(before, sizeof before);
        float step = spiral_mlp_train_step(x, t, ROWS), loss = spiral_mlp_loss(x, t, ROWS);
        spiral_mlp_save(after, sizeof after);
        check(isnan(step), "train_step returns NaN", bad[b], (double)step);
        check(isnan(loss), "loss returns NaN", bad[b], (double)loss);
        check(memcmp(before, after, sizeof before) == 0, "params unchanged", bad[b], 0.0);
    }
    for (int r = 0; r < ROWS; r++)
        t[r] = r % SPIRAL_MLP_CLASSES;
    float step = spiral_mlp_train_step(x, t, ROWS);
    spiral_mlp_save(after, sizeof after);
    check(isfinite(step) && memcmp(before, after, sizeof before) != 0, "valid ids train", t[ROWS - 1],
          (double)step);
    return failed;
}
