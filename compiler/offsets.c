/* offsets.c: arena offsets for buffers with known lifetimes.
 *
 * The problem.  Each buffer i has aligned size s_i and a live range
 * [first_i, last_i] of schedule steps.  Buffers whose ranges intersect
 * conflict and must get disjoint byte ranges [off_i, off_i + s_i); the arena
 * is max(off_i + s_i).  This is dynamic storage allocation, NP-hard in
 * general, but with a very good yardstick: at any step the live buffers are
 * pairwise in conflict, so no arena is smaller than the largest total of
 * sizes live at one step (offsets_lower_bound).  Real traces nearly always
 * reach that bound, so the planner works until it does or its budget ends.
 *
 * Placing in an order.  Given an order of the buffers, each in turn goes to
 * the lowest offset at which it overlaps none of the already-placed buffers
 * it conflicts with: their byte ranges, sorted by offset, leave gaps, and
 * the buffer takes the first gap it fits in (first fit), or the smallest gap
 * it fits in (best fit), or else the top.  Buffers it does not conflict with
 * are ignored, which is where sharing comes from.
 *
 * Several orderings.  Greedy-by-size (largest first, ties by earlier first
 * step) is the classic rule and is right most of the time, but one order
 * cannot fit every shape of trace: a long-lived small buffer placed late can
 * split the space a big short-lived one needed; a trace of many equal sizes
 * is better ordered by time.  So the planner places the buffers in several
 * orders -- by size, by the live bytes at the buffer's busiest step, by
 * size x duration, by first step, by conflict degree, by conflicting bytes
 * -- each with first fit and best fit, and keeps the smallest arena.  It
 * stops as soon as one reaches the lower bound.
 *
 * A small search.  When every ordering is still above the bound, a local
 * search starts from the best order: it moves one of the buffers that touch
 * the top of the arena to an earlier place in the order (so it is placed
 * before the buffers that pushed it up), or swaps two buffers; it places
 * again from the first position that changed (the prefix keeps its
 * offsets), and keeps the new order when the arena is no larger, so it can
 * walk across plateaus.  The random choices come from a fixed-seed
 * generator and the budget counts placements, never time, so the output is
 * deterministic.  One placement costs about n + 2 x conflicts steps; the
 * budget is capped so that the search stays within a few milliseconds (see
 * SEARCH_WORK).
 *
 * Results (docs/memory-plan.md): on the 79 glow traces greedy-by-size alone
 * reaches the bound on 70, the orderings on 76, the search on all 79.
 *
 * Large problems.  The conflict lists hold every pair of buffers live
 * together, which for a deep network is nearly every pair: n^2 / 2 entries
 * (a 10,000-layer MLP: 2 x 10^8).  So the lists are counted first, in
 * O(n log n), and built only when one placement over them stays within
 * CONFLICT_WORK steps.  Above that, the planner only places in orders that
 * a sweep over time can follow: by first step (the live buffers at that
 * step are exactly the placed ones it conflicts with) and, time reversed, by
 * last step.  The free bytes among the live buffers are kept as holes in
 * two balanced trees (by address, for first fit and for merging a freed
 * buffer with its neighbours; by size, for best fit), so each placement
 * costs O(log n): O(n log n) in all, with O(n) memory.  The order by first
 * step gives the same offsets as the same ordering over conflict lists.
 *
 * Sizes.  Every total is computed with an overflow check: the sum of all
 * aligned sizes is checked once (offsets_total), and no offset, arena or
 * live total can exceed it, so nothing after that can wrap.
 */
#include "offsets.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* bytes rounded up to a multiple of align into *out; 0 when that
 * overflows. */
static int offsets_align_to(size_t bytes, size_t align, size_t *out)
{
    size_t down = bytes / align * align;
    if (down == bytes)
        return *out = bytes, 1;
    if (down > SIZE_MAX - align)
        return 0;
    *out = down + align;
    return 1;
}

size_t offsets_align(size_t bytes, size_t align)
{
    size_t up = 0;
    NNC_ASSERT(align >= 1, "alignment must be at least 1");
    NNC_ASSERT(offsets_align_to(bytes, align, &up), "a buffer's size overflows when aligned");
    return up;
}

/* The aligned sizes of all buffers added up, which bounds every offset,
 * arena and live total below: the one place where a sum could wrap. */
static size_t offsets_total(const Lifetime *b, int n, size_t align)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t s = offsets_align(b[i].bytes, align);
        NNC_ASSERT(s <= SIZE_MAX - total, "the buffers' total size overflows");
        total += s;
    }
    return total;
}

/* ---- lower bound ------------------------------------------------------ */
/* A sweep over events: +size at first, -size after last.  At equal steps
 * the ends come before the starts, since a buffer that ends at step t-1 is
 * not live at step t. */
typedef struct Event {
    long step;
    int start; /* 0 for an end, 1 for a start */
    size_t bytes;
} Event;

static int offsets_event_cmp(const void *pa, const void *pb)
{
    const Event *a = pa, *b = pb;
    if (a->step != b->step)
        return a->step < b->step ? -1 : 1;
    return a->start - b->start;
}

size_t offsets_lower_bound(const Lifetime *b, int n, size_t align)
{
    if (n <= 0)
        return 0;
    offsets_total(b, n, align);
    Arena a;
    arena_init(&a);
    Event *ev = arena_alloc(&a, 2 * (size_t)n * sizeof *ev);
    for (int i = 0; i < n; i++) {
        NNC_ASSERT(b[i].first <= b[i].last, "a lifetime ends before it starts");
        size_t s = offsets_align(b[i].bytes, align);
        ev[2 * i] = (Event){ b[i].first, 1, s };
        ev[2 * i + 1] = (Event){ (long)b[i].last + 1, 0, s };
    }
    qsort(ev, 2 * (size_t)n, sizeof *ev, offsets_event_cmp);
    size_t live = 0, peak = 0;
    for (int i = 0; i < 2 * n; i++) {
        live = ev[i].start ? live + ev[i].bytes : live - ev[i].bytes;
        if (live > peak)
            peak = live;
    }
    arena_free(&a);
    return peak;
}

size_t offsets_naive(Lifetime *b, int n, size_t align)
{
    offsets_total(b, n, align);
    size_t top = 0;
    for (int i = 0; i < n; i++) {
        b[i].offset = top;
        top += offsets_align(b[i].bytes, align);
    }
    return top;
}

