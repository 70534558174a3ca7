/* step_driver.c: an emitted trainer's own functions, run step by step.
 *
 * Built by tests/test_e2e_interp.c around one file that nnc emitted:
 *
 *     cc -DNNC_GENERATED='"build/e2e/interp/twolayer.c"' $(nnc --cflags) \
 *        tests/e2e/step_driver.c $(nnc --libs) -o build/e2e/interp/twolayer-steps
 *
 * The generated file is #included whole, with its main renamed and its
 * call to nnrt_main() sent here instead: so the emitted main fills in its
 * NnrtModel exactly as it would for a real run (data source, batch, lr,
 * the model's init/forward/backward/update), and step_main() receives it.
 * step_main loads the training set with the runtime's nnrt_data_load, sets
 * the params with the model's own init(seed), prints them, and runs STEPS
 * training steps as nnrt_main would: epoch e is rows / B full batches (a
 * last partial batch is skipped) in the order of the permutation the
 * runtime uses (identity, shuffled by an NnrtRng seeded (seed + e,
 * NNRT_STREAM_SHUFFLE) when the model shuffles), each step
 * gather -> forward(TRAIN) -> backward -> update(lr_e, k).
 *
 *     step_driver [STEPS]           (default 20)
 *
 * Library mode: built with -DLIB_NAME=M -DLIB_H='"DIR/M.h"' and DIR/M.c
 * (nnc --emit library) linked in, the steps go through the library instead:
 * M_init(seed) sets the params (printed from M_save's bytes, split by the
 * program's table of params, which lists them in the same order), and each
 * step is M_set_lr(lr_e), M_train_step on the same batch (an i32 input's
 * ids converted from the runtime's floats to int32_t); after the steps the
 * running statistics come from M_save's bytes after the params, and the
 * eval line is M_loss.  The program's
 * NnrtModel still gives the data source, the batch and the train block.
 *
 * Output, every number with %.9g (a float reads back exactly):
 *     model NAME
 *     data ROWS IN_DIM B
 *     param NAME NUMEL v0 v1 ...    the initial values, one line a param
 *     step K lr LR loss LOSS        K = 1..STEPS; LOSS is forward's return
 *     running NAME NUMEL v0 v1 ...  a running statistic after the steps (batchnorm)
 *     eval LOSS                     forward(EVAL) on the last step's batch, with them
 * Exit 0, or 1 after a line on stderr.
 */
#include "nnrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int step_main(NnrtModel *m, int argc, char **argv);
int nnc_generated_main(int argc, char **argv);

#define nnrt_main step_main
#define main nnc_generated_main
#include NNC_GENERATED
#undef main
#undef nnrt_main

static long n_steps = 20;

#ifdef LIB_NAME
#define LIB_CAT_(a, b) a##b
#define LIB_CAT(a, b) LIB_CAT_(a, b)
#define LIB(suffix) LIB_CAT(LIB_NAME, suffix) /* LIB(_init): cnn_bars_init */
#include LIB_H

static uint8_t lib_saved[65536 * 4];

/* The library's params (what "param"), or its running statistics after
 * them (what "running"): its saved bytes (little-endian f32), cut by the
 * program's tables, which list both in the same order (the running
 * statistics lead state[]); 0, or -1 when the two disagree. */
static int print_lib_saved(const NnrtModel *m, const char *what)
{
    size_t len = LIB(_save)(lib_saved, sizeof lib_saved), k = 0;
    int running = strcmp(what, "running") == 0;
    if (len == 0)
        return -1;
    for (int i = 0; i < m->n_params + (running ? m->n_running : 0); i++) {
        const NnrtTensor *p = i < m->n_params ? &m->params[i] : &m->state[i - m->n_params];
        if (p->numel > (len - k) / 4)
            return -1;
        if (running != (i >= m->n_params)) {
            k += 4 * p->numel;
            continue;
        }
        printf("%s %s %zu", what, p->name, p->numel);
        for (size_t j = 0; j < p->numel; j++, k += 4) {
            uint32_t u = (uint32_t)lib_saved[k] | (uint32_t)lib_saved[k + 1] << 8 |
                         (uint32_t)lib_saved[k + 2] << 16 | (uint32_t)lib_saved[k + 3] << 24;
            float f;
            memcpy(&f, &u, 4);
            printf(" %.9g", (double)f);
        }
        printf("\n");
    }
    return !running || k == len ? 0 : -1;
}

/* The batch in m->x_buf as the library takes it: floats, or an i32
 * input's ids converted to int32_t. */
