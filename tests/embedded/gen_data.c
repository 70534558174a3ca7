/* gen_data.c: a model's training set as a C header, for trainers that have
 * no files to read (tests/run_embedded.sh writes build/embedded/data_M.h).
 *
 *   gen_data NAME IN_DIM class|float LABEL_DIM spiral CLASSES POINTS SEED
 *   gen_data NAME IN_DIM class|float LABEL_DIM xor
 *   gen_data NAME IN_DIM class|float LABEL_DIM gate GATE
 *   gen_data NAME IN_DIM class|float LABEL_DIM csv PATH LABEL_COLUMN HEADER CLASSES IDS
 *
 * The rows come from the runtime exactly as an emitted program sees them:
 * nnrt_data_load (labels converted to class ids or float rows; a CSV
 * file's label column LABEL_COLUMN, negative from the end, HEADER 1 when
 * its first line names the columns, CLASSES the model's class count) and
 * nnrt_gather (inputs as floats), in stored order.  IDS = V > 0: the input
 * is token ids in [0, V) (an i32 input), read and checked as the program
 * reads them and written as int32_t; 0: floats.  Floats are written as
 * hexadecimal literals (C99), so the header holds the same bits.  Output:
 *
 *   #define DATA_ROWS 300
 *   #define DATA_CLASS_IDS 1            (0: float label rows)
 *   #define DATA_INPUT_IDS 0            (1: int32_t input ids)
 *   typedef int32_t data_label;         (or float)
 *   typedef float data_input;           (or int32_t)
 *   static const data_input data_x[DATA_ROWS * IN_DIM] = {...};
 *   static const data_label data_t[DATA_ROWS * LABEL_DIM] = {...};
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"

static void usage(void)
{
    fprintf(stderr, "usage: gen_data NAME IN_DIM class|float LABEL_DIM spiral CLASSES POINTS SEED | xor | gate GATE |\n"
                    "       csv PATH LABEL_COLUMN HEADER CLASSES IDS\n");
    exit(2);
}

/* A whole number from argv, or the usage message. */
static long number(const char *arg, long lo, long hi)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || v < lo || v > hi)
        usage();
    return v;
}

/* argv[5...]: the source, as the train block's data = ... names it;
 * *classes: the class count its ids are checked against. */
static void source_from_args(NnrtSource *s, int argc, char **argv, size_t *classes)
{
    nnrt_source_init(s);
    *classes = 2;
    if (argc == 9 && strcmp(argv[5], "spiral") == 0) {
        s->kind = NNRT_SRC_SPIRAL;
        s->classes = atoi(argv[6]);
        s->points = atoi(argv[7]);
        s->seed = strtoull(argv[8], NULL, 10);
        *classes = (size_t)s->classes;
    } else if (argc == 6 && strcmp(argv[5], "xor") == 0) {
        s->kind = NNRT_SRC_XOR;
    } else if (argc == 7 && strcmp(argv[5], "gate") == 0) {
        s->kind = NNRT_SRC_GATE;
        s->gate = argv[6];
    } else if (argc == 11 && strcmp(argv[5], "csv") == 0) {
        s->kind = NNRT_SRC_CSV;
        s->csv_path = argv[6];
        s->csv_label = (int)number(argv[7], -1000000, 1000000);
        s->csv_header = (int)number(argv[8], 0, 1);
        *classes = (size_t)number(argv[9], 0, 1L << 24);
        s->ids = (size_t)number(argv[10], 0, 1L << 24);
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

/* Class ids, or input ids (IDS) held exactly in floats. */
static void write_ids(const char *name, const void *v, int floats, size_t count)
{
    printf("static const int32_t %s[%zu] = {", name, count);
    for (size_t i = 0; i < count; i++) {
        long id = floats ? (long)((const float *)v)[i] : (long)((const int32_t *)v)[i];
        printf("%s%ld", !i ? "\n    " : i % 20 ? ", " : ",\n    ", id);
    }
    printf("\n};\n");
}

int main(int argc, char **argv)
{
    if (argc < 6)
        usage();
    size_t in_dim = (size_t)number(argv[2], 1, 1L << 24), label_dim = (size_t)number(argv[4], 1, 1L << 24);
    int class_ids = strcmp(argv[3], "class") == 0;
    NnrtSource src;
    NnrtData d;
    char err[256], desc[256];
    size_t classes;
    source_from_args(&src, argc, argv, &classes);
    if (nnrt_data_load(&src, in_dim, class_ids ? NNRT_LABEL_CLASS : NNRT_LABEL_FLOAT, label_dim, classes, &d, NULL,
                       err, sizeof err) != 0) {
        fprintf(stderr, "gen_data: %s\n", err);
        return 1;
    }
    if (d.rows > SIZE_MAX / 4 / in_dim || d.rows > SIZE_MAX / 4 / label_dim) {
        fprintf(stderr, "gen_data: %zu rows of %zu inputs do not fit in memory\n", d.rows, in_dim);
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
    printf("/* data_%s.h: the training set of the model %s, %s, %zu rows in stored order.\n", argv[1], argv[1], desc,
           d.rows);
    printf(" * Written by tests/embedded/gen_data.c; do not edit. */\n");
    printf("#include <stdint.h>\n\n#define DATA_ROWS %zu\n#define DATA_CLASS_IDS %d\n", d.rows, class_ids);
    printf("#define DATA_INPUT_IDS %d\n", src.ids > 0);
    printf("typedef %s data_label;\n", class_ids ? "int32_t" : "float");
    printf("typedef %s data_input;\n\n", src.ids ? "int32_t" : "float");
    if (src.ids)
        write_ids("data_x", x, 1, d.rows * in_dim);
    else
        write_floats("data_x", x, d.rows * in_dim);
    if (class_ids)
        write_ids("data_t", t, 0, d.rows * label_dim);
    else
        write_floats("data_t", t, d.rows * label_dim);
    free(x);
    free(t);
    nnrt_data_free(&d);
    return 0;
}
