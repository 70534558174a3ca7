/* shape.c: the shape rule of every op, in one switch.
 *
 * shape_infer() reads the shapes of a node's inputs and its attributes,
 * sets node->shape (and dtype), and returns NULL; when the inputs do not
 * fit it returns a message for the user, written into msg.  graph_op()
 * (at the end) builds every node that is not a leaf through it: sema
 * reports the message at the source place, and autodiff, the optimizer's
 * writers and the update stage treat a message as a bug.  The helpers on
 * Shape (make, compare, count, print) come first; graph.c only stores
 * nodes and calls none of this.
 *
 * Broadcasting is NumPy's: align trailing axes; two extents agree when they
 * are equal or one of them is 1.  The batch extent B agrees with B and 1.
 * B may only be axis 0 (graph.h), so a rule that would move it elsewhere
 * (x.T of a batch, a reduction that keeps rows but drops... ) is refused.
 *
 * Sizes: every count is a 64-bit product checked against 2^62 (shape_count),
 * and a result whose row (or whole value, without B) passes the static
 * storage limit is refused like a mismatch, so that no later pass multiplies
 * extents that overflow.  Sema checks the count with B bound once the batch
 * is known (sema.c).
 */
#include "graph.h"

#include <string.h>

/* ---- shapes ---------------------------------------------------------- */
Shape shape_make(int rank, const int *d)
{
    Shape s;
    memset(&s, 0, sizeof s);
    NNC_ASSERT(rank >= 0 && rank <= NNC_MAX_RANK, "rank out of range");
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.d[i] = d[i];
    return s;
}

Shape shape_scalar(void) { return shape_make(0, NULL); }

int shape_eq(Shape a, Shape b)
{
    if (a.rank != b.rank)
        return 0;
    for (int i = 0; i < a.rank; i++)
        if (a.d[i] != b.d[i])
            return 0;
    return 1;
}

long shape_numel(Shape s, int batch)
{
    long n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= s.d[i] == DIM_B ? batch : s.d[i];
    return n;
}

long shape_row_numel(Shape s)
{
    long n = 1;
    for (int i = (s.rank > 0 && s.d[0] == DIM_B); i < s.rank; i++)
        n *= s.d[i];
    return n;
}

const char *shape_str(Shape s, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s.rank && used < len; i++) {
        const char *sep = i ? ", " : "";
        if (s.d[i] == DIM_B)
            used += (size_t)snprintf(buf + used, len - used, "%sB", sep);
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%d", sep, s.d[i]);
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

long long shape_count(Shape s, long long batch)
{
    long long n = 1;
    for (int i = 0; i < s.rank; i++) {
        long long d = s.d[i] == DIM_B ? batch : s.d[i];
        if (d < 0 || (d > 0 && n > (1LL << 62) / d))
            return -1;
        n *= d;
    }
    return n;
}

/* ---- the rules --------------------------------------------------------- */
#define FAIL(...) (snprintf(msg, len, __VA_ARGS__), msg)

static const char *sh(Shape s, char *buf) { return shape_str(s, buf, 64); }

static Shape in_shape(const Graph *g, const Node *n, int i) { return g->nodes[n->in[i]].shape; }
static DType in_dtype(const Graph *g, const Node *n, int i) { return g->nodes[n->in[i]].dtype; }

static int b_only_first(Shape s)
{
    for (int i = 1; i < s.rank; i++)
        if (s.d[i] == DIM_B)
            return 0;
    return 1;
}

/* NumPy broadcasting of a and b into *out; 0 when they do not agree. */
static int broadcast(Shape a, Shape b, Shape *out)
{
    int r = a.rank > b.rank ? a.rank : b.rank;
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = a.rank - r + i, ib = b.rank - r + i;
        int da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
        if (da == db || db == 1)
            out->d[i] = da;
        else if (da == 1)
            out->d[i] = db;
        else
            return 0;
    }
    return b_only_first(*out);
}

/* The first axis from the right where a and b disagree (1: the last one),
 * or 0 when they agree (and broadcasting failed because B would move). */
