/* lib_input_ids.c: library mode's train step, loss and predict against bad
 * input ids (an i32 input of token ids).
 *
 * Built by tests/run_e2e.sh around tests/e2e/bag_ids.nn's library (nnc
 * --emit library): cc -I DIR tests/e2e/lib_input_ids.c DIR/bag_ids.c -lm,
 * and run under AddressSanitizer where the compiler has it.
 * For each batch below (rows of valid ids with one bad id among them, at a
 * different place each time: V, V + 1, -1, 2^24 + 1, INT32_MAX, INT32_MIN)
 * bag_ids_train_step and bag_ids_loss must return NaN, bag_ids_predict -1
 * with the output rows untouched, and every param stay as it was
 * (bag_ids_save before and after, byte for byte); a batch of valid ids,
 * the largest V - 1 among them, must still train (a finite loss, changed
 * params) and predict (0).  One line per case, "ok ..." or "FAIL ...",
 * exit 0 when all hold.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bag_ids.h"

#define ROWS 5
#define IDS (ROWS * BAG_IDS_IN_DIM)

static uint8_t before[BAG_IDS_SAVE_BYTES], after[BAG_IDS_SAVE_BYTES];
static int failed;

static void check(int ok, const char *what, int32_t id, double got)
{
    printf("%s %s, id %ld: %g\n", ok ? "ok  " : "FAIL", what, (long)id, got);
    failed |= !ok;
}

/* Valid ids, V - 1 the last; class ids in [0, K). */
static void valid(int32_t *x, int32_t *t)
{
    for (int i = 0; i < IDS; i++)
        x[i] = (int32_t)((i * 7) % BAG_IDS_VOCAB);
    x[IDS - 1] = BAG_IDS_VOCAB - 1;
    for (int r = 0; r < ROWS; r++)
        t[r] = r % BAG_IDS_CLASSES;
}

int main(void)
{
    static const int32_t bad[] = { BAG_IDS_VOCAB, BAG_IDS_VOCAB + 1, -1, 16777217, INT32_MAX, INT32_MIN };
    int32_t x[IDS], t[ROWS];
    float y[ROWS * BAG_IDS_OUT_DIM];
    bag_ids_init(1);
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        valid(x, t);
        x[(b * 11) % IDS] = bad[b];
        for (int i = 0; i < ROWS * BAG_IDS_OUT_DIM; i++)
            y[i] = 42.0f;
        bag_ids_save(before, sizeof before);
        float step = bag_ids_train_step(x, t, ROWS), loss = bag_ids_loss(x, t, ROWS);
        int pred = bag_ids_predict(x, ROWS, y), kept = 1;
        bag_ids_save(after, sizeof after);
        for (int i = 0; i < ROWS * BAG_IDS_OUT_DIM; i++)
            kept &= y[i] == 42.0f;
        check(isnan(step), "train_step returns NaN", bad[b], (double)step);
        check(isnan(loss), "loss returns NaN", bad[b], (double)loss);
        check(pred == -1 && kept, "predict returns -1, output rows untouched", bad[b], pred);
        check(memcmp(before, after, sizeof before) == 0, "params unchanged", bad[b], 0.0);
    }
    valid(x, t);
    float step = bag_ids_train_step(x, t, ROWS);
    bag_ids_save(after, sizeof after);
    check(isfinite(step) && memcmp(before, after, sizeof before) != 0, "valid ids train", x[IDS - 1], (double)step);
    int pred = bag_ids_predict(x, ROWS, y);
    check(pred == 0 && y[0] != 42.0f && isfinite(y[0]), "valid ids predict", x[IDS - 1], (double)y[0]);
    return failed;
}
