/* emit_c.c: from the graph and its plan, one C99 training program.
 *
 * The file reads top to bottom like a hand-written trainer (llm.c style):
 *
 *   header      what made it, the plan's totals, a legend of dimensions
 *   storage     params, the contiguous gradient block, optimizer state, the
 *               batch, and one static arena with a named pointer per buffer
 *               (its shape and .nn line in a comment)
 *   forward     the schedule's forward steps; returns the mean loss
 *   backward    the backward steps, each named with its rule
 *   update      the optimizer, param by param
 *   init        params to their initial values
 *   train_step  (program mode) gather, forward, backward, update: one step
 *   main        (program mode) the tensor tables and the NnrtModel
 *               descriptor, handed to nnrt_main
 *
 * What the CUDA program shares (the header, the passes' structure, init,
 * the tables, main) is emit_common.c's skeleton; the hooks at the end of
 * this file (c_target) are what the C program does its own way.
 *
 * Every step is one loop nest or one runtime call with a comment above it:
 * the .nn line when it changes, then the node as an equation with shapes
 * (h_matmul[n,10] = x[n,2] · W1[2,10]).  Extents are
 * numbers except the batch axis, which is `n`, the rows of this batch.
 * Names come from the model (h.W becomes h_W); a name that would clash with
 * C or with the emitted code's own names gets a trailing underscore.
 */
#include "emit.h"
#include "emit_common.h"

#include <math.h>
#include <string.h>

#define OUT(...) fprintf(e->out, __VA_ARGS__)

/* ---- extents and element expressions ----------------------------------- */
static const Node *nd(const Emit *e, int id) { return &e->g->nodes[id]; }

/* ---- elementwise ------------------------------------------------------- */
/* for loops over s, the innermost opening a block when brace is set. */
static void open_block(Emit *e, Shape s, int brace)
{
    for (int a = 0; a < s.rank; a++)
        OUT("%*sfor (int %c = 0; %c < %s; %c++)%s\n", 4 * (a + 1), "", emit_loopvar[a], emit_loopvar[a],
            emit_ext(s.d[a]).s, emit_loopvar[a], brace && a == s.rank - 1 ? " {" : "");
}

static void open_loops(Emit *e, Shape s) { open_block(e, s, 0); }

/* The body of an elementwise loop (whose for is at depth): its locals,
 * then the statement, in a block when there are locals. */
static void ew_body(Emit *e, int depth, const Lets *lets, const char *stmt)
{
    char ind[32];
    snprintf(ind, sizeof ind, "%*s", depth + 4, "");
    emit_lets(e->out, lets, ind);
    OUT("%s%s\n", ind, stmt);
    if (lets->n)
        OUT("%*s}\n", depth, "");
}

/* out = f(a[, b]) elementwise, with any fused producers expanded: one flat
 * loop when every operand has the output's shape (or is a scalar), else
 * nested loops with broadcast indices.  A column sum fused after it (the
 * bias gradient) is accumulated in the same loop. */
static void emit_ew(Emit *e, int id)
{
    const Node *n = nd(e, id);
    EwStep st;
    emit_ew_step(e, id, &st);
    int red = st.red, flat = st.flat;
    const Lets *lets = &st.lets;
    const Big *f = &st.f;
    Big stmt;
    if (flat) {
        OUT("    for (int i = 0; i < %s; i++)%s\n", emit_numel(n->shape).s, lets->n ? " {" : "");
        snprintf(stmt.s, sizeof stmt.s, "%s[i] = %.4000s;", e->name[id], f->s);
        ew_body(e, 4, lets, stmt.s);
        return;
    }
    int depth = 4 * n->shape.rank;
    Str at = emit_index_in(n->shape, n->shape);
    if (red < 0) {
        open_block(e, n->shape, lets->n > 0);
        snprintf(stmt.s, sizeof stmt.s, "%s[%s] = %.3900s;", e->name[id], at.s, f->s);
        ew_body(e, depth, lets, stmt.s);
        return;
    }
    /* rank 2: rows i, columns j; the column sum rides along */
    OUT("    for (int j = 0; j < %d; j++)\n        %s[j] = 0.0f;\n", n->shape.d[1], e->name[red]);
    OUT("    for (int i = 0; i < %s; i++)\n", emit_ext(n->shape.d[0]).s);
    OUT("        for (int j = 0; j < %d; j++) {\n", n->shape.d[1]);
    emit_lets(e->out, lets, "            ");
    OUT("            %s[%s] = %s;\n", e->name[id], at.s, f->s);
    OUT("            %s[j] += %s[%s];  /* %s = Σ_rows %s, in the same loop */\n        }\n", e->name[red],
        e->name[id], at.s, nd(e, red)->name, nd(e, id)->name);
}

/* ---- matmul ------------------------------------------------------------ */
/* Small products (up to SMALL_GEMM multiply-adds at B rows) are loops with
 * constant bounds, which the C compiler unrolls; a BLAS call costs more
 * than the work there.  Larger ones go to nnrt_sgemm (the BLAS). */
enum { SMALL_GEMM = 65536 };

static void emit_matmul(Emit *e, int id)
{
    const Node *n = nd(e, id);
    Gemm g = emit_gemm(e->g, id);
    int lda = g.lda, ldb = g.ldb, ldc = g.ldc;
    const char *M = g.M.s, *N = g.N.s, *K = g.K.s;
    long work = g.work;
    const char *A = e->name[n->in[0]], *Bm = e->name[n->in[1]], *C = e->name[id];
    if (e->o->blas && work > SMALL_GEMM) {
        OUT("    nnrt_sgemm(%d, %d, %s, %s, %s, 1.0f, %s, %d, %s, %d, 0.0f, %s, %d);\n", n->ta, n->tb, M, N, K,
            A, lda, Bm, ldb, C, ldc);
        return;
    }
    if (!e->o->blas && work > SMALL_GEMM) {
        OUT("    gemm(%d, %d, %s, %s, %s, %s, %d, %s, %d, %s, %d);\n", n->ta, n->tb, M, N, K, A, lda, Bm, ldb, C, ldc);
        return;
    }
    if (n->tb) { /* C[i,j] = Σ_k A[i,k]·B[j,k]: a dot product of two rows */
        OUT("    for (int i = 0; i < %s; i++)\n        for (int j = 0; j < %s; j++) {\n", M, N);
        OUT("            float s = 0.0f;\n            for (int k = 0; k < %s; k++)\n", K);
        char ai[48];
        snprintf(ai, sizeof ai, n->ta ? "k * %d + i" : "i * %d + k", lda);
        OUT("                s += %s[%s] * %s[j * %d + k];\n            %s[i * %d + j] = s;\n        }\n", A, ai, Bm,
            ldb, C, ldc);
        return;
    }
    /* C[i,:] += A[i,k]·B[k,:] (or Aᵀ: A[k,i]): the inner loop runs along rows of B and C */
    OUT("    memset(%s, 0, sizeof(float) * (%s));\n", C, emit_numel(n->shape).s);
    if (n->ta)
        OUT("    for (int k = 0; k < %s; k++)\n        for (int i = 0; i < %s; i++) {\n"
            "            const float a = %s[k * %d + i];\n", K, M, A, lda);
    else
        OUT("    for (int i = 0; i < %s; i++)\n        for (int k = 0; k < %s; k++) {\n"
            "            const float a = %s[i * %d + k];\n", M, K, A, lda);
    OUT("            for (int j = 0; j < %s; j++)\n                %s[i * %d + j] += a * %s[k * %d + j];\n        }\n",
        N, C, ldc, Bm, ldb);
}

/* ---- moving data ------------------------------------------------------- */

/* sum, max, min, sum_to: fold the input over the axes where the result is 1. */
static void emit_fold(Emit *e, int id)
{
    const Node *n = nd(e, id);
    Shape in = nd(e, n->in[0])->shape, k = in;
    if (n->op == OP_SUM_TO) {
        k = n->to;
    } else {
        for (int a = 0; a < in.rank; a++)
            if (n->axes >> a & 1u)
                k.d[a] = 1;
    }
    const char *start = n->op == OP_MAX ? "-INFINITY" : n->op == OP_MIN ? "INFINITY" : "0.0f";
    OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s;\n", emit_numel(n->shape).s, e->name[id], start);
    open_loops(e, in);
    Str o = emit_index_in(k, in), x = emit_elem(&e->env, n->in[0], emit_index_in(in, in).s);
    int depth = 4 * (in.rank + 1);
    if (n->op == OP_MAX || n->op == OP_MIN)
        OUT("%*s%s[%s] = %s(%s[%s], %s);\n", depth, "", e->name[id], o.s, n->op == OP_MAX ? "fmaxf" : "fminf",
            e->name[id], o.s, x.s);
    else
        OUT("%*s%s[%s] += %s;\n", depth, "", e->name[id], o.s, x.s);
}

static void emit_copy_loops(Emit *e, int id, Shape loops, const char *dst_idx, const char *src, const char *src_idx)
{
    open_loops(e, loops);
    OUT("%*s%s[%s] = %s[%s];\n", 4 * (loops.rank + 1), "", e->name[id], dst_idx, src, src_idx);
}

/* out[i] = x[i's index in x]; a scalar constant x is a literal: a fill */
static void emit_broadcast(Emit *e, int id)
{
    const Node *n = nd(e, id);
    Shape in = nd(e, n->in[0])->shape;
    open_loops(e, n->shape);
    OUT("%*s%s[%s] = %s;\n", 4 * (n->shape.rank + 1), "", e->name[id], emit_index_in(n->shape, n->shape).s,
        emit_elem(&e->env, n->in[0], emit_index_in(in, n->shape).s).s);
}

/* slice: out = x[.., lo:hi, ..];  pad: zeros, then out[.., lo:hi, ..] = x */
static void emit_slice_pad(Emit *e, int id)
{
    const Node *n = nd(e, id);
    Shape in = nd(e, n->in[0])->shape;
    if (n->op == OP_SLICE) {
        emit_copy_loops(e, id, n->shape, emit_index_in(n->shape, n->shape).s, e->name[n->in[0]],
                        emit_shifted(in, n->axis, n->lo).s);
        return;
    }
    OUT("    memset(%s, 0, sizeof(float) * (%s));\n", e->name[id], emit_numel(n->shape).s);
    emit_copy_loops(e, id, in, emit_shifted(n->shape, n->axis, n->lo).s, e->name[n->in[0]], emit_index_in(in, in).s);
}

static void emit_concat(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int off = 0;
    for (int k = 0; k < n->n_in; k++) {
        Shape in = nd(e, n->in[k])->shape;
        emit_copy_loops(e, id, in, emit_shifted(n->shape, n->axis, off).s, e->name[n->in[k]], emit_index_in(in, in).s);
        off += in.d[n->axis];
    }
}

static void emit_transpose(Emit *e, int id)
{
    const Node *n = nd(e, id);
    emit_copy_loops(e, id, n->shape, emit_index_in(n->shape, n->shape).s, e->name[n->in[0]],
                    emit_transpose_src(e->g, id).s);
}

/* gather: out row i = x row idx[i];  scatter_add: zeros, out row idx[i] += dy row i
 * (i runs over every id, whatever idx's shape: E[20, 8][ids[n, 6]] is
 * [n, 6, 8]; repeated ids add up in the scatter-add, E's gradient) */
static void emit_rows(Emit *e, int id)
{
    const Node *n = nd(e, id);
    long row = emit_row_width(n->op == OP_GATHER ? nd(e, n->in[0])->shape : n->shape);
    Str count = emit_numel(nd(e, n->in[1])->shape);
    const char *x = e->name[n->in[0]], *ix = e->name[n->in[1]], *y = e->name[id];
    if (n->op == OP_SCATTER_ADD) {
        OUT("    memset(%s, 0, sizeof(float) * (%s));\n", y, emit_numel(n->shape).s);
        OUT("    for (int i = 0; i < %s; i++)\n        for (int j = 0; j < %ld; j++)\n", count.s, row);
        OUT("            %s[%s[i] * %ld + j] += %s[i * %ld + j];\n", y, ix, row, x, row);
        return;
    }
    OUT("    for (int i = 0; i < %s; i++)\n        for (int j = 0; j < %ld; j++)\n", count.s, row);
    OUT("            %s[i * %ld + j] = %s[%s[i] * %ld + j];\n", y, row, x, ix, row);
}

/* ---- windows over the last two axes: conv2d, max_pool, avg_pool ---------- */
/* Direct loops, one window element a line: the input row a window element
 * reads is ih = oh·stride - pad + kh (iw likewise), and one outside the
 * image is the zero padding, skipped.  (im2col and a GEMM are faster; these
 * loops say what the op is.) */

/* The window loops kh, kw at depth (spaces), each element's ih, iw, and the
 * skip of the padding; the caller closes the block at depth + 4. */
static void open_window(Emit *e, int depth, const Node *n, int kh, int kw, int h, int w)
{
    OUT("%*sfor (int kh = 0; kh < %d; kh++)\n", depth, "", kh);
    OUT("%*sfor (int kw = 0; kw < %d; kw++) {\n", depth + 4, "", kw);
    OUT("%*sconst int ih = %s, iw = %s;\n", depth + 8, "", emit_win_at("oh", n->stride, n->pad, "kh").s,
        emit_win_at("ow", n->stride, n->pad, "kw").s);
    OUT("%*sif (ih < 0 || ih >= %d || iw < 0 || iw >= %d)\n%*scontinue; /* outside the image: the padding */\n", depth + 8, "", h,
        w, depth + 12, "");
}

