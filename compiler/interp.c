/* interp.c: evaluates a graph in double precision, one op at a time.
 *
 * Every op's math is written here a second time, independently of the C
 * emitter and as plainly as possible, so that the two can check each other.
 * Broadcasting is done through strides: an input axis of extent 1 (or one
 * that is missing on the left) gets stride 0 in the output's index space.
 *
 * A node's values are allocated when first touched (set, read, evaluated),
 * so the constant folder, which evaluates a few nodes of a graph, never
 * pays for the params and activations.  Counts are checked products; sema
 * bounds every size (graph.h), so one that overflows is a bug.
 */
#include "interp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Dims {
    int rank;
    long d[NNC_MAX_RANK];
} Dims;

static Dims dims_of(const Interp *it, Shape s)
{
    Dims r = {.rank = s.rank};
    for (int i = 0; i < s.rank; i++)
        r.d[i] = s.d[i] == DIM_B ? it->rows : s.d[i];
    return r;
}

static long dims_numel(Dims d)
{
    long n = 1;
    for (int i = 0; i < d.rank; i++) {
        NNC_ASSERT(d.d[i] >= 0 && (d.d[i] == 0 || n <= (1L << 62) / d.d[i]), "element count overflows");
        n *= d.d[i];
    }
    return n;
}

long interp_numel(const Interp *it, int node) { return dims_numel(dims_of(it, it->g->nodes[node].shape)); }

/* Strides of `small` seen in the index space of `big` (NumPy alignment on
 * the right; stride 0 where small is 1 or missing). */
static void bcast_strides(Dims small, Dims big, long *st)
{
    long s = 1;
    for (int i = big.rank - 1; i >= 0; i--) {
        int j = small.rank - big.rank + i;
        long ext = j >= 0 ? small.d[j] : 1;
        st[i] = ext == 1 ? 0 : s;
        s *= ext;
    }
}

/* The offset in `small` of element o of `big`. */
static long bcast_off(Dims big, const long *st, long o)
{
    long off = 0;
    for (int i = big.rank - 1; i >= 0; i--) {
        off += (o % big.d[i]) * st[i];
        o /= big.d[i];
    }
    return off;
}

void interp_init(Interp *it, const Graph *g, int rows)
{
    memset(it, 0, sizeof *it);
    it->g = g;
    it->rows = rows;
    it->lr = g->train.lr;
    it->step = 1;
    it->val = calloc((size_t)g->n + 1, sizeof *it->val);
    NNC_ASSERT(it->val != NULL, "out of memory");
}

/* Node id's values, allocated (zeros, or a CONST's data) on first use. */
static double *slot(Interp *it, int id)
{
    if (!it->val[id]) {
        long n = interp_numel(it, id);
        it->val[id] = calloc((size_t)(n ? n : 1), sizeof(double));
        NNC_ASSERT(it->val[id] != NULL, "out of memory");
        if (it->g->nodes[id].op == OP_CONST)
            memcpy(it->val[id], it->g->nodes[id].data, (size_t)n * sizeof(double));
    }
    return it->val[id];
}

void interp_free(Interp *it)
{
    for (int i = 0; it->val && i < it->g->n; i++)
        free(it->val[i]);
    free(it->val);
    it->val = NULL;
}

void interp_set(Interp *it, int node, const double *data)
{
    memcpy(slot(it, node), data, (size_t)interp_numel(it, node) * sizeof(double));
}

double *interp_value(Interp *it, int node) { return slot(it, node); }