static int clash_axis(Shape a, Shape b)
{
    for (int k = 1; k <= a.rank && k <= b.rank; k++) {
        int da = a.d[a.rank - k], db = b.d[b.rank - k];
        if (da != db && da != 1 && db != 1)
            return k;
    }
    return 0;
}

/* NULL when a value of shape s (a row of it, with B) fits the static
 * storage limit; else the message, naming it `what`. */
static const char *too_big(Shape s, const char *what, char *msg, size_t len)
{
    long long cnt = shape_count(s, 1);
    if (cnt >= 0 && cnt <= NNC_MAX_STATIC_BYTES / 4)
        return NULL;
    char b1[64], bytes[32];
    int has_b = s.rank && s.d[0] == DIM_B;
    snprintf(bytes, sizeof bytes, cnt < 0 ? "over 2^64" : "%lld", cnt * 4);
    return FAIL("%s has shape %s: %s bytes%s, more than the %lld bytes of static storage a model may take "
                "(use smaller extents)", what, sh(s, b1), bytes, has_b ? " a row" : "", NNC_MAX_STATIC_BYTES);
}

static const char *extent_str(int d, char *buf)
{
    snprintf(buf, 16, d == DIM_B ? "B" : "%d", d);
    return buf;
}

static const char *rule_ew(const Graph *g, Node *n, char *msg, size_t len)
{
    char b1[64], b2[64];
    for (int i = 0; i < n->n_in; i++)
        if (in_dtype(g, n, i) != DT_F32)
            return FAIL("%s needs f32 values; %s is %s", op_name(n->op),
                        g->nodes[n->in[i]].name ? g->nodes[n->in[i]].name : "this operand",
                        dtype_name(in_dtype(g, n, i)));
    if (n->n_in == 1) {
        n->shape = in_shape(g, n, 0);
        return NULL;
    }
    Shape a = in_shape(g, n, 0), b = in_shape(g, n, 1);
    if (!broadcast(a, b, &n->shape)) {
        int k = clash_axis(a, b);
        if (!k)
            return FAIL("shapes %s and %s do not broadcast for %s: the batch axis B would not stay first", sh(a, b1),
                        sh(b, b2), op_name(n->op));
        char e1[16], e2[16];
        return FAIL("shapes %s and %s do not broadcast for %s (%s vs %s at axis -%d; extents must be equal or 1)",
                    sh(a, b1), sh(b, b2), op_name(n->op), extent_str(a.d[a.rank - k], e1),
                    extent_str(b.d[b.rank - k], e2), k);
    }
    return NULL;
}

/* op(a) · op(b): [M, K] · [K, N] -> [M, N]; a transpose flag swaps the
 * operand's axes. */
static const char *rule_matmul(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape a = in_shape(g, n, 0), b = in_shape(g, n, 1);
    char b1[64], b2[64];
    if (a.rank != 2 || b.rank != 2)
        return FAIL("@ needs two matrices (2-D); got %s @ %s", sh(a, b1), sh(b, b2));
    int m = n->ta ? a.d[1] : a.d[0], ka = n->ta ? a.d[0] : a.d[1];
    int kb = n->tb ? b.d[1] : b.d[0], nn = n->tb ? b.d[0] : b.d[1];
    if (ka != kb) {
        char k1[16], k2[16];
        snprintf(k1, sizeof k1, ka == DIM_B ? "B" : "%d", ka);
        snprintf(k2, sizeof k2, kb == DIM_B ? "B" : "%d", kb);
        return FAIL("matmul shapes %s @ %s do not agree (%s != %s)%s", sh(a, b1), sh(b, b2), k1, k2,
                    kb == DIM_B ? "; the batch goes on the left, as in x @ W" : "");
    }
    int d[2] = {m, nn};
    n->shape = shape_make(2, d);
    if (!b_only_first(n->shape))
        return FAIL("the batch axis B must stay first; %s @ %s would move it", sh(a, b1), sh(b, b2));
    return NULL;
}