/* conv2d: y[b,co,oh,ow] = Σ_ci,kh,kw x[b,ci,ih,iw]·W[co,ci,kh,kw];
 * conv2d_grad_x (dy, W): dx[b,ci,ih,iw] += dy[b,co,oh,ow]·W[co,ci,kh,kw];
 * conv2d_grad_w (x, dy): dW[co,ci,kh,kw] += dy[b,co,oh,ow]·x[b,ci,ih,iw]. */
static void emit_conv(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int fwd = n->op == OP_CONV2D, gx = n->op == OP_CONV2D_GRAD_X, gw = n->op == OP_CONV2D_GRAD_W;
    Shape x = gx ? n->shape : nd(e, n->in[0])->shape, w = gw ? n->shape : nd(e, n->in[1])->shape;
    Shape y = fwd ? n->shape : nd(e, n->in[gw])->shape;
    const char *X = gx ? e->name[id] : e->name[n->in[0]], *W = gw ? e->name[id] : e->name[n->in[1]];
    const char *Y = fwd ? e->name[id] : e->name[n->in[gw]];
    char xi[96], wi[96], yi[96];
    snprintf(xi, sizeof xi, "((b * %d + ci) * %d + ih) * %d + iw", x.d[1], x.d[2], x.d[3]);
    snprintf(wi, sizeof wi, "((co * %d + ci) * %d + kh) * %d + kw", w.d[1], w.d[2], w.d[3]);
    snprintf(yi, sizeof yi, "((b * %d + co) * %d + oh) * %d + ow", y.d[1], y.d[2], y.d[3]);
    if (!fwd)
        OUT("    memset(%s, 0, sizeof(float) * (%s));\n", e->name[id], emit_numel(n->shape).s);
    OUT("    for (int b = 0; b < %s; b++)\n", emit_ext(x.d[0]).s);
    OUT("        for (int co = 0; co < %d; co++)\n", y.d[1]);
    OUT("            for (int oh = 0; oh < %d; oh++)\n", y.d[2]);
    OUT("                for (int ow = 0; ow < %d; ow++) {\n", y.d[3]);
    if (fwd)
        OUT("                    float s = 0.0f;\n");
    else
        OUT("                    const float dv = %s[%s];\n", Y, yi);
    OUT("                    for (int ci = 0; ci < %d; ci++)\n", x.d[1]);
    open_window(e, 24, n, w.d[2], w.d[3], x.d[2], x.d[3]);
    if (fwd)
        OUT("%32ss += %s[%s] * %s[%s];\n", "", X, xi, W, wi);
    else if (gx)
        OUT("%32s%s[%s] += dv * %s[%s];\n", "", X, xi, W, wi);
    else
        OUT("%32s%s[%s] += dv * %s[%s];\n", "", W, wi, X, xi);
    OUT("%28s}\n", "");
    if (fwd)
        OUT("                    %s[%s] = s;\n", Y, yi);
    OUT("                }\n");
}

/* ---- conv2d as im2col + GEMM (the program with BLAS) ------------------------
 * The plan gave the node a workspace (plan_build_ws): the columns of one
 * image, col[Cin·KH·KW, OH·OW], row (ci, kh, kw) and column (oh, ow)
 * holding x[b, ci, oh·s − p + kh, ow·s − p + kw] (0 in the padding).  Per
 * image b, with W as the matrix [Cout, Cin·KH·KW] and y[b], dy[b] as
 * [Cout, OH·OW]:
 *   forward       y[b] = W · col                    (col = im2col(x[b]))
 *   conv2d_grad_x dx[b] = col2im(Wᵀ · dy[b])        (the transposed convolution)
 *   conv2d_grad_w dW += dy[b] · colᵀ                (dy against the unfolded input)
 * im2col and col2im are written into the file (conv_helpers). */

/* The workspace's pointer, local to the loop over images. */
static void conv_col(Emit *e, int id, int rows, int cols)
{
    OUT("        float *const col = arena + %zu; /* [%d, %d] workspace: one image unfolded, a column per output position */\n",
        e->p->buf[id].ws_offset / 4, rows, cols);
}

static void emit_conv_gemm(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int gx = n->op == OP_CONV2D_GRAD_X, gw = n->op == OP_CONV2D_GRAD_W;
    Shape x = gx ? n->shape : nd(e, n->in[0])->shape, w = gw ? n->shape : nd(e, n->in[1])->shape;
    Shape y = n->op == OP_CONV2D ? n->shape : nd(e, n->in[gw])->shape;
    const char *X = gx ? e->name[id] : e->name[n->in[0]], *W = gw ? e->name[id] : e->name[n->in[1]];
    const char *Y = n->op == OP_CONV2D ? e->name[id] : e->name[n->in[gw]];
    int co = w.d[0], k = w.d[1] * w.d[2] * w.d[3], pos = y.d[2] * y.d[3];
    int xsz = x.d[1] * x.d[2] * x.d[3], ysz = y.d[1] * pos;
    char geo[96]; /* C, H, W, KH, KW, stride, pad, OH, OW */
    snprintf(geo, sizeof geo, "%d, %d, %d, %d, %d, %d, %d, %d, %d", x.d[1], x.d[2], x.d[3], w.d[2], w.d[3], n->stride,
             n->pad, y.d[2], y.d[3]);
    if (gx || gw)
        OUT("    memset(%s, 0, sizeof(float) * (%s));\n", e->name[id], emit_numel(n->shape).s);
    OUT("    for (int b = 0; b < %s; b++) {\n", emit_ext(x.d[0]).s);
    conv_col(e, id, k, pos);
    if (gx) {
        OUT("        /* col[%d, %d] = %sᵀ[%d, %d] · %s[b][%d, %d]: each output position's gradient spread over its window */\n",
            k, pos, W, k, co, Y, co, pos);
        OUT("        nnrt_sgemm(1, 0, %d, %d, %d, 1.0f, %s, %d, %s + b * %d, %d, 0.0f, col, %d);\n", k, pos, co, W, k, Y,
            ysz, pos, pos);
        OUT("        /* %s[b] += col2im(col): each window element adds into the input position it read */\n", X);
        OUT("        col2im(col, %s, %s + b * %d);\n", geo, X, xsz);
    } else {
        OUT("        /* col[%d, %d] = im2col(%s[b]): row (ci, kh, kw), column (oh, ow) holds %s[b, ci, oh·s − p + kh, ow·s − p + kw] */\n",
            k, pos, X, X);
        OUT("        im2col(%s + b * %d, %s, col);\n", X, xsz, geo);
        if (gw) {
            OUT("        /* %s[%d, %d] += %s[b][%d, %d] · colᵀ[%d, %d]: dy against the unfolded input */\n", W, co, k, Y, co,
                pos, pos, k);
            OUT("        nnrt_sgemm(0, 1, %d, %d, %d, 1.0f, %s + b * %d, %d, col, %d, 1.0f, %s, %d);\n", co, k, pos, Y, ysz,
                pos, pos, W, k);
        } else {
            OUT("        /* %s[b][%d, %d] = %s[%d, %d] · col[%d, %d] */\n", Y, co, pos, W, co, k, k, pos);
            OUT("        nnrt_sgemm(0, 0, %d, %d, %d, 1.0f, %s, %d, col, %d, 0.0f, %s + b * %d, %d);\n", co, pos, k, W, k, pos,
                Y, ysz, pos);
        }
    }
    OUT("    }\n");
}

static void emit_conv_any(Emit *e, int id)
{
    if (e->p->buf[id].ws_bytes)
        emit_conv_gemm(e, id);
    else
        emit_conv(e, id);
}

/* Over planes [H, W] (the axes before the last two, flattened):
 * max_pool: y = x at the window's first largest element inside the image;
 * max_pool_grad (x, dy): dx there += dy;
 * avg_pool: y = Σ window / size² (the padding adds zeros);
 * avg_pool_grad (dy): each element of the window inside the image += dy / size². */
static void emit_pool(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int fwd = n->op == OP_MAX_POOL || n->op == OP_AVG_POOL, is_max = n->op == OP_MAX_POOL || n->op == OP_MAX_POOL_GRAD;
    Shape x = fwd ? nd(e, n->in[0])->shape : n->shape, y = fwd ? n->shape : nd(e, n->in[n->n_in - 1])->shape;
    Shape planes = x;
    planes.rank -= 2;
    const char *X = fwd || is_max ? e->name[n->in[0]] : e->name[id];
    const char *DX = e->name[id], *DY = e->name[n->in[n->n_in - 1]];
    int r = x.rank, h = x.d[r - 2], w = x.d[r - 1], oh = y.d[r - 2], ow = y.d[r - 1], area = n->size * n->size;
    char xi[64], yi[64];
    snprintf(xi, sizeof xi, "(pl * %d + ih) * %d + iw", h, w);
    snprintf(yi, sizeof yi, "(pl * %d + oh) * %d + ow", oh, ow);
    if (!fwd)
        OUT("    memset(%s, 0, sizeof(float) * (%s));\n", DX, emit_numel(n->shape).s);
    OUT("    for (int pl = 0; pl < %s; pl++)\n", emit_numel(planes).s);
    OUT("        for (int oh = 0; oh < %d; oh++)\n", oh);
    OUT("            for (int ow = 0; ow < %d; ow++) {\n", ow);
    if (is_max)
        OUT("                int bi = -1; /* the first largest element of the window */\n");
    else if (fwd)
        OUT("                float s = 0.0f;\n");
    else
        OUT("                const float dv = %s[%s] / %d.0f;\n", DY, yi, area);
    open_window(e, 16, n, n->size, n->size, h, w);
    if (is_max)
        OUT("%24sif (bi < 0 || %s[%s] > %s[bi])\n%28sbi = %s;\n", "", X, xi, X, "", xi);
    else if (fwd)
        OUT("%24ss += %s[%s];\n", "", X, xi);
    else
        OUT("%24s%s[%s] += dv;\n", "", DX, xi);
    OUT("%20s}\n", "");
    if (n->op == OP_MAX_POOL)
        OUT("                %s[%s] = %s[bi];\n", e->name[id], yi, X);
    else if (n->op == OP_MAX_POOL_GRAD)
        OUT("                %s[bi] += %s[%s];\n", DX, DY, yi);
    else if (fwd)
        OUT("                %s[%s] = s / %d.0f;\n", e->name[id], yi, area);
    OUT("            }\n");
}

static void emit_softmax(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int k = n->shape.d[n->shape.rank - 1];
    const char *x = e->name[n->in[0]], *y = e->name[id];
    OUT("    for (int r = 0; r < %s; r++) {\n", emit_rows_of(n->shape).s);
    OUT("        const float *xr = %s + r * %d;\n        float *yr = %s + r * %d;\n", x, k, y, k);
    if (!emit_softmax_sum(n->op)) { /* m = max_j x, s = Σ_j e^(x - m) */
        OUT("        float m = xr[0], s = 0.0f;\n");
        OUT("        for (int j = 1; j < %d; j++)\n            m = xr[j] > m ? xr[j] : m;\n", k);
        OUT("        for (int j = 0; j < %d; j++)\n            s += expf(xr[j] - m);\n", k);
    } else {
        OUT("        const float *dr = %s + r * %d;\n        float s = 0.0f;\n", e->name[n->in[1]], k);
        OUT("        for (int j = 0; j < %d; j++)\n            s += %s;\n", k, emit_softmax_sum(n->op));
    }
    OUT("        for (int j = 0; j < %d; j++)\n            yr[j] = %s;\n", k, emit_softmax_out(n->op));
    OUT("    }\n");
}

static void emit_loss(Emit *e, int id)
{
    const Node *n = nd(e, id);
    LossRows L = emit_loss_rows(&e->env, id);
    int k = L.k, t = L.t;
    const char *y = e->name[n->in[0]];
    Str rows = L.rows, tg = L.tg;
    OUT("    {\n        %s total = 0.0%s;\n", e->o->library ? "float" : "double", e->o->library ? "f" : "");
    OUT("        for (int r = 0; r < %s; r++) {\n            const float *yr = %s + r * %d;\n", rows.s, y, k);
    if (n->op == OP_SOFTMAX_CE) {
        OUT("            float m = yr[0], s = 0.0f;\n");
        OUT("            for (int j = 1; j < %d; j++)\n                m = yr[j] > m ? yr[j] : m;\n", k);
        OUT("            for (int j = 0; j < %d; j++)\n                s += expf(yr[j] - m);\n", k);
        OUT("            float lse = m + logf(s); /* log Σ e^y */\n");
        if (nd(e, t)->dtype == DT_I32)
            OUT("            total += lse - yr[%s[r]];\n", e->name[t]);
        else
            OUT("            for (int j = 0; j < %d; j++)\n                total += %s * (lse - yr[j]);\n", k, tg.s);
    } else if (n->op == OP_NLL) {
        if (nd(e, t)->dtype == DT_I32)
            OUT("            total -= yr[%s[r]];\n", e->name[t]);
        else
            OUT("            for (int j = 0; j < %d; j++)\n                total -= %s * yr[j];\n", k, tg.s);
    } else if (n->op == OP_SIGMOID_CE) {
        OUT("            for (int j = 0; j < %d; j++) /* max(y,0) - y·t + log(1 + e^-|y|) */\n", k);
        OUT("                total += fmaxf(yr[j], 0.0f) - yr[j] * %s + log1pf(expf(-fabsf(yr[j])));\n", tg.s);
    } else { /* accuracy */
        OUT("            int best = 0;\n            for (int j = 1; j < %d; j++)\n                best = yr[j] > yr[best] ? j : best;\n", k);
        if (nd(e, t)->dtype == DT_I32)
            OUT("            total += best == %s[r];\n", e->name[t]);
        else if (k == 1)
            OUT("            total += (yr[0] >= 0.5f) == (%s[r] >= 0.5f);\n", e->name[t]);
        else {
            emit_want(e, &L, "            ");
            OUT("            total += best == want;\n");
        }
    }
    OUT("        }\n        %s[0] = (float)total / (float)%s;\n    }\n", e->name[id], L.mean.s);
}