/* splitmix64: a small seeded generator for masks and test inits. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static double unit(uint64_t seed, long i) { return (double)(mix(seed ^ mix((uint64_t)i)) >> 11) / 9007199254740992.0; }

void interp_init_params(Interp *it, uint64_t seed)
{
    for (int i = 0; i < it->g->n; i++) {
        const Node *n = &it->g->nodes[i];
        if (n->op != OP_PARAM && !graph_is_running(n))
            continue;
        long cnt = interp_numel(it, i);
        double *vals = slot(it, i);
        for (long k = 0; k < cnt; k++) {
            double u1 = unit(seed + (uint64_t)i * 7919u, 2 * k) + 1e-12, u2 = unit(seed + (uint64_t)i * 7919u, 2 * k + 1);
            double normal = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
            double *v = &vals[k];
            switch (n->init) {
            case INIT_ZEROS: *v = 0; break;
            case INIT_ONES: *v = 1; break;
            case INIT_CONST: *v = n->c[0]; break;
            case INIT_UNIFORM: *v = n->c[0] + (n->c[1] - n->c[0]) * u2; break;
            case INIT_RANDN: case INIT_GLOROT: case INIT_HE: *v = n->c[0] * normal; break;
            }
        }
    }
}

/* ---- elementwise ----------------------------------------------------------- */
/* One function an op, its formula from ops.h compiled as it stands in
 * double: the reference that the emitted float code is checked against. */
#define X(e, name, arity, cls, props, notation, formula)                 \
    static double ew_##e(double x, double y, double c0, double c1)       \
    {                                                                     \
        (void)x, (void)y, (void)c0, (void)c1;                             \
        return formula;                                                   \
    }
NNC_EW_OPS(X)
NNC_EW_GRAD_OPS(X)
#undef X

typedef double EwFn(double x, double y, double c0, double c1);
static EwFn *ew_fn(Op op)
{
    switch (op) {
#define X(e, ...) case OP_##e: return ew_##e;
    NNC_EW_OPS(X)
    NNC_EW_GRAD_OPS(X)
#undef X
    NNC_LEAF_OPS(NNC_CASE)
    NNC_OTHER_OPS(NNC_CASE)
    NNC_OPT_OPS(NNC_CASE)
        break;
    }
    NNC_ASSERT(0, "not an elementwise op");
    return NULL;
}

/* out = f(x) element by element, or f(x, y) over the broadcast of the two
 * inputs. */
static void eval_ew(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    EwFn *f = ew_fn(n->op);
    const double *x = it->val[n->in[0]];
    if (n->n_in == 1) {
        for (long i = 0, cnt = interp_numel(it, id); i < cnt; i++)
            it->val[id][i] = f(x[i], 0, n->c[0], n->c[1]);
        return;
    }
    Dims o = dims_of(it, n->shape), a = dims_of(it, it->g->nodes[n->in[0]].shape),
         b = dims_of(it, it->g->nodes[n->in[1]].shape);
    long sa[NNC_MAX_RANK], sb[NNC_MAX_RANK];
    bcast_strides(a, o, sa);
    bcast_strides(b, o, sb);
    const double *y = it->val[n->in[1]];
    for (long i = 0, cnt = dims_numel(o); i < cnt; i++)
        it->val[id][i] = f(x[bcast_off(o, sa, i)], y[bcast_off(o, sb, i)], n->c[0], n->c[1]);
}

/* ---- linear algebra and shapes ------------------------------------------------ */
static void eval_matmul(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims a = dims_of(it, it->g->nodes[n->in[0]].shape), b = dims_of(it, it->g->nodes[n->in[1]].shape);
    long M = n->ta ? a.d[1] : a.d[0], K = n->ta ? a.d[0] : a.d[1], N = n->tb ? b.d[0] : b.d[1];
    const double *A = it->val[n->in[0]], *Bm = it->val[n->in[1]];
    for (long i = 0; i < M; i++)
        for (long j = 0; j < N; j++) {
            double s = 0;
            for (long k = 0; k < K; k++)
                s += (n->ta ? A[k * a.d[1] + i] : A[i * a.d[1] + k]) * (n->tb ? Bm[j * b.d[1] + k] : Bm[k * b.d[1] + j]);
            it->val[id][i * N + j] = s;
        }
}

/* Decomposes flat index o of dims d into idx[]. */
static void unflatten(Dims d, long o, long *idx)
{
    for (int i = d.rank - 1; i >= 0; i--) {
        idx[i] = o % d.d[i];
        o /= d.d[i];
    }
}

static long flatten_idx(Dims d, const long *idx)
{
    long o = 0;
    for (int i = 0; i < d.rank; i++)
        o = o * d.d[i] + idx[i];
    return o;
}

