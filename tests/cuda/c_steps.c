/* tests/cuda/c_steps.c: the C program's per-step losses, the reference the
 * CUDA program is compared with.
 *
 * Linked with an emitted M.c (whose main calls nnrt_main) and libnnrt.a,
 * this file's nnrt_main replaces the runtime's: it trains as train.c does
 * (validation='s rows held out by nnrt_data_split, the epoch's permutation from nnrt_rng_seed_stream(seed + e,
 * NNRT_STREAM_SHUFFLE) and nnrt_shuffle, nnrt_gather, forward(TRAIN),
 * backward, update(lr_e, ++step)) and prints one line per step,
 *     STEP LOSS          (the loss with %.9g: every float bit)
 * for the first NNRT_STEPS steps (default 20).  Flags: --seed N,
 * --data IMAGES,LABELS (IDX) or --data FILE (CSV), as the programs take
 * them.  A CUDA program writes the same lines to $NNRT_STEP_LOG.
 *
 * Nothing here may pull train.o out of libnnrt.a (it defines nnrt_main
 * too), so the learning-rate schedule is written out again below.
 */
#include "nnrt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* train.c's nnrt_lr_at */
static float lr_at(float lr, float final_lr, int decay, int e, int epochs)
{
    if (epochs <= 1)
        return lr;
    double f = (double)e / (double)(epochs - 1);
    if (decay == NNRT_DECAY_LINEAR)
        return (float)((double)lr + ((double)final_lr - (double)lr) * f);
    if (decay == NNRT_DECAY_EXPONENTIAL && lr > 0.0f && final_lr > 0.0f)
        return (float)((double)lr * pow((double)final_lr / (double)lr, f));
    return lr;
}

static int source(NnrtSource *src, const NnrtModel *m, const NnrtArgs *a)
{
    *src = m->data;
    if (a->n_data == 2) {
        src->kind = NNRT_SRC_IDX;
        src->images = a->data[0];
        src->labels = a->data[1];
    } else if (a->n_data == 1) {
        if (src->kind != NNRT_SRC_CSV) {
            src->csv_label = -1;
            src->csv_header = 1;
        }
        src->kind = NNRT_SRC_CSV;
        src->csv_path = a->data[0];
    }
    return src->kind == NNRT_SRC_NONE ? -1 : 0;
}

int nnrt_main(NnrtModel *m, int argc, char **argv)
{
    NnrtArgs a;
    if (nnrt_args_parse(argc, argv, &a, argv[0], stderr) != 0)
        return 2;
    const char *steps_env = getenv("NNRT_STEPS");
    long want = steps_env ? atol(steps_env) : 20, step = 0;
    int epochs = a.epochs >= 0 ? a.epochs : m->epochs;
    uint64_t seed = a.has_seed ? a.seed : m->seed;
    float lr = isnan(a.lr) ? m->lr : a.lr;
    NnrtSource src;
    NnrtData d, val;
    char err[1024];
    if (source(&src, m, &a) < 0 ||
        nnrt_data_load(&src, m->in_dim, m->label_kind, m->label_dim, nnrt_model_classes(m), &d, NULL, err,
                       sizeof err) < 0 ||
        (m->validation != 0.0f && nnrt_data_split(&d, (double)m->validation, seed, &val, err, sizeof err) < 0)) {
        fprintf(stderr, "c_steps: %s\n", err);
        return 1;
    }
    uint32_t *perm = malloc(d.rows * sizeof *perm);
    if (!perm)
        return 1;
    m->init(seed);
    size_t B = m->batch;
    for (int e = 0; e < epochs && step < want; e++) {
        float lr_e = lr_at(lr, m->final_lr, m->decay, e, epochs);
        for (size_t i = 0; i < d.rows; i++)
            perm[i] = (uint32_t)i;
        if (m->shuffle) {
            NnrtRng rng;
            nnrt_rng_seed_stream(&rng, seed + (uint64_t)e, NNRT_STREAM_SHUFFLE);
            nnrt_shuffle(perm, d.rows, &rng);
        }
        size_t iters = m->drop_last ? d.rows / B : (d.rows + B - 1) / B;
        for (size_t it = 0; it < iters && step < want; it++) {
            size_t start = it * B, n = d.rows - start < B ? d.rows - start : B;
            nnrt_gather(&d, perm, start, n, m->x_buf, m->t_buf);
            float loss = m->forward(m->x_buf, m->t_buf, (int)n, NNRT_TRAIN);
            m->backward((int)n);
            m->update(lr_e, ++step);
            printf("%ld %.9g\n", step, (double)loss);
        }
    }
    free(perm);
    nnrt_data_free(&d);
    if (m->validation != 0.0f)
        nnrt_data_free(&val);
    nnrt_args_free(&a);
    return 0;
}