static void emit_loss_grad(Emit *e, int id)
{
    const Node *n = nd(e, id);
    LossRows L = emit_loss_rows(&e->env, id);
    int k = L.k, t = L.t, nll = n->op == OP_NLL_GRAD;
    const char *g = e->name[id], *tg = L.tg.s;
    OUT("    {\n        const float dl = %s; /* dL/n */\n        for (int r = 0; r < %s; r++) {\n", L.dl_n.s, L.rows.s);
    if (n->op == OP_SOFTMAX_CE_GRAD) {
        const char *y = e->name[n->in[0]];
        OUT("            const float *yr = %s + r * %d;\n            float *gr = %s + r * %d;\n", y, k, g, k);
        OUT("            float m = yr[0], s = 0.0f;\n");
        OUT("            for (int j = 1; j < %d; j++)\n                m = yr[j] > m ? yr[j] : m;\n", k);
        OUT("            for (int j = 0; j < %d; j++)\n                s += (gr[j] = expf(yr[j] - m));\n", k);
        if (nd(e, t)->dtype == DT_I32) {
            OUT("            for (int j = 0; j < %d; j++)\n                gr[j] = dl * (gr[j] / s - %s);\n", k, tg);
        } else { /* target rows need not sum to 1: d/dy Σ t·(lse - y) = softmax(y)·Σt - t */
            OUT("            float tsum = 0.0f;\n            for (int j = 0; j < %d; j++)\n                tsum += %s;\n", k, tg);
            OUT("            for (int j = 0; j < %d; j++)\n                gr[j] = dl * (gr[j] / s * tsum - %s);\n", k, tg);
        }
    } else if (nll) {
        OUT("            for (int j = 0; j < %d; j++)\n                %s[r * %d + j] = -dl * %s;\n", k, g, k, tg);
    } else {
        const char *y = e->name[n->in[0]];
        OUT("            for (int j = 0; j < %d; j++)\n                %s[r * %d + j] = dl * (1.0f / (1.0f + expf(-%s[r * %d + j])) - %s);\n",
            k, g, k, y, k, tg);
    }
    OUT("        }\n    }\n");
}

/* ---- batch norm: per feature f of x [n, F] or [n, F, H, W] ----------------
 * The m = n·H·W values of feature f are x[(b * F + f) * HW + i], b < n,
 * i < HW (x [n, F]: x[b * F + fi]); the statistics are [3, F]: μ, σ² and
 * σ²·m/(m - 1), the unbiased variance the running var averages. */
typedef struct BnDims {
    int F, hw;     /* features, and the values of one feature in one row (H·W, or 1) */
    char at[64];   /* the index of value (b, f, i) */
} BnDims;

static BnDims bn_dims(Shape x)
{
    BnDims d = {.F = x.d[1], .hw = x.rank == 4 ? x.d[2] * x.d[3] : 1};
    if (d.hw == 1)
        snprintf(d.at, sizeof d.at, "b * %d + fi", d.F);
    else
        snprintf(d.at, sizeof d.at, "(b * %d + fi) * %d + i", d.F, d.hw);
    return d;
}

/* The loops over the m values of feature f, at depth (spaces); the
 * statement that follows is their body. */
static void bn_values(Emit *e, const BnDims *d, int depth)
{
    OUT("%*sfor (int b = 0; b < n; b++)\n", depth, "");
    if (d->hw > 1)
        OUT("%*sfor (int i = 0; i < %d; i++)\n", depth + 4, "", d->hw);
}

/* The sums of batch norm: in double in a program; in float in library
 * mode, which has no double arithmetic (docs/embedded.md). */
typedef struct BnAcc {
    const char *T, *cast, *f; /* "double", "(double)", "" or "float", "", "f" */
} BnAcc;

static BnAcc bn_acc(const Emit *e)
{
    BnAcc a = {"double", "(double)", ""};
    if (e->o->library)
        a = (BnAcc){"float", "", "f"};
    return a;
}

/* batchnorm_stats (x, mean, var): the batch's μ and σ² in training (sums
 * in double, float in library mode), the running mean and var in evaluation. */
static void emit_bn_stats(Emit *e, int id)
{
    const Node *n = nd(e, id);
    BnDims d = bn_dims(nd(e, n->in[0])->shape);
    BnAcc a = bn_acc(e);
    const char *S = e->name[id], *X = e->name[n->in[0]];
    int in = 12 + (d.hw > 1) * 4; /* the loop body's depth */
    if (d.hw > 1)
        OUT("    if (mode == TRAIN || mode == TRAIN_SAME_MASK) /* the batch's, over the m = n·%d values of each feature */\n",
            d.hw);
    else
        OUT("    if (mode == TRAIN || mode == TRAIN_SAME_MASK) /* the batch's, over the m = n rows */\n");
    OUT("        for (int fi = 0; fi < %d; fi++) {\n", d.F);
    OUT("            const %s cnt = (%s)n * %d.0%s;\n            %s mu = 0.0%s, sq = 0.0%s;\n", a.T, a.T, d.hw, a.f,
        a.T, a.f, a.f);
    bn_values(e, &d, 12);
    OUT("%*smu += %s%s[%s];\n", in + 4, "", a.cast, X, d.at);
    OUT("            mu /= cnt; /* μ = Σ x / m */\n");
    bn_values(e, &d, 12);
    OUT("%*ssq += (%s%s[%s] - mu) * (%s%s[%s] - mu);\n", in + 4, "", a.cast, X, d.at, a.cast, X, d.at);
    OUT("            %s[fi] = (float)mu;\n", S);
    OUT("            %s[%d + fi] = (float)(sq / cnt); /* σ² = Σ (x - μ)² / m */\n", S, d.F);
    OUT("            %s[%d + fi] = (float)(cnt > 1.0%s ? sq / (cnt - 1.0%s) : sq / cnt); /* unbiased, for the running var */\n",
        S, 2 * d.F, a.f, a.f);
    OUT("        }\n    else /* evaluation: the running statistics */\n");
    OUT("        for (int fi = 0; fi < %d; fi++) {\n", d.F);
    OUT("            %s[fi] = %s[fi];\n", S, e->name[n->in[1]]);
    OUT("            %s[%d + fi] = %s[%d + fi] = %s[fi];\n        }\n", S, d.F, S, 2 * d.F, e->name[n->in[2]]);
}

/* batchnorm_norm (x, stats):           x̂ = (x - μ)/σ, σ = √(σ² + ε);
 * batchnorm_norm_grad (x̂, stats, dx̂): dx = (dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂))/σ. */
static void emit_bn_norm(Emit *e, int id)
{
    const Node *n = nd(e, id);
    BnDims d = bn_dims(n->shape);
    const char *Y = e->name[id], *X = e->name[n->in[0]], *S = e->name[n->in[1]];
    int in = 8 + (d.hw > 1) * 4; /* the loop body's depth */
    OUT("    for (int fi = 0; fi < %d; fi++) {\n", d.F);
    if (n->op == OP_BN_NORM) {
        OUT("        const float mu = %s[fi], sd = sqrtf(%s[%d + fi] + %s);\n", S, S, d.F, emit_lit(n->c[0]).s);
        bn_values(e, &d, 8);
        OUT("%*s%s[%s] = (%s[%s] - mu) / sd;\n", in + 4, "", Y, d.at, X, d.at);
        OUT("    }\n");
        return;
    }
    const char *DXH = e->name[n->in[2]];
    BnAcc a = bn_acc(e);
    OUT("        const float sd = sqrtf(%s[%d + fi] + %s);\n", S, d.F, emit_lit(n->c[0]).s);
    OUT("        %s md = 0.0%s, mdx = 0.0%s; /* mean(dx̂) and mean(dx̂·x̂) over the m = n·%d values */\n", a.T, a.f, a.f,
        d.hw);
    bn_values(e, &d, 8);
    OUT("%*s{\n", in + 4, "");
    OUT("%*smd += %s%s[%s];\n", in + 8, "", a.cast, DXH, d.at);
    OUT("%*smdx += %s%s[%s] * %s%s[%s];\n%*s}\n", in + 8, "", a.cast, DXH, d.at, a.cast, X, d.at, in + 4, "");
    OUT("        md /= (%s)n * %d.0%s;\n        mdx /= (%s)n * %d.0%s;\n", a.T, d.hw, a.f, a.T, d.hw, a.f);
    bn_values(e, &d, 8);
    OUT("%*s%s[%s] = (%s[%s] - (float)md - %s[%s] * (float)mdx) / sd;\n", in + 4, "", Y, d.at, DXH, d.at, X, d.at);
    OUT("    }\n");
}

/* batchnorm_running (mean, var, stats): each moves momentum of the way to
 * the batch's μ and unbiased σ². */
static void emit_bn_running(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int F = n->shape.d[0];
    const char *RM = e->name[n->in[0]], *RV = e->name[n->in[1]], *S = e->name[n->in[2]];
    Str keep = emit_lit(1 - n->c[0]), m = emit_lit(n->c[0]);
    OUT("    for (int fi = 0; fi < %d; fi++) {\n", F);
    OUT("        %s[fi] = %s * %s[fi] + %s * %s[fi];\n", RM, keep.s, RM, m.s, S);
    OUT("        %s[fi] = %s * %s[fi] + %s * %s[%d + fi];\n    }\n", RV, keep.s, RV, m.s, S, 2 * F);
}

/* ---- the update stage ---------------------------------------------------- */
static void emit_grad_norm(Emit *e, int id)
{
    const char *acc = e->o->library ? "float" : "double";
    OUT("    {   /* one pass over the contiguous gradient block */\n        %s s = 0.0%s;\n", acc, e->o->library ? "f" : "");
    OUT("        for (int i = 0; i < %zu; i++)\n            s += (%s)grads[i] * grads[i];\n", e->p->grad_bytes / 4, acc);
    OUT("        %s[0] = %s(s);\n    }\n", e->name[id], e->o->library ? "sqrtf" : "(float)sqrt");
    Str clip = emit_lit(e->g->train.clip_grad);
    OUT("    /* clip: scale every gradient so the global norm is at most %g */\n"
        "    const float scale = %s[0] > %s ? %s / (%s[0] + 1e-6f) : 1.0f;\n",
        e->g->train.clip_grad, e->name[id], clip.s, clip.s, e->name[id]);
}

static void emit_update(Emit *e, int id)
{
    OUT("    for (int i = 0; i < %s; i++) {\n", emit_numel(nd(e, id)->shape).s);
    emit_update_body(e->out, &e->env, id, "        ");
    OUT("    }\n");
}

/* ---- one step of the schedule -------------------------------------------- */
static void emit_dropmask(Emit *e, int id)
{
    const Node *n = nd(e, id);
    Str keep = emit_lit(n->c[0]), inv = emit_lit(1 / n->c[0]);
    OUT("    if (mode == TRAIN)  /* a new mask: keep each unit with probability %s, scaled by 1/keep */\n", keep.s);
    OUT("        for (int i = 0; i < %s; i++)\n            %s[i] = %s < %s ? %s : 0.0f;\n",
        emit_numel(n->shape).s, e->name[id], e->o->library ? "rng_uniform(&ctl.rng)" : "nnrt_rng_uniform(&rng)", keep.s,
        inv.s);
    OUT("    else if (mode != TRAIN_SAME_MASK)  /* inference: no dropout */\n");
    OUT("        for (int i = 0; i < %s; i++)\n            %s[i] = 1.0f;\n", emit_numel(n->shape).s, e->name[id]);
}