static const char *rule_transpose(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape a = in_shape(g, n, 0);
    char b1[64];
    n->shape.rank = a.rank;
    for (int i = 0; i < a.rank; i++)
        n->shape.d[i] = a.d[n->perm[i]];
    if (!b_only_first(n->shape))
        return FAIL("transposing %s would move the batch axis B from the front", sh(a, b1));
    return NULL;
}

static const char *rule_reshape(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape a = in_shape(g, n, 0), t = n->to;
    char b1[64], b2[64];
    int ab = a.rank && a.d[0] == DIM_B, tb = t.rank && t.d[0] == DIM_B;
    if (ab != tb)
        return FAIL("cannot reshape %s into %s: B must be the first axis of both or of neither", sh(a, b1), sh(t, b2));
    if (too_big(t, "the reshape target", msg, len))
        return msg;
    if (shape_count(a, 1) != shape_count(t, 1))
        return FAIL("cannot reshape %s into %s: %lld elements%s, not %lld", sh(a, b1), sh(t, b2), shape_count(a, 1),
                    ab ? " per row" : "", shape_count(t, 1));
    n->shape = t;
    return NULL;
}

/* broadcast_to: `to` must be what a broadcasts to; sum_to the reverse. */
static const char *rule_broadcast(const Graph *g, Node *n, char *msg, size_t len, int reverse)
{
    Shape a = in_shape(g, n, 0), t = n->to, out;
    Shape small = reverse ? t : a, big = reverse ? a : t;
    char b1[64], b2[64];
    if (!broadcast(small, big, &out) || !shape_eq(out, big))
        return FAIL("%s cannot %s %s", sh(a, b1), reverse ? "be summed to" : "be broadcast to", sh(t, b2));
    n->shape = t;
    return NULL;
}

static const char *rule_slice(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape a = in_shape(g, n, 0);
    char b1[64];
    if (n->axis < 0 || n->axis >= a.rank)
        return FAIL("index has more axes than the value %s", sh(a, b1));
    if (a.d[n->axis] == DIM_B)
        return FAIL("the batch axis B cannot be indexed: which rows a batch holds is known only at run time");
    if (n->lo < 0 || n->hi > a.d[n->axis] || n->lo >= n->hi)
        return FAIL("slice %d:%d of axis %d of %s is empty or out of range (it needs 0 <= start < end <= %d)", n->lo,
                    n->hi, n->axis, sh(a, b1), a.d[n->axis]);
    n->shape = a;
    n->shape.d[n->axis] = n->hi - n->lo;
    return NULL;
}

static const char *rule_concat(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape a = in_shape(g, n, 0);
    char b1[64], b2[64];
    if (n->axis < 0 || n->axis >= a.rank)
        return FAIL("concat axis %d is out of range for %s", n->axis, sh(a, b1));
    n->shape = a;
    for (int i = 1; i < n->n_in; i++) {
        Shape b = in_shape(g, n, i);
        int ok = b.rank == a.rank;
        for (int k = 0; ok && k < a.rank; k++)
            ok = k == n->axis || a.d[k] == b.d[k];
        if (ok && (b.d[n->axis] == DIM_B || a.d[n->axis] == DIM_B))
            return FAIL("concat cannot join along the batch axis B (axis %d of %s)", n->axis, sh(a, b1));
        if (!ok)
            return FAIL("concat needs equal shapes except along axis %d; got %s and %s", n->axis, sh(a, b1),
                        sh(b, b2));
        if ((long long)n->shape.d[n->axis] + b.d[n->axis] > NNC_MAX_STATIC_BYTES / 4)
            return FAIL("concat along axis %d gives an extent over %lld, more than the static storage a model may "
                        "take", n->axis, NNC_MAX_STATIC_BYTES / 4);
        n->shape.d[n->axis] += b.d[n->axis];
    }
    return NULL;
}

