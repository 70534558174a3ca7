/* spiral_export.c: writes the spiral data set exactly as nnc's runtime
 * makes it (nnrt_spiral), so the Python peers train on the same rows.
 *
 *   spiral_export CLASSES POINTS SEED OUT
 *
 * OUT: the CLASSES*POINTS rows of x as little-endian f32 pairs, then the
 * rows' class ids as little-endian int32.
 */
#include "nnrt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: spiral_export CLASSES POINTS SEED OUT\n");
        return 2;
    }
    int classes = atoi(argv[1]), points = atoi(argv[2]);
    uint64_t seed = strtoull(argv[3], NULL, 10);
    size_t rows = (size_t)classes * (size_t)points;
    float *x = malloc(rows * 2 * sizeof *x), *lab = malloc(rows * sizeof *lab);
    int32_t *t = malloc(rows * sizeof *t);
    if (!x || !lab || !t || nnrt_spiral(classes, points, seed, x, lab) < 0) {
        fprintf(stderr, "spiral_export: bad arguments or out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < rows; i++)
        t[i] = (int32_t)lab[i];
    FILE *f = fopen(argv[4], "wb");
    if (!f) {
        perror(argv[4]);
        return 1;
    }
    int ok = fwrite(x, sizeof *x, rows * 2, f) == rows * 2 && fwrite(t, sizeof *t, rows, f) == rows;
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "spiral_export: cannot write %s\n", argv[4]);
        return 1;
    }
    free(x);
    free(lab);
    free(t);
    return 0;
}