static void emit_node(Emit *e, int id)
{
    const Node *n = nd(e, id);
    switch (n->op) {
    case OP_INPUT: case OP_LABEL: case OP_PARAM: case OP_STATE: case OP_CONST: case OP_ROWS:
        return;
    case OP_DROPMASK: emit_dropmask(e, id); return;
    NNC_EW_OPS(NNC_CASE)
    NNC_EW_GRAD_OPS(NNC_CASE)
        emit_ew(e, id);
        return;
    case OP_MATMUL: emit_matmul(e, id); return;
    case OP_TRANSPOSE: emit_transpose(e, id); return;
    case OP_RESHAPE:
        if (e->p->buf[id].cls != SC_ALIAS)
            OUT("    memcpy(%s, %s, sizeof(float) * (%s));\n", e->name[id], e->name[n->in[0]], emit_numel(n->shape).s);
        return;
    case OP_BROADCAST_TO: emit_broadcast(e, id); return;
    case OP_SUM_TO: case OP_SUM: case OP_MAX: case OP_MIN: emit_fold(e, id); return;
    case OP_SLICE: case OP_PAD: emit_slice_pad(e, id); return;
    case OP_CONCAT: emit_concat(e, id); return;
    case OP_GATHER: case OP_SCATTER_ADD: emit_rows(e, id); return;
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_SOFTMAX_GRAD: case OP_LOG_SOFTMAX_GRAD:
        emit_softmax(e, id);
        return;
    case OP_SOFTMAX_CE: case OP_NLL: case OP_SIGMOID_CE: case OP_ACCURACY: emit_loss(e, id); return;
    case OP_SOFTMAX_CE_GRAD: case OP_NLL_GRAD: case OP_SIGMOID_CE_GRAD: emit_loss_grad(e, id); return;
    case OP_CONV2D: case OP_CONV2D_GRAD_X: case OP_CONV2D_GRAD_W: emit_conv_any(e, id); return;
    case OP_MAX_POOL: case OP_AVG_POOL: case OP_MAX_POOL_GRAD: case OP_AVG_POOL_GRAD: emit_pool(e, id); return;
    case OP_BN_STATS: emit_bn_stats(e, id); return;
    case OP_BN_NORM: case OP_BN_NORM_GRAD: emit_bn_norm(e, id); return;
    case OP_BN_RUNNING: emit_bn_running(e, id); return;
    case OP_GRAD_NORM: emit_grad_norm(e, id); return;
    case OP_SGD: case OP_MOMENTUM: case OP_ADAGRAD: case OP_ADADELTA: case OP_ADAM: emit_update(e, id); return;
    }
}

static int has_code(const Emit *e, int id)
{
    Op op = nd(e, id)->op;
    return !(op == OP_INPUT || op == OP_LABEL || op == OP_PARAM || op == OP_STATE || op == OP_CONST ||
             op == OP_ROWS || (op == OP_RESHAPE && e->p->buf[id].cls == SC_ALIAS));
}

/* Poison mode: NaN over every arena buffer whose last reader was this step.
 * Such a buffer is its own root, took no other's bytes and is not the
 * loss; it dies at most once (plan_dies_at), at its root's last step.  The
 * buffers that die in steps [from, to) are listed per step once, in id
 * order: die.item[die.start[s - from] .. die.start[s - from + 1]). */
struct Dying {
    int *start, *item;
};

static int poisoned(const Emit *e, int id)
{
    const BufPlan *b = &e->p->buf[id];
    return b->cls == SC_ARENA && b->root == id && b->inplace_of < 0 && id != e->g->loss &&
           plan_dies_at(e->p, id, b->last);
}

static Dying *dying_in(const Emit *e, int from, int to, Arena *a)
{
    Dying *d = arena_alloc(a, sizeof *d);
    d->start = arena_alloc(a, (size_t)(to - from + 1) * sizeof(int));
    memset(d->start, 0, (size_t)(to - from + 1) * sizeof(int));
    for (int id = 0; id < e->g->n; id++)
        if (poisoned(e, id) && e->p->buf[id].last >= from && e->p->buf[id].last < to)
            d->start[e->p->buf[id].last - from + 1]++;
    for (int s = from; s < to; s++)
        d->start[s - from + 1] += d->start[s - from];
    d->item = arena_alloc(a, (size_t)d->start[to - from] * sizeof(int) + 1);
    int *next = arena_alloc(a, (size_t)(to - from + 1) * sizeof(int));
    memcpy(next, d->start, (size_t)(to - from) * sizeof(int));
    for (int id = 0; id < e->g->n; id++)
        if (poisoned(e, id) && e->p->buf[id].last >= from && e->p->buf[id].last < to)
            d->item[next[e->p->buf[id].last - from]++] = id;
    return d;
}

static void emit_poison(Emit *e, int step)
{
    const Dying *d = e->die;
    int from = e->die_from;
    for (int k = d->start[step - from]; k < d->start[step - from + 1]; k++) {
        int id = d->item[k];
        const BufPlan *b = &e->p->buf[id];
        if (e->fu.fused[id]) /* never stored, so it has no pointer */
            OUT("    POISON(arena + %zu, %s);\n", b->offset / 4, emit_numel(nd(e, id)->shape).s);
        else
            OUT("    POISON(%s, %s);\n", e->name[id], emit_numel(nd(e, id)->shape).s);
    }
}

/* After step s: NaN over what died there.  A fused node is computed at its
 * reader's step, so what dies at it dies there too. */
static void after_step(Emit *e, int s)
{
    if (!e->die || e->fu.fused[e->p->order[s]])
        return;
    for (int q = s; q > e->die_from && e->fu.fused[e->p->order[q - 1]]; q--)
        emit_poison(e, q - 1);
    emit_poison(e, s);
}

/* ---- the file around the steps ------------------------------------------- */
/* Whether some param starts from random normal values. */
static int has_init(const Graph *g)
{
    for (int i = 0; i < g->n; i++) {
        InitKind k = g->nodes[i].init;
        if (g->nodes[i].op == OP_PARAM && (k == INIT_RANDN || k == INIT_GLOROT || k == INIT_HE))
            return 1;
    }
    return 0;
}

static void c_intro(Emit *e, const char *file)
{
    OUT("/* %s: ", file);
    if (e->o->library)
        OUT("the training library for the model '%s'\n * (%s), whose API %s declares.\n", e->g->model,
            e->o->path, e->o->header);
    else
        OUT("a training program for the model '%s' (%s).\n", e->g->model, e->o->path);
}

/* After the header: the includes, B, the forward modes, POISON. */
static void includes(Emit *e)
{
    OUT("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    if (e->o->library)
        OUT("#include \"%s\"\n\n", e->o->header);
    else
        OUT("#include \"%s\"\n\n", e->o->mpi ? "nnrt_mpi.h" : "nnrt.h");
    OUT("#define B %d\n", e->g->batch);
    OUT("enum { TRAIN = 0, EVAL = 1, TRAIN_SAME_MASK = 2, PREDICT = 3 }; /* forward modes%s */\n",
        e->o->library ? "" : " (NNRT_TRAIN, NNRT_EVAL, NNRT_TRAIN_SAME_MASK; PREDICT stops at the output)");
    OUT("\n#ifdef NNC_POISON /* NaN over each buffer after its last reader: proves the plan */\n");
    OUT("#define POISON(p, count) poison(p, count)\n");
    OUT("static void poison(float *p, int count)\n{\n    for (int i = 0; i < count; i++)\n        p[i] = NAN;\n}\n");
    OUT("#else\n#define POISON(p, count) ((void)0)\n#endif\n");
}

/* --blas none: the portable GEMM, written into the file. */
static int large_matmul(const Graph *g)
{
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op == OP_MATMUL && emit_gemm(g, i).work > SMALL_GEMM)
            return 1;
    }
    return 0;
}

static void portable_gemm(Emit *e)
{
    if (e->o->blas || !large_matmul(e->g))
        return;
    OUT("\n/* gemm: C[M,N] = op(A)[M,K] · op(B)[K,N], row-major; a flag transposes its operand. */\n");
    OUT("static void gemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *Bm, int ldb,\n");
    OUT("                 float *C, int ldc)\n{\n");
    OUT("    for (int i = 0; i < M; i++)\n        for (int j = 0; j < N; j++) {\n            float s = 0.0f;\n");
    OUT("            for (int k = 0; k < K; k++)\n");
    OUT("                s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? Bm[j * ldb + k] : Bm[k * ldb + j]);\n");
    OUT("            C[i * ldc + j] = s;\n        }\n}\n");
}

/* im2col + GEMM (emit_conv_gemm): unfolding one image into columns, and
 * folding columns back with col2im; the rows of the window that fall in
 * the image are copied, the padding is zeros (col2im skips it). */
static int has_workspace_of(const Emit *e, Op op)
{
    for (int i = 0; i < e->g->n; i++)
        if (e->p->buf[i].ws_bytes && e->g->nodes[i].op == op)
            return 1;
    return 0;
}

static int has_workspace(const Emit *e) { return has_workspace_of(e, OP_CONV2D); }

static const char conv_helpers_text[] =
    "\n/* The window columns ow of one (kh, kw) row whose iw = ow·s − p + kw lies in [0, W): [*lo, *hi). */\n"
    "static void window_span(int W, int kw, int s, int p, int OW, int *lo, int *hi)\n"
    "{\n"
    "    *lo = p - kw > 0 ? (p - kw + s - 1) / s : 0;\n"
    "    *hi = W - 1 + p - kw < 0 ? 0 : (W - 1 + p - kw) / s + 1;\n"
    "    *hi = *hi < OW ? *hi : OW;\n"
    "    *lo = *lo < *hi ? *lo : *hi;\n"
    "}\n"
    "\n"
    "/* im2col: col[(ci·KH + kh)·KW + kw, oh·OW + ow] = x[ci, oh·s − p + kh, ow·s − p + kw] of one\n"
    "   image x [C, H, W], 0 where the window reads the padding. */\n"
    "static void im2col(const float *x, int C, int H, int W, int KH, int KW, int s, int p, int OH, int OW, float *col)\n"
    "{\n"
    "    for (int ci = 0; ci < C; ci++)\n"
    "        for (int kh = 0; kh < KH; kh++)\n"
    "            for (int kw = 0; kw < KW; kw++) {\n"
    "                float *row = col + ((ci * KH + kh) * KW + kw) * OH * OW;\n"
    "                int lo, hi;\n"
    "                window_span(W, kw, s, p, OW, &lo, &hi);\n"
    "                for (int oh = 0; oh < OH; oh++, row += OW) {\n"
    "                    const int ih = oh * s - p + kh;\n"
    "                    if (ih < 0 || ih >= H) { /* a row of padding */\n"
    "                        memset(row, 0, sizeof(float) * OW);\n"
    "                        continue;\n"
    "                    }\n"
    "                    const float *xr = x + (ci * H + ih) * W;\n"
    "                    for (int ow = 0; ow < lo; ow++)\n"
    "                        row[ow] = 0.0f;\n"
    "                    if (s == 1) /* a run of the image row: a copy the C compiler vectorizes */\n"
    "                        for (int ow = lo; ow < hi; ow++)\n"
    "                            row[ow] = xr[ow - p + kw];\n"
    "                    else\n"
    "                        for (int ow = lo; ow < hi; ow++)\n"
    "                            row[ow] = xr[ow * s - p + kw];\n"
    "                    for (int ow = hi; ow < OW; ow++)\n"
    "                        row[ow] = 0.0f;\n"
    "                }\n"
    "            }\n"
    "}\n";

static const char col2im_text[] =
    "\n"
    "/* col2im: dx[ci, oh·s − p + kh, ow·s − p + kw] += col[(ci·KH + kh)·KW + kw, oh·OW + ow] for one\n"
    "   image dx [C, H, W]; what falls in the padding is dropped. */\n"
    "static void col2im(const float *col, int C, int H, int W, int KH, int KW, int s, int p, int OH, int OW, float *dx)\n"
    "{\n"
    "    for (int ci = 0; ci < C; ci++)\n"
    "        for (int kh = 0; kh < KH; kh++)\n"
    "            for (int kw = 0; kw < KW; kw++) {\n"
    "                const float *row = col + ((ci * KH + kh) * KW + kw) * OH * OW;\n"
    "                int lo, hi;\n"
    "                window_span(W, kw, s, p, OW, &lo, &hi);\n"
    "                for (int oh = 0; oh < OH; oh++, row += OW) {\n"
    "                    const int ih = oh * s - p + kh;\n"
    "                    if (ih < 0 || ih >= H)\n"
    "                        continue; /* a row of padding */\n"
    "                    float *dr = dx + (ci * H + ih) * W;\n"
    "                    if (s == 1) /* a run of the image row */\n"
    "                        for (int ow = lo; ow < hi; ow++)\n"
    "                            dr[ow - p + kw] += row[ow];\n"
    "                    else\n"
    "                        for (int ow = lo; ow < hi; ow++)\n"
    "                            dr[ow * s - p + kw] += row[ow];\n"
    "                }\n"
    "            }\n"
    "}\n";

/* im2col with any workspace (every convolution's forward has one);
 * col2im only where an input gradient is taken (not for a first layer). */
static void conv_helpers(Emit *e)
{
    if (has_workspace(e))
        OUT("%s", conv_helpers_text);
    if (has_workspace_of(e, OP_CONV2D_GRAD_X))
        OUT("%s", col2im_text);
}

/* ---- library mode: portable float math ----------------------------------
 * libm's transcendental functions differ in the last bit between C libraries
 * (newlib against glibc), so library mode writes its own, made of IEEE float
 * arithmetic only, and the model's code reaches them through libm's names
 * (#define expf(x) nnrt_expf(x)): every target trains the same bits
 * (docs/embedded.md).  No model name can clash with the nnrt_ prefix.
 * fabsf, fmaxf, fminf, sqrtf, floorf and fmodf stay libm's: IEEE defines
 * their results exactly. */
enum { LM_EXP = OPM_EXP, LM_LOG = OPM_LOG, LM_LOG1P = OPM_LOG1P, LM_TANH = OPM_TANH, LM_SINCOS = OPM_SINCOS, LM_POW = OPM_POW };