static const char *rule_gather(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape x = in_shape(g, n, 0), idx = in_shape(g, n, 1);
    char b1[64];
    char b2[64];
    if (in_dtype(g, n, 1) != DT_I32 || idx.rank < 1)
        return FAIL("an index tensor must be a tensor of i32 ids; got %s %s",
                    dtype_name(in_dtype(g, n, 1)), sh(idx, b1));
    if (x.rank < 1 || x.d[0] == DIM_B)
        return FAIL("indexing selects rows of a value without the batch axis; got %s", sh(x, b1));
    if (idx.rank + x.rank - 1 > NNC_MAX_RANK)
        return FAIL("rows of %s picked by ids %s would have more than %d axes", sh(x, b1), sh(idx, b2),
                    NNC_MAX_RANK);
    /* x[ids]: ids's shape, then one row of x: [V, D][ids of [B, T]] is [B, T, D] */
    n->shape = idx;
    for (int i = 1; i < x.rank; i++)
        n->shape.d[n->shape.rank++] = x.d[i];
    return NULL;
}

static const char *rule_reduce(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape a = in_shape(g, n, 0);
    char b1[64];
    if (n->axes >> a.rank)
        return FAIL("axis out of range for %s", sh(a, b1));
    n->shape.rank = 0;
    for (int i = 0; i < a.rank; i++) {
        if (!(n->axes >> i & 1u))
            n->shape.d[n->shape.rank++] = a.d[i];
        else if (n->keepdims)
            n->shape.d[n->shape.rank++] = 1;
    }
    if (!b_only_first(n->shape))
        return FAIL("this reduction of %s would move the batch axis B from the front", sh(a, b1));
    return NULL;
}

static const char *rule_softmax(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape a = in_shape(g, n, 0);
    char b1[64];
    if (a.rank < 1 || n->axis != a.rank - 1)
        return FAIL("%s works along the last axis only (axis=-1, or %d for %s); got axis=%d", op_name(n->op),
                    a.rank - 1, sh(a, b1), n->axis);
    n->shape = a;
    return NULL;
}

/* ---- windows over the last two axes: conv2d, max_pool, avg_pool ------------ */

/* The extent along one axis of a window of k sliding by stride over an
 * input of extent in with pad zeros at each end:
 * floor((in + 2·pad - k)/stride) + 1, or -1 when the window does not fit
 * the padded input.  64-bit: pad and stride come from the model. */
static long long window_out(int in, int k, int stride, int pad)
{
    long long padded = (long long)in + 2LL * pad;
    return k > padded ? -1 : (padded - k) / stride + 1;
}

/* stride >= 1, pad >= 0, and the values f32; NULL when they are.  Each of
 * stride, pad and size at most 10^8, as a dimension, so that every window
 * index (oh·stride - pad + kh, at most H + 2·pad) fits a C int. */
enum { NNC_MAX_WINDOW_STEP = 100000000 };
static const char *window_attrs(const Graph *g, Node *n, char *msg, size_t len)
{
    for (int i = 0; i < n->n_in; i++)
        if (in_dtype(g, n, i) != DT_F32)
            return FAIL("%s needs f32 values; %s is %s", op_name(n->op),
                        g->nodes[n->in[i]].name ? g->nodes[n->in[i]].name : "this operand",
                        dtype_name(in_dtype(g, n, i)));
    if (n->stride < 1)
        return FAIL("%s needs stride >= 1; got stride=%d", op_name(n->op), n->stride);
    if (n->pad < 0)
        return FAIL("%s needs pad >= 0; got pad=%d", op_name(n->op), n->pad);
    const struct {
        const char *name;
        int value;
    } attr[] = {{"stride", n->stride}, {"pad", n->pad}, {"size", n->size}};
    for (size_t i = 0; i < sizeof attr / sizeof attr[0]; i++)
        if (attr[i].value > NNC_MAX_WINDOW_STEP)
            return FAIL("%s: %s=%d is more than %d, the largest extent", op_name(n->op), attr[i].name, attr[i].value,
                        NNC_MAX_WINDOW_STEP);
    return NULL;
}

/* The result of a kh × kw window over the last two axes of x into *out;
 * NULL, or the message naming x and `what` (the kernel, `of` W, or the window). */
