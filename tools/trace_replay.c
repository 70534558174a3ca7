/* trace_replay: nnc's offset assignment on allocation traces recorded by
 * another compiler.
 *
 *   trace_replay [--time] TRACES
 *
 * TRACES is a file of ALLOC/FREE traces (tests/data/glow-memory-traces.txt:
 * 79 activation traces of real models from pytorch/glow's test suite).  For
 * each trace it prints the buffers, the lower bound (the most bytes live at
 * one step), the arena glow recorded (MEM), nnc's arena and the ratio of
 * nnc's arena to the lower bound; then the tally, on one line:
 *
 *   traces: 79, at lower bound: N, worst ratio arena/lower bound: X (trace),
 *   larger than glow's MEM: K
 *
 * and, for comparison, how many traces plain greedy-by-size brings to the
 * bound.
 * --time adds the milliseconds each plan took (left out by default so the
 * output is the same on every run).  Every placement is checked; an invalid
 * one, or a malformed file, exits 1.
 */
#include "offsets.h"

#include <string.h>
#include <time.h>

typedef struct Tally {
    int traces, at_bound, above_mem;
    int greedy_at_bound; /* plain greedy-by-size, for comparison */
    double worst;
    const char *worst_name;
    double total_ms;
} Tally;

static double replay_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void replay_count(Tally *tally, const OffsetsTrace *t, size_t lower, size_t arena)
{
    double ratio = lower ? (double)arena / (double)lower : 1.0;
    tally->traces++;
    tally->at_bound += arena == lower;
    tally->above_mem += t->mem && arena > t->mem;
    if (ratio > tally->worst || !tally->worst_name) {
        tally->worst = ratio;
        tally->worst_name = t->name;
    }
}

/* Plans one trace, checks the placement and prints its row; 0 or -1. */
static int replay_trace(const OffsetsTrace *t, Tally *tally, int show_time)
{
    size_t lower = offsets_lower_bound(t->b, t->n, t->align);
    tally->greedy_at_bound += offsets_greedy(t->b, t->n, t->align) == lower;
    double t0 = replay_now_ms();
    size_t arena = offsets_assign(t->b, t->n, t->align);
    double ms = replay_now_ms() - t0;
    char why[200];
    if (!offsets_check(t->b, t->n, t->align, arena, why, sizeof why)) {
        fprintf(stderr, "trace_replay: invalid placement for %s: %s\n", t->name, why);
        return -1;
    }
    replay_count(tally, t, lower, arena);
    tally->total_ms += ms;
    printf("%-44s %5d %12zu %12zu %12zu %7.4f%s", t->name, t->n, lower, t->mem, arena,
           lower ? (double)arena / (double)lower : 1.0,
           t->mem && arena > t->mem ? "  above MEM" : arena == lower ? "" : "  above bound");
    if (show_time)
        printf("  %8.3f ms", ms);
    putchar('\n');
    return 0;
}

static int replay_file(const char *path, int show_time)
{
    Arena a;
    arena_init(&a);
    size_t len;
    const char *text = read_file(&a, path, &len);
    int rc = text ? 0 : -1, got = 0;
    OffsetsTraceReader r;
    OffsetsTrace t;
    Tally tally = { 0, 0, 0, 0, 0.0, NULL, 0.0 };
    if (text) {
        offsets_trace_begin(&r, path, text);
        printf("%-44s %5s %12s %12s %12s %7s\n", "trace", "bufs", "lower bound", "glow MEM",
               "nnc arena", "ratio");
    }
    while (rc == 0 && (got = offsets_trace_next(&a, &r, &t)) > 0)
        rc = replay_trace(&t, &tally, show_time);
    if (got < 0)
        rc = -1;
    if (rc == 0)
        printf("traces: %d, at lower bound: %d, worst ratio arena/lower bound: %.4f (%s), "
               "larger than glow's MEM: %d\n", tally.traces, tally.at_bound, tally.worst,
               tally.worst_name ? tally.worst_name : "-", tally.above_mem);
    if (rc == 0)
        printf("for comparison, greedy-by-size alone: at lower bound: %d of %d\n",
               tally.greedy_at_bound, tally.traces);
    if (rc == 0 && show_time)
        printf("planning time, all traces: %.1f ms\n", tally.total_ms);
    arena_free(&a);
    return rc;
}

int main(int argc, char **argv)
{
    int show_time = argc == 3 && strcmp(argv[1], "--time") == 0;
    if (argc != 2 + show_time) {
        fprintf(stderr, "usage: trace_replay [--time] TRACES\n");
        return 2;
    }
    return replay_file(argv[1 + show_time], show_time) == 0 ? 0 : 1;
}
