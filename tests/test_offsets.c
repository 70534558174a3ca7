/* test_offsets.c: the offset assignment of the memory planner.
 *
 *   - properties over 2,000 random interval sets: conflicting buffers never
 *     share a byte, offsets are aligned, lower bound <= arena <= greedy <=
 *     naive, the lower bound matches a step-by-step count, and the plan is
 *     repeatable;
 *   - hand-made cases whose optimum is the lower bound (a chain, a diamond,
 *     a branch held across the backward pass, buffers that share offset 0);
 *   - the sweeps (offsets_sweep), forward and backward, first and best fit,
 *     against a slow placement in the same order over 500 random sets;
 *   - a deep network's 100,000 buffers (5 x 10^9 conflicting pairs)
 *     planned within the test's timeout, at the lower bound; offsets_check
 *     naming each kind of fault; a total past SIZE_MAX aborting rather
 *     than wrapping;
 *   - the 79 glow traces of tests/data/glow-memory-traces.txt: the lower
 *     bound on at least 76 and never more than glow's recorded arena; the
 *     trace reader refusing malformed traces and sizes past SIZE_MAX;
 *   - a benchmark at the scale of a 784-100-10 MLP training step (timing is
 *     printed, never asserted).
 *
 * Run from the repository root (the trace file path is relative).
 */
#include "offsets.h"

#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define ALIGN 64
#define TRACES "tests/data/glow-memory-traces.txt"

/* ---- a tiny seeded generator for the random cases --------------------- */
typedef struct TestRng {
    uint64_t s;
} TestRng;