static void eval_transpose(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims o = dims_of(it, n->shape), a = dims_of(it, it->g->nodes[n->in[0]].shape);
    long oi[NNC_MAX_RANK], ai[NNC_MAX_RANK];
    for (long i = 0, cnt = dims_numel(o); i < cnt; i++) {
        unflatten(o, i, oi);
        for (int k = 0; k < o.rank; k++)
            ai[n->perm[k]] = oi[k];
        it->val[id][i] = it->val[n->in[0]][flatten_idx(a, ai)];
    }
}

/* Slice (out = in[lo:hi] on axis) and pad (out[lo:hi] = in, zeros around). */
static void eval_slice_pad(Interp *it, int id, int pad)
{
    const Node *n = &it->g->nodes[id];
    Dims o = dims_of(it, n->shape), a = dims_of(it, it->g->nodes[n->in[0]].shape);
    Dims small = pad ? a : o, big = pad ? o : a;
    long si[NNC_MAX_RANK];
    if (pad)
        memset(it->val[id], 0, (size_t)dims_numel(o) * sizeof(double));
    for (long i = 0, cnt = dims_numel(small); i < cnt; i++) {
        unflatten(small, i, si);
        si[n->axis] += n->lo;
        long bo = flatten_idx(big, si);
        if (pad)
            it->val[id][bo] = it->val[n->in[0]][i];
        else
            it->val[id][i] = it->val[n->in[0]][bo];
    }
}

static void eval_concat(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims o = dims_of(it, n->shape);
    long off = 0, idx[NNC_MAX_RANK];
    for (int k = 0; k < n->n_in; k++) {
        Dims a = dims_of(it, it->g->nodes[n->in[k]].shape);
        for (long i = 0, cnt = dims_numel(a); i < cnt; i++) {
            unflatten(a, i, idx);
            idx[n->axis] += off;
            it->val[id][flatten_idx(o, idx)] = it->val[n->in[k]][i];
        }
        off += a.d[n->axis];
    }
}

/* gather: out[i] = x[idx[i]] (rows);  scatter_add: out[idx[i]] += dy[i]. */
static void eval_rows(Interp *it, int id, int scatter)
{
    const Node *n = &it->g->nodes[id];
    Dims o = dims_of(it, n->shape), src = dims_of(it, it->g->nodes[n->in[0]].shape);
    long row = scatter ? dims_numel(o) / o.d[0] : dims_numel(src) / src.d[0];
    long count = interp_numel(it, n->in[1]);
    const double *idx = it->val[n->in[1]], *x = it->val[n->in[0]];
    double *out = it->val[id];
    if (scatter)
        memset(out, 0, (size_t)dims_numel(o) * sizeof(double));
    for (long i = 0; i < count; i++)
        for (long k = 0; k < row; k++) {
            long r = (long)idx[i];
            if (scatter)
                out[r * row + k] += x[i * row + k];
            else
                out[i * row + k] = x[r * row + k];
        }
}

/* Reductions and sum_to: every element of the big input folds into the
 * output element that its index maps to (stride 0 on reduced axes). */
static void eval_fold(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims a = dims_of(it, it->g->nodes[n->in[0]].shape), k;
    if (n->op == OP_SUM_TO) {
        k = dims_of(it, n->to);
    } else {
        k = a;
        for (int i = 0; i < a.rank; i++)
            if (n->axes >> i & 1u)
                k.d[i] = 1;
    }
    long st[NNC_MAX_RANK];
    bcast_strides(k, a, st);
    long out_n = dims_numel(k);
    char *seen = calloc((size_t)out_n + 1, 1);
    NNC_ASSERT(seen != NULL, "out of memory");
    for (long i = 0, cnt = dims_numel(a); i < cnt; i++) {
        long o = bcast_off(a, st, i);
        double v = it->val[n->in[0]][i], *r = &it->val[id][o];
        if (!seen[o])
            *r = n->op == OP_SUM || n->op == OP_SUM_TO ? 0 : v;
        seen[o] = 1;
        if (n->op == OP_SUM || n->op == OP_SUM_TO)
            *r += v;
        else if ((n->op == OP_MAX && v > *r) || (n->op == OP_MIN && v < *r))
            *r = v;
    }
    free(seen);
}