static const char lm_intro[] =
    "\n/* ---- portable float math: the same bits on every target ----\n"
    " * libm's expf, logf, cosf... are not the same everywhere (newlib's differ\n"
    " * from glibc's in the last bit on up to 11% of inputs), so these take their\n"
    " * place: only +, -, *, / and conversions on floats, which IEEE 754 rounds\n"
    " * alike on every target, and a trainer built for x86, ARM Linux or a\n"
    " * Cortex-M4 computes the same loss at every step.  Build with\n"
    " * -ffp-contract=off (GCC's default under -std=c99): a fused a*b+c rounds\n"
    " * differently.  Largest errors over every float: expf 1.02 ulp, logf\n"
    " * 0.86 ulp, log1pf 2.4 ulp, tanhf 2.3 ulp; sinf and cosf 1.46·2^-24\n"
    " * absolute for |x| <= 6432 (beyond, reduced through fmodf, less); powf\n"
    " * about |y·ln x| ulp. */\n";

static const char lm_bits[] =
    "\nstatic float nnrt_bits_float(uint32_t u)\n"
    "{\n"
    "    float f;\n"
    "    memcpy(&f, &u, 4);\n"
    "    return f;\n"
    "}\n";

static const char lm_expf[] =
    "\n/* e^x = 2^k · e^r,  k = round(x/ln2),  r = x - k·ln2 in [-ln2/2, ln2/2] (ln2 in two parts),\n"
    " * e^r = Σ r^i/i!, i <= 7 */\n"
    "static float nnrt_expf(float x)\n"
    "{\n"
    "    if (x != x)\n"
    "        return x;\n"
    "    if (x > 88.7228317f)\n"
    "        return INFINITY;\n"
    "    if (x < -103.972084f)\n"
    "        return 0.0f;\n"
    "    float kf = x * 1.44269502f;\n"
    "    int k = (int)(kf < 0.0f ? kf - 0.5f : kf + 0.5f);\n"
    "    float r = (x - (float)k * 0.693145752f) - (float)k * 1.42860677e-6f;\n"
    "    float p = 1.0f / 5040.0f;\n"
    "    p = p * r + 1.0f / 720.0f;\n"
    "    p = p * r + 1.0f / 120.0f;\n"
    "    p = p * r + 1.0f / 24.0f;\n"
    "    p = p * r + 1.0f / 6.0f;\n"
    "    p = p * r + 0.5f;\n"
    "    p = 1.0f + (r + r * r * p);\n"
    "    if (k > 127)\n"
    "        return p * nnrt_bits_float((uint32_t)(k - 1 + 127) << 23) * 2.0f;\n"
    "    if (k < -126)\n"
    "        return p * nnrt_bits_float((uint32_t)(k + 64 + 127) << 23) * 5.42101086e-20f; /* 2^-64 */\n"
    "    return p * nnrt_bits_float((uint32_t)(k + 127) << 23);\n"
    "}\n";

static const char lm_logf[] =
    "\n/* k·ln2 + ln(1 + f) for f in [√2/2 - 1, √2 - 1]:  s = f/(2 + f),\n"
    " * ln(1 + f) = 2s + s·R = f - (hf - s·(hf + R)),  R = Σ 2s^2i/(2i + 1) for i = 1..4,\n"
    " * hf = f²/2: f is exact and added last; ln2 in two parts */\n"
    "static float nnrt_log_core(float f, float k)\n"
    "{\n"
    "    float s = f / (2.0f + f), z = s * s;\n"
    "    float R = z * (2.0f / 3.0f + z * (2.0f / 5.0f + z * (2.0f / 7.0f + z * (2.0f / 9.0f))));\n"
    "    float hf = 0.5f * f * f;\n"
    "    return k * 0.693138123f - ((hf - (s * (hf + R) + k * 9.05800152e-6f)) - f);\n"
    "}\n"
    "\n"
    "/* ln x = k·ln2 + ln m,  x = 2^k·m,  m in [√2/2, √2] */\n"
    "static float nnrt_logf(float x)\n"
    "{\n"
    "    uint32_t u;\n"
    "    int k = 0;\n"
    "    if (x != x || x == INFINITY)\n"
    "        return x;\n"
    "    if (x <= 0.0f)\n"
    "        return x == 0.0f ? -INFINITY : NAN;\n"
    "    if (x < 1.17549435e-38f) { /* subnormal: scale by 2^25 */\n"
    "        x *= 33554432.0f;\n"
    "        k = -25;\n"
    "    }\n"
    "    memcpy(&u, &x, 4);\n"
    "    k += (int)(u >> 23) - 127;\n"
    "    u = (u & 0x007fffffu) | 0x3f800000u; /* m in [1, 2) */\n"
    "    if (u > 0x3fb504f3u) {               /* m > √2: m/2 */\n"
    "        u -= 0x00800000u;\n"
    "        k++;\n"
    "    }\n"
    "    return nnrt_log_core(nnrt_bits_float(u) - 1.0f, (float)k);\n"
    "}\n";

static const char lm_log1pf[] =
    "\n/* ln(1 + x): the core directly near 0; elsewhere ln u · x/(u - 1) with u = 1 + x\n"
    " * rounded, the quotient correcting u's rounding */\n"
    "static float nnrt_log1pf(float x)\n"
    "{\n"
    "    if (x > -0.292893f && x < 0.414213f)\n"
    "        return nnrt_log_core(x, 0.0f);\n"
    "    float u = 1.0f + x;\n"
    "    if (u == INFINITY || x <= -1.0f || x != x)\n"
    "        return nnrt_logf(u);\n"
    "    return nnrt_logf(u) * (x / (u - 1.0f));\n"
    "}\n";

static const char lm_tanhf[] =
    "\n/* tanh a = a - a³/3 + 2a⁵/15 - 17a⁷/315 + 62a⁹/2835 for a < 0.125;\n"
    " * E/(E + 2) with E = e^2a - 1 = Σ (2a)^i/i!, i <= 11, for a < 0.55;\n"
    " * 1 - 2/(e^2a + 1) above; the sign of x after */\n"
    "static float nnrt_tanhf(float x)\n"
    "{\n"
    "    float a = x < 0.0f ? -x : x, t;\n"
    "    if (a != a)\n"
    "        return x;\n"
    "    if (a > 9.1f) {\n"
    "        t = 1.0f;\n"
    "    } else if (a < 0.125f) {\n"
    "        float z = a * a;\n"
    "        t = a + a * z * (-1.0f / 3.0f + z * (2.0f / 15.0f + z * (-17.0f / 315.0f + z * (62.0f / 2835.0f))));\n"
    "    } else if (a < 0.55f) {\n"
    "        float y = 2.0f * a, p = 1.0f / 39916800.0f;\n"
    "        p = p * y + 1.0f / 3628800.0f;\n"
    "        p = p * y + 1.0f / 362880.0f;\n"
    "        p = p * y + 1.0f / 40320.0f;\n"
    "        p = p * y + 1.0f / 5040.0f;\n"
    "        p = p * y + 1.0f / 720.0f;\n"
    "        p = p * y + 1.0f / 120.0f;\n"
    "        p = p * y + 1.0f / 24.0f;\n"
    "        p = p * y + 1.0f / 6.0f;\n"
    "        p = p * y + 0.5f;\n"
    "        float E = y + y * y * p;\n"
    "        t = E / (E + 2.0f);\n"
    "    } else {\n"
    "        t = 1.0f - 2.0f / (nnrt_expf(2.0f * a) + 1.0f);\n"
    "    }\n"
    "    return x < 0.0f ? -t : t;\n"
    "}\n";

static const char lm_sincosf[] =
    "\n/* sin x or cos x (want_cos): k = round(x/(π/2)), r = x - k·π/2 in [-π/4, π/4]\n"
    " * (π/2 in three parts, k·part exact for |k| < 4096), then the series of sin r\n"
    " * or cos r, picked and signed by k mod 4 (cos x = sin(x + π/2)) */\n"
    "static float nnrt_sincosf(float x, int want_cos)\n"
    "{\n"
    "    if (x != x || x == INFINITY || x == -INFINITY)\n"
    "        return x - x;\n"
    "    if (x > 6433.0f || x < -6433.0f) /* beyond exact reduction: x mod 2π first (fmodf is exact) */\n"
    "        x = fmodf(x, 6.28318548f);\n"
    "    float kf = floorf(x * 0.636619747f + 0.5f);\n"
    "    float r = ((x - kf * 1.5703125f) - kf * 4.83870506e-4f) + kf * 4.37113883e-8f;\n"
    "    int q = (int)(kf - 4.0f * floorf(kf * 0.25f)) + want_cos;\n"
    "    float z = r * r, p;\n"
    "    if (q & 1) { /* cos r = Σ (-1)^i r^2i/(2i)!, i <= 5 */\n"
    "        p = -1.0f / 3628800.0f;\n"
    "        p = p * z + 1.0f / 40320.0f;\n"
    "        p = p * z - 1.0f / 720.0f;\n"
    "        p = p * z + 1.0f / 24.0f;\n"
    "        p = p * z - 0.5f;\n"
    "        p = 1.0f + z * p;\n"
    "    } else {     /* sin r = Σ (-1)^i r^(2i+1)/(2i+1)!, i <= 4 */\n"
    "        p = 1.0f / 362880.0f;\n"
    "        p = p * z - 1.0f / 5040.0f;\n"
    "        p = p * z + 1.0f / 120.0f;\n"
    "        p = p * z - 1.0f / 6.0f;\n"
    "        p = r + r * z * p;\n"
    "    }\n"
    "    return q & 2 ? -p : p;\n"
    "}\n";

static const char lm_powf[] =
    "\n/* x^y = e^(y·ln|x|), negative x only for a whole y (odd y: negative result) */\n"
    "static float nnrt_powf(float x, float y)\n"
    "{\n"
    "    if (y == 0.0f || x == 1.0f)\n"
    "        return 1.0f;\n"
    "    if (x != x || y != y)\n"
    "        return x + y;\n"
    "    float a = x < 0.0f ? -x : x;\n"
    "    if (x < 0.0f && floorf(y) != y)\n"
    "        return NAN;\n"
    "    float p = a == 0.0f ? (y > 0.0f ? 0.0f : INFINITY) : nnrt_expf(y * nnrt_logf(a));\n"
    "    return x < 0.0f && floorf(y * 0.5f) != y * 0.5f ? -p : p;\n"
    "}\n";

/* The functions the emitted code calls: each op's OPM_* column in ops.h
 * (x^2 is x * x, no powf), rng_normal's for a random init, and what the
 * functions themselves call.  tests/run_embedded.sh fails when a library
 * object still calls libm's, so a column that misses one cannot slip by. */
static unsigned library_math_needs(const Emit *e)
{
    unsigned need = has_init(e->g) ? LM_LOG | LM_SINCOS : 0;
    for (int i = 0; i < e->g->n; i++) {
        const Node *n = nd(e, i);
        need |= op_props(n->op) & OPM_ALL & (n->op == OP_POW && n->c[0] == 2 ? ~(unsigned)OPM_POW : ~0u);
    }
    if (need & (LM_TANH | LM_POW))
        need |= LM_EXP;
    if (need & (LM_LOG1P | LM_POW))
        need |= LM_LOG;
    return need;
}

static void library_math(Emit *e)
{
    unsigned need = library_math_needs(e);
    if (!need)
        return;
    OUT("%s", lm_intro);
    if (need & (LM_EXP | LM_LOG))
        OUT("%s", lm_bits);
    if (need & LM_EXP)
        OUT("%s", lm_expf);
    if (need & LM_LOG)
        OUT("%s", lm_logf);
    if (need & LM_LOG1P)
        OUT("%s", lm_log1pf);
    if (need & LM_TANH)
        OUT("%s", lm_tanhf);
    if (need & LM_SINCOS)
        OUT("%s", lm_sincosf);
    if (need & LM_POW)
        OUT("%s", lm_powf);
    OUT("\n/* the model's code calls them by libm's names */\n");
    if (need & LM_EXP)
        OUT("#undef expf\n#define expf(x) nnrt_expf(x)\n");
    if (need & LM_LOG)
        OUT("#undef logf\n#define logf(x) nnrt_logf(x)\n");
    if (need & LM_LOG1P)
        OUT("#undef log1pf\n#define log1pf(x) nnrt_log1pf(x)\n");
    if (need & LM_TANH)
        OUT("#undef tanhf\n#define tanhf(x) nnrt_tanhf(x)\n");
    if (need & LM_SINCOS)
        OUT("#undef sinf\n#define sinf(x) nnrt_sincosf(x, 0)\n#undef cosf\n#define cosf(x) nnrt_sincosf(x, 1)\n");
    if (need & LM_POW)
        OUT("#undef powf\n#define powf(x, y) nnrt_powf(x, y)\n");
}

/* ---- program mode: vector math -----------------------------------------
 * glibc's expf and tanhf are calls, so a loop that calls them runs one
 * element at a time (the spiral's step spent 37% of its instructions in
 * expf).  The program carries branch-free versions instead: selects where
 * library mode branches, 2^k built from two halves so that gradual
 * underflow and overflow come out of the arithmetic, and the C compiler
 * vectorizes every loop that calls them.  Largest errors against exp and
 * tanh in double: expf 1.02 ulp over every float, tanhf 2.31 ulp over every
 * third positive float (it is odd by construction); glibc's are within about
 * 0.5 and 1.5 ulp, so the losses move in their last bits. */