static uint64_t test_rand(TestRng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static int test_below(TestRng *r, int n)
{
    return (int)(test_rand(r) % (uint64_t)n);
}

/* ---- helpers ------------------------------------------------------------ */
/* The lower bound counted the slow way: at every step, add up who is live. */
static size_t slow_lower_bound(const Lifetime *b, int n, int steps)
{
    size_t peak = 0;
    for (int t = 0; t < steps; t++) {
        size_t live = 0;
        for (int i = 0; i < n; i++)
            if (b[i].first <= t && t <= b[i].last)
                live += offsets_align(b[i].bytes, ALIGN);
        if (live > peak)
            peak = live;
    }
    return peak;
}

/* Plans b, checks the placement, and returns the arena. */
static size_t plan_checked(Lifetime *b, int n)
{
    char why[200] = "";
    size_t arena = offsets_assign(b, n, ALIGN);
    ck_assert_msg(offsets_check(b, n, ALIGN, arena, why, sizeof why), "%s", why);
    for (int i = 0; i < n; i++)
        ck_assert_uint_eq(b[i].offset % ALIGN, 0);
    return arena;
}

/* ---- random interval sets ----------------------------------------------- */
/* Sizes: mostly odd byte counts (not multiples of 64), some exact multiples,
 * a few empty; a few large ones so sizes differ by orders of magnitude.  In
 * half the sets sizes come from a handful of "layer widths" instead, as in
 * real networks; such sets are the hard ones to pack. */
static size_t random_size(TestRng *r, const size_t *widths)
{
    if (widths)
        return widths[test_below(r, 4)];
    switch (test_below(r, 10)) {
    case 0:  return (size_t)test_below(r, 64) * ALIGN;
    case 1:  return (size_t)(test_below(r, 4) == 0 ? 0 : 1);
    case 2:  return (size_t)(1 + test_below(r, 1 << 20));
    default: return (size_t)(1 + test_below(r, 5000));
    }
}

/* n buffers over `steps` steps; `maxlen` sets the overlap density. */
static void random_set(TestRng *r, Lifetime *b, int n, int steps, int maxlen)
{
    size_t widths[4];
    for (int k = 0; k < 4; k++)
        widths[k] = (size_t)(1 + test_below(r, 40)) * 100;
    int layered = test_below(r, 2);
    for (int i = 0; i < n; i++) {
        int first = test_below(r, steps);
        int len = test_below(r, 4) == 0 ? test_below(r, steps) : test_below(r, maxlen);
        int last = first + len < steps ? first + len : steps - 1;
        b[i] = (Lifetime){ random_size(r, layered ? widths : NULL), first, last, 0 };
    }
}

enum { RANDOM_SETS = 2000, RANDOM_MAX_N = 60 };

START_TEST(test_random_properties)
{
    TestRng r = { 0x9E3779B97F4A7C15u };
    Lifetime b[RANDOM_MAX_N], again[RANDOM_MAX_N];
    int at_bound = 0;
    for (int set = 0; set < RANDOM_SETS; set++) {
        int n = 1 + test_below(&r, RANDOM_MAX_N);
        int steps = 1 + test_below(&r, 3 * n);
        random_set(&r, b, n, steps, 1 + test_below(&r, 12));
        size_t lower = offsets_lower_bound(b, n, ALIGN);
        ck_assert_uint_eq(lower, slow_lower_bound(b, n, steps));
        size_t naive = offsets_naive(b, n, ALIGN);
        size_t greedy = offsets_greedy(b, n, ALIGN);
        ck_assert_msg(offsets_check(b, n, ALIGN, greedy, NULL, 0), "greedy placement invalid");
        memcpy(again, b, sizeof b);
        size_t arena = plan_checked(b, n);
        ck_assert_uint_ge(arena, lower);
        ck_assert_uint_le(greedy, naive);
        ck_assert_uint_le(arena, greedy);
        ck_assert_uint_eq(offsets_assign(again, n, ALIGN), arena);
        for (int i = 0; i < n; i++)
            ck_assert_uint_eq(again[i].offset, b[i].offset);
        at_bound += arena == lower;
    }
    printf("random sets: %d of %d at the lower bound\n", at_bound, RANDOM_SETS);
}
END_TEST

START_TEST(test_naive_is_every_buffer_its_own)
{
    Lifetime b[3] = { { 10, 0, 0, 0 }, { 64, 5, 6, 0 }, { 65, 1, 9, 0 } };
    ck_assert_uint_eq(offsets_naive(b, 3, ALIGN), 64 + 64 + 128);
    ck_assert_uint_eq(b[0].offset, 0);
    ck_assert_uint_eq(b[1].offset, 64);
    ck_assert_uint_eq(b[2].offset, 128);
}
END_TEST

START_TEST(test_empty_and_zero_sized)
{
    ck_assert_uint_eq(offsets_assign(NULL, 0, ALIGN), 0);
    ck_assert_uint_eq(offsets_lower_bound(NULL, 0, ALIGN), 0);
    Lifetime b[2] = { { 0, 0, 3, 7 }, { 0, 1, 2, 7 } };
    ck_assert_uint_eq(plan_checked(b, 2), 0);
    ck_assert_uint_eq(b[0].offset, 0);
    ck_assert_uint_eq(b[1].offset, 0);
}
END_TEST

/* ---- hand-made cases with a known optimum -------------------------------- */
/* A chain: buffer i lives over steps [i, i+1], so it overlaps only its two
 * neighbours; the optimum is the largest adjacent pair. */
START_TEST(test_chain)
{
    static const size_t sizes[] = { 100, 5000, 300, 7000, 64, 64, 9000, 1, 4096, 200 };
    enum { N = sizeof sizes / sizeof sizes[0] };
    Lifetime b[N];
    size_t pair = 0;
    for (int i = 0; i < N; i++) {
        b[i] = (Lifetime){ sizes[i], i, i + 1, 0 };
        if (i > 0 && offsets_align(sizes[i - 1], ALIGN) + offsets_align(sizes[i], ALIGN) > pair)
            pair = offsets_align(sizes[i - 1], ALIGN) + offsets_align(sizes[i], ALIGN);
    }
    ck_assert_uint_eq(offsets_lower_bound(b, N, ALIGN), pair);
    ck_assert_uint_eq(plan_checked(b, N), pair);
}
END_TEST

/* A diamond: a feeds b and c, which both feed d.  Schedule a@0 b@1 c@2 d@3:
 * a lives until c reads it, b and c until d reads them. */
START_TEST(test_diamond)
{
    Lifetime b[4] = {
        { 4000, 0, 2, 0 }, /* a */
        { 3000, 1, 3, 0 }, /* b */
        { 2000, 2, 3, 0 }, /* c */
        { 4000, 3, 3, 0 }, /* d */
    };
    size_t lower = offsets_lower_bound(b, 4, ALIGN);
    ck_assert_uint_eq(lower, 3008 + 2048 + 4032); /* step 3: b, c, d */
    ck_assert_uint_eq(plan_checked(b, 4), lower);
}
END_TEST

/* A branch held across the backward pass: the activation h is produced at
 * step 1 and read again at step 30, while forward and backward temporaries
 * of many sizes come and go around it, each live for two steps. */
START_TEST(test_branch_across_backward)
{
    enum { N = 30 };
    Lifetime b[N];
    b[0] = (Lifetime){ 40000, 1, 30, 0 };
    for (int i = 1; i < N; i++)
        b[i] = (Lifetime){ (size_t)(1 + (i * 7919) % 30000), i, i + 1, 0 };
    size_t pair = 0;
    for (int i = 2; i < N; i++) {
        size_t s = offsets_align(b[i - 1].bytes, ALIGN) + offsets_align(b[i].bytes, ALIGN);
        pair = s > pair ? s : pair;
    }
    size_t lower = offsets_lower_bound(b, N, ALIGN);
    ck_assert_uint_eq(lower, offsets_align(40000, ALIGN) + pair);
    ck_assert_uint_eq(plan_checked(b, N), lower);
}
END_TEST

/* Buffers whose lives do not overlap share offset 0. */
START_TEST(test_disjoint_share_zero)
{
    Lifetime b[3] = { { 1000, 0, 1, 0 }, { 3000, 2, 3, 0 }, { 64, 4, 9, 0 } };
    ck_assert_uint_eq(plan_checked(b, 3), 3008);
    for (int i = 0; i < 3; i++)
        ck_assert_uint_eq(b[i].offset, 0);
}
END_TEST

/* ---- the sweeps and large problems ---------------------------------------- */
/* The sweep's placement computed the slow way: buffers in the sweep's order
 * (forward: first step, larger first, lower index; backward: last step,
 * latest first, then the same), each at the first fit (or best fit) among
 * the byte ranges of every placed buffer it conflicts with. */
static int sweep_before(const Lifetime *b, int x, int y, int backward)
{
    int kx = backward ? -b[x].last : b[x].first, ky = backward ? -b[y].last : b[y].first;
    size_t sx = offsets_align(b[x].bytes, ALIGN), sy = offsets_align(b[y].bytes, ALIGN);
    if (kx != ky)
        return kx < ky;
    if (sx != sy)
        return sx > sy;
    return x < y;
}

static size_t slow_sweep(const Lifetime *b, int n, int backward, int best_fit, size_t *off)
{
    int order[RANDOM_MAX_N], placed[RANDOM_MAX_N] = {0};
    for (int i = 0; i < n; i++) {
        int k = i;
        for (; k > 0 && sweep_before(b, i, order[k - 1], backward); k--)
            order[k] = order[k - 1];
        order[k] = i;
    }
    size_t arena = 0;
    for (int k = 0; k < n; k++) {
        int i = order[k];
        size_t s = offsets_align(b[i].bytes, ALIGN), pick = SIZE_MAX, pick_gap = SIZE_MAX, top = 0;
        /* every candidate offset: 0 and the end of each placed conflicting buffer */
        for (int c = -1; c < n && s > 0; c++) {
            if (c >= 0 && !(placed[c] && b[c].bytes && b[c].first <= b[i].last && b[i].first <= b[c].last))
                continue;
            size_t lo = c < 0 ? 0 : off[c] + offsets_align(b[c].bytes, ALIGN), gap = SIZE_MAX;
            int fits = 1;
            for (int j = 0; j < n && fits; j++) {
                size_t sj = offsets_align(b[j].bytes, ALIGN);
                if (!placed[j] || !sj || b[j].first > b[i].last || b[i].first > b[j].last)
                    continue;
                if (off[j] < lo + s && lo < off[j] + sj)
                    fits = 0;
                else if (off[j] >= lo + s && off[j] - lo < gap)
                    gap = off[j] - lo; /* the hole from lo up to the next buffer */
                if (off[j] + sj > top)
                    top = off[j] + sj;
            }
            if (fits && gap != SIZE_MAX && (best_fit ? gap < pick_gap || (gap == pick_gap && lo < pick) : lo < pick))
                pick = lo, pick_gap = gap;
        }
        for (int j = 0; j < n; j++) /* the top of the conflicting placed buffers */
            if (placed[j] && b[j].bytes && b[j].first <= b[i].last && b[i].first <= b[j].last &&
                off[j] + offsets_align(b[j].bytes, ALIGN) > top)
                top = off[j] + offsets_align(b[j].bytes, ALIGN);
        off[i] = s == 0 ? 0 : pick != SIZE_MAX ? pick : top;
        placed[i] = 1;
        if (off[i] + s > arena)
            arena = off[i] + s;
    }
    return arena;
}

/* Each of the four sweeps places every random set exactly as the slow
 * placement in its order does, and validly. */
START_TEST(test_sweeps_match_slow_placement)
{
    TestRng r = { 0xC0FFEEu };
    Lifetime b[RANDOM_MAX_N];
    size_t off[RANDOM_MAX_N];
    for (int set = 0; set < 500; set++) {
        int n = 1 + test_below(&r, RANDOM_MAX_N);
        int steps = 1 + test_below(&r, 3 * n);
        random_set(&r, b, n, steps, 1 + test_below(&r, 12));
        for (int v = 0; v < 4; v++) {
            size_t want = slow_sweep(b, n, v / 2, v % 2, off);
            size_t got = offsets_sweep(b, n, ALIGN, v / 2, v % 2);
            ck_assert_uint_eq(got, want);
            for (int i = 0; i < n; i++)
                ck_assert_msg(b[i].offset == off[i], "set %d sweep %d buffer %d: %zu, slow %zu", set, v, i,
                              b[i].offset, off[i]);
            ck_assert(offsets_check(b, n, ALIGN, got, NULL, 0));
            ck_assert_uint_ge(got, offsets_lower_bound(b, n, ALIGN));
        }
    }
}
END_TEST

/* The lifetimes of a deep MLP's training step, L layers: activation i is
 * made at step i and read back at step 4L - i (its layer's backward), and
 * a gradient lives two steps; sizes cycle through a few widths.  Nearly
 * every pair of activations conflicts: L^2 / 2 pairs. */
static int deep_buffers(Lifetime *b, int layers)
{
    static const size_t widths[] = { 4096, 640, 12800, 2048, 64 };
    int n = 0;
    for (int i = 0; i < layers; i++)
        b[n++] = (Lifetime){ widths[i % 5], i, 4 * layers - i, 0 };
    for (int i = 0; i < layers; i++)
        b[n++] = (Lifetime){ widths[(i + 2) % 5], 2 * layers + 2 * i, 2 * layers + 2 * i + 1, 0 };
    return n;
}

/* 100,000 buffers with 5 x 10^9 conflicting pairs: conflict lists would
 * take 40 GB (and used to overflow their int offsets); the planner sweeps
 * instead, within seconds (the test case's timeout) and at the lower bound
 * for this stack-like shape. */
START_TEST(test_deep_network_is_planned_in_near_linear_time)
{
    enum { LAYERS = 50000 };
    Lifetime *b = malloc(2 * LAYERS * sizeof *b);
    int n = deep_buffers(b, LAYERS);
    size_t arena = offsets_assign(b, n, ALIGN);
    char why[200] = "";
    ck_assert_msg(offsets_check(b, n, ALIGN, arena, why, sizeof why), "%s", why);
    ck_assert_uint_eq(arena, offsets_lower_bound(b, n, ALIGN));
    free(b);
}
END_TEST

/* offsets_check finds what is wrong, and lets non-conflicting buffers
 * share bytes. */
START_TEST(test_check_finds_each_fault)
{
    Lifetime ok[3] = { { 100, 0, 2, 0 }, { 100, 1, 3, 128 }, { 100, 3, 4, 0 } };
    char why[200] = "";
    ck_assert_msg(offsets_check(ok, 3, ALIGN, 256, why, sizeof why), "%s", why);
    Lifetime overlap[3] = { { 100, 0, 2, 0 }, { 100, 3, 4, 0 }, { 100, 2, 3, 64 } };
    ck_assert(!offsets_check(overlap, 3, ALIGN, 256, why, sizeof why));
    ck_assert_str_eq(why, "buffers 0 and 2 are live together and share bytes");
    Lifetime misaligned[1] = { { 100, 0, 2, 32 } };
    ck_assert(!offsets_check(misaligned, 1, ALIGN, 256, why, sizeof why));
    ck_assert_msg(strstr(why, "misaligned or outside") != NULL, "%s", why);
    Lifetime outside[1] = { { 100, 0, 2, SIZE_MAX - 63 } };
    ck_assert(!offsets_check(outside, 1, ALIGN, 256, why, sizeof why));
    ck_assert_msg(strstr(why, "misaligned or outside") != NULL, "%s", why);
    Lifetime reversed[1] = { { 100, 5, 2, 0 } };
    ck_assert(!offsets_check(reversed, 1, ALIGN, 256, why, sizeof why));
    ck_assert_msg(strstr(why, "ends (step 2) before it starts (step 5)") != NULL, "%s", why);
}
END_TEST

/* Sizes whose total passes SIZE_MAX stop the planner (an internal error)
 * instead of wrapping into a small arena. */
START_TEST(test_total_past_size_max_aborts)
{
    Lifetime b[3] = { { SIZE_MAX / 2, 0, 1, 0 }, { SIZE_MAX / 2, 0, 1, 0 }, { 4096, 0, 1, 0 } };
    offsets_assign(b, 3, ALIGN);
}
END_TEST

/* ---- the glow traces ----------------------------------------------------- */
START_TEST(test_glow_traces)
{
    Arena a;
    arena_init(&a);
    size_t len;
    const char *text = read_file(&a, TRACES, &len);
    ck_assert_msg(text != NULL, "cannot read %s (run from the repository root)", TRACES);
    OffsetsTraceReader r;
    OffsetsTrace t;
    int traces = 0, at_bound = 0, got;
    offsets_trace_begin(&r, TRACES, text);
    while ((got = offsets_trace_next(&a, &r, &t)) > 0) {
        size_t lower = offsets_lower_bound(t.b, t.n, t.align);
        size_t arena = plan_checked(t.b, t.n);
        ck_assert_msg(arena <= t.mem, "%s: arena %zu above glow's %zu", t.name, arena, t.mem);
        traces++;
        at_bound += arena == lower;
    }
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(traces, 79);
    ck_assert_int_ge(at_bound, 76);
    arena_free(&a);
}
END_TEST

/* Each malformed trace gives -1 and one "FILE:LINE: error:" line. */
START_TEST(test_trace_reader_rejects_bad_input)
{
    static const struct { const char *text, *msg; } bad[] = {
        { "ALLOC 1 64\n", "bad.txt:1: error: expected MODEL" },
        { "MODEL m\nALIGN 64\nALLOC 1 64\n", "bad.txt:4: error: a buffer is never freed" },
        { "MODEL m\nALLOC 1 64\nFREE 2\n", "bad.txt:3: error: FREE of a buffer that is not live" },
        { "MODEL m\nALLOC 1 64\nALLOC 1 64\n", "bad.txt:3: error: ALLOC of a buffer that is still" },
        { "MODEL m\nALLOC 1 sixty\nFREE 1\n", "bad.txt:2: error: expected ALIGN, ALLOC" },
        { "MODEL m\nALLOC 1 18446744073709551615\nALLOC 2 64\nFREE 1\nFREE 2\n",
          "bad.txt:6: error: the buffers' sizes add up past" },
        { "MODEL m\nALIGN 4294967296\n", "bad.txt:2: error: an alignment above 1048576" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        Arena a;
        arena_init(&a);
        char *msg = NULL;
        size_t msg_len = 0;
        OffsetsTraceReader r;
        OffsetsTrace t;
        offsets_trace_begin(&r, "bad.txt", bad[k].text);
        r.err = open_memstream(&msg, &msg_len);
        ck_assert_int_eq(offsets_trace_next(&a, &r, &t), -1);
        fclose(r.err);
        ck_assert_msg(strncmp(msg, bad[k].msg, strlen(bad[k].msg)) == 0, "got: %s", msg);
        free(msg);
        arena_free(&a);
    }
}
END_TEST

START_TEST(test_trace_reader_steps)
{
    Arena a;
    arena_init(&a);
    OffsetsTraceReader r;
    OffsetsTrace t;
    offsets_trace_begin(&r, "t.txt", "# c\nMODEL m\nALIGN 32\nALLOC 7 10\nALLOC 8 20\n"
                                     "FREE 7\nFREE 8\nMEM 64\nEFF 0.5\nMODEL n\n");
    ck_assert_int_eq(offsets_trace_next(&a, &r, &t), 1);
    ck_assert_str_eq(t.name, "m");
    ck_assert_uint_eq(t.align, 32);
    ck_assert_uint_eq(t.mem, 64);
    ck_assert_int_eq(t.n, 2);
    ck_assert_int_eq(t.b[0].first, 0);
    ck_assert_int_eq(t.b[0].last, 2);
    ck_assert_int_eq(t.b[1].first, 1);
    ck_assert_int_eq(t.b[1].last, 3);
    ck_assert_int_eq(offsets_trace_next(&a, &r, &t), 1);
    ck_assert_int_eq(t.n, 0);
    ck_assert_int_eq(offsets_trace_next(&a, &r, &t), 0);
    arena_free(&a);
}
END_TEST

/* ---- benchmark: a 784-100-10 MLP training step --------------------------- */
/* The buffers of one training step of a 784-100-10 MLP at batch B, in the
 * order a schedule would produce them: forward activations live until the
 * backward pass reads them, gradients and temporaries live a step or two.
 * Four copies of the step (as with several micro-batches in a row) give
 * about 100 buffers. */
static int mlp_buffers(Lifetime *b, int B)
{
    static const struct { int rows_b, cols; int first, last; } step[] = {
        { 1, 100, 0, 22 },  /* z1 = x@W1 + b1          */
        { 1, 100, 1, 19 },  /* h = relu(z1)            */
        { 1, 10, 2, 3 },    /* z2 = h@W2 + b2          */
        { 1, 10, 3, 5 },    /* p = softmax(z2)         */
        { 1, 1, 4, 6 },     /* loss terms              */
        { 0, 1, 6, 7 },     /* loss                    */
        { 1, 10, 7, 18 },   /* dz2 = (p - y) / B       */
        { 0, 10, 8, 9 },    /* db2 partial             */
        { 1, 100, 10, 20 }, /* dh = dz2 @ W2^T         */
        { 1, 100, 12, 22 }, /* relu mask               */
        { 1, 100, 13, 24 }, /* dz1 = dh * mask         */
        { 0, 100, 14, 15 }, /* db1 partial             */
        { 0, 100, 16, 17 }, /* reduction temporary     */
        { 1, 784, 18, 19 }, /* dx (for checks)         */
        { 0, 10, 20, 21 },  /* clip norm partials      */
        { 0, 1, 22, 24 },   /* clip scale              */
        { 1, 100, 21, 23 }, /* dropout mask temporary  */
        { 1, 10, 23, 24 },  /* logits for accuracy     */
        { 0, 1, 24, 24 },   /* accuracy                */
        { 1, 100, 19, 21 }, /* h copy for the report   */
        { 1, 10, 5, 8 },    /* one-hot targets         */
        { 1, 1, 9, 11 },    /* per-row loss            */
        { 0, 100, 11, 14 }, /* column sums             */
        { 1, 100, 15, 16 }, /* elementwise temporary   */
        { 1, 10, 17, 18 },  /* elementwise temporary   */
    };
    int n = 0;
    for (int copy = 0; copy < 4; copy++)
        for (size_t k = 0; k < sizeof step / sizeof step[0]; k++)
            b[n++] = (Lifetime){ (size_t)(step[k].rows_b ? B : 1) * (size_t)step[k].cols * 4,
                                 25 * copy + step[k].first, 25 * copy + step[k].last, 0 };
    return n;
}

static double bench_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Plans the set `runs` times; returns the mean milliseconds of one plan. */
static double bench_plan(Lifetime *b, int n, int runs, size_t *arena)
{
    double t0 = bench_ms();
    for (int k = 0; k < runs; k++)
        *arena = offsets_assign(b, n, ALIGN);
    return (bench_ms() - t0) / runs;
}

START_TEST(bench_mlp_784_100_10)
{
    static const int batches[] = { 1, 32, 100 };
    Lifetime b[128];
    for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
        int n = mlp_buffers(b, batches[k]);
        size_t arena;
        double ms = bench_plan(b, n, 100, &arena);
        ck_assert_uint_eq(plan_checked(b, n), arena);
        printf("bench 784-100-10 B=%d: %d buffers, lower bound %zu, arena %zu, naive %zu, "
               "%.3f ms a plan\n", batches[k], n, offsets_lower_bound(b, n, ALIGN), arena,
               offsets_naive(b, n, ALIGN), ms);
    }
}
END_TEST

static Suite *offsets_suite(void)
{
    Suite *s = suite_create("offsets");
    TCase *props = tcase_create("properties");
    tcase_set_timeout(props, 120);
    tcase_add_test(props, test_random_properties);
    tcase_add_test(props, test_naive_is_every_buffer_its_own);
    tcase_add_test(props, test_empty_and_zero_sized);
    suite_add_tcase(s, props);
    TCase *known = tcase_create("known optimum");
    tcase_add_test(known, test_chain);
    tcase_add_test(known, test_diamond);
    tcase_add_test(known, test_branch_across_backward);
    tcase_add_test(known, test_disjoint_share_zero);
    suite_add_tcase(s, known);
    TCase *large = tcase_create("sweeps and large problems");
    tcase_set_timeout(large, 60);
    tcase_add_test(large, test_sweeps_match_slow_placement);
    tcase_add_test(large, test_deep_network_is_planned_in_near_linear_time);
    tcase_add_test(large, test_check_finds_each_fault);
    tcase_add_test_raise_signal(large, test_total_past_size_max_aborts, SIGABRT);
    suite_add_tcase(s, large);
    TCase *traces = tcase_create("glow traces");
    tcase_set_timeout(traces, 60);
    tcase_add_test(traces, test_glow_traces);
    tcase_add_test(traces, test_trace_reader_rejects_bad_input);
    tcase_add_test(traces, test_trace_reader_steps);
    suite_add_tcase(s, traces);
    TCase *bench = tcase_create("benchmark");
    tcase_add_test(bench, bench_mlp_784_100_10);
    suite_add_tcase(s, bench);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(offsets_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