static const void *lib_x(const NnrtModel *m)
{
    static int32_t ids[65536];
    if (m->in_ids == 0)
        return m->x_buf;
    for (size_t i = 0; i < m->batch * m->in_dim && i < sizeof ids / sizeof *ids; i++)
        ids[i] = (int32_t)m->x_buf[i];
    return ids;
}
#endif

/* The rows of epoch e in the order nnrt_main takes them. */
static void epoch_perm(const NnrtModel *m, uint32_t *perm, size_t rows, int e)
{
    for (size_t i = 0; i < rows; i++)
        perm[i] = (uint32_t)i;
    if (m->shuffle) {
        NnrtRng rng;
        nnrt_rng_seed_stream(&rng, m->seed + (uint64_t)e, NNRT_STREAM_SHUFFLE);
        nnrt_shuffle(perm, rows, &rng);
    }
}

#ifndef LIB_NAME
static void print_params(const NnrtModel *m)
{
    for (int i = 0; i < m->n_params; i++) {
        const NnrtTensor *p = &m->params[i];
        printf("param %s %zu", p->name, p->numel);
        for (size_t k = 0; k < p->numel; k++)
            printf(" %.9g", (double)p->data[k]);
        printf("\n");
    }
}
#endif

static int step_main(NnrtModel *m, int argc, char **argv)
{
    NnrtData d;
    char err[1024];
    (void)argc;
    (void)argv;
    if (nnrt_data_load(&m->data, m->in_dim, m->label_kind, m->label_dim, nnrt_model_classes(m), &d, NULL, err,
                       sizeof err) < 0) {
        fprintf(stderr, "step_driver: %s\n", err);
        return 1;
    }
    size_t per_epoch = d.rows / m->batch;
    if (per_epoch == 0) {
        fprintf(stderr, "step_driver: %zu rows, fewer than one batch of %zu\n", d.rows, m->batch);
        nnrt_data_free(&d);
        return 1;
    }
    uint32_t *perm = malloc(d.rows * sizeof *perm);
    if (!perm) {
        fprintf(stderr, "step_driver: out of memory\n");
        nnrt_data_free(&d);
        return 1;
    }
    printf("model %s\ndata %zu %zu %zu\n", m->name, d.rows, m->in_dim, m->batch);
#ifdef LIB_NAME
    LIB(_init)((uint32_t)m->seed);
    if (m->batch * m->in_dim > 65536 || print_lib_saved(m, "param") != 0) {
        fprintf(stderr, "step_driver: the library's saved params do not match the program's table\n");
        free(perm);
        nnrt_data_free(&d);
        return 1;
    }
#else
    m->init(m->seed);
    print_params(m);
#endif
    for (long k = 0; k < n_steps; k++) {
        int epoch = (int)((size_t)k / per_epoch);
        float lr = nnrt_lr_at(m->lr, m->final_lr, m->decay, epoch, m->epochs);
        if ((size_t)k % per_epoch == 0)
            epoch_perm(m, perm, d.rows, epoch);
        nnrt_gather(&d, perm, ((size_t)k % per_epoch) * m->batch, m->batch, m->x_buf, m->t_buf);
#ifdef LIB_NAME
        LIB(_set_lr)(lr);
        float loss = LIB(_train_step)(lib_x(m), m->t_buf, (int)m->batch);
#else
        float loss = m->forward(m->x_buf, m->t_buf, (int)m->batch, NNRT_TRAIN);
        m->backward((int)m->batch);
        m->update(lr, k + 1);
#endif
        printf("step %ld lr %.9g loss %.9g\n", k + 1, (double)lr, (double)loss);
    }
#ifdef LIB_NAME
    if (print_lib_saved(m, "running") != 0) {
        fprintf(stderr, "step_driver: the library's saved running statistics do not match the program's table\n");
        free(perm);
        nnrt_data_free(&d);
        return 1;
    }
    printf("eval %.9g\n", (double)LIB(_loss)(lib_x(m), m->t_buf, (int)m->batch));
#else
    for (int i = 0; i < m->n_running; i++) {
        const NnrtTensor *s = &m->state[i];
        printf("running %s %zu", s->name, s->numel);
        for (size_t k = 0; k < s->numel; k++)
            printf(" %.9g", (double)s->data[k]);
        printf("\n");
    }
    printf("eval %.9g\n", (double)m->forward(m->x_buf, m->t_buf, (int)m->batch, NNRT_EVAL));
#endif
    free(perm);
    nnrt_data_free(&d);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        n_steps = strtol(argv[1], NULL, 10);
    char *args[] = {argv[0], NULL};
    return nnc_generated_main(1, args);
}
