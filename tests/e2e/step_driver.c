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
    m->init(m->seed);
    printf("model %s\ndata %zu %zu %zu\n", m->name, d.rows, m->in_dim, m->batch);
    print_params(m);
    for (long k = 0; k < n_steps; k++) {
        int epoch = (int)((size_t)k / per_epoch);
        float lr = nnrt_lr_at(m->lr, m->final_lr, m->decay, epoch, m->epochs);
        if ((size_t)k % per_epoch == 0)
            epoch_perm(m, perm, d.rows, epoch);
        nnrt_gather(&d, perm, ((size_t)k % per_epoch) * m->batch, m->batch, m->x_buf, m->t_buf);
        float loss = m->forward(m->x_buf, m->t_buf, (int)m->batch, NNRT_TRAIN);
        m->backward((int)m->batch);
        m->update(lr, k + 1);
        printf("step %ld lr %.9g loss %.9g\n", k + 1, (double)lr, (double)loss);
    }
    for (int i = 0; i < m->n_running; i++) {
        const NnrtTensor *s = &m->state[i];
        printf("running %s %zu", s->name, s->numel);
        for (size_t k = 0; k < s->numel; k++)
            printf(" %.9g", (double)s->data[k]);
        printf("\n");
    }
    printf("eval %.9g\n", (double)m->forward(m->x_buf, m->t_buf, (int)m->batch, NNRT_EVAL));
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