/* ---- the problem, as the planner sees it ------------------------------- */
/* The most steps one placement over conflict lists may take (n + 2 x
 * conflicts) for the lists to be built; above it offsets_assign() sweeps.
 * The largest glow trace takes about 36,000 and the models of models/ a few
 * hundred, so they keep the full planner; at the limit the lists take 1 MB
 * and every ordering and the search together a few tens of milliseconds. */
enum { CONFLICT_WORK = 1 << 18 };
typedef struct Span {
    size_t lo, hi; /* bytes [lo, hi) taken by a placed conflicting buffer */
} Span;

typedef struct Problem {
    int n;
    const Lifetime *b;
    size_t *size;      /* aligned sizes */
    int *adj_start;    /* conflicts of i: adj[adj_start[i] .. adj_start[i+1]); */
    int *adj;          /* NULL when not built (offsets_greedy on a large problem) */
    size_t *off;       /* the placement being built */
    unsigned char *placed;
    Span *spans;       /* scratch: the placed conflicts of one buffer */
    size_t lower;      /* offsets_lower_bound */
} Problem;

static int offsets_conflict(const Lifetime *x, const Lifetime *y)
{
    return x->first <= y->last && y->first <= x->last;
}

/* The steps of one placement over conflict lists, n + 2 x conflicts,
 * counted without building them: the buffers sorted by first step, i
 * conflicts with each later-starting j that starts by i's last step. */
static uint64_t offsets_conflict_work(const Lifetime *b, const int *by_first, int n)
{
    uint64_t work = (uint64_t)n;
    for (int x = 0; x < n; x++) {
        int lo = x + 1, hi = n; /* the first position after x starting past last */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (b[by_first[mid]].first <= b[by_first[x]].last)
                lo = mid + 1;
            else
                hi = mid;
        }
        work += 2 * (uint64_t)(lo - x - 1);
    }
    return work;
}

/* Conflict lists in one pass over the buffers sorted by first step: i
 * conflicts with the later-starting j exactly when j starts by i's last
 * step.  Two passes: count, then fill. */
static void offsets_build_conflicts(Arena *a, Problem *p, const int *by_first)
{
    int n = p->n;
    p->adj_start = arena_alloc(a, (size_t)(n + 1) * sizeof *p->adj_start);
    p->adj = NULL;
    int *deg = arena_alloc(a, (size_t)n * sizeof *deg);
    for (int pass = 0; pass < 2; pass++) {
        for (int x = 0; x < n; x++) {
            int i = by_first[x];
            for (int y = x + 1; y < n && p->b[by_first[y]].first <= p->b[i].last; y++) {
                int j = by_first[y];
                if (pass == 1) {
                    p->adj[p->adj_start[i] + deg[i]] = j;
                    p->adj[p->adj_start[j] + deg[j]] = i;
                }
                deg[i]++, deg[j]++;
            }
        }
        if (pass == 0) {
            for (int i = 0; i < n; i++)
                p->adj_start[i + 1] = p->adj_start[i] + deg[i];
            p->adj = arena_alloc(a, (size_t)p->adj_start[n] * sizeof *p->adj);
            memset(deg, 0, (size_t)n * sizeof *deg);
        }
    }
}

/* ---- sorting indices by keys ------------------------------------------ */
/* An ordering is a pair of keys per buffer, both sorted descending, then
 * the buffer's index ascending, so every order is a total order. */
typedef struct Key {
    uint64_t k1, k2;
    int idx;
} Key;