static const char *window_shape(Node *n, Shape x, int kh, int kw, const char *what, const char *of, Shape *out,
                                char *msg, size_t len)
{
    char b1[64];
    int r = x.rank;
    long long oh = window_out(x.d[r - 2], kh, n->stride, n->pad), ow = window_out(x.d[r - 1], kw, n->stride, n->pad);
    if (oh < 0 || ow < 0)
        return FAIL("%s: the %s %d×%d%s is larger than the padded image %lld×%lld of x %s (pad=%d); use a smaller "
                    "window or more padding", op_name(n->op), what, kh, kw, of, (long long)x.d[r - 2] + 2LL * n->pad,
                    (long long)x.d[r - 1] + 2LL * n->pad, sh(x, b1), n->pad);
    if (oh > NNC_MAX_STATIC_BYTES / 4 || ow > NNC_MAX_STATIC_BYTES / 4)
        return FAIL("%s: pad=%d makes the result of %s larger than the static storage a model may take",
                    op_name(n->op), n->pad, sh(x, b1));
    *out = x;
    out->d[r - 2] = (int)oh;
    out->d[r - 1] = (int)ow;
    return NULL;
}

/* conv2d: x [B, Cin, H, W], W [Cout, Cin, KH, KW] -> [B, Cout, OH, OW]. */
static const char *rule_conv2d(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape x = in_shape(g, n, 0), w = in_shape(g, n, 1);
    char b1[64], b2[64];
    if (window_attrs(g, n, msg, len))
        return msg;
    if (x.rank != 4)
        return FAIL("conv2d needs images x [B, C, H, W] (4 axes); got %s (declare the input f32[B, C, H, W]: a "
                    "row fills it in row-major order)", sh(x, b1));
    if (w.rank != 4 || w.d[0] == DIM_B)
        return FAIL("conv2d needs filters W [Cout, Cin, KH, KW] (4 axes, no B); got %s", sh(w, b1));
    if (x.d[1] != w.d[1])
        return FAIL("conv2d: x %s has %d channels but W %s takes %d (W is [Cout, Cin, KH, KW])", sh(x, b1), x.d[1],
                    sh(w, b2), w.d[1]);
    char of[80];
    snprintf(of, sizeof of, " of W %s", sh(w, b2));
    if (window_shape(n, x, w.d[2], w.d[3], "kernel", of, &n->shape, msg, len))
        return msg;
    n->shape.d[1] = w.d[0];
    return NULL;
}

/* max_pool, avg_pool: a size × size window over the last two axes of x
 * [.., H, W]; pad at most half the window, so that no window lies wholly in
 * the padding (PyTorch's rule). */
static const char *rule_pool(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape x = in_shape(g, n, 0);
    char b1[64];
    if (window_attrs(g, n, msg, len))
        return msg;
    if (x.rank < 3)
        return FAIL("%s works on images [B, C, H, W] or [B, H, W]; got %s (its window covers the last two axes)",
                    op_name(n->op), sh(x, b1));
    if (n->size < 1)
        return FAIL("%s needs size >= 1; got size=%d", op_name(n->op), n->size);
    if (n->pad > n->size / 2)
        return FAIL("%s needs pad <= size/2; got pad=%d with size=%d (a window would lie wholly in the padding)",
                    op_name(n->op), n->pad, n->size);
    return window_shape(n, x, n->size, n->size, "window", "", &n->shape, msg, len);
}

/* ---- batch norm: per feature, axis 1 of [B, F] or [B, C, H, W] -------------- */

/* batchnorm_stats(x, mean, var): x [B, F] or [B, C, H, W] in f32, the
 * running mean and var [F] each (F = x's axis 1) -> [3, F]. */