static void eval_broadcast(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims o = dims_of(it, n->shape), a = dims_of(it, it->g->nodes[n->in[0]].shape);
    long st[NNC_MAX_RANK];
    bcast_strides(a, o, st);
    for (long i = 0, cnt = dims_numel(o); i < cnt; i++)
        it->val[id][i] = it->val[n->in[0]][bcast_off(o, st, i)];
}

/* ---- windows over the last two axes ------------------------------------------ */

/* conv2d and its two gradients, one loop nest over every product
 * x[b,c,ih,iw]·W[o,c,kh,kw] that reaches y[b,o,oh,ow], ih = oh·stride -
 * pad + kh (iw likewise), the padding's zeros skipped:
 *   CONV2D         y[b,o,oh,ow]   += x·W
 *   CONV2D_GRAD_X  dx[b,c,ih,iw]  += dy[b,o,oh,ow]·W   (inputs dy, W)
 *   CONV2D_GRAD_W  dW[o,c,kh,kw]  += dy[b,o,oh,ow]·x   (inputs x, dy) */
static void eval_conv(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims x = dims_of(it, n->op == OP_CONV2D_GRAD_X ? n->shape : it->g->nodes[n->in[0]].shape);
    Dims w = dims_of(it, n->op == OP_CONV2D_GRAD_W ? n->shape : it->g->nodes[n->in[1]].shape);
    Dims y = dims_of(it, n->op == OP_CONV2D ? n->shape : it->g->nodes[n->in[n->op == OP_CONV2D_GRAD_W]].shape);
    const double *xv = it->val[n->in[0]], *wv = it->val[n->in[1]];
    double *out = it->val[id];
    memset(out, 0, (size_t)dims_numel(n->op == OP_CONV2D ? y : n->op == OP_CONV2D_GRAD_X ? x : w) * sizeof(double));
    long B = y.d[0], O = y.d[1], OH = y.d[2], OW = y.d[3], C = x.d[1], H = x.d[2], W = x.d[3];
    long KH = w.d[2], KW = w.d[3];
    for (long b = 0; b < B; b++)
        for (long o = 0; o < O; o++)
            for (long oh = 0; oh < OH; oh++)
                for (long ow = 0; ow < OW; ow++)
                    for (long c = 0; c < C; c++)
                        for (long kh = 0; kh < KH; kh++)
                            for (long kw = 0; kw < KW; kw++) {
                                long ih = oh * n->stride - n->pad + kh, iw = ow * n->stride - n->pad + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                long xi = ((b * C + c) * H + ih) * W + iw, wi = ((o * C + c) * KH + kh) * KW + kw;
                                long yi = ((b * O + o) * OH + oh) * OW + ow;
                                if (n->op == OP_CONV2D)
                                    out[yi] += xv[xi] * wv[wi];
                                else if (n->op == OP_CONV2D_GRAD_X)
                                    out[xi] += xv[yi] * wv[wi]; /* xv is dy here */
                                else
                                    out[wi] += wv[yi] * xv[xi]; /* wv is dy here */
                            }
}

/* max_pool, avg_pool and their gradients over planes [H, W] (every axis
 * before the last two is a plane), window size × size at oh·stride - pad:
 *   MAX_POOL       y = the largest element inside the image (the first in
 *                  row-major order on ties)
 *   MAX_POOL_GRAD  dx[that element] += dy         (inputs x, dy)
 *   AVG_POOL       y = Σ window / size², the padding counting as zeros
 *   AVG_POOL_GRAD  dx[each element inside] += dy / size²  (input dy) */