static int offsets_key_cmp(const void *pa, const void *pb)
{
    const Key *a = pa, *b = pb;
    if (a->k1 != b->k1)
        return a->k1 > b->k1 ? -1 : 1;
    if (a->k2 != b->k2)
        return a->k2 > b->k2 ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

static void offsets_sort_keys(Key *keys, int n, int *order)
{
    qsort(keys, (size_t)n, sizeof *keys, offsets_key_cmp);
    for (int i = 0; i < n; i++)
        order[i] = keys[i].idx;
}

/* A key that sorts earlier first steps first (keys sort descending). */
static uint64_t offsets_early(int first)
{
    return (uint64_t)((int64_t)INT_MAX - first);
}

static int *offsets_by_first(Arena *a, const Lifetime *b, int n)
{
    Key *keys = arena_alloc(a, (size_t)n * sizeof *keys);
    int *order = arena_alloc(a, (size_t)n * sizeof *order);
    for (int i = 0; i < n; i++)
        keys[i] = (Key){ offsets_early(b[i].first), 0, i };
    offsets_sort_keys(keys, n, order);
    return order;
}

/* ---- byte ranges in a balanced tree ------------------------------------ */
/* A treap: a binary search tree by key and a heap by a random priority, so
 * that it stays O(log n) deep (expected) whatever the order of updates.
 * Each node is a byte range [lo, lo + len) with a key (k1, k2); it knows the
 * largest len in its subtree, which finds the first range by key that is at
 * least a given length.  The nodes live in a pool of fixed capacity; a freed
 * node is chained through `left` for reuse.  The priorities come from a
 * fixed-seed generator, so the trees, like everything here, are
 * deterministic. */
typedef struct RangeNode {
    uint64_t k1, k2;
    size_t lo, len, max_len;
    uint64_t prio;
    int left, right; /* -1: none */
} RangeNode;

typedef struct Ranges {
    RangeNode *node;
    int root, free, used, cap;
    uint64_t seed;
} Ranges;

/* Empties the tree (its pool kept). */
static void ranges_clear(Ranges *r)
{
    r->root = r->free = -1;
    r->used = 0;
    r->seed = 0x52616E676573u; /* "Ranges" */
}

static void ranges_init(Arena *a, Ranges *r, int cap)
{
    r->node = arena_alloc(a, (size_t)(cap > 0 ? cap : 1) * sizeof *r->node);
    r->cap = cap;
    ranges_clear(r);
}

static int ranges_less(const RangeNode *x, uint64_t k1, uint64_t k2)
{
    return x->k1 < k1 || (x->k1 == k1 && x->k2 < k2);
}

static void ranges_fix(Ranges *r, int t)
{
    RangeNode *x = &r->node[t];
    x->max_len = x->len;
    if (x->left >= 0 && r->node[x->left].max_len > x->max_len)
        x->max_len = r->node[x->left].max_len;
    if (x->right >= 0 && r->node[x->right].max_len > x->max_len)
        x->max_len = r->node[x->right].max_len;
}

/* Splits tree t into the keys below (k1, k2) and the rest. */
static void ranges_split(Ranges *r, int t, uint64_t k1, uint64_t k2, int *below, int *rest)
{
    if (t < 0) {
        *below = *rest = -1;
        return;
    }
    RangeNode *x = &r->node[t];
    if (ranges_less(x, k1, k2)) {
        ranges_split(r, x->right, k1, k2, &x->right, rest);
        *below = t;
    } else {
        ranges_split(r, x->left, k1, k2, below, &x->left);
        *rest = t;
    }
    ranges_fix(r, t);
}

/* Joins two trees, every key of a below every key of b. */
static int ranges_merge(Ranges *r, int a, int b)
{
    if (a < 0 || b < 0)
        return a < 0 ? b : a;
    if (r->node[a].prio > r->node[b].prio) {
        r->node[a].right = ranges_merge(r, r->node[a].right, b);
        ranges_fix(r, a);
        return a;
    }
    r->node[b].left = ranges_merge(r, a, r->node[b].left);
    ranges_fix(r, b);
    return b;
}

static void ranges_insert(Ranges *r, uint64_t k1, uint64_t k2, size_t lo, size_t len)
{
    int t = r->free;
    if (t >= 0) {
        r->free = r->node[t].left;
    } else {
        NNC_ASSERT(r->used < r->cap, "a range tree outgrew its pool");
        t = r->used++;
    }
    r->seed += 0x9E3779B97F4A7C15u;
    uint64_t z = r->seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    r->node[t] = (RangeNode){ k1, k2, lo, len, len, z ^ (z >> 31), -1, -1 };
    int below, rest;
    ranges_split(r, r->root, k1, k2, &below, &rest);
    r->root = ranges_merge(r, ranges_merge(r, below, t), rest);
}

/* Removes the node keyed (k1, k2) from tree t (it must be there); returns
 * the new tree. */
static int ranges_erase_in(Ranges *r, int t, uint64_t k1, uint64_t k2)
{
    NNC_ASSERT(t >= 0, "a range to remove is not in its tree");
    RangeNode *x = &r->node[t];
    if (x->k1 == k1 && x->k2 == k2) {
        int joined = ranges_merge(r, x->left, x->right);
        x->left = r->free;
        r->free = t;
        return joined;
    }
    if (ranges_less(x, k1, k2))
        x->right = ranges_erase_in(r, x->right, k1, k2);
    else
        x->left = ranges_erase_in(r, x->left, k1, k2);
    ranges_fix(r, t);
    return t;
}

static void ranges_erase(Ranges *r, uint64_t k1, uint64_t k2)
{
    r->root = ranges_erase_in(r, r->root, k1, k2);
}

/* The node with the smallest key at or above (k1, k2), or -1. */
static int ranges_ceil(const Ranges *r, uint64_t k1, uint64_t k2)
{
    int best = -1;
    for (int t = r->root; t >= 0;) {
        if (ranges_less(&r->node[t], k1, k2)) {
            t = r->node[t].right;
        } else {
            best = t;
            t = r->node[t].left;
        }
    }
    return best;
}

/* The node with the largest key below (k1, k2), or -1. */
static int ranges_below(const Ranges *r, uint64_t k1, uint64_t k2)
{
    int best = -1;
    for (int t = r->root; t >= 0;) {
        if (ranges_less(&r->node[t], k1, k2)) {
            best = t;
            t = r->node[t].right;
        } else {
            t = r->node[t].left;
        }
    }
    return best;
}

/* The node with the smallest key whose len is at least `len`, or -1. */
static int ranges_first_long(const Ranges *r, size_t len)
{
    int t = r->root;
    if (t < 0 || r->node[t].max_len < len)
        return -1;
    for (;;) {
        const RangeNode *x = &r->node[t];
        if (x->left >= 0 && r->node[x->left].max_len >= len)
            t = x->left;
        else if (x->len >= len)
            return t;
        else
            t = x->right; /* the subtree's max_len says it is there */
    }
}

/* ---- placing by sweeping time -------------------------------------------- */
/* The free bytes among the live buffers: holes below `top` (by address,
 * keyed (lo, 0), and for best fit also by size, keyed (len, lo)), and
 * every byte from top up. */
typedef struct FreeMap {
    Ranges by_addr, by_size;
    int sized; /* by_size is kept (best fit needs it) */
    size_t top;
} FreeMap;

static void freemap_add(FreeMap *f, size_t lo, size_t len)
{
    ranges_insert(&f->by_addr, lo, 0, lo, len);
    if (f->sized)
        ranges_insert(&f->by_size, len, lo, lo, len);
}

static void freemap_remove(FreeMap *f, size_t lo, size_t len)
{
    ranges_erase(&f->by_addr, lo, 0);
    if (f->sized)
        ranges_erase(&f->by_size, len, lo);
}

/* The offset for `size` bytes, as offsets_fit() would choose it among the
 * live buffers: the lowest hole that is large enough (first fit) or the
 * smallest, lowest on a tie (best fit), from its bottom; else the top. */
static size_t freemap_take(FreeMap *f, size_t size, int best_fit)
{
    int h = best_fit ? ranges_ceil(&f->by_size, size, 0) : ranges_first_long(&f->by_addr, size);
    if (h < 0) {
        size_t off = f->top;
        f->top += size;
        return off;
    }
    const RangeNode *x = best_fit ? &f->by_size.node[h] : &f->by_addr.node[h];
    size_t lo = x->lo, len = x->len;
    freemap_remove(f, lo, len);
    if (len > size)
        freemap_add(f, lo + size, len - size);
    return lo;
}

/* A buffer's bytes [lo, lo + size) are free again: one hole with the free
 * bytes on either side, or a lower top. */
static void freemap_give(FreeMap *f, size_t lo, size_t size)
{
    size_t hi = lo + size;
    int up = ranges_ceil(&f->by_addr, hi, 0);
    if (up >= 0 && f->by_addr.node[up].lo == hi) {
        size_t len = f->by_addr.node[up].len;
        freemap_remove(f, hi, len);
        hi += len;
    }
    int down = ranges_below(&f->by_addr, lo, 0);
    if (down >= 0 && f->by_addr.node[down].lo + f->by_addr.node[down].len == lo) {
        size_t below = f->by_addr.node[down].lo;
        freemap_remove(f, below, lo - below);
        lo = below;
    }
    if (hi == f->top)
        f->top = lo;
    else
        freemap_add(f, lo, hi - lo);
}

/* A key that sorts later steps first (keys sort descending). */
static uint64_t offsets_late(int step)
{
    return (uint64_t)((int64_t)step - INT_MIN);
}

/* The two orders of one sweep direction: when each buffer is placed, and
 * when each gives its bytes back.  Forward: placed by first step (larger
 * first, then by index, as ORDER_FIRST), given back by last step; backward:
 * placed by last step, latest first, given back by first step, latest
 * first. */
typedef struct Sweep {
    int backward;
    int *place, *give;
} Sweep;

static Sweep offsets_sweep_orders(Arena *a, const Lifetime *b, const size_t *size, int n, int backward)
{
    Sweep w = { backward, arena_alloc(a, (size_t)n * sizeof(int)), arena_alloc(a, (size_t)n * sizeof(int)) };
    Key *keys = arena_alloc(a, (size_t)n * sizeof *keys);
    for (int i = 0; i < n; i++)
        keys[i] = (Key){ backward ? offsets_late(b[i].last) : offsets_early(b[i].first), size[i], i };
    offsets_sort_keys(keys, n, w.place);
    for (int i = 0; i < n; i++)
        keys[i] = (Key){ backward ? offsets_late(b[i].first) : offsets_early(b[i].last), 0, i };
    offsets_sort_keys(keys, n, w.give);
    return w;
}

/* Whether buffer j is dead at the step where buffer i is placed. */
static int offsets_sweep_dead(const Sweep *w, const Lifetime *b, int j, int i)
{
    return w->backward ? b[j].first > b[i].last : b[j].last < b[i].first;
}

/* Places every buffer along the sweep into off; returns the arena.  Every
 * buffer that is dead when i is placed was placed before it, and gave its
 * bytes back; the live ones are exactly the placed buffers i conflicts with. */
static void freemap_init(Arena *a, FreeMap *f, int n)
{
    ranges_init(a, &f->by_addr, n + 1); /* a hole lies below a live buffer: at most n */
    ranges_init(a, &f->by_size, n + 1);
    f->top = 0;
}

static size_t offsets_sweep_place(FreeMap *f, const Lifetime *b, const size_t *size, int n, const Sweep *w,
                                  int best_fit, size_t *off)
{
    ranges_clear(&f->by_addr);
    ranges_clear(&f->by_size);
    f->sized = best_fit;
    f->top = 0;
    size_t arena = 0;
    for (int k = 0, e = 0; k < n; k++) {
        int i = w->place[k];
        for (; e < n && offsets_sweep_dead(w, b, w->give[e], i); e++)
            if (size[w->give[e]])
                freemap_give(f, off[w->give[e]], size[w->give[e]]);
        off[i] = size[i] ? freemap_take(f, size[i], best_fit) : 0;
        if (off[i] + size[i] > arena)
            arena = off[i] + size[i];
    }
    return arena;
}

/* The problem's sizes, lower bound and scratch; the conflict lists when
 * `lists` (otherwise a placement scans every placed buffer). */
static void offsets_problem_init(Arena *a, Problem *p, const Lifetime *b, int n,
                                 size_t align, int lists)
{
    p->n = n;
    p->b = b;
    p->lower = offsets_lower_bound(b, n, align); /* checks the total first */
    p->size = arena_alloc(a, (size_t)n * sizeof *p->size);
    for (int i = 0; i < n; i++)
        p->size[i] = offsets_align(b[i].bytes, align);
    p->off = arena_alloc(a, (size_t)n * sizeof *p->off);
    p->placed = arena_alloc(a, (size_t)n);
    p->adj_start = p->adj = NULL;
    int maxdeg = n;
    if (lists) {
        const int *by_first = offsets_by_first(a, b, n);
        NNC_ASSERT(offsets_conflict_work(b, by_first, n) <= CONFLICT_WORK, "conflict lists too large to build");
        offsets_build_conflicts(a, p, by_first);
        maxdeg = 0;
        for (int i = 0; i < n; i++)
            if (p->adj_start[i + 1] - p->adj_start[i] > maxdeg)
                maxdeg = p->adj_start[i + 1] - p->adj_start[i];
    }
    p->spans = arena_alloc(a, (size_t)maxdeg * sizeof *p->spans);
}

/* ---- placing in an order ----------------------------------------------- */
/* The offset for a buffer of `size` bytes among the spans m (sorted by lo):
 * walk up from 0, `free_lo` is the lowest byte not yet covered; each span
 * starting above it leaves the gap [free_lo, span.lo).  First fit takes the
 * first gap that is large enough, best fit the smallest; with none, the
 * buffer goes on top of everything. */
static size_t offsets_fit(const Span *s, int m, size_t size, int best_fit)
{
    size_t free_lo = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
    for (int k = 0; k < m; k++) {
        if (s[k].lo > free_lo) {
            size_t gap = s[k].lo - free_lo;
            if (gap >= size && !best_fit)
                return free_lo;
            if (gap >= size && gap < best_gap)
                best = free_lo, best_gap = gap;
        }
        if (s[k].hi > free_lo)
            free_lo = s[k].hi;
    }
    return best != SIZE_MAX ? best : free_lo;
}

static int offsets_span_cmp(const void *pa, const void *pb)
{
    const Span *a = pa, *b = pb;
    return (a->lo > b->lo) - (a->lo < b->lo);
}

/* Sorts spans by offset: insertion sort for the usual few dozen, qsort when
 * a buffer conflicts with very many. */
static void offsets_sort_spans(Span *s, int m)
{
    if (m > 32) {
        qsort(s, (size_t)m, sizeof *s, offsets_span_cmp);
        return;
    }
    for (int k = 1; k < m; k++) {
        Span x = s[k];
        int j = k;
        for (; j > 0 && s[j - 1].lo > x.lo; j--)
            s[j] = s[j - 1];
        s[j] = x;
    }
}

/* Fits buffer i among the byte ranges of the placed buffers it conflicts
 * with. */
static size_t offsets_place_one(Problem *p, int i, int best_fit)
{
    int m = 0;
    if (!p->adj) {
        for (int j = 0; j < p->n; j++)
            if (p->placed[j] && p->size[j] > 0 && offsets_conflict(&p->b[i], &p->b[j]))
                p->spans[m++] = (Span){ p->off[j], p->off[j] + p->size[j] };
    }
    for (int e = p->adj ? p->adj_start[i] : 0; p->adj && e < p->adj_start[i + 1]; e++) {
        int j = p->adj[e];
        if (p->placed[j] && p->size[j] > 0)
            p->spans[m++] = (Span){ p->off[j], p->off[j] + p->size[j] };
    }
    offsets_sort_spans(p->spans, m);
    return offsets_fit(p->spans, m, p->size[i], best_fit);
}

/* Places order[start..n) into p->off and returns the arena.  The buffers
 * before start keep the offsets p->off already holds for them: a buffer's
 * place depends only on the buffers before it in the order, so after a
 * change at position start the prefix need not be placed again.  An empty
 * buffer sits at 0 and takes no bytes. */
static size_t offsets_place_from(Problem *p, const int *order, int start, int best_fit)
{
    memset(p->placed, 0, (size_t)p->n);
    size_t top = 0;
    for (int k = 0; k < p->n; k++) {
        int i = order[k];
        if (k >= start)
            p->off[i] = p->size[i] ? offsets_place_one(p, i, best_fit) : 0;
        p->placed[i] = 1;
        if (p->off[i] + p->size[i] > top)
            top = p->off[i] + p->size[i];
    }
    return top;
}

static size_t offsets_place(Problem *p, const int *order, int best_fit)
{
    return offsets_place_from(p, order, 0, best_fit);
}

/* ---- the orderings ------------------------------------------------------ */
typedef enum {
    ORDER_SIZE,      /* largest first, ties by earlier first step */
    ORDER_PEAK,      /* live bytes at the busiest step of its life, then size */
    ORDER_AREA,      /* size x duration, then size */
    ORDER_FIRST,     /* earliest first step, then size */
    ORDER_DEGREE,    /* most conflicts, then size */
    ORDER_WEIGHT,    /* most conflicting bytes, then size */
    ORDER_DURATION,  /* longest life, then size */
    ORDER_COUNT
} OrderKind;

/* The live bytes at each step, to find each buffer's busiest step.  Steps
 * are taken relative to the earliest first step. */
static uint64_t *offsets_live_per_step(Arena *a, const Problem *p, int *lo_out)
{
    int lo = p->b[0].first, hi = p->b[0].last;
    for (int i = 1; i < p->n; i++) {
        if (p->b[i].first < lo) lo = p->b[i].first;
        if (p->b[i].last > hi) hi = p->b[i].last;
    }
    int len = hi - lo + 2;
    uint64_t *live = arena_alloc(a, (size_t)len * sizeof *live);
    for (int i = 0; i < p->n; i++) {
        live[p->b[i].first - lo] += p->size[i];
        live[p->b[i].last - lo + 1] -= p->size[i];
    }
    for (int t = 1; t < len; t++)
        live[t] += live[t - 1];
    *lo_out = lo;
    return live;
}

static uint64_t offsets_peak_of(const Problem *p, const uint64_t *live, int lo, int i)
{
    uint64_t peak = 0;
    for (int t = p->b[i].first; t <= p->b[i].last; t++)
        if (live[t - lo] > peak)
            peak = live[t - lo];
    return peak;
}

static uint64_t offsets_weight_of(const Problem *p, int i)
{
    uint64_t w = p->size[i];
    for (int e = p->adj_start[i]; e < p->adj_start[i + 1]; e++)
        w += p->size[p->adj[e]];
    return w;
}

static Key offsets_key(const Problem *p, OrderKind kind, int i, const uint64_t *live, int lo)
{
    uint64_t s = p->size[i];
    uint64_t dur = (uint64_t)((int64_t)p->b[i].last - p->b[i].first + 1);
    uint64_t early = offsets_early(p->b[i].first);
    switch (kind) {
    case ORDER_SIZE:     return (Key){ s, early, i };
    case ORDER_PEAK:     return (Key){ offsets_peak_of(p, live, lo, i), s, i };
    case ORDER_AREA:     return (Key){ s > UINT64_MAX / dur ? UINT64_MAX : s * dur, s, i };
    case ORDER_FIRST:    return (Key){ early, s, i };
    case ORDER_DEGREE:   return (Key){ (uint64_t)(p->adj_start[i + 1] - p->adj_start[i]), s, i };
    case ORDER_WEIGHT:   return (Key){ offsets_weight_of(p, i), s, i };
    case ORDER_DURATION: return (Key){ dur, s, i };
    case ORDER_COUNT:    break;
    }
    NNC_ASSERT(0, "unknown ordering");
    return (Key){ 0, 0, i };
}

static void offsets_order(Arena *a, const Problem *p, OrderKind kind, int *order,
                          const uint64_t *live, int lo)
{
    Key *keys = arena_alloc(a, (size_t)p->n * sizeof *keys);
    for (int i = 0; i < p->n; i++)
        keys[i] = offsets_key(p, kind, i, live, lo);
    offsets_sort_keys(keys, p->n, order);
}

/* ---- the best so far ---------------------------------------------------- */
typedef struct Best {
    size_t arena;
    int best_fit;
    int *order;  /* the order that reached it */
    size_t *off; /* its placement */
} Best;

static void offsets_keep(const Problem *p, Best *best, const int *order, int best_fit,
                         size_t arena)
{
    if (arena >= best->arena)
        return;
    best->arena = arena;
    best->best_fit = best_fit;
    memcpy(best->order, order, (size_t)p->n * sizeof *order);
    memcpy(best->off, p->off, (size_t)p->n * sizeof *p->off);
}

/* Every ordering with first fit and best fit; stops at the lower bound. */
static void offsets_try_orderings(Arena *a, Problem *p, Best *best)
{
    int lo;
    const uint64_t *live = offsets_live_per_step(a, p, &lo);
    int *order = arena_alloc(a, (size_t)p->n * sizeof *order);
    for (int kind = 0; kind < ORDER_COUNT && best->arena > p->lower; kind++) {
        offsets_order(a, p, (OrderKind)kind, order, live, lo);
        for (int fit = 0; fit < 2 && best->arena > p->lower; fit++)
            offsets_keep(p, best, order, fit, offsets_place(p, order, fit));
    }
}

/* ---- the local search --------------------------------------------------- */
/* splitmix64: a tiny generator with its state in the caller's hands. */
typedef struct Rng {
    uint64_t s;
} Rng;

static uint64_t offsets_rand(Rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static int offsets_rand_below(Rng *r, int n)
{
    return (int)(offsets_rand(r) % (uint64_t)n);
}

/* The position in `order` of a random buffer that touches the top of the
 * placement off (reservoir sampling over the buffers that do). */
static int offsets_pick_top(const Problem *p, const int *order, const size_t *off,
                            size_t arena, Rng *r)
{
    int count = 0, pick = 0;
    for (int k = 0; k < p->n; k++) {
        int i = order[k];
        if (off[i] + p->size[i] == arena && offsets_rand_below(r, ++count) == 0)
            pick = k;
    }
    return pick;
}

/* Moves order[from] to position to (< from), shifting the rest down. */
static void offsets_move_earlier(int *order, int from, int to)
{
    int x = order[from];
    memmove(order + to + 1, order + to, (size_t)(from - to) * sizeof *order);
    order[to] = x;
}

/* One step of the search: half the time a buffer at the top moves earlier
 * in the order (it will then find room lower down); otherwise, or when that
 * buffer is first already, two random buffers swap places.  Returns the
 * first position of the order that changed. */
static int offsets_perturb(const Problem *p, int *order, const size_t *off, size_t arena,
                           Rng *r)
{
    if (offsets_rand_below(r, 2) == 0) {
        int from = offsets_pick_top(p, order, off, arena, r);
        if (from > 0) {
            int to = offsets_rand_below(r, from);
            offsets_move_earlier(order, from, to);
            return to;
        }
    }
    int x = offsets_rand_below(r, p->n), y = offsets_rand_below(r, p->n);
    int t = order[x];
    order[x] = order[y];
    order[y] = t;
    return x < y ? x : y;
}

/* The search tries at most SEARCH_BUDGET placements, and no more than
 * SEARCH_WORK / (n + 2 x conflicts) of them, the work of one placement being
 * about n + 2 x conflicts steps (a few nanoseconds each): a plan of 100
 * buffers never spends more than a few milliseconds searching.  It also
 * gives up after SEARCH_STALL placements in a row that found no smaller
 * arena.  On the glow traces it reaches the bound within a few hundred
 * placements. */
enum { SEARCH_BUDGET = 2000, SEARCH_STALL = 1000, SEARCH_WORK = 1000000 };

static int offsets_search_budget(const Problem *p)
{
    long per_placement = (long)p->n + p->adj_start[p->n];
    long budget = SEARCH_WORK / per_placement;
    return budget < SEARCH_BUDGET ? (int)budget : SEARCH_BUDGET;
}

/* The search's current point: an order, its placement and its arena. */
typedef struct Walk {
    int *order;
    size_t *off;
    size_t arena;
} Walk;

/* One placement of the search: perturb the current order into cand, place
 * the changed suffix, and move there when the arena is no larger. */
static void offsets_search_step(Problem *p, Best *best, Walk *cur, int *cand, Rng *rng)
{
    size_t n = (size_t)p->n;
    memcpy(cand, cur->order, n * sizeof *cand);
    memcpy(p->off, cur->off, n * sizeof *p->off);
    int start = offsets_perturb(p, cand, cur->off, cur->arena, rng);
    size_t arena = offsets_place_from(p, cand, start, best->best_fit);
    if (arena <= cur->arena) {
        offsets_keep(p, best, cand, best->best_fit, arena);
        memcpy(cur->order, cand, n * sizeof *cand);
        memcpy(cur->off, p->off, n * sizeof *p->off);
        cur->arena = arena;
    }
}

/* Hill climbing over orders, from the best one the orderings found. */
static void offsets_search(Arena *a, Problem *p, Best *best)
{
    size_t n = (size_t)p->n;
    Rng rng = { 0x6E6E63u }; /* "nnc" */
    Walk cur = { arena_alloc(a, n * sizeof(int)), arena_alloc(a, n * sizeof(size_t)), best->arena };
    int *cand = arena_alloc(a, n * sizeof *cand);
    memcpy(cur.order, best->order, n * sizeof *cur.order);
    memcpy(cur.off, best->off, n * sizeof *cur.off);
    int budget = offsets_search_budget(p);
    for (int it = 0, last_gain = 0; it < budget && it - last_gain < SEARCH_STALL
                                    && best->arena > p->lower; it++) {
        size_t before = best->arena;
        offsets_search_step(p, best, &cur, cand, &rng);
        if (best->arena < before)
            last_gain = it;
    }
}

size_t offsets_greedy(Lifetime *b, int n, size_t align)
{
    if (n <= 0)
        return 0;
    Arena a;
    arena_init(&a);
    Problem p;
    offsets_problem_init(&a, &p, b, n, align,
                         offsets_conflict_work(b, offsets_by_first(&a, b, n), n) <= CONFLICT_WORK);
    int *order = arena_alloc(&a, (size_t)n * sizeof *order);
    offsets_order(&a, &p, ORDER_SIZE, order, NULL, 0);
    size_t arena = offsets_place(&p, order, 0);
    for (int i = 0; i < n; i++)
        b[i].offset = p.off[i];
    arena_free(&a);
    return arena;
}

size_t offsets_sweep(Lifetime *b, int n, size_t align, int backward, int best_fit)
{
    if (n <= 0)
        return 0;
    offsets_total(b, n, align);
    Arena a;
    arena_init(&a);
    size_t *size = arena_alloc(&a, (size_t)n * sizeof *size), *off = arena_alloc(&a, (size_t)n * sizeof *off);
    for (int i = 0; i < n; i++)
        size[i] = offsets_align(b[i].bytes, align);
    Sweep w = offsets_sweep_orders(&a, b, size, n, backward);
    FreeMap f;
    freemap_init(&a, &f, n);
    size_t arena = offsets_sweep_place(&f, b, size, n, &w, best_fit, off);
    for (int i = 0; i < n; i++)
        b[i].offset = off[i];
    arena_free(&a);
    return arena;
}

/* The large problems: the sweeps forward and backward, each with first fit
 * and best fit, until one reaches the lower bound; the smallest is kept
 * (the earliest on a tie). */
static size_t offsets_assign_sweeping(Arena *a, Lifetime *b, int n, size_t align)
{
    size_t lower = offsets_lower_bound(b, n, align), best = SIZE_MAX;
    size_t *size = arena_alloc(a, (size_t)n * sizeof *size);
    size_t *off = arena_alloc(a, (size_t)n * sizeof *off), *best_off = arena_alloc(a, (size_t)n * sizeof *off);
    for (int i = 0; i < n; i++)
        size[i] = offsets_align(b[i].bytes, align);
    FreeMap f;
    freemap_init(a, &f, n);
    for (int backward = 0; backward < 2 && best > lower; backward++) {
        Sweep w = offsets_sweep_orders(a, b, size, n, backward);
        for (int fit = 0; fit < 2 && best > lower; fit++) {
            size_t arena = offsets_sweep_place(&f, b, size, n, &w, fit, off);
            if (arena < best) {
                best = arena;
                memcpy(best_off, off, (size_t)n * sizeof *off);
            }
        }
    }
    for (int i = 0; i < n; i++)
        b[i].offset = best_off[i];
    return best;
}

size_t offsets_assign(Lifetime *b, int n, size_t align)
{
    if (n <= 0)
        return 0;
    Arena a;
    arena_init(&a);
    offsets_total(b, n, align);
    if (offsets_conflict_work(b, offsets_by_first(&a, b, n), n) > CONFLICT_WORK) {
        size_t arena = offsets_assign_sweeping(&a, b, n, align);
        arena_free(&a);
        return arena;
    }
    Problem p;
    offsets_problem_init(&a, &p, b, n, align, 1);
    Best best = { SIZE_MAX, 0, arena_alloc(&a, (size_t)n * sizeof(int)),
                  arena_alloc(&a, (size_t)n * sizeof(size_t)) };
    offsets_try_orderings(&a, &p, &best);
    if (best.arena > p.lower)
        offsets_search(&a, &p, &best);
    for (int i = 0; i < n; i++)
        b[i].offset = best.off[i];
    size_t arena = best.arena;
    arena_free(&a);
    return arena;
}

/* ---- checking a placement ------------------------------------------------ */
/* A sweep over time as in offsets_sweep_place(), with the live buffers in a
 * tree by offset: a buffer placed among disjoint live ones overlaps one of
 * them exactly when it overlaps the one just below or just above it. */
static int offsets_check_overlaps(const Lifetime *b, const size_t *size, int n, char *why, size_t why_len)
{
    Arena a;
    arena_init(&a);
    Sweep w = offsets_sweep_orders(&a, b, size, n, 0);
    Ranges live;
    ranges_init(&a, &live, n);
    int bad = -1, other = -1;
    for (int k = 0, e = 0; k < n && bad < 0; k++) {
        int i = w.place[k];
        for (; e < n && offsets_sweep_dead(&w, b, w.give[e], i); e++)
            if (size[w.give[e]])
                ranges_erase(&live, b[w.give[e]].offset, (uint64_t)w.give[e]);
        if (!size[i])
            continue;
        int lo = ranges_below(&live, b[i].offset, (uint64_t)i), hi = ranges_ceil(&live, b[i].offset, (uint64_t)i);
        if (lo >= 0 && live.node[lo].lo + live.node[lo].len > b[i].offset)
            bad = i, other = (int)live.node[lo].k2;
        else if (hi >= 0 && live.node[hi].lo < b[i].offset + size[i])
            bad = i, other = (int)live.node[hi].k2;
        else
            ranges_insert(&live, b[i].offset, (uint64_t)i, b[i].offset, size[i]);
    }
    arena_free(&a);
    if (bad >= 0 && why)
        snprintf(why, why_len, "buffers %d and %d are live together and share bytes",
                 bad < other ? bad : other, bad < other ? other : bad);
    return bad < 0;
}

int offsets_check(const Lifetime *b, int n, size_t align, size_t arena,
                  char *why, size_t why_len)
{
    if (n <= 0)
        return 1;
    offsets_total(b, n, align);
    Arena a;
    arena_init(&a);
    size_t *size = arena_alloc(&a, (size_t)n * sizeof *size);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        size[i] = offsets_align(b[i].bytes, align);
        if (b[i].first > b[i].last) {
            if (why)
                snprintf(why, why_len, "buffer %d ends (step %d) before it starts (step %d)", i, b[i].last,
                         b[i].first);
            ok = 0;
        } else if (b[i].offset % align || size[i] > arena || b[i].offset > arena - size[i]) {
            if (why)
                snprintf(why, why_len, "buffer %d at %zu (%zu bytes) is misaligned or outside the arena of %zu",
                         i, b[i].offset, size[i], arena);
            ok = 0;
        }
    }
    ok = ok && offsets_check_overlaps(b, size, n, why, why_len);
    arena_free(&a);
    return ok;
}

/* ---- reading allocation traces ------------------------------------------ */
/* The buffers of the trace being read, with the ids they were given, and
 * an open-addressing table from an id to its latest buffer (the only one
 * that can be live), so that a FREE finds its buffer in O(1). */
typedef struct TraceBuild {
    Lifetime *b;
    long *id;
    int n, cap;
    int step;     /* index of the next ALLOC/FREE instruction */
    int *slot;    /* buffer indices, -1 when empty; mask + 1 slots */
    size_t mask;
} TraceBuild;

/* A trace holds at most this many buffers (steps: twice as many), so that
 * counts stay far from INT_MAX; an ALIGN is at most TRACE_MAX_ALIGN. */
enum { TRACE_MAX_BUFFERS = 1 << 24, TRACE_MAX_ALIGN = 1 << 20 };

void offsets_trace_begin(OffsetsTraceReader *r, const char *path, const char *text)
{
    r->path = path;
    r->p = text;
    r->line = 1;
    r->err = stderr;
}

static int offsets_trace_error(const OffsetsTraceReader *r, const char *msg, const char *arg)
{
    fprintf(r->err, "%s:%d: error: %s%s\n", r->path, r->line, msg, arg ? arg : "");
    return -1;
}

/* Copies the current line (without its newline) into buf; returns 0 when
 * it does not fit.  Does not advance. */
static int offsets_trace_peek(const OffsetsTraceReader *r, char *buf, size_t cap)
{
    size_t len = strcspn(r->p, "\n");
    while (len > 0 && (r->p[len - 1] == '\r' || r->p[len - 1] == ' ' || r->p[len - 1] == '\t'))
        len--;
    if (len >= cap)
        return 0;
    memcpy(buf, r->p, len);
    buf[len] = '\0';
    return 1;
}

static void offsets_trace_advance(OffsetsTraceReader *r)
{
    r->p += strcspn(r->p, "\n");
    if (*r->p == '\n') {
        r->p++;
        r->line++;
    }
}

/* The slot of id in the table: where its latest buffer is, or the empty
 * slot where it would go. */
static size_t offsets_trace_slot(const TraceBuild *tb, long id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15u;
    size_t k = (size_t)(h ^ (h >> 29)) & tb->mask;
    while (tb->slot[k] >= 0 && tb->id[tb->slot[k]] != id)
        k = (k + 1) & tb->mask;
    return k;
}

/* A table of twice the buffers' capacity, filled from the buffers. */
static void offsets_trace_rehash(Arena *a, TraceBuild *tb)
{
    tb->mask = 2 * (size_t)tb->cap - 1; /* cap is a power of two */
    tb->slot = arena_alloc(a, (tb->mask + 1) * sizeof *tb->slot);
    for (size_t k = 0; k <= tb->mask; k++)
        tb->slot[k] = -1;
    for (int i = 0; i < tb->n; i++)
        tb->slot[offsets_trace_slot(tb, tb->id[i])] = i;
}

static void offsets_trace_push(Arena *a, TraceBuild *tb, long id, size_t bytes)
{
    if (tb->n == tb->cap) {
        int cap = tb->cap ? 2 * tb->cap : 64;
        Lifetime *b = arena_alloc(a, (size_t)cap * sizeof *b);
        long *ids = arena_alloc(a, (size_t)cap * sizeof *ids);
        if (tb->n) {
            memcpy(b, tb->b, (size_t)tb->n * sizeof *b);
            memcpy(ids, tb->id, (size_t)tb->n * sizeof *ids);
        }
        tb->b = b, tb->id = ids, tb->cap = cap;
        offsets_trace_rehash(a, tb);
    }
    tb->b[tb->n] = (Lifetime){ bytes, tb->step, -1, 0 };
    tb->id[tb->n] = id;
    tb->slot[offsets_trace_slot(tb, id)] = tb->n++;
}

/* The buffer with this id that is still live, or -1. */
static int offsets_trace_find(const TraceBuild *tb, long id)
{
    if (tb->n == 0)
        return -1;
    int i = tb->slot[offsets_trace_slot(tb, id)];
    return i >= 0 && tb->b[i].last < 0 ? i : -1;
}

/* One instruction line of a trace (not MODEL).  Returns 0 or -1. */
static int offsets_trace_line(Arena *a, OffsetsTraceReader *r, TraceBuild *tb,
                              OffsetsTrace *t, const char *line)
{
    long id;
    unsigned long long x;
    double eff;
    char extra;
    if (sscanf(line, "ALLOC %ld %llu %c", &id, &x, &extra) == 2) {
        if (offsets_trace_find(tb, id) >= 0)
            return offsets_trace_error(r, "ALLOC of a buffer that is still live: ", line);
        if (tb->n == TRACE_MAX_BUFFERS)
            return offsets_trace_error(r, "more than 16777216 buffers in one trace, at: ", line);
        if (x != (size_t)x)
            return offsets_trace_error(r, "a buffer larger than this machine can address: ", line);
        offsets_trace_push(a, tb, id, (size_t)x);
        tb->step++;
    } else if (sscanf(line, "FREE %ld %c", &id, &extra) == 1) {
        int i = offsets_trace_find(tb, id);
        if (i < 0)
            return offsets_trace_error(r, "FREE of a buffer that is not live: ", line);
        tb->b[i].last = tb->step++;
    } else if (sscanf(line, "ALIGN %llu %c", &x, &extra) == 1 && x > 0) {
        if (x > TRACE_MAX_ALIGN)
            return offsets_trace_error(r, "an alignment above 1048576 bytes: ", line);
        t->align = (size_t)x;
    } else if (sscanf(line, "MEM %llu %c", &x, &extra) == 1) {
        t->mem = (size_t)x;
    } else if (sscanf(line, "EFF %lf %c", &eff, &extra) == 1) {
        t->eff = eff;
    } else {
        return offsets_trace_error(r, "expected ALIGN, ALLOC, FREE, MEM or EFF, not: ", line);
    }
    return 0;
}

/* Skips blank lines and # comments; returns 0 at the end of the text. */
static int offsets_trace_skip(OffsetsTraceReader *r, char *line, size_t cap)
{
    for (; *r->p; offsets_trace_advance(r)) {
        if (!offsets_trace_peek(r, line, cap))
            return offsets_trace_error(r, "line too long", NULL);
        if (line[strspn(line, " \t")] != '\0' && line[0] != '#')
            return 1;
    }
    return 0;
}

static int offsets_trace_finish(const OffsetsTraceReader *r, const TraceBuild *tb,
                                OffsetsTrace *t)
{
    size_t total = 0;
    for (int i = 0; i < tb->n; i++) {
        if (tb->b[i].last < 0)
            return offsets_trace_error(r, "a buffer is never freed in trace ", t->name);
        size_t s;
        if (!offsets_align_to(tb->b[i].bytes, t->align, &s) || s > SIZE_MAX - total)
            return offsets_trace_error(r, "the buffers' sizes add up past what this machine can address in trace ",
                                       t->name);
        total += s;
    }
    t->b = tb->b;
    t->n = tb->n;
    return 1;
}

int offsets_trace_next(Arena *a, OffsetsTraceReader *r, OffsetsTrace *t)
{
    char line[256];
    int more = offsets_trace_skip(r, line, sizeof line);
    if (more <= 0)
        return more;
    if (strncmp(line, "MODEL ", 6) != 0)
        return offsets_trace_error(r, "expected MODEL name, not: ", line);
    *t = (OffsetsTrace){ arena_strdup(a, line + 6), 1, 0, 0.0, NULL, 0 };
    TraceBuild tb = { NULL, NULL, 0, 0, 0, NULL, 0 };
    offsets_trace_advance(r);
    while ((more = offsets_trace_skip(r, line, sizeof line)) > 0 && strncmp(line, "MODEL ", 6) != 0) {
        if (offsets_trace_line(a, r, &tb, t, line) < 0)
            return -1;
        offsets_trace_advance(r);
    }
    if (more < 0)
        return -1;
    return offsets_trace_finish(r, &tb, t);
}
