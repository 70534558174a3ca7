/* gen_data.c: a model's training set as a C header, for trainers that have
 * no files to read (tests/run_embedded.sh writes build/embedded/data_M.h).
 *
 *   gen_data NAME IN_DIM class|float LABEL_DIM spiral CLASSES POINTS SEED
 *   gen_data NAME IN_DIM class|float LABEL_DIM xor
 *   gen_data NAME IN_DIM class|float LABEL_DIM gate GATE
 *
 * The rows come from the runtime exactly as an emitted program sees them:
 * nnrt_data_load (labels converted to class ids or float rows) and
 * nnrt_gather (inputs as floats), in stored order.  Floats are written as
 * hexadecimal literals (C99), so the header holds the same bits.  Output:
 *
 *   #define DATA_ROWS 300
 *   #define DATA_CLASS_IDS 1            (0: float label rows)
 *   typedef int32_t data_label;         (or float)
 *   static const float data_x[DATA_ROWS * IN_DIM] = {...};
 *   static const data_label data_t[DATA_ROWS * LABEL_DIM] = {...};
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

static void usage(void)
{
    fprintf(stderr, "usage: gen_data NAME IN_DIM class|float LABEL_DIM spiral CLASSES POINTS SEED | xor | gate GATE\n");
    exit(2);
}

/* argv[5...]: the source, as the train block's data = ... names it. */
static void source_from_args(NnrtSource *s, int argc, char **argv)
{
    nnrt_source_init(s);
    if (argc == 9 && strcmp(argv[5], "spiral") == 0) {
        s->kind = NNRT_SRC_SPIRAL;
        s->classes = atoi(argv[6]);
        s->points = atoi(argv[7]);
        s->seed = strtoull(argv[8], NULL, 10);
    } else if (argc == 6 && strcmp(argv[5], "xor") == 0) {
        s->kind = NNRT_SRC_XOR;
    } else if (argc == 7 && strcmp(argv[5], "gate") == 0) {
        s->kind = NNRT_SRC_GATE;
        s->gate = argv[6];
    } else {
        usage();
    }
}

static void write_floats(const char *name, const float *v, size_t count)
{
    printf("static const float %s[%zu] = {", name, count);
    for (size_t i = 0; i < count; i++)
        printf("%s%a", !i ? "\n    " : i % 6 ? ", " : ",\n    ", (double)v[i]);
    printf("\n};\n");
}

static void write_ids(const char *name, const int32_t *v, size_t count)
{
    printf("static const int32_t %s[%zu] = {", name, count);
    for (size_t i = 0; i < count; i++)
        printf("%s%ld", !i ? "\n    " : i % 20 ? ", " : ",\n    ", (long)v[i]);
    printf("\n};\n");
}

int main(int argc, char **argv)
{
    if (argc < 6)
        usage();
    size_t in_dim = strtoul(argv[2], NULL, 10), label_dim = strtoul(argv[4], NULL, 10);
    int class_ids = strcmp(argv[3], "class") == 0;
    NnrtSource src;
    NnrtData d;
    char err[256], desc[256];
    source_from_args(&src, argc, argv);
    size_t classes = src.kind == NNRT_SRC_SPIRAL ? (size_t)src.classes : 2; /* the ids the source makes */
    if (nnrt_data_load(&src, in_dim, class_ids ? NNRT_LABEL_CLASS : NNRT_LABEL_FLOAT, label_dim, classes, &d, NULL,
                       err, sizeof err) != 0) {
        fprintf(stderr, "gen_data: %s\n", err);
        return 1;
    }
    float *x = malloc(d.rows * in_dim * sizeof *x);
    void *t = malloc(d.rows * label_dim * 4);
    if (!x || !t) {
        fprintf(stderr, "gen_data: out of memory for %zu rows\n", d.rows);
        return 1;
    }
    nnrt_gather(&d, NULL, 0, d.rows, x, t);
    nnrt_source_describe(&src, desc, sizeof desc);
    printf("/* data_%s.h: the training set of models/%s.nn, %s, %zu rows in stored order.\n", argv[1], argv[1], desc,
           d.rows);
    printf(" * Written by tests/embedded/gen_data.c; do not edit. */\n");
    printf("#include <stdint.h>\n\n#define DATA_ROWS %zu\n#define DATA_CLASS_IDS %d\n", d.rows, class_ids);
    printf("typedef %s data_label;\n\n", class_ids ? "int32_t" : "float");
    write_floats("data_x", x, d.rows * in_dim);
    if (class_ids)
        write_ids("data_t", t, d.rows * label_dim);
    else
        write_floats("data_t", t, d.rows * label_dim);
    free(x);
    free(t);
    nnrt_data_free(&d);
    return 0;
}