static void eval_pool(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    int fwd = n->op == OP_MAX_POOL || n->op == OP_AVG_POOL;
    int is_max = n->op == OP_MAX_POOL || n->op == OP_MAX_POOL_GRAD;
    Dims x = dims_of(it, fwd ? it->g->nodes[n->in[0]].shape : n->shape);
    Dims y = dims_of(it, fwd ? n->shape : it->g->nodes[n->in[n->op == OP_MAX_POOL_GRAD]].shape);
    long H = x.d[x.rank - 2], W = x.d[x.rank - 1], OH = y.d[y.rank - 2], OW = y.d[y.rank - 1];
    long planes = dims_numel(x) / (H * W), k = n->size;
    const double *xv = it->val[n->in[0]], *dy = it->val[n->in[n->n_in - 1]];
    double *out = it->val[id];
    if (!fwd)
        memset(out, 0, (size_t)dims_numel(x) * sizeof(double));
    for (long p = 0; p < planes; p++)
        for (long oh = 0; oh < OH; oh++)
            for (long ow = 0; ow < OW; ow++) {
                long yi = (p * OH + oh) * OW + ow, best = -1;
                double s = 0;
                for (long kh = 0; kh < k; kh++)
                    for (long kw = 0; kw < k; kw++) {
                        long ih = oh * n->stride - n->pad + kh, iw = ow * n->stride - n->pad + kw;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                            continue;
                        long xi = (p * H + ih) * W + iw;
                        if (is_max && (best < 0 || xv[xi] > xv[best]))
                            best = xi;
                        if (n->op == OP_AVG_POOL)
                            s += xv[xi];
                        if (n->op == OP_AVG_POOL_GRAD)
                            out[xi] += dy[yi] / (double)(k * k);
                    }
                if (n->op == OP_MAX_POOL)
                    out[yi] = xv[best];
                else if (n->op == OP_MAX_POOL_GRAD)
                    out[best] += dy[yi];
                else if (n->op == OP_AVG_POOL)
                    out[yi] = s / (double)(k * k);
            }
}

/* ---- softmax and losses (rows of the last axis) -------------------------------- */
static void softmax_row(const double *x, long k, double *p)
{
    double m = x[0], s = 0;
    for (long j = 1; j < k; j++)
        m = x[j] > m ? x[j] : m;
    for (long j = 0; j < k; j++)
        s += (p[j] = exp(x[j] - m));
    for (long j = 0; j < k; j++)
        p[j] /= s;
}

static void eval_softmax(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims o = dims_of(it, n->shape);
    long k = o.d[o.rank - 1], rows = dims_numel(o) / k;
    const double *x = it->val[n->in[0]], *dy = n->n_in > 1 ? it->val[n->in[1]] : NULL;
    double *out = it->val[id];
    for (long r = 0; r < rows; r++) {
        const double *xr = x + r * k;
        double *p = out + r * k;
        if (n->op == OP_SOFTMAX || n->op == OP_LOG_SOFTMAX) {
            softmax_row(xr, k, p);
            for (long j = 0; n->op == OP_LOG_SOFTMAX && j < k; j++)
                p[j] = log(p[j]);
            continue;
        }
        const double *d = dy + r * k;
        double s = 0; /* Σ dy·y (softmax) or Σ dy (log_softmax), y = xr */
        for (long j = 0; j < k; j++)
            s += n->op == OP_SOFTMAX_GRAD ? d[j] * xr[j] : d[j];
        for (long j = 0; j < k; j++)
            p[j] = n->op == OP_SOFTMAX_GRAD ? xr[j] * (d[j] - s) : d[j] - exp(xr[j]) * s;
    }
}

/* t as a row of k targets: one-hot of a class id, or the f32 row itself. */
static void target_row(const Interp *it, int t, long r, long k, double *row)
{
    const Node *tn = &it->g->nodes[t];
    const double *tv = it->val[t];
    if (tn->dtype == DT_I32) {
        for (long j = 0; j < k; j++)
            row[j] = j == (long)tv[r];
    } else {
        memcpy(row, tv + r * k, (size_t)k * sizeof(double));
    }
}

