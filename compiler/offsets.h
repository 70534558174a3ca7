/* offsets.h: arena offsets for buffers with known lifetimes.
 *
 * The memory planner hands this module one Lifetime per arena buffer: its
 * size and the inclusive range of schedule steps in which it is live.  Two
 * buffers conflict when their ranges intersect; conflicting buffers never
 * share a byte.  offsets_assign() places every buffer at an offset (a
 * multiple of the alignment) so that the arena, the highest end of any
 * buffer, is as small as it can find; offsets_lower_bound() says how small
 * it could possibly be.  Nothing here knows about the graph.
 *
 * The same module reads allocation traces (ALLOC id size / FREE id, the
 * format of tests/data/glow-memory-traces.txt) into lifetimes, so that the
 * planner can be measured on traces recorded from other compilers.
 */
#ifndef NNC_OFFSETS_H
#define NNC_OFFSETS_H

#include "base.h"

typedef struct Lifetime {
    size_t bytes;
    int first, last; /* inclusive steps of the schedule */
    size_t offset;   /* output */
} Lifetime;

/* Rounds bytes up to a multiple of align (align >= 1). */
size_t offsets_align(size_t bytes, size_t align);

/* The largest total of (aligned) bytes live at one step: no placement can
 * use less. */
size_t offsets_lower_bound(const Lifetime *b, int n, size_t align);

/* Every buffer its own bytes, in order; returns the total.  Every function
 * here checks first that the aligned sizes add up without overflow (an
 * internal error otherwise: sema bounds a model's sizes long before). */
size_t offsets_naive(Lifetime *b, int n, size_t align);

/* Plain greedy-by-size, for comparison: largest first (ties by earlier
 * first step), each at the lowest offset that fits.  Quadratic in n where
 * the conflicts are (a tool's yardstick, not the planner). */
size_t offsets_greedy(Lifetime *b, int n, size_t align);

/* The planner: sets every offset (a multiple of align) and returns the
 * arena bytes.  Deterministic: the same input gives the same offsets.
 * Near-linear in n: a problem too large for conflict lists is placed by
 * offsets_sweep() alone (offsets.c says when). */
size_t offsets_assign(Lifetime *b, int n, size_t align);

/* Placing by a sweep over time, O(n log n) time and O(n) memory: forward
 * (backward = 0) the buffers in order of first step (the larger first on a
 * tie, then the lower index), backward in order of last step, latest
 * first; each at the lowest hole among the live buffers that it fits
 * (first fit) or the smallest such hole (best_fit), else on top of them.
 * Forward first fit places exactly as first fit in that order over the
 * conflicts would.  Returns the arena. */
size_t offsets_sweep(Lifetime *b, int n, size_t align, int backward, int best_fit);

/* Checks a placement: every lifetime in order, every offset aligned, no two
 * conflicting buffers sharing a byte, every buffer inside arena bytes
 * (O(n log n)).  Returns 1 when valid; otherwise 0 with a one-line reason
 * in why (when why is not NULL). */
int offsets_check(const Lifetime *b, int n, size_t align, size_t arena,
                  char *why, size_t why_len);

/* ---- allocation traces -------------------------------------------------- */
/* One trace: "MODEL name", "ALIGN a", then ALLOC id size / FREE id lines, and
 * the arena the recording compiler reached ("MEM bytes", "EFF ratio").  The
 * step of a buffer is the index of its instruction among the ALLOC and FREE
 * lines of its trace; a buffer lives from its ALLOC step to its FREE step,
 * both included. */
typedef struct OffsetsTrace {
    const char *name;
    size_t align;
    size_t mem;       /* the recorded arena (0 when the trace has no MEM) */
    double eff;       /* the recorded efficiency (0 when absent) */
    Lifetime *b;      /* in ALLOC order */
    int n;
} OffsetsTrace;

typedef struct OffsetsTraceReader {
    const char *path; /* for messages */
    const char *p;    /* the next unread character of the text */
    int line;         /* the line p is on, 1-based */
    FILE *err;        /* where errors go: stderr unless changed */
} OffsetsTraceReader;

/* Starts reading text (NUL-terminated, e.g. from read_file) named path. */
void offsets_trace_begin(OffsetsTraceReader *r, const char *path, const char *text);

/* Reads the next trace into t, allocating from a.  Returns 1 when a trace
 * was read, 0 at the end of the text, -1 on malformed input (after printing
 * "PATH:LINE: error: ..." to r->err). */
int offsets_trace_next(Arena *a, OffsetsTraceReader *r, OffsetsTrace *t);

#endif