static const char vm_expf[] =
    "\n/* ---- vector math: branch-free, so the loops that call it vectorize ----\n"
    " * Largest errors: expf 1.02 ulp (0 below -87.3), tanhf 2.31 ulp (nnc's emit_c.c says how\n"
    " * measured). */\n"
    "static inline float nnc_bits(int32_t i)\n"
    "{\n"
    "    float f;\n"
    "    memcpy(&f, &i, 4);\n"
    "    return f;\n"
    "}\n"
    "\n"
    "/* e^x = 2^k · e^r, k = round(x/ln2) (1.5·2^23 rounds it), r = x - k·ln2 in two parts,\n"
    " * e^r = Σ r^i/i! for i <= 7; 2^k = 2^h · 2^(k-h) with h = k/2, each half a normal float.\n"
    " * x is clamped to [-87.3, ln FLT_MAX] first and the ends are selected after: 0 below\n"
    " * -87.3 (e^-87.3 is just above the smallest normal float: no subnormal is ever formed,\n"
    " * whose arithmetic costs a hundred cycles where the compiler evaluates both sides of\n"
    " * a select), infinity above, NaN as it came */\n"
    "static inline float nnc_expf(float x)\n"
    "{\n"
    "    float c = x >= -87.3f ? (x <= 88.7228394f ? x : 88.7228394f) : -87.3f;\n"
    "    float kf = (c * 1.44269502f + 12582912.0f) - 12582912.0f;\n"
    "    int32_t k = (int32_t)kf, h = k >> 1;\n"
    "    float r = (c - kf * 0.693145752f) - kf * 1.42860677e-6f;\n"
    "    float p = 1.0f / 5040.0f;\n"
    "    p = p * r + 1.0f / 720.0f;\n"
    "    p = p * r + 1.0f / 120.0f;\n"
    "    p = p * r + 1.0f / 24.0f;\n"
    "    p = p * r + 1.0f / 6.0f;\n"
    "    p = p * r + 0.5f;\n"
    "    p = 1.0f + (r + r * r * p);\n"
    "    float v = p * nnc_bits((h + 127) << 23) * nnc_bits((k - h + 127) << 23);\n"
    "    v = x < -87.3f ? 0.0f : v;\n"
    "    v = x > 88.7228394f ? INFINITY : v;\n"
    "    return x != x ? x : v;\n"
    "}\n";

static const char vm_tanhf[] =
    "\n/* tanh a for a = |x|: a - a³/3 + 2a⁵/15 - 17a⁷/315 + 62a⁹/2835 below 0.125;\n"
    " * E/(E + 2) with E = e^2a - 1 = Σ (2a)^i/i!, i <= 11, below 0.55; 1 - 2/(e^2a + 1)\n"
    " * up to 9.1, 1 above; all three computed and one selected, the sign of x after */\n"
    "static inline float nnc_tanhf(float x)\n"
    "{\n"
    "    float a = fabsf(x), z = a * a, y = 2.0f * a;\n"
    "    float small = a + a * z * (-1.0f / 3.0f + z * (2.0f / 15.0f + z * (-17.0f / 315.0f + z * (62.0f / 2835.0f))));\n"
    "    float p = 1.0f / 39916800.0f;\n"
    "    p = p * y + 1.0f / 3628800.0f;\n"
    "    p = p * y + 1.0f / 362880.0f;\n"
    "    p = p * y + 1.0f / 40320.0f;\n"
    "    p = p * y + 1.0f / 5040.0f;\n"
    "    p = p * y + 1.0f / 720.0f;\n"
    "    p = p * y + 1.0f / 120.0f;\n"
    "    p = p * y + 1.0f / 24.0f;\n"
    "    p = p * y + 1.0f / 6.0f;\n"
    "    p = p * y + 0.5f;\n"
    "    float E = y + y * y * p, mid = E / (E + 2.0f);\n"
    "    float big = 1.0f - 2.0f / (nnc_expf(a > 9.1f ? 18.2f : y) + 1.0f);\n"
    "    float t = a < 0.125f ? small : a < 0.55f ? mid : a > 9.1f ? 1.0f : big;\n"
    "    return x < 0.0f ? -t : t; /* NaN: big is NaN */\n"
    "}\n";

/* Program mode: the vector expf and tanhf when the model calls them, in
 * place of libm's (logf, log1pf and the rest stay libm's: they run once a
 * row, or in ops no benchmark model has). */
static void vector_math(Emit *e)
{
    unsigned need = library_math_needs(e) & (LM_EXP | LM_TANH);
    if (e->o->library || !need)
        return;
    OUT("%s", vm_expf);
    if (need & LM_TANH)
        OUT("%s", vm_tanhf);
    OUT("\n/* the model's code calls them by libm's names (-DNNC_LIBM_MATH: libm's own) */\n");
    OUT("#ifndef NNC_LIBM_MATH\n#undef expf\n#define expf(x) nnc_expf(x)\n");
    if (need & LM_TANH)
        OUT("#undef tanhf\n#define tanhf(x) nnc_tanhf(x)\n");
    OUT("#endif\n");
}

/* Whether the library draws random numbers: a random init or dropout. */
static int init_draws(const Graph *g)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_PARAM && g->nodes[i].init == INIT_UNIFORM)
            return 1;
    return has_init(g);
}

static int library_draws(const Graph *g) { return emit_leaf(g, OP_DROPMASK) >= 0 || init_draws(g); }

/* Library mode: portable math, the control state (rate, step, random
 * generator) and a small PCG32, the same numbers on every platform.  The
 * generator's 64-bit state is kept as two 32-bit words so that ctl needs
 * only 4-byte alignment: on a 32-bit target a uint64_t member would align
 * ctl to 8 and could leave 4 bytes of padding before it, and the RAM would
 * no longer be the sum of the header's byte counts. */
static void library_rng(Emit *e)
{
    if (!e->o->library)
        return;
    library_math(e);
    OUT("\n/* ---- control: the learning rate, the step count, the random generator ---- */\n");
    OUT("struct pcg32 { uint32_t lo, hi; }; /* 64-bit state in two words: ctl stays 4-byte aligned */\n");
    OUT("static struct {\n    float lr;\n    uint32_t step;\n    struct pcg32 rng;\n} ctl;\n");
    if (!library_draws(e->g))
        return;
    OUT("\n/* PCG32 (XSH-RR): the same numbers on every platform. */\nstatic uint32_t rng_u32(struct pcg32 *s)\n{\n");
    OUT("    uint64_t old = (uint64_t)s->hi << 32 | s->lo;\n");
    OUT("    uint64_t next = old * 6364136223846793005ULL + 1442695040888963407ULL;\n");
    OUT("    s->lo = (uint32_t)next;\n    s->hi = (uint32_t)(next >> 32);\n");
    OUT("    uint32_t x = (uint32_t)(((old >> 18) ^ old) >> 27), r = (uint32_t)(old >> 59);\n");
    OUT("    return (x >> r) | (x << ((32u - r) & 31u));\n}\n");
    OUT("\nstatic float rng_uniform(struct pcg32 *s) { return (float)(rng_u32(s) >> 8) * (1.0f / 16777216.0f); }\n");
    if (has_init(e->g))
        OUT("\nstatic float rng_normal(struct pcg32 *s) /* Box-Muller */\n{\n"
            "    float u1 = rng_uniform(s), u2 = rng_uniform(s);\n"
            "    return sqrtf(-2.0f * logf(1.0f - u1)) * cosf(6.28318531f * u2);\n}\n");
}

static void decl_persistent(Emit *e)
{
    const Graph *g = e->g;
    char b[96];
    OUT("\n/* ---- params: trained, persistent ---- */\n");
    for (int i = 0; i < g->n; i++)
        if (nd(e, i)->op == OP_PARAM) {
            OUT("static float %s[%s];", e->name[i], emit_dims(nd(e, i)->shape).s);
            OUT("  /* %s = %s%s */\n", shape_str(nd(e, i)->shape, b, sizeof b), emit_init_text(nd(e, i), b + 48, 48),
                nd(e, i)->frozen ? ", frozen" : "");
        }
    OUT("\n/* ---- param gradients: one contiguous block (clipping and decay are one pass) ---- */\n");
    OUT("static float grads[%zu];\n", e->p->grad_bytes / 4 ? e->p->grad_bytes / 4 : 1);
    for (int i = 0; i < g->n; i++)
        if (e->p->buf[i].cls == SC_GRAD) {
            OUT("static float *const %s = grads + %zu;", e->name[i], e->p->buf[i].offset / 4);
            emit_decl_comment(e, i, NULL);
        }
    int any = 0, running = 0;
    for (int i = 0; i < g->n; i++)
        if (nd(e, i)->op == OP_STATE) {
            if (graph_is_running(nd(e, i)) && !running++)
                OUT("\n/* ---- running statistics: not trained, moved by update, read in evaluation, saved ---- */\n");
            else if (!graph_is_running(nd(e, i)) && !any++)
                OUT("\n/* ---- optimizer state: persistent, saved in checkpoints ---- */\n");
            OUT("static float %s[%s];", e->name[i], emit_dims(nd(e, i)->shape).s);
            emit_decl_comment(e, i, NULL);
        }
    OUT("\n/* ---- the batch: B rows, filled by the runtime ---- */\n");
    for (int i = 0; i < g->n; i++)
        if (e->p->buf[i].cls == SC_BATCH) {
            OUT("static %s %s[%s];", nd(e, i)->dtype == DT_I32 ? "int32_t" : "float", e->name[i],
                emit_dims(nd(e, i)->shape).s);
            emit_decl_comment(e, i, NULL);
        }
}

static void decl_consts(Emit *e)
{
    for (int i = 0; i < e->g->n; i++)
        if (e->p->buf[i].cls == SC_CONST)
            emit_const_array(e, i, "static const");
}

static const char *root_base(const Emit *e, int id)
{
    int root = e->p->buf[id].root;
    return e->p->buf[root].cls == SC_ARENA ? "arena" : e->name[root];
}

static void decl_arena(Emit *e)
{
    OUT("\n/* ---- the arena: every activation, gradient and temporary, planned ---- */\n");
    OUT("static float arena[%zu];  /* %zu bytes */\n", e->p->arena_bytes / 4 ? e->p->arena_bytes / 4 : 1,
        e->p->arena_bytes);
    for (int s = 0; s < e->p->n_steps; s++) {
        int id = e->p->order[s];
        const BufPlan *b = &e->p->buf[id];
        if (e->fu.fused[id]) {
            continue; /* computed inside its reader's loop: no pointer needed */
        } else if (b->cls == SC_ARENA) {
            OUT("static float *const %s = arena + %zu;", e->name[id], b->offset / 4);
        } else if (b->cls == SC_ALIAS) {
            const char *type = nd(e, id)->dtype == DT_I32 ? "int32_t" : "float";
            const char *base = root_base(e, id);
            if (strcmp(base, "arena") == 0)
                OUT("static %s *const %s = arena + %zu;", type, e->name[id], e->p->buf[e->p->buf[id].root].offset / 4);
            else
                OUT("static %s *const %s = %s;", type, e->name[id], base);
        } else {
            continue;
        }
        emit_decl_comment(e, id, NULL);
    }
    decl_consts(e);
}

static int has_dropout(const Graph *g) { return emit_leaf(g, OP_DROPMASK) >= 0; }

static void adam_rate(Emit *e) { emit_adam_rate(e->out, &e->g->train, "    ", "step"); }

/* forward, backward and update: the schedule's steps in three functions
 * (a forward or backward step's buffers poisoned after their last reader). */
static void fn_passes(Emit *e)
{
    static const char *const fwd[] = {"n", "mode", NULL}, *const bwd[] = {"n", NULL}, *const upd[] = {"lr", "step", NULL};
    char ret[160], comment[160];
    if (!e->o->library && has_dropout(e->g))
        OUT("\nstatic NnrtRng rng; /* dropout masks */\n");
    snprintf(ret, sizeof ret, "    return %s[0];\n", e->name[e->g->loss]);
    e->die = dying_in(e, 0, e->p->fwd_end, e->a), e->die_from = 0;
    emit_pass(e, "/* forward: the mean loss of the n rows in the batch buffers.\n"
                 " * mode: TRAIN (new dropout masks), TRAIN_SAME_MASK, EVAL, PREDICT. */",
              "static float forward(int n, int mode)", fwd, NULL, 0, e->p->fwd_end, ret);
    e->die = dying_in(e, e->p->fwd_end, e->p->bwd_end, e->a), e->die_from = e->p->fwd_end;
    emit_pass(e, "/* backward: the gradient of the loss, from the loss back to every param,\n"
                 " * in reverse order of the forward pass. */",
              "static void backward(int n)", bwd, NULL, e->p->fwd_end, e->p->bwd_end, "");
    e->die = NULL;
    if (e->g->train.opt == OPT_ADAM)
        emit_adam_pow(e->out, "static", "long");
    snprintf(comment, sizeof comment, "/* update: one %s step over every trainable param (lr for this epoch). */",
             emit_opt_name(e->g));
    emit_pass(e, comment, "static void update(float lr, long step)", upd, e->g->train.opt == OPT_ADAM ? adam_rate : NULL,
              e->p->bwd_end, e->p->n_steps, "");
}