static void eval_loss(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims y = dims_of(it, it->g->nodes[n->in[0]].shape);
    long rows = y.d[0], k = y.d[1];
    const double *yv = it->val[n->in[0]];
    double *p = malloc((size_t)k * sizeof *p), *t = malloc((size_t)k * sizeof *t), total = 0;
    NNC_ASSERT(p && t, "out of memory");
    for (long r = 0; r < rows; r++) {
        const double *yr = yv + r * k;
        target_row(it, n->in[1], r, k, t);
        if (n->op == OP_SOFTMAX_CE)
            softmax_row(yr, k, p);
        for (long j = 0; j < k; j++) {
            if (n->op == OP_SOFTMAX_CE)
                total -= t[j] * log(p[j]);
            else if (n->op == OP_NLL)
                total -= t[j] * yr[j];
            else /* sigmoid CE: max(y,0) - y·t + log(1 + e^-|y|) */
                total += (yr[j] > 0 ? yr[j] : 0) - yr[j] * t[j] + log1p(exp(-fabs(yr[j])));
        }
    }
    it->val[id][0] = total / (double)rows;
    free(p);
    free(t);
}

static void eval_loss_grad(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    int nll = n->op == OP_NLL_GRAD;
    Dims y = nll ? dims_of(it, n->to) : dims_of(it, it->g->nodes[n->in[0]].shape);
    long rows = y.d[0], k = y.d[1];
    double dl = it->val[n->in[nll ? 1 : 2]][0] / (double)rows;
    double *p = malloc((size_t)k * sizeof *p), *t = malloc((size_t)k * sizeof *t);
    NNC_ASSERT(p && t, "out of memory");
    for (long r = 0; r < rows; r++) {
        const double *yr = nll ? NULL : it->val[n->in[0]] + r * k;
        target_row(it, n->in[nll ? 0 : 1], r, k, t);
        double tsum = 0; /* d/dy of Σ t·(lse - y) is softmax(y)·Σt - t; Σt = 1 for one-hot rows */
        for (long j = 0; j < k; j++)
            tsum += t[j];
        if (n->op == OP_SOFTMAX_CE_GRAD)
            softmax_row(yr, k, p);
        for (long j = 0; j < k; j++) {
            double g = n->op == OP_SOFTMAX_CE_GRAD ? p[j] * tsum - t[j] : nll ? -t[j] : 1 / (1 + exp(-yr[j])) - t[j];
            it->val[id][r * k + j] = dl * g;
        }
    }
    free(p);
    free(t);
}

static void eval_accuracy(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    Dims y = dims_of(it, it->g->nodes[n->in[0]].shape);
    long rows = y.d[0], k = y.d[1], right = 0;
    const double *yv = it->val[n->in[0]], *tv = it->val[n->in[1]];
    int ids = it->g->nodes[n->in[1]].dtype == DT_I32;
    for (long r = 0; r < rows; r++) {
        const double *yr = yv + r * k;
        if (k == 1 && !ids) {
            right += (yr[0] >= 0.5) == (tv[r] >= 0.5);
            continue;
        }
        long best = 0, want = 0;
        for (long j = 1; j < k; j++)
            best = yr[j] > yr[best] ? j : best;
        if (ids)
            want = (long)tv[r];
        else
            for (long j = 1; j < k; j++)
                want = tv[r * k + j] > tv[r * k + want] ? j : want;
        right += best == want;
    }
    it->val[id][0] = (double)right / (double)rows;
}

/* ---- batch norm ------------------------------------------------------------------ */
/* Feature f of x [n, F] or [n, C, H, W] (F = C): the m = n·inner values
 * x[(b·F + f)·inner + i], b < n, i < inner (H·W, or 1). */
static void bn_dims(const Interp *it, const Node *x, long *rows, long *feat, long *inner)
{
    Dims d = dims_of(it, x->shape);
    *rows = d.d[0];
    *feat = d.d[1];
    *inner = d.rank == 4 ? d.d[2] * d.d[3] : 1;
}

/* BN_STATS: [3, F] = μ, σ² (biased) and σ²·m/(m - 1) of each feature, or
 * in evaluation the running mean and var (var twice). */