static const char *rule_bn_stats(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape x = in_shape(g, n, 0);
    char b1[64], b2[64];
    if (in_dtype(g, n, 0) != DT_F32)
        return FAIL("batchnorm needs f32 values; x is %s%s", dtype_name(in_dtype(g, n, 0)), sh(x, b1));
    if ((x.rank != 2 && x.rank != 4) || x.d[0] != DIM_B)
        return FAIL("batchnorm normalizes each feature of [B, F] or each channel of [B, C, H, W]; got x %s",
                    sh(x, b1));
    for (int k = 1; k <= 2; k++) {
        Shape r = in_shape(g, n, k);
        if (r.rank != 1 || r.d[0] != x.d[1])
            return FAIL("batchnorm: the running %s %s does not fit x %s; it needs [%d], one per feature of axis 1",
                        k == 1 ? "mean" : "var", sh(r, b2), sh(x, b1), x.d[1]);
    }
    int d[2] = {3, x.d[1]};
    n->shape = shape_make(2, d);
    return NULL;
}

/* batchnorm_norm(x, stats) and batchnorm_norm_grad(x̂, stats, dx̂): x's
 * shape, stats [3, F] of x's F. */
static const char *rule_bn_norm(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape x = in_shape(g, n, 0), st = in_shape(g, n, 1);
    char b1[64], b2[64];
    if (x.rank < 2 || st.rank != 2 || st.d[0] != 3 || st.d[1] != x.d[1])
        return FAIL("%s: the statistics %s do not fit x %s; they need [3, %d]", op_name(n->op), sh(st, b2), sh(x, b1),
                    x.rank < 2 ? 1 : x.d[1]);
    if (n->op == OP_BN_NORM_GRAD && !shape_eq(in_shape(g, n, 2), x))
        return FAIL("%s: dx̂ %s does not fit x̂ %s", op_name(n->op), sh(in_shape(g, n, 2), b2), sh(x, b1));
    n->shape = x;
    return NULL;
}

/* batchnorm_running(mean, var, stats): writes mean and var in place. */
static const char *rule_bn_running(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape m = in_shape(g, n, 0), st = in_shape(g, n, 2);
    char b1[64], b2[64];
    if (m.rank != 1 || !shape_eq(in_shape(g, n, 1), m) || st.rank != 2 || st.d[0] != 3 || st.d[1] != m.d[0])
        return FAIL("%s: the running statistics %s do not fit the batch's %s", op_name(n->op), sh(m, b1), sh(st, b2));
    n->shape = m;
    return NULL;
}

/* y [R, K] against t: i32 [R] class ids, or f32 [R, K] rows. */
static const char *rule_loss(const Graph *g, Node *n, char *msg, size_t len)
{
    Shape y = in_shape(g, n, 0), t = in_shape(g, n, 1);
    char b1[64], b2[64];
    if (y.rank != 2)
        return FAIL("%s needs [rows, classes] scores; got %s", op_name(n->op), sh(y, b1));
    int ids = in_dtype(g, n, 1) == DT_I32 && t.rank == 1 && t.d[0] == y.d[0];
    int rows = in_dtype(g, n, 1) == DT_F32 && shape_eq(t, y);
    int thresh = n->op == OP_ACCURACY && rows && y.d[1] == 1;
    if (n->op == OP_SIGMOID_CE && !rows)
        return FAIL("%s: labels %s%s do not fit scores %s (it takes f32%s targets)", op_name(n->op),
                    dtype_name(in_dtype(g, n, 1)), sh(t, b2), sh(y, b1), shape_str(y, (char[64]){0}, 64));
    if (n->op != OP_SIGMOID_CE && !(ids || rows || thresh))
        return FAIL("%s: labels %s%s do not fit scores %s (it takes i32[%s] class ids or f32%s rows)", op_name(n->op),
                    dtype_name(in_dtype(g, n, 1)), sh(t, b2), sh(y, b1), extent_str(y.d[0], (char[16]){0}),
                    shape_str(y, (char[64]){0}, 64));
    n->shape = shape_scalar();
    return NULL;
}