/* Library mode's init: loops over the portable generator. */
static void init_param(Emit *e, int i)
{
    const Node *n = nd(e, i);
    const char *name = e->name[i];
    Str cnt = emit_numel(n->shape), c0 = emit_lit(n->c[0]), c1 = emit_lit(n->c[1]);
    char b[96];
    switch (n->init) {
    case INIT_ZEROS: case INIT_ONES: case INIT_CONST: {
        Str v = n->init == INIT_ZEROS ? emit_lit(0) : n->init == INIT_ONES ? emit_lit(1) : c0;
        OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s;", cnt.s, name, v.s);
        break;
    }
    case INIT_UNIFORM:
        OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s + (%s - %s) * rng_uniform(&r);", cnt.s, name, c0.s, c1.s, c0.s);
        break;
    case INIT_RANDN: case INIT_GLOROT: case INIT_HE:
        OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s * rng_normal(&r);", cnt.s, name, c0.s);
        break;
    }
    OUT("  /* %s = %s */\n", n->name, emit_init_text(n, b, sizeof b));
}

static void fn_init(Emit *e)
{
    OUT("\n/* init: params to their initial values, %soptimizer state to zero%s. */\n",
        e->p->running_bytes ? "running statistics to mean 0 and var 1, " : "",
        has_dropout(e->g) ? ", the dropout generator seeded" : "");
    if (!e->o->library) {
        emit_init(e, has_dropout(e->g) ? "nnrt_rng_seed_stream(&rng, seed, NNRT_STREAM_DROPOUT);" : NULL);
        return;
    }
    OUT("static void init(uint32_t seed)\n{\n    struct pcg32 r = {0x748fea9bu ^ seed, 0x853c49e6u};\n%s",
        init_draws(e->g) ? "" : "    (void)r;  /* no param starts random */\n");
    for (int i = 0; i < e->g->n; i++) {
        if (nd(e, i)->op == OP_PARAM)
            init_param(e, i);
        else if (graph_is_running(nd(e, i))) /* running statistics: mean 0, var 1 */
            OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s;  /* %s = %s */\n", emit_numel(nd(e, i)->shape).s,
                e->name[i], emit_lit(nd(e, i)->init == INIT_ONES).s, nd(e, i)->name,
                nd(e, i)->init == INIT_ONES ? "ones" : "zeros");
        else if (nd(e, i)->op == OP_STATE)
            OUT("    memset(%s, 0, sizeof %s);\n", e->name[i], e->name[i]);
    }
    OUT("    ctl.rng.lo = 0x94b95bdbu ^ seed; /* dropout masks */\n    ctl.rng.hi = 0xda3e39cbu;\n"
        "    ctl.step = 0;\n    ctl.lr = %s;\n}\n",
        emit_lit(e->g->train.lr).s);
}

/* An i32 input: the runtime's rows carry the ids as floats (exact, as
 * V <= 2^24), each checked in [0, V) when its file or table was loaded
 * (nnrt.h: NnrtModel.in_ids); the batch buffer the model reads is int32_t,
 * filled from them. */
static void fn_take_ids(Emit *e, int x)
{
    long w = shape_row_numel(nd(e, x)->shape);
    OUT("\n/* x_buf: a batch of id rows as the runtime gathers them, floats holding\n");
    OUT(" * integers in [0, %ld) (checked at load); take_ids: n rows of them into\n", emit_input_ids(e->g));
    OUT(" * the i32 input %s[B, %ld]. */\n", nd(e, x)->name, w);
    OUT("static float x_buf[%s];\n", emit_dims(nd(e, x)->shape).s);
    OUT("\nstatic void take_ids(const float *x_in, int n)\n{\n");
    OUT("    for (int i = 0; i < n * %ld; i++)\n        %s[i] = (int32_t)x_in[i];\n}\n", w, e->name[x]);
}

/* The model's functions as the runtime calls them (nnrt.h: NnrtModel). */
static void fn_glue(Emit *e)
{
    int x = emit_leaf(e->g, OP_INPUT), t = emit_leaf(e->g, OP_LABEL), y = e->g->output;
    const char *tt = nd(e, t)->dtype == DT_I32 ? "int32_t" : "float";
    char gather[200], upd[64];
    int ids = nd(e, x)->dtype == DT_I32;
    if (ids)
        fn_take_ids(e, x);
    snprintf(gather, sizeof gather, "nnrt_gather(d, perm, start, (size_t)n, %s, %s);", ids ? "x_buf" : e->name[x],
             e->name[t]);
    snprintf(upd, sizeof upd, "update: one %s step", emit_opt_name(e->g));
    const char *const stage[][2] = { /* a statement and its comment */
        {gather, "gather: rows perm[start..start+n) of d, the batch"},
        {ids ? "take_ids(x_buf, n);" : NULL, "the ids as int32_t, for the gather of E[ids]"},
        {"float loss_value = forward(n, TRAIN);",
         has_dropout(e->g) ? "forward: the mean loss, with new dropout masks" : "forward: the mean loss"},
        {"if (!isfinite(loss_value))", "the runtime stops: the params stay as they were"},
        {"    return loss_value;", NULL},
        {"backward(n);", "backward: the gradient of every param"},
        {"update(lr, step);", upd},
        {"return loss_value;", NULL},
    };
    int width = 0;
    for (size_t k = 0; k < sizeof stage / sizeof *stage; k++) /* a NULL statement: none in this model */
        width = stage[k][0] && stage[k][1] && (int)strlen(stage[k][0]) > width ? (int)strlen(stage[k][0]) : width;
    OUT("\n/* train_step: one training step on rows perm[start..start+n) of d (nnrt.h:\n");
    OUT(" * NnrtModel.train_step); the mean loss of the rows before the update. */\n");
    OUT("static float train_step(const NnrtData *d, const uint32_t *perm, size_t start, int n, float lr, long step)\n{\n");
    for (size_t k = 0; k < sizeof stage / sizeof *stage; k++)
        if (!stage[k][0])
            continue;
        else if (stage[k][1])
            OUT("    %-*s  /* %s */\n", width, stage[k][0], stage[k][1]);
        else
            OUT("    %s\n", stage[k][0]);
    OUT("}\n");
    OUT("\n/* forward and predict on the runtime's rows (evaluation, --gradcheck, --predict). */\n");
    OUT("static float model_forward(const float *x_in, const void *t_in, int n, int mode)\n{\n");
    if (ids)
        OUT("    take_ids(x_in, n);\n");
    else
        OUT("    if (x_in != %s)\n        memcpy(%s, x_in, sizeof(float) * (%s));\n", e->name[x], e->name[x], emit_numel(nd(e, x)->shape).s);
    OUT("    if (t_in != (const void *)%s)\n        memcpy(%s, t_in, sizeof(%s) * (%s));\n", e->name[t], e->name[t], tt,
        emit_numel(nd(e, t)->shape).s);
    OUT("    return forward(n, mode);\n}\n");
    OUT("\nstatic void model_predict(const float *x_in, int n, float *y_out)\n{\n");
    if (ids)
        OUT("    take_ids(x_in, n);\n");
    else
        OUT("    if (x_in != %s)\n        memcpy(%s, x_in, sizeof(float) * (%s));\n", e->name[x], e->name[x], emit_numel(nd(e, x)->shape).s);
    OUT("    forward(n, PREDICT);\n    memcpy(y_out, %s, sizeof(float) * (%s));\n}\n", e->name[y], emit_numel(nd(e, y)->shape).s);
}

/* ---- main's hooks ---------------------------------------------------------- */
static void c_addr(const Emit *e, int id, char *buf, size_t len) { snprintf(buf, len, "%s", e->name[id]); }

static void c_main_decls(Emit *e)
{
    OUT("static float y_buf[%s];  /* predict's output rows */\n", emit_dims(nd(e, e->g->output)->shape).s);
}

static void c_model_fns(Emit *e)
{
    emit_field(e, NULL, "init", "init");
    emit_field(e, NULL, "forward", "model_forward");
    emit_field(e, NULL, "backward", "backward");
    emit_field(e, NULL, "update", "update");
    emit_field(e, NULL, "predict", "model_predict");
    emit_field(e, NULL, "train_step", "train_step");
    if (e->o->blas && (large_matmul(e->g) || has_workspace(e)))
        emit_field(e, NULL, "blas_tune", "nnrt_blas_tune");  /* the BLAS on one thread, OMP_NUM_THREADS's threads */
}

/* Dropout's draws a row: one uniform per masked unit of a row. */
static long drop_draws(const Graph *g)
{
    long k = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_DROPMASK)
            k += shape_row_numel(g->nodes[i].shape);
    return k;
}

/* --mpi: the grad block (one allreduce a step) and the dropout generator
 * (each rank draws where one process would), then the data-parallel driver. */
static void c_main_tail(Emit *e)
{
    if (!e->o->mpi) {
        OUT("    return nnrt_main(&m, argc, argv);\n");
        return;
    }
    OUT("    m.grads = grads;  /* the contiguous gradient block: one allreduce a step */\n");
    OUT("    m.n_grads = %zu;\n", e->p->grad_bytes / 4);
    if (has_dropout(e->g))
        OUT("    m.drop_rng = &rng;  /* dropout: %ld draws a row */\n    m.drop_draws = %ld;\n", drop_draws(e->g),
            drop_draws(e->g));
    OUT("    return nnrt_mpi_main(&m, argc, argv);  /* mpirun -np N: data parallel over N ranks */\n");
}

/* ---- library mode: the API of M.h over the static storage ---------------- */
/* The tensors save writes, in order: every param in declaration order,
 * then every running statistic (batchnorm's h.mean, h.var: state, not
 * trained, but what predict reads).  A position is i for param node i and
 * n + i for running statistic node i; saved_next(e, -1) is the first, -1
 * the end, so a walk over all of them is one pass over the nodes (the
 * node is position % n). */
static int saved_next(const Emit *e, int at)
{
    int n = e->g->n;
    for (int p = at + 1; p < 2 * n; p++)
        if (p < n ? nd(e, p)->op == OP_PARAM : graph_is_running(nd(e, p - n)))
            return p;
    return -1;
}
/* FOR_SAVED (e, p, i): i runs over the saved nodes in save's order. */
#define FOR_SAVED(e, p, i) \
    for (int p = saved_next(e, -1), i = p % (e)->g->n; p >= 0; p = saved_next(e, p), i = p % (e)->g->n)

static long params_numel(const Emit *e)
{
    long total = 0;
    FOR_SAVED (e, p, i)
        total += shape_numel(nd(e, i)->shape, e->g->batch);
    return total;
}

static void lib_save_load(Emit *e)
{
    const char *m = e->g->model;
    const char *what = e->p->running_bytes ? "every param, then the running statistics," : "every param,";
    OUT("\n/* save: %s in declaration order, as little-endian f32 bytes.\n", what);
    OUT(" * Returns the bytes written, or 0 when len is less than the %s_SAVE_BYTES needed. */\n", e->model);
    OUT("size_t %s_save(uint8_t *buf, size_t len)\n{\n    size_t k = 0;\n", m);
    OUT("    if (len < %s_SAVE_BYTES)\n        return 0;\n", e->model);
    FOR_SAVED (e, p, i)
        OUT("    for (int i = 0; i < %s; i++) {\n        uint32_t u;\n        memcpy(&u, &%s[i], 4);\n"
            "        for (int b = 0; b < 4; b++)\n            buf[k++] = (uint8_t)(u >> (8 * b));\n    }\n",
            emit_numel(nd(e, i)->shape).s, e->name[i]);
    OUT("    return k;\n}\n");
    OUT("\n/* load: the params%s from bytes written by save; 0, or -1 when len is not\n * %s_SAVE_BYTES. */\n",
        e->p->running_bytes ? " and running statistics" : "", e->model);
    OUT("int %s_load(const uint8_t *buf, size_t len)\n{\n    size_t k = 0;\n", m);
    OUT("    if (len != %s_SAVE_BYTES)\n        return -1;\n", e->model);
    FOR_SAVED (e, p, i)
        OUT("    for (int i = 0; i < %s; i++) {\n        uint32_t u = 0;\n"
            "        for (int b = 0; b < 4; b++)\n            u |= (uint32_t)buf[k++] << (8 * b);\n"
            "        memcpy(&%s[i], &u, 4);\n    }\n",
            emit_numel(nd(e, i)->shape).s, e->name[i]);
    OUT("    return 0;\n}\n");
}

static const char *upper_name(const char *s, Arena *a)
{
    char *u = arena_strdup(a, s);
    for (char *q = u; *q; q++)
        if (*q >= 'a' && *q <= 'z')
            *q = (char)(*q - 32);
    return u;
}

/* NaN unless n is in [1, B], every input id (an i32 input) in [0, V) and,
 * for class ids, every label id in [0, K): the ids index a table and the
 * scores, so one outside would read out of bounds.  fail is what the
 * function returns then. */
static void lib_guard(Emit *e, int x, int t, const char *fail)
{
    OUT("    if (n < 1 || n > B)\n        return %s;\n", fail);
    if (nd(e, x)->dtype == DT_I32)
        OUT("    for (int i = 0; i < n * %ld; i++)\n        if (x_in[i] < 0 || x_in[i] >= %s_VOCAB)\n"
            "            return %s;\n", shape_row_numel(nd(e, x)->shape), e->model, fail);
    if (t >= 0 && nd(e, t)->dtype == DT_I32)
        OUT("    for (int r = 0; r < n; r++)\n        if (t_in[r] < 0 || t_in[r] >= %s_CLASSES)\n"
            "            return %s;\n", e->model, fail);
}

/* The rows of one batch into the batch buffers: n input rows and, where
 * t is a label, n label rows (the input's type is the caller's: float, or
 * int32_t ids). */
