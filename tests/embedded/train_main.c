/* train_main.c: trains a library that nnc emitted (--emit library) on the
 * training set of data_M.h, with no files and no heap: the same program
 * for x86, for arm-linux-gnueabihf under qemu-arm and for a bare Cortex-M4
 * (startup_m4.S, mps2_an386.ld, semihosting), so their outputs compare
 * line by line.
 *
 *   cc -std=c99 -O2 -ffp-contract=off -DMODEL=twolayer -DMODEL_UP=TWOLAYER \
 *      -DMODEL_H='"twolayer.h"' -DDATA_H='"data_twolayer.h"' \
 *      -DEPOCHS=300 -DSHUFFLE=1 -DSEED=0 -DDROP_LAST=0 \
 *      -I<their folder> -Iruntime train_main.c twolayer.c runtime/rng.c -lm
 *
 * Training goes as the host program's (runtime/train.c) with the train
 * block's figures: EPOCHS epochs; in each, the rows in the order of
 * nnrt_shuffle seeded nnrt_rng_seed_stream(SEED + e, NNRT_STREAM_SHUFFLE)
 * (stored order when SHUFFLE is 0), cut into batches of M_BATCH rows and a
 * smaller last one (unless DROP_LAST), one M_train_step each at the train
 * block's rate.  The runtime's generator is integers only (rng.c), so every
 * target draws the same orders; the params start from the library's own
 * init, not the runtime's, so the host program ends near, not at, the same
 * figures.
 * Output, each float also as its bits (%08lx), which must match:
 *
 *   step 1 loss 3f8cc46f                    every step (-DSTEPS_EVERY=N: every Nth)
 *   steps 3000 hash 628a97bc                FNV-1a over the bits of every step's loss
 *   final loss 0.13293 3e081eec acc 0.9533  the whole set after training: the
 *                                           mean loss (M_loss) and the accuracy
 *                                           (M_predict)
 *
 * A model whose input is token ids (an i32 input, DATA_INPUT_IDS) takes
 * data_x as int32_t rows; the driver is the same.
 * Exit status: 0; 3 when the final loss is NaN; 4 when M_predict refused a
 * batch of the data set.
 *
 * Accuracy as the runtime counts it: the argmax of an output row against a
 * class id, or, for one-wide float labels and outputs (sigmoid
 * probabilities), output >= 0.5 against target >= 0.5.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nnrt.h" /* the generator and nnrt_shuffle only (rng.c) */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(suffix) CAT(MODEL, suffix)      /* FN(_init): twolayer_init */
#define DIM(suffix) CAT(MODEL_UP, suffix)  /* DIM(_BATCH): TWOLAYER_BATCH */

#include MODEL_H /* "twolayer.h" */
#include DATA_H  /* "data_twolayer.h" */

#ifndef STEPS_EVERY
#define STEPS_EVERY 1
#endif

enum { ROWS = DATA_ROWS, BATCH = DIM(_BATCH), IN = DIM(_IN_DIM), LAB = DIM(_LABEL_DIM), OUT = DIM(_OUT_DIM) };

static uint32_t perm[ROWS];             /* this epoch's order of rows */
static data_input x_buf[BATCH * IN];    /* the batch at hand (floats, or int32_t ids) */
static data_label t_buf[BATCH * LAB];
static float y_buf[BATCH * OUT];        /* predict's output rows */

static unsigned long bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (unsigned long)u;
}

/* Rows of the batch starting at row `start`. */
static int batch_rows(int start) { return ROWS - start < BATCH ? ROWS - start : BATCH; }

/* Epoch e's order of rows, as runtime/train.c draws it. */
static void epoch_perm(int e)
{
    for (int i = 0; i < ROWS; i++)
        perm[i] = (uint32_t)i;
    if (SHUFFLE) {
        NnrtRng rng;
        nnrt_rng_seed_stream(&rng, (uint64_t)SEED + (uint64_t)e, NNRT_STREAM_SHUFFLE);
        nnrt_shuffle(perm, ROWS, &rng);
    }
}

/* Rows perm[start..start+n) into the batch buffers. */
static void gather(int start, int n)
{
    for (int r = 0; r < n; r++) {
        memcpy(x_buf + r * IN, data_x + perm[start + r] * IN, sizeof(data_input) * IN);
        memcpy(t_buf + r * LAB, data_t + perm[start + r] * LAB, sizeof(data_label) * LAB);
    }
}

static int row_right(const float *y, const data_label *t)
{
    int best = 0;
    for (int j = 1; j < OUT; j++)
        best = y[j] > y[best] ? j : best;
    if (DATA_CLASS_IDS)
        return best == (int)t[0];
    if (OUT == 1)
        return (y[0] >= 0.5f) == ((float)t[0] >= 0.5f);
    int want = 0;
    for (int j = 1; j < LAB; j++)
        want = t[j] > t[want] ? j : want;
    return best == want;
}

int main(void)
{
    uint32_t hash = 2166136261u;
    long steps = 0;
    FN(_init)(SEED);
    for (int e = 0; e < EPOCHS; e++) {
        epoch_perm(e);
        for (int start = 0; start < ROWS; start += BATCH) {
            int n = batch_rows(start);
            if (DROP_LAST && n < BATCH)
                break;
            gather(start, n);
            float loss = FN(_train_step)(x_buf, t_buf, n);
            for (int b = 0; b < 4; b++)
                hash = (hash ^ (uint32_t)((bits(loss) >> (8 * b)) & 0xffu)) * 16777619u;
            if (++steps % STEPS_EVERY == 0)
                printf("step %ld loss %08lx\n", steps, bits(loss));
        }
    }
    printf("steps %ld hash %08lx\n", steps, (unsigned long)hash);

    float total = 0.0f;
    int right = 0;
    for (int start = 0; start < ROWS; start += BATCH) {
        int n = batch_rows(start);
        total += FN(_loss)(data_x + start * IN, data_t + start * LAB, n) * (float)n;
        if (FN(_predict)(data_x + start * IN, n, y_buf) != 0)
            return 4;
        for (int r = 0; r < n; r++)
            right += row_right(y_buf + r * OUT, data_t + (start + r) * LAB);
    }
    float loss = total / (float)ROWS, acc = (float)right / (float)ROWS;
    printf("final loss %.6g %08lx acc %.4f\n", (double)loss, bits(loss), (double)acc);
    return loss == loss ? 0 : 3;
}