static const char *rule(const Graph *g, Node *n, char *msg, size_t len)
{
    int arity = op_arity(n->op);
    NNC_ASSERT(arity < 0 ? n->n_in >= 1 : n->n_in >= arity, "wrong number of inputs");
    n->dtype = DT_F32;
    switch (n->op) {
    case OP_INPUT: case OP_LABEL: case OP_PARAM: case OP_STATE: case OP_CONST:
    case OP_ROWS: case OP_DROPMASK:
        return NULL; /* leaves: the creator sets shape and dtype */
    NNC_EW_OPS(NNC_CASE)
        return rule_ew(g, n, msg, len);
    case OP_MATMUL: return rule_matmul(g, n, msg, len);
    case OP_TRANSPOSE: return rule_transpose(g, n, msg, len);
    case OP_RESHAPE: return rule_reshape(g, n, msg, len);
    case OP_BROADCAST_TO: return rule_broadcast(g, n, msg, len, 0);
    case OP_SUM_TO: return rule_broadcast(g, n, msg, len, 1);
    case OP_SLICE: return rule_slice(g, n, msg, len);
    case OP_CONV2D: return rule_conv2d(g, n, msg, len);
    case OP_MAX_POOL: case OP_AVG_POOL: return rule_pool(g, n, msg, len);
    case OP_BN_STATS: return rule_bn_stats(g, n, msg, len);
    case OP_BN_NORM: case OP_BN_NORM_GRAD: return rule_bn_norm(g, n, msg, len);
    case OP_BN_RUNNING: return rule_bn_running(g, n, msg, len);
    case OP_PAD: case OP_SCATTER_ADD: case OP_NLL_GRAD:
    case OP_CONV2D_GRAD_X: case OP_CONV2D_GRAD_W: case OP_AVG_POOL_GRAD:
        n->shape = n->to;
        return NULL;
    case OP_CONCAT: return rule_concat(g, n, msg, len);
    case OP_GATHER: return rule_gather(g, n, msg, len);
    case OP_SUM: case OP_MAX: case OP_MIN: return rule_reduce(g, n, msg, len);
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: return rule_softmax(g, n, msg, len);
    case OP_SOFTMAX_CE: case OP_NLL: case OP_SIGMOID_CE: case OP_ACCURACY:
        return rule_loss(g, n, msg, len);
    NNC_EW_GRAD_OPS(NNC_CASE)
    case OP_SOFTMAX_GRAD: case OP_LOG_SOFTMAX_GRAD:
    case OP_SOFTMAX_CE_GRAD: case OP_SIGMOID_CE_GRAD: case OP_MAX_POOL_GRAD:
        n->shape = in_shape(g, n, 0);
        return NULL;
    case OP_GRAD_NORM:
        n->shape = shape_scalar();
        return NULL;
    case OP_SGD: case OP_MOMENTUM: case OP_ADAGRAD: case OP_ADADELTA: case OP_ADAM:
        n->shape = in_shape(g, n, 0);
        return NULL;
    }
    NNC_ASSERT(0, "op without a shape rule");
    return NULL;
}

const char *shape_infer(const Graph *g, Node *n, char *msg, size_t len)
{
    const char *err = rule(g, n, msg, len);
    if (err)
        return err;
    char what[64];
    snprintf(what, sizeof what, "the result of %s", op_name(n->op));
    return too_big(n->shape, what, msg, len);
}

int graph_op(Graph *g, Diag *d, Op op, const int *in, int n_in, Loc loc, Attrs at)
{
    int id = graph_add(g, op, in, n_in, shape_scalar(), DT_F32, loc);
    Node *n = &g->nodes[id];
    n->ta = at.ta;
    n->tb = at.tb;
    n->axis = at.axis;
    n->axes = at.axes;
    n->keepdims = at.keepdims;
    n->lo = at.lo;
    n->hi = at.hi;
    memcpy(n->perm, at.perm, sizeof n->perm);
    n->to = at.to;
    memcpy(n->c, at.c, sizeof n->c);
    n->stride = at.stride;
    n->pad = at.pad;
    n->size = at.size;
    n->clip = at.clip;
    char msg[256];
    const char *err = shape_infer(g, n, msg, sizeof msg);
    if (err) {
        NNC_ASSERT(d != NULL, err);
        error_at(d, loc, "%s", err);
        g->n--; /* drop the node that does not fit */
        return -1;
    }
    return id;
}