static void lib_take(Emit *e, int x, int t)
{
    const char *xt = nd(e, x)->dtype == DT_I32 ? "int32_t" : "float";
    OUT("    memcpy(%s, x_in, sizeof(%s) * (size_t)n * %ld);\n", e->name[x], xt, shape_row_numel(nd(e, x)->shape));
    if (t >= 0)
        OUT("    memcpy(%s, t_in, sizeof(%s) * (size_t)n * %ld);\n", e->name[t],
            nd(e, t)->dtype == DT_I32 ? "int32_t" : "float", shape_row_numel(nd(e, t)->shape));
}

static void fn_library(Emit *e)
{
    int x = emit_leaf(e->g, OP_INPUT), t = emit_leaf(e->g, OP_LABEL), y = e->g->output;
    int ids = nd(e, x)->dtype == DT_I32;
    const char *m = e->g->model, *tt = nd(e, t)->dtype == DT_I32 ? "int32_t" : "float";
    const char *xt = ids ? "int32_t" : "float";
    char nan_when[200], bad_in[100] = "";
    if (ids)
        snprintf(bad_in, sizeof bad_in, ", an input id outside [0, %s_VOCAB)", e->model);
    snprintf(nan_when, sizeof nan_when, "n is out of range%s%s", bad_in,
             nd(e, t)->dtype == DT_I32 ? " or a class id outside [0, " : "");
    if (nd(e, t)->dtype == DT_I32)
        snprintf(nan_when + strlen(nan_when), sizeof nan_when - strlen(nan_when), "%s_CLASSES)", e->model);
    OUT("\n/* ---- the library's API (%s.h) ---- */\n", m);
    OUT("void %s_init(uint32_t seed)\n{\n    init(seed);\n}\n", m);
    OUT("\nvoid %s_set_lr(float lr)\n{\n    ctl.lr = lr;\n}\n", m);
    OUT("\n/* One training step on n rows (1 <= n <= B): forward, backward, update.\n"
        " * Returns the mean loss of the rows before the update; NaN, and nothing\n"
        " * changed, when %s. */\n", nan_when);
    OUT("float %s_train_step(const %s *x_in, const %s *t_in, int n)\n{\n", m, xt, tt);
    lib_guard(e, x, t, "NAN");
    lib_take(e, x, t);
    OUT("    float loss_value = forward(n, TRAIN);\n    backward(n);\n    update(ctl.lr, (long)++ctl.step);\n");
    OUT("    return loss_value;\n}\n");
    OUT("\n/* The mean loss of n rows without training (no dropout); NaN when\n * %s. */\n", nan_when);
    OUT("float %s_loss(const %s *x_in, const %s *t_in, int n)\n{\n", m, xt, tt);
    lib_guard(e, x, t, "NAN");
    lib_take(e, x, t);
    OUT("    return forward(n, EVAL);\n}\n");
    OUT("\n/* The output rows for n inputs: y_out gets n * %s_OUT_DIM floats.  Returns\n"
        " * 0, or -1 with y_out untouched when n is outside [1, B]%s. */\n", e->model, bad_in);
    OUT("int %s_predict(const %s *x_in, int n, float *y_out)\n{\n", m, xt);
    lib_guard(e, x, -1, "-1");
    lib_take(e, x, -1);
    OUT("    forward(n, PREDICT);\n    memcpy(y_out, %s, sizeof(float) * (%s));\n    return 0;\n}\n", e->name[y],
        emit_numel(nd(e, y)->shape).s);
    lib_save_load(e);
}

/* The header's word on M_save's buffer: the byte order and where each
 * param lies, so that a host can read what a device saved. */
static void lib_save_layout(Emit *e, const char *up)
{
    long offset = 0;
    OUT(" *\n * %s_save writes every param in declaration order%s, each float as\n", e->g->model,
        e->p->running_bytes ? ", then the running\n * statistics (batchnorm's mean and var, which predict reads)" : "");
    OUT(" * the 4 bytes of its IEEE 754 binary32 value, least significant byte\n");
    OUT(" * first (little-endian) on every CPU, big-endian ones too; %s_load\n * reads the same:\n", e->g->model);
    FOR_SAVED (e, p, i) {
        const Node *n = nd(e, i);
        char sh[160];
        long bytes = shape_numel(n->shape, e->g->batch) * 4;
        OUT(" *     bytes %ld to %ld: %s %s\n", offset, offset + bytes - 1, n->name, shape_str(n->shape, sh, sizeof sh));
        offset += bytes;
    }
    OUT(" * (%s_SAVE_BYTES in all).\n", up);
}

void emit_h(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o)
{
    Emit em = {.out = out, .g = g, .p = p, .o = o}, *e = &em;
    Arena a;
    arena_init(&a);
    const char *up = upper_name(g->model, &a);
    int t = emit_leaf(g, OP_LABEL), x = emit_leaf(g, OP_INPUT);
    const char *tt = g->nodes[t].dtype == DT_I32 ? "int32_t" : "float", *m = g->model;
    int ids = g->nodes[x].dtype == DT_I32;
    const char *xt = ids ? "int32_t" : "float";
    if (o->header)
        OUT("/* %s: ", o->header);
    else
        OUT("/* %s.h: ", m);
    OUT("the API of the training library for the model '%s'\n * (%s), ", m, o->path);
    if (o->source)
        OUT("whose functions are in %s.\n", o->source);
    else
        OUT("whose functions are in the .c file written with it.\n");
    OUT(" * Generated by nnc %s; do not edit.\n *\n", NNC_VERSION);
    OUT(" * Static storage only: no malloc, no stdio, no files.  RAM is exactly the\n");
    OUT(" * sum of the byte counts below (%s_RAM_BYTES); nothing else is allocated.\n", up);
    OUT(" *\n *     %s_init(seed);\n *     for (...) loss = %s_train_step(x, t, n);   // n <= %s_BATCH rows\n", m, m, up);
    OUT(" *     %s_predict(x, n, y);\n", m);
    lib_save_layout(e, up);
    OUT(" */\n");
    OUT("#ifndef %s_H\n#define %s_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n", up, up);
    OUT("#define %s_BATCH %d          /* rows per step, at most */\n", up, g->batch);
    OUT("#define %s_IN_DIM %ld        /* %s per input row */\n", up, shape_row_numel(g->nodes[x].shape),
        ids ? "ids (int32_t)" : "floats");
    if (ids)
        OUT("#define %s_VOCAB %ld         /* input ids lie in [0, %s_VOCAB); any other: NaN, or -1 */\n", up,
            emit_input_ids(g), up);
    OUT("#define %s_LABEL_DIM %ld     /* %s per label row */\n", up, shape_row_numel(g->nodes[t].shape),
        g->nodes[t].dtype == DT_I32 ? "class ids (int32_t)" : "floats");
    if (g->nodes[t].dtype == DT_I32)
        OUT("#define %s_CLASSES %ld       /* class ids lie in [0, %s_CLASSES); any other: NaN */\n", up,
            emit_label_classes(g), up);
    OUT("#define %s_OUT_DIM %ld       /* floats per output row */\n\n", up, shape_row_numel(g->nodes[g->output].shape));
    OUT("#define %s_PARAM_BYTES %zu\n#define %s_GRAD_BYTES %zu\n#define %s_STATE_BYTES %zu\n", up, p->param_bytes, up,
        p->grad_bytes, up, p->state_bytes);
    OUT("#define %s_BATCH_BYTES %zu\n#define %s_ARENA_BYTES %zu\n", up, p->batch_bytes, up, p->arena_bytes);
    OUT("#define %s_CONTROL_BYTES 16  /* learning rate, step count, random generator */\n", up);
    OUT("#define %s_RAM_BYTES (%s_PARAM_BYTES + %s_GRAD_BYTES + %s_STATE_BYTES + %s_BATCH_BYTES + \\\n", up, up, up, up, up);
    OUT("                       %s_ARENA_BYTES + %s_CONTROL_BYTES)\n", up, up);
    OUT("#define %s_SAVE_BYTES %ld   /* the params%s as saved by %s_save */\n\n", up, params_numel(e) * 4,
        p->running_bytes ? " and running statistics" : "", m);
    OUT("void %s_init(uint32_t seed);                     /* params to their initial values */\n", m);
    if (g->train.opt == OPT_ADADELTA)
        OUT("void %s_set_lr(float lr);                        /* adadelta has no rate: changes nothing */\n", m);
    else
        OUT("void %s_set_lr(float lr);                        /* default: the train block's lr */\n", m);
    OUT("float %s_train_step(const %s *x, const %s *t, int n); /* one step; the loss (NaN: bad n%s) */\n", m, xt,
        tt, g->nodes[t].dtype == DT_I32 || ids ? " or id" : "");
    OUT("float %s_loss(const %s *x, const %s *t, int n);       /* the loss, no update */\n", m, xt, tt);
    OUT("int %s_predict(const %s *x, int n, float *y);           /* 0, or -1: bad n%s (y untouched) */\n", m, xt,
        ids ? " or id" : "");
    OUT("size_t %s_save(uint8_t *buf, size_t len);        /* %s_SAVE_BYTES bytes, little-endian (above) */\n", m, up);
    OUT("int %s_load(const uint8_t *buf, size_t len);     /* what %s_save wrote; 0, or -1: wrong len */\n\n#endif\n", m, m);
    arena_free(&a);
}

/* A batch norm's statistics node, or -1. */
static int batchnorm_op(const Graph *g)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_BN_STATS)
            return i;
    return -1;
}

/* What --mpi cannot split over ranks (NULL: nothing). */
static const char *mpi_refusal(const Graph *g, const EmitOptions *o)
{
    if (batchnorm_op(g) >= 0)
        return "--mpi does not run batchnorm: each rank would normalize by the statistics of its share of "
               "the batch, not of the whole batch, and keep running statistics of its own";
    for (int i = 0; i < g->n; i++) {
        const Node *n = &g->nodes[i];
        if (n->op != OP_DROPMASK)
            continue;
        if (o->cuda)
            return "--target cuda --mpi does not run dropout yet (the C program of nnc --mpi does)";
        if (n->shape.rank == 0 || n->shape.d[0] != DIM_B)
            return "--mpi splits a batch's rows over the ranks, and a dropout mask without the batch axis "
                   "would be drawn once a step on every rank";
    }
    return NULL;
}

int emit_check(const Graph *g, const EmitOptions *o, FILE *err)
{
    int inputs = 0, labels = 0;
    for (int i = 0; i < g->n; i++) {
        inputs += g->nodes[i].op == OP_INPUT;
        labels += g->nodes[i].op == OP_LABEL;
    }
    const char *why = NULL;
    if (g->output < 0)
        why = "the model has no output: write 'output NAME;' naming per-row predictions";
    else if (!o->library && g->train.data.kind == SRC_NONE)
        why = "a program needs training data: add 'data = ...;' to the train block (or use --emit library)";
    else if (inputs != 1 || labels != 1)
        why = "an emitted trainer feeds one input and one label";
    else if (g->nodes[emit_leaf(g, OP_INPUT)].dtype == DT_I32 && emit_input_ids(g) <= 0)
        why = "an i32 input must index a table (E[ids], E a param of [V, D]): its ids have no range to check";
    else if (g->nodes[emit_leaf(g, OP_INPUT)].dtype == DT_I32 && emit_input_ids(g) > (1L << 24))
        why = "an i32 input indexes a table of more than 2^24 rows; the emitted program supports at most 2^24";
    if (!why && o->mpi)
        why = mpi_refusal(g, o);
    if (why)
        fprintf(err, "nnc: %s: cannot emit: %s\n", o->path, why);
    return why == NULL;
}

static void c_prepare(Emit *e) { e->model = upper_name(e->g->model, e->a); }

static void c_code(Emit *e)
{
    fn_passes(e);
    fn_init(e);
}

static void c_decls(Emit *e)
{
    includes(e);
    decl_persistent(e);
    decl_arena(e);
    library_rng(e);
    vector_math(e);
    portable_gemm(e);
    conv_helpers(e);
}

static void c_finish(Emit *e)
{
    if (e->o->library) {
        fn_library(e);
    } else {
        fn_glue(e);
        emit_main(e);
    }
}

/* The window loops' variables (emit_conv, emit_pool), im2col's (emit_conv_gemm, conv_helpers)
 * and batch norm's (emit_bn_*), kept from the model's names. */
static const char *const c_reserved[] = {"co", "ci", "oh", "ow", "kh", "kw", "ih", "iw", "pl", "bi", "dv",
                                         "col", "im2col", "col2im", "window_span", "lo", "hi", "row", "dr",
                                         "fi", "cnt", "mu", "sq", "sd", "md", "mdx"};

static const EmitTarget c_target = {
    .ext = "c", .reserved = c_reserved, .n_reserved = sizeof c_reserved / sizeof *c_reserved, .prepare = c_prepare, .code = c_code, .decls = c_decls, .finish = c_finish, .intro = c_intro,
    .unit = "loop", .step_rules = 1, .stop = "return 0.0f;",
    .has_code = has_code, .step = emit_node, .after_step = after_step,
    .designated = 1, .addr = c_addr, .main_decls = c_main_decls, .model_fns = c_model_fns, .main_tail = c_main_tail,
};

void emit_c(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o, int argc, char **argv)
{
    emit_program(out, g, p, o, &c_target, argc, argv);
}