static void eval_bn_stats(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    long rows, F, inner;
    bn_dims(it, &it->g->nodes[n->in[0]], &rows, &F, &inner);
    const double *x = it->val[n->in[0]], *rm = it->val[n->in[1]], *rv = it->val[n->in[2]];
    double *out = it->val[id];
    for (long f = 0; f < F; f++) {
        if (it->eval) {
            out[f] = rm[f], out[F + f] = out[2 * F + f] = rv[f];
            continue;
        }
        double m = (double)(rows * inner), sum = 0, sq = 0;
        for (long b = 0; b < rows; b++)
            for (long i = 0; i < inner; i++)
                sum += x[(b * F + f) * inner + i];
        double mu = sum / m;
        for (long b = 0; b < rows; b++)
            for (long i = 0; i < inner; i++)
                sq += (x[(b * F + f) * inner + i] - mu) * (x[(b * F + f) * inner + i] - mu);
        out[f] = mu;
        out[F + f] = sq / m;
        out[2 * F + f] = m > 1 ? sq / (m - 1) : sq / m;
    }
}

/* BN_NORM:      x̂ = (x - μ)/√(σ² + ε)
 * BN_NORM_GRAD: dx = (dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂))/√(σ² + ε), the means
 *               over the m values of each feature (inputs x̂, stats, dx̂) */
static void eval_bn_norm(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    long rows, F, inner;
    bn_dims(it, n, &rows, &F, &inner);
    const double *x = it->val[n->in[0]], *st = it->val[n->in[1]];
    const double *dxh = n->op == OP_BN_NORM_GRAD ? it->val[n->in[2]] : NULL;
    double *out = it->val[id], m = (double)(rows * inner);
    for (long f = 0; f < F; f++) {
        double sd = sqrt(st[F + f] + n->c[0]), md = 0, mdx = 0;
        for (long b = 0; dxh && b < rows; b++)
            for (long i = 0; i < inner; i++) {
                long k = (b * F + f) * inner + i;
                md += dxh[k] / m;
                mdx += dxh[k] * x[k] / m;
            }
        for (long b = 0; b < rows; b++)
            for (long i = 0; i < inner; i++) {
                long k = (b * F + f) * inner + i;
                out[k] = dxh ? (dxh[k] - md - x[k] * mdx) / sd : (x[k] - st[f]) / sd;
            }
    }
}

/* BN_RUNNING: mean = (1 - m)·mean + m·μ, var = (1 - m)·var + m·σ²·m/(m - 1). */
static void eval_bn_running(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    double *rm = it->val[n->in[0]], *rv = it->val[n->in[1]];
    const double *st = it->val[n->in[2]];
    long F = interp_numel(it, id);
    for (long f = 0; f < F; f++) {
        rm[f] = (1 - n->c[0]) * rm[f] + n->c[0] * st[f];
        rv[f] = (1 - n->c[0]) * rv[f] + n->c[0] * st[2 * F + f];
    }
}

/* ---- the update stage --------------------------------------------------------- */
static void eval_update(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    const TrainSpec *t = &it->g->train;
    double *p = it->val[n->in[0]], *g = it->val[n->in[1]];
    double *s1 = n->n_in > 2 + n->clip ? it->val[n->in[2]] : NULL;
    double *s2 = n->n_in > 3 + n->clip ? it->val[n->in[3]] : NULL;
    double scale = 1;
    if (n->clip) {
        double norm = it->val[n->in[n->n_in - 1]][0];
        scale = norm > t->clip_grad ? t->clip_grad / (norm + 1e-6) : 1;
    }
    double lr = it->lr, fix1 = 1 - pow(t->beta1, (double)it->step), fix2 = 1 - pow(t->beta2, (double)it->step);
    for (long i = 0, cnt = interp_numel(it, id); i < cnt; i++) {
        double gi = g[i] * scale + t->weight_decay * p[i];
        switch (n->op) {
        case OP_SGD: p[i] -= lr * gi; break;
        case OP_MOMENTUM: s1[i] = t->momentum * s1[i] - lr * gi; p[i] += s1[i]; break;
        case OP_ADAGRAD: s1[i] += gi * gi; p[i] -= lr * gi / (sqrt(s1[i]) + t->eps); break;
        case OP_ADADELTA: {
            s1[i] = t->rho * s1[i] + (1 - t->rho) * gi * gi;
            double dx = sqrt((s2[i] + t->eps) / (s1[i] + t->eps)) * gi;
            s2[i] = t->rho * s2[i] + (1 - t->rho) * dx * dx;
            p[i] -= dx;
            break;
        }
        case OP_ADAM:
            s1[i] += (1 - t->beta1) * (gi - s1[i]);
            s2[i] += (1 - t->beta2) * (gi * gi - s2[i]);
            p[i] -= lr * sqrt(fix2) / fix1 * s1[i] / (sqrt(s2[i]) + t->eps);
            break;
        NNC_NOT_OPT_CASES
            NNC_ASSERT(0, "not an update op");
        }
    }
}

static void eval_node(Interp *it, int id)
{
    const Node *n = &it->g->nodes[id];
    for (int k = 0; k < n->n_in; k++)
        slot(it, n->in[k]);
    double *out = slot(it, id);
    long cnt = interp_numel(it, id);
    switch (n->op) {
    case OP_INPUT: case OP_LABEL: case OP_PARAM: case OP_STATE: case OP_CONST:
        return;
    case OP_ROWS: out[0] = it->rows; return;
    case OP_DROPMASK:
        for (long i = 0; i < cnt; i++)
            out[i] = unit(it->mask_seed + (uint64_t)id, i) < n->c[0] ? 1 / n->c[0] : 0;
        return;
    NNC_EW_OPS(NNC_CASE)
    NNC_EW_GRAD_OPS(NNC_CASE)
        eval_ew(it, id);
        return;
    case OP_MATMUL: eval_matmul(it, id); return;
    case OP_TRANSPOSE: eval_transpose(it, id); return;
    case OP_RESHAPE: memcpy(out, it->val[n->in[0]], (size_t)cnt * sizeof *out); return;
    case OP_BROADCAST_TO: eval_broadcast(it, id); return;
    case OP_SUM_TO: case OP_SUM: case OP_MAX: case OP_MIN: eval_fold(it, id); return;
    case OP_SLICE: eval_slice_pad(it, id, 0); return;
    case OP_PAD: eval_slice_pad(it, id, 1); return;
    case OP_CONCAT: eval_concat(it, id); return;
    case OP_GATHER: eval_rows(it, id, 0); return;
    case OP_SCATTER_ADD: eval_rows(it, id, 1); return;
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_SOFTMAX_GRAD: case OP_LOG_SOFTMAX_GRAD:
        eval_softmax(it, id);
        return;
    case OP_SOFTMAX_CE: case OP_NLL: case OP_SIGMOID_CE: eval_loss(it, id); return;
    case OP_SOFTMAX_CE_GRAD: case OP_NLL_GRAD: case OP_SIGMOID_CE_GRAD: eval_loss_grad(it, id); return;
    case OP_ACCURACY: eval_accuracy(it, id); return;
    case OP_CONV2D: case OP_CONV2D_GRAD_X: case OP_CONV2D_GRAD_W: eval_conv(it, id); return;
    case OP_MAX_POOL: case OP_AVG_POOL: case OP_MAX_POOL_GRAD: case OP_AVG_POOL_GRAD: eval_pool(it, id); return;
    case OP_BN_STATS: eval_bn_stats(it, id); return;
    case OP_BN_NORM: case OP_BN_NORM_GRAD: eval_bn_norm(it, id); return;
    case OP_BN_RUNNING: eval_bn_running(it, id); return;
    case OP_GRAD_NORM: {
        double s = 0;
        for (int k = 0; k < n->n_in; k++)
            for (long i = 0, c = interp_numel(it, n->in[k]); i < c; i++)
                s += it->val[n->in[k]][i] * it->val[n->in[k]][i];
        out[0] = sqrt(s);
        return;
    }
    case OP_SGD: case OP_MOMENTUM: case OP_ADAGRAD: case OP_ADADELTA: case OP_ADAM:
        eval_update(it, id);
        return;
    }
}

void interp_run_node(Interp *it, int id) { eval_node(it, id); }

void interp_run(Interp *it, Stage upto)
{
    for (int i = 0; i < it->g->n; i++)
        if (it->g->nodes[i].stage <= upto)
            eval_node(it, i);
}
