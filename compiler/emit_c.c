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
 *   init, predict, and (program mode) the NnrtModel descriptor and main
 *
 * Every step is one loop nest or one runtime call with a comment above it:
 * the .nn line when it changes, then the node as an equation.  Extents are
 * numbers except the batch axis, which is `n`, the rows of this batch.
 * Names come from the model (h.W becomes h_W); a name that would clash with
 * C or with the emitted code's own names gets a trailing underscore.
 */
#include "emit.h"
#include "emit_common.h"

#include <math.h>
#include <string.h>

typedef struct Emit {
    FILE *out;
    const Graph *g;
    const Plan *p;
    const EmitOptions *o;
    const char **name; /* C name of every node */
    int last_line;     /* the .nn line of the previous comment */
    SrcCursor src_at;  /* where source_line last looked */
    Fusion fu;         /* which values are computed inside their reader's loop */
    ExprEnv env;       /* for the shared expression builders */
    const char *model; /* C prefix-safe model name */
} Emit;

#define OUT(...) fprintf(e->out, __VA_ARGS__)

/* ---- extents and element expressions ----------------------------------- */
static const Node *nd(const Emit *e, int id) { return &e->g->nodes[id]; }

/* ---- comments ---------------------------------------------------------- */
static void source_line(Emit *e, int line, const char *indent)
{
    if (line == e->last_line || !e->o->src)
        return;
    e->last_line = line;
    const char *end = e->o->src + e->o->src_len;
    const char *p = emit_src_line(e->o->src, e->o->src_len, line, &e->src_at);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *eol = p;
    while (eol < end && *eol != '\n' && *eol != '#')
        eol++;
    while (eol > p && (eol[-1] == ' ' || eol[-1] == '\t'))
        eol--;
    int len = (int)(eol - p);
    char text[240];
    snprintf(text, sizeof text, "%.*s", len > 200 ? 200 : len, p);
    for (char *q = text; *q; q++) /* keep the comment a comment */
        if (q[0] == '*' && q[1] == '/')
            q[1] = '|';
    OUT("\n%s/* line %d: %s */\n", indent, line, text);
}

static void step_comment(Emit *e, int id)
{
    const Node *n = nd(e, id);
    char f[512];
    source_line(e, n->loc.line, "    ");
    graph_formula(e->g, id, f, sizeof f);
    for (char *q = f; *q; q++)
        if (q[0] == '*' && q[1] == '/')
            q[1] = '|';
    if (n->rule)
        OUT("    /* %s\n       %s */\n", f, n->rule);
    else
        OUT("    /* %s */\n", f);
}

/* ---- elementwise ------------------------------------------------------- */
static void open_loops(Emit *e, Shape s)
{
    for (int a = 0; a < s.rank; a++)
        OUT("%*sfor (int %c = 0; %c < %s; %c++)\n", 4 * (a + 1), "", emit_loopvar[a], emit_loopvar[a], emit_ext(s.d[a]).s, emit_loopvar[a]);
}

/* out = f(a[, b]) elementwise, with any fused producers expanded: one flat
 * loop when every operand has the output's shape (or is a scalar), else
 * nested loops with broadcast indices.  A column sum fused after it (the
 * bias gradient) is accumulated in the same loop. */
static void emit_ew(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int red = e->fu.epilogue[id];
    int flat = red < 0 && emit_flat_operands(&e->env, id, n->shape);
    Big f = emit_ew_tree(&e->env, id, n->shape, flat);
    if (flat) {
        OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s;\n", emit_numel(n->shape).s, e->name[id], f.s);
        return;
    }
    int depth = 4 * (n->shape.rank + 1);
    Str at = emit_index_in(n->shape, n->shape);
    if (red < 0) {
        open_loops(e, n->shape);
        OUT("%*s%s[%s] = %s;\n", depth, "", e->name[id], at.s, f.s);
        return;
    }
    /* rank 2: rows i, columns j; the column sum rides along */
    OUT("    for (int j = 0; j < %d; j++)\n        %s[j] = 0.0f;\n", n->shape.d[1], e->name[red]);
    OUT("    for (int i = 0; i < %s; i++)\n", emit_ext(n->shape.d[0]).s);
    OUT("        for (int j = 0; j < %d; j++) {\n", n->shape.d[1]);
    OUT("            %s[%s] = %s;\n", e->name[id], at.s, f.s);
    OUT("            %s[j] += %s[%s];  /* %s = Σ_rows %s, in the same loop */\n        }\n", e->name[red],
        e->name[id], at.s, nd(e, red)->name, nd(e, id)->name);
}

/* ---- matmul ------------------------------------------------------------ */
/* Small products (up to SMALL_GEMM multiply-adds at B rows) are loops with
 * constant bounds, which the C compiler unrolls; a BLAS call costs more
 * than the work there.  Larger ones go to nnrt_sgemm (cblas_sgemm). */
enum { SMALL_GEMM = 65536 };

static void emit_matmul(Emit *e, int id)
{
    const Node *n = nd(e, id), *a = nd(e, n->in[0]), *b = nd(e, n->in[1]);
    int kd = n->ta ? a->shape.d[0] : a->shape.d[1], lda = a->shape.d[1], ldb = b->shape.d[1], ldc = n->shape.d[1];
    Str M = emit_ext(n->shape.d[0]), N = emit_ext(n->shape.d[1]), K = emit_ext(kd);
    long work = shape_numel(n->shape, e->g->batch) * (kd == DIM_B ? e->g->batch : kd);
    const char *A = e->name[n->in[0]], *Bm = e->name[n->in[1]], *C = e->name[id];
    if (e->o->blas && work > SMALL_GEMM) {
        OUT("    nnrt_sgemm(%d, %d, %s, %s, %s, 1.0f, %s, %d, %s, %d, 0.0f, %s, %d);\n", n->ta, n->tb, M.s, N.s, K.s,
            A, lda, Bm, ldb, C, ldc);
        return;
    }
    if (!e->o->blas && work > SMALL_GEMM) {
        OUT("    gemm(%d, %d, %s, %s, %s, %s, %d, %s, %d, %s, %d);\n", n->ta, n->tb, M.s, N.s, K.s, A, lda, Bm, ldb, C, ldc);
        return;
    }
    if (n->tb) { /* C[i,j] = Σ_k A[i,k]·B[j,k]: a dot product of two rows */
        OUT("    for (int i = 0; i < %s; i++)\n        for (int j = 0; j < %s; j++) {\n", M.s, N.s);
        OUT("            float s = 0.0f;\n            for (int k = 0; k < %s; k++)\n", K.s);
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
            "            const float a = %s[k * %d + i];\n", K.s, M.s, A, lda);
    else
        OUT("    for (int i = 0; i < %s; i++)\n        for (int k = 0; k < %s; k++) {\n"
            "            const float a = %s[i * %d + k];\n", M.s, K.s, A, lda);
    OUT("            for (int j = 0; j < %s; j++)\n                %s[i * %d + j] += a * %s[k * %d + j];\n        }\n",
        N.s, C, ldc, Bm, ldb);
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
static Str shifted_index(Shape big, int axis, int lo)
{
    Str r;
    r.s[0] = '\0';
    long stride = 1;
    char terms[NNC_MAX_RANK][64];
    for (int a = big.rank - 1; a >= 0; a--) {
        if (a == axis && lo)
            snprintf(terms[a], 64, "(%c + %d)%s", emit_loopvar[a], lo, "");
        else
            snprintf(terms[a], 64, "%c", emit_loopvar[a]);
        if (stride != 1) {
            size_t u = strlen(terms[a]);
            snprintf(terms[a] + u, 64 - u, " * %ld", stride);
        }
        stride *= big.d[a] == DIM_B ? 1 : big.d[a];
    }
    for (int a = 0; a < big.rank; a++) {
        size_t used = strlen(r.s);
        snprintf(r.s + used, sizeof r.s - used, "%s%s", a ? " + " : "", terms[a]);
    }
    return r;
}

static void emit_slice_pad(Emit *e, int id)
{
    const Node *n = nd(e, id);
    Shape in = nd(e, n->in[0])->shape;
    if (n->op == OP_SLICE) {
        emit_copy_loops(e, id, n->shape, emit_index_in(n->shape, n->shape).s, e->name[n->in[0]],
                        shifted_index(in, n->axis, n->lo).s);
        return;
    }
    OUT("    memset(%s, 0, sizeof(float) * (%s));\n", e->name[id], emit_numel(n->shape).s);
    emit_copy_loops(e, id, in, shifted_index(n->shape, n->axis, n->lo).s, e->name[n->in[0]], emit_index_in(in, in).s);
}

static void emit_concat(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int off = 0;
    for (int k = 0; k < n->n_in; k++) {
        Shape in = nd(e, n->in[k])->shape;
        emit_copy_loops(e, id, in, shifted_index(n->shape, n->axis, off).s, e->name[n->in[k]], emit_index_in(in, in).s);
        off += in.d[n->axis];
    }
}

static void emit_transpose(Emit *e, int id)
{
    const Node *n = nd(e, id);
    Shape in = nd(e, n->in[0])->shape;
    /* loop over the output; input axis perm[a] is output axis a */
    Big src;
    src.s[0] = '\0';
    long stride = 1;
    char terms[NNC_MAX_RANK][48];
    for (int a = in.rank - 1; a >= 0; a--) {
        int out_axis = 0;
        for (int q = 0; q < n->shape.rank; q++)
            if (n->perm[q] == a)
                out_axis = q;
        snprintf(terms[a], 48, stride == 1 ? "%c" : "%c * %ld", emit_loopvar[out_axis], stride);
        stride *= in.d[a] == DIM_B ? 1 : in.d[a];
    }
    for (int a = 0; a < in.rank; a++) {
        size_t used = strlen(src.s);
        snprintf(src.s + used, sizeof src.s - used, "%s%s", a ? " + " : "", terms[a]);
    }
    emit_copy_loops(e, id, n->shape, emit_index_in(n->shape, n->shape).s, e->name[n->in[0]], src.s);
}

/* gather: out row i = x row idx[i];  scatter_add: zeros, out row idx[i] += dy row i */
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

static void emit_softmax(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int k = n->shape.d[n->shape.rank - 1];
    const char *x = e->name[n->in[0]], *y = e->name[id];
    OUT("    for (int r = 0; r < %s; r++) {\n", emit_rows_of(n->shape).s);
    OUT("        const float *xr = %s + r * %d;\n        float *yr = %s + r * %d;\n", x, k, y, k);
    if (n->op == OP_SOFTMAX || n->op == OP_LOG_SOFTMAX) {
        OUT("        float m = xr[0], s = 0.0f;\n");
        OUT("        for (int j = 1; j < %d; j++)\n            m = xr[j] > m ? xr[j] : m;\n", k);
        OUT("        for (int j = 0; j < %d; j++)\n            s += expf(xr[j] - m);\n", k);
        if (n->op == OP_SOFTMAX)
            OUT("        for (int j = 0; j < %d; j++)\n            yr[j] = expf(xr[j] - m) / s;\n", k);
        else
            OUT("        for (int j = 0; j < %d; j++)\n            yr[j] = xr[j] - m - logf(s);\n", k);
    } else {
        const char *dy = e->name[n->in[1]];
        OUT("        const float *dr = %s + r * %d;\n        float s = 0.0f;\n", dy, k);
        if (n->op == OP_SOFTMAX_GRAD) {
            OUT("        for (int j = 0; j < %d; j++)\n            s += dr[j] * xr[j];\n", k);
            OUT("        for (int j = 0; j < %d; j++)\n            yr[j] = xr[j] * (dr[j] - s);\n", k);
        } else {
            OUT("        for (int j = 0; j < %d; j++)\n            s += dr[j];\n", k);
            OUT("        for (int j = 0; j < %d; j++)\n            yr[j] = dr[j] - expf(xr[j]) * s;\n", k);
        }
    }
    OUT("    }\n");
}

static void emit_loss(Emit *e, int id)
{
    const Node *n = nd(e, id);
    Shape ys = nd(e, n->in[0])->shape;
    int k = ys.d[1], t = n->in[1];
    const char *y = e->name[n->in[0]];
    Str rows = emit_ext(ys.d[0]), tg = emit_target(&e->env, t, k);
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
        else
            OUT("            int want = 0;\n            for (int j = 1; j < %d; j++)\n                want = %s[r * %d + j] > %s[r * %d + want] ? j : want;\n            total += best == want;\n",
                k, e->name[t], k, e->name[t], k);
    }
    OUT("        }\n        %s[0] = (float)total / (float)%s;\n    }\n", e->name[id], ys.d[0] == DIM_B ? "n" : rows.s);
}

static void emit_loss_grad(Emit *e, int id)
{
    const Node *n = nd(e, id);
    int nll = n->op == OP_NLL_GRAD;
    Shape ys = nll ? n->to : nd(e, n->in[0])->shape;
    int k = ys.d[1], t = n->in[nll ? 0 : 1], dl = n->in[nll ? 1 : 2];
    Str rows = emit_ext(ys.d[0]), tg = emit_target(&e->env, t, k), dls = emit_elem(&e->env, dl, "0");
    const char *g = e->name[id];
    OUT("    {\n        const float dl = %s / %s; /* dL/n */\n", dls.s, ys.d[0] == DIM_B ? "(float)n" : emit_lit(ys.d[0]).s);
    OUT("        for (int r = 0; r < %s; r++) {\n", rows.s);
    if (n->op == OP_SOFTMAX_CE_GRAD) {
        const char *y = e->name[n->in[0]];
        OUT("            const float *yr = %s + r * %d;\n            float *gr = %s + r * %d;\n", y, k, g, k);
        OUT("            float m = yr[0], s = 0.0f;\n");
        OUT("            for (int j = 1; j < %d; j++)\n                m = yr[j] > m ? yr[j] : m;\n", k);
        OUT("            for (int j = 0; j < %d; j++)\n                s += (gr[j] = expf(yr[j] - m));\n", k);
        if (nd(e, t)->dtype == DT_I32) {
            OUT("            for (int j = 0; j < %d; j++)\n                gr[j] = dl * (gr[j] / s - %s);\n", k, tg.s);
        } else { /* target rows need not sum to 1: d/dy Σ t·(lse - y) = softmax(y)·Σt - t */
            OUT("            float tsum = 0.0f;\n            for (int j = 0; j < %d; j++)\n                tsum += %s;\n", k, tg.s);
            OUT("            for (int j = 0; j < %d; j++)\n                gr[j] = dl * (gr[j] / s * tsum - %s);\n", k, tg.s);
        }
    } else if (nll) {
        OUT("            for (int j = 0; j < %d; j++)\n                %s[r * %d + j] = -dl * %s;\n", k, g, k, tg.s);
    } else {
        const char *y = e->name[n->in[0]];
        OUT("            for (int j = 0; j < %d; j++)\n                %s[r * %d + j] = dl * (1.0f / (1.0f + expf(-%s[r * %d + j])) - %s);\n",
            k, g, k, y, k, tg.s);
    }
    OUT("        }\n    }\n");
}

/* ---- the update stage ---------------------------------------------------- */
static void emit_grad_norm(Emit *e, int id)
{
    const char *acc = e->o->library ? "float" : "double";
    OUT("    {   /* one pass over the contiguous gradient block */\n        %s s = 0.0%s;\n", acc, e->o->library ? "f" : "");
    OUT("        for (int i = 0; i < %zu; i++)\n            s += (%s)grads[i] * grads[i];\n", e->p->grad_bytes / 4, acc);
    OUT("        %s[0] = %s(s);\n    }\n", e->name[id], e->o->library ? "sqrtf" : "(float)sqrt");
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
typedef struct Dying {
    int *start, *item;
} Dying;

static int poisoned(const Emit *e, int id)
{
    const BufPlan *b = &e->p->buf[id];
    return b->cls == SC_ARENA && b->root == id && b->inplace_of < 0 && id != e->g->loss &&
           plan_dies_at(e->p, id, b->last);
}

static Dying dying_in(const Emit *e, int from, int to, Arena *a)
{
    Dying d = {arena_alloc(a, (size_t)(to - from + 1) * sizeof(int)), NULL};
    for (int id = 0; id < e->g->n; id++)
        if (poisoned(e, id) && e->p->buf[id].last >= from && e->p->buf[id].last < to)
            d.start[e->p->buf[id].last - from + 1]++;
    for (int s = from; s < to; s++)
        d.start[s - from + 1] += d.start[s - from];
    d.item = arena_alloc(a, (size_t)d.start[to - from] * sizeof(int) + 1);
    int *next = arena_alloc(a, (size_t)(to - from + 1) * sizeof(int));
    memcpy(next, d.start, (size_t)(to - from) * sizeof(int));
    for (int id = 0; id < e->g->n; id++)
        if (poisoned(e, id) && e->p->buf[id].last >= from && e->p->buf[id].last < to)
            d.item[next[e->p->buf[id].last - from]++] = id;
    return d;
}

static void emit_poison(Emit *e, const Dying *d, int from, int step)
{
    for (int k = d->start[step - from]; k < d->start[step - from + 1]; k++) {
        int id = d->item[k];
        const BufPlan *b = &e->p->buf[id];
        if (e->fu.fused[id]) /* never stored, so it has no pointer */
            OUT("    POISON(arena + %zu, %s);\n", b->offset / 4, emit_numel(nd(e, id)->shape).s);
        else
            OUT("    POISON(%s, %s);\n", e->name[id], emit_numel(nd(e, id)->shape).s);
    }
}

static void emit_steps(Emit *e, int from, int to)
{
    Arena a;
    arena_init(&a);
    Dying die = dying_in(e, from, to, &a);
    e->last_line = 0;
    for (int s = from; s < to; s++) {
        int id = e->p->order[s];
        if (has_code(e, id)) {
            step_comment(e, id);
            if (e->fu.fused[id])
                OUT("    /*   (computed inside the next loop, never stored) */\n");
            else if (emit_is_epilogue(&e->env, id))
                OUT("    /*   (summed inside the loop above) */\n");
            else
                emit_node(e, id);
        }
        /* a fused node is computed at its reader's step: what dies at it
         * dies there too */
        if (!e->fu.fused[id]) {
            for (int q = s; q > from && e->fu.fused[e->p->order[q - 1]]; q--)
                emit_poison(e, &die, from, q - 1);
            emit_poison(e, &die, from, s);
        }
        if (id == e->g->output && from == 0)
            OUT("    if (mode == PREDICT)  /* %s is the output: predict stops here */\n        return 0.0f;\n",
                e->name[id]);
    }
    arena_free(&a);
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

static void header(Emit *e, int argc, char **argv)
{
    if (e->o->source)
        OUT("/* %s: ", e->o->source);
    else
        OUT("/* %s.c: ", e->g->model);
    if (e->o->library)
        OUT("the training library for the model '%s'\n * (%s), whose API %s declares.\n", e->g->model,
            e->o->path, e->o->header);
    else
        OUT("a training program for the model '%s' (%s).\n", e->g->model, e->o->path);
    OUT(" * Generated by nnc %s; do not edit, edit the model and run nnc again:\n *   nnc", NNC_VERSION);
    for (int i = 1; i < argc; i++) { /* the output's folder is left out, so regenerating elsewhere compares */
        const char *arg = argv[i], *slash = strrchr(arg, '/');
        OUT(" %s", strcmp(argv[i - 1], "-o") == 0 && slash ? slash + 1 : arg);
    }
    OUT("\n *\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m) {
        plan_dump(m, e->p);
        fclose(m);
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
            OUT(" * %s\n", line);
        free(buf);
    }
    OUT(" *\n * Dimensions:\n *   B = %d   rows of a batch, the size every buffer is planned for\n", e->g->batch);
    OUT(" *   n        rows of the batch at hand (n <= B: the last batch may be smaller)\n");
    for (int i = 0; i < e->g->consts.len; i++) {
        const ConstDef *c = e->g->consts.items[i];
        if (!c->str) /* a string const is a path, not a dimension */
            OUT(" *   %-8s %g (const, line %d)\n", c->name, c->value, c->loc.line);
    }
    OUT(" * Shapes are written [rows, columns]; every tensor is row-major float.\n */\n");
    OUT("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    if (e->o->library)
        OUT("#include \"%s\"\n\n", e->o->header);
    else
        OUT("#include \"nnrt.h\"\n\n");
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
        const Node *n = &g->nodes[i];
        if (n->op != OP_MATMUL)
            continue;
        int kd = n->ta ? g->nodes[n->in[0]].shape.d[0] : g->nodes[n->in[0]].shape.d[1];
        if (shape_numel(n->shape, g->batch) * (kd == DIM_B ? g->batch : kd) > SMALL_GEMM)
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

/* Whether the library draws random numbers: a random init or dropout. */
static int library_draws(const Graph *g)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_DROPMASK || (g->nodes[i].op == OP_PARAM && g->nodes[i].init == INIT_UNIFORM))
            return 1;
    return has_init(g);
}

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

static Str dims_c(Shape s)
{
    Str r;
    r.s[0] = '\0';
    for (int i = 0; i < s.rank; i++) {
        size_t u = strlen(r.s);
        if (s.d[i] == DIM_B)
            snprintf(r.s + u, sizeof r.s - u, "%sB", i ? " * " : "");
        else
            snprintf(r.s + u, sizeof r.s - u, "%s%d", i ? " * " : "", s.d[i]);
    }
    if (!s.rank)
        snprintf(r.s, sizeof r.s, "1");
    return r;
}

static void decl_comment(Emit *e, int id)
{
    const Node *n = nd(e, id);
    char b[64];
    OUT("  /* %s", shape_str(n->shape, b, sizeof b));
    if (n->loc.line)
        OUT(", line %d", n->loc.line);
    OUT(" */\n");
}

static void decl_persistent(Emit *e)
{
    const Graph *g = e->g;
    char b[96];
    OUT("\n/* ---- params: trained, persistent ---- */\n");
    for (int i = 0; i < g->n; i++)
        if (nd(e, i)->op == OP_PARAM) {
            OUT("static float %s[%s];", e->name[i], dims_c(nd(e, i)->shape).s);
            OUT("  /* %s = %s%s */\n", shape_str(nd(e, i)->shape, b, sizeof b), emit_init_text(nd(e, i), b + 48, 48),
                nd(e, i)->frozen ? ", frozen" : "");
        }
    OUT("\n/* ---- param gradients: one contiguous block (clipping and decay are one pass) ---- */\n");
    OUT("static float grads[%zu];\n", e->p->grad_bytes / 4 ? e->p->grad_bytes / 4 : 1);
    for (int i = 0; i < g->n; i++)
        if (e->p->buf[i].cls == SC_GRAD) {
            OUT("static float *const %s = grads + %zu;", e->name[i], e->p->buf[i].offset / 4);
            decl_comment(e, i);
        }
    int any = 0;
    for (int i = 0; i < g->n; i++)
        if (nd(e, i)->op == OP_STATE) {
            if (!any++)
                OUT("\n/* ---- optimizer state: persistent, saved in checkpoints ---- */\n");
            OUT("static float %s[%s];", e->name[i], dims_c(nd(e, i)->shape).s);
            decl_comment(e, i);
        }
    OUT("\n/* ---- the batch: B rows, filled by the runtime ---- */\n");
    for (int i = 0; i < g->n; i++)
        if (e->p->buf[i].cls == SC_BATCH) {
            OUT("static %s %s[%s];", nd(e, i)->dtype == DT_I32 ? "int32_t" : "float", e->name[i],
                dims_c(nd(e, i)->shape).s);
            decl_comment(e, i);
        }
}

static void decl_consts(Emit *e)
{
    for (int i = 0; i < e->g->n; i++) {
        if (e->p->buf[i].cls != SC_CONST)
            continue;
        const Node *n = nd(e, i);
        long cnt = shape_numel(n->shape, e->g->batch);
        OUT("static const %s %s[%ld] = {", n->dtype == DT_I32 ? "int32_t" : "float", e->name[i], cnt);
        for (long k = 0; k < cnt; k++)
            OUT("%s%s", k ? ", " : "", n->dtype == DT_I32 ? emit_ext((int)n->data[k]).s : emit_lit(n->data[k]).s);
        OUT("};\n");
    }
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
        decl_comment(e, id);
    }
    decl_consts(e);
}

static void fn_forward(Emit *e)
{
    if (!e->o->library)
        OUT("\nstatic NnrtRng rng; /* dropout masks */\n");
    OUT("\n/* forward: the mean loss of the n rows in the batch buffers.\n");
    OUT(" * mode: TRAIN (new dropout masks), TRAIN_SAME_MASK, EVAL, PREDICT. */\n");
    OUT("static float forward(int n, int mode)\n{\n");
    emit_steps(e, 0, e->p->fwd_end);
    OUT("    (void)mode;\n    return %s[0];\n}\n", e->name[e->g->loss]);
}

static void fn_backward(Emit *e)
{
    OUT("\n/* backward: the gradient of the loss, from the loss back to every param,\n");
    OUT(" * in reverse order of the forward pass. */\nstatic void backward(int n)\n{\n    (void)n;\n");
    emit_steps(e, e->p->fwd_end, e->p->bwd_end);
    OUT("}\n");
}

static void fn_update(Emit *e)
{
    const TrainSpec *t = &e->g->train;
    static const char *const names[] = {"sgd", "momentum", "adagrad", "adadelta", "adam"};
    if (t->opt == OPT_ADAM)
        emit_adam_pow(e->out, "static", "long");
    OUT("\n/* update: one %s step over every trainable param (lr for this epoch). */\n", names[t->opt]);
    OUT("static void update(float lr, long step)\n{\n    (void)lr;\n    (void)step;\n");
    if (t->opt == OPT_ADAM)
        emit_adam_rate(e->out, t, "    ", "step");
    e->last_line = 0;
    for (int s = e->p->bwd_end; s < e->p->n_steps; s++) {
        int id = e->p->order[s];
        if (!has_code(e, id))
            continue;
        step_comment(e, id);
        emit_node(e, id);
        if (nd(e, id)->op == OP_GRAD_NORM)
            OUT("    /* clip: scale every gradient so the global norm is at most %g */\n"
                "    const float scale = %s[0] > %s ? %s / (%s[0] + 1e-6f) : 1.0f;\n",
                t->clip_grad, e->name[id], emit_lit(t->clip_grad).s, emit_lit(t->clip_grad).s, e->name[id]);
    }
    OUT("}\n");
}

/* One param's initial values: a runtime call, or in library mode a loop. */
static void init_param(Emit *e, int i)
{
    const Node *n = nd(e, i);
    const char *name = e->name[i];
    Str cnt = emit_numel(n->shape), c0 = emit_lit(n->c[0]), c1 = emit_lit(n->c[1]);
    char b[96];
    int lib = e->o->library;
    switch (n->init) {
    case INIT_ZEROS: case INIT_ONES: case INIT_CONST: {
        Str v = n->init == INIT_ZEROS ? emit_lit(0) : n->init == INIT_ONES ? emit_lit(1) : c0;
        if (lib)
            OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s;", cnt.s, name, v.s);
        else
            OUT("    nnrt_init_fill(%s, %s, %s);", name, cnt.s, v.s);
        break;
    }
    case INIT_UNIFORM:
        if (lib)
            OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s + (%s - %s) * rng_uniform(&r);", cnt.s, name, c0.s, c1.s, c0.s);
        else
            OUT("    nnrt_init_uniform(%s, %s, %s, %s, &r);", name, cnt.s, c0.s, c1.s);
        break;
    case INIT_RANDN: case INIT_GLOROT: case INIT_HE:
        if (lib)
            OUT("    for (int i = 0; i < %s; i++)\n        %s[i] = %s * rng_normal(&r);", cnt.s, name, c0.s);
        else
            OUT("    nnrt_init_normal(%s, %s, %s, &r);", name, cnt.s, c0.s);
        break;
    }
    OUT("  /* %s = %s */\n", n->name, emit_init_text(n, b, sizeof b));
}

static void fn_init(Emit *e)
{
    OUT("\n/* init: params to their initial values, optimizer state to zero. */\n");
    if (e->o->library) {
        OUT("static void init(uint32_t seed)\n{\n    struct pcg32 r = {0x748fea9bu ^ seed, 0x853c49e6u};\n    (void)r;\n");
    } else {
        OUT("static void init(uint64_t seed)\n{\n    NnrtRng r;\n    nnrt_rng_seed_stream(&r, seed, NNRT_STREAM_INIT);\n");
    }
    for (int i = 0; i < e->g->n; i++) {
        if (nd(e, i)->op == OP_PARAM)
            init_param(e, i);
        else if (nd(e, i)->op == OP_STATE)
            OUT("    memset(%s, 0, sizeof %s);\n", e->name[i], e->name[i]);
    }
    if (e->o->library)
        OUT("    ctl.rng.lo = 0x94b95bdbu ^ seed; /* dropout masks */\n    ctl.rng.hi = 0xda3e39cbu;\n"
            "    ctl.step = 0;\n    ctl.lr = %s;\n}\n",
            emit_lit(e->g->train.lr).s);
    else
        OUT("    nnrt_rng_seed_stream(&rng, seed, NNRT_STREAM_DROPOUT);\n}\n");
}

static void fn_glue(Emit *e)
{
    int x = emit_leaf(e->g, OP_INPUT), t = emit_leaf(e->g, OP_LABEL), y = e->g->output;
    const char *tt = nd(e, t)->dtype == DT_I32 ? "int32_t" : "float";
    OUT("\n/* The model's functions as the runtime calls them (nnrt.h: NnrtModel). */\n");
    OUT("static float model_forward(const float *x_in, const void *t_in, int n, int mode)\n{\n");
    OUT("    if (x_in != %s)\n        memcpy(%s, x_in, sizeof(float) * (%s));\n", e->name[x], e->name[x], emit_numel(nd(e, x)->shape).s);
    OUT("    if (t_in != (const void *)%s)\n        memcpy(%s, t_in, sizeof(%s) * (%s));\n", e->name[t], e->name[t], tt,
        emit_numel(nd(e, t)->shape).s);
    OUT("    return forward(n, mode);\n}\n");
    OUT("\nstatic void model_predict(const float *x_in, int n, float *y_out)\n{\n");
    OUT("    if (x_in != %s)\n        memcpy(%s, x_in, sizeof(float) * (%s));\n", e->name[x], e->name[x], emit_numel(nd(e, x)->shape).s);
    OUT("    forward(n, PREDICT);\n    memcpy(y_out, %s, sizeof(float) * (%s));\n}\n", e->name[y], emit_numel(nd(e, y)->shape).s);
}

static void tensor_entry(Emit *e, int id, const char *grad)
{
    const Node *n = nd(e, id);
    OUT("    {\"%s\", %s, %s, %d, {", n->name, e->name[id], grad, n->shape.rank);
    for (int k = 0; k < n->shape.rank; k++)
        OUT("%s%d", k ? ", " : "", n->shape.d[k]);
    OUT("%s}, %ld},\n", n->shape.rank ? "" : "0", shape_numel(n->shape, e->g->batch));
}

static int tensor_tables(Emit *e)
{
    int n_state = 0;
    OUT("\nstatic NnrtTensor params[] = {  /* name, data, grad, rank, shape, numel */\n");
    for (int i = 0; i < e->g->n; i++)
        if (nd(e, i)->op == OP_PARAM) {
            int gi = e->g->grad && i < e->g->n_forward ? e->g->grad[i] : -1;
            tensor_entry(e, i, gi >= 0 && e->p->buf[gi].cls == SC_GRAD && !nd(e, i)->frozen ? e->name[gi] : "NULL");
        }
    OUT("};\n");
    for (int i = 0; i < e->g->n; i++)
        n_state += nd(e, i)->op == OP_STATE;
    if (!n_state) {
        OUT("static NnrtTensor state[1];  /* this optimizer keeps no state */\n");
        return 0;
    }
    OUT("static NnrtTensor state[] = {\n");
    for (int i = 0; i < e->g->n; i++)
        if (nd(e, i)->op == OP_STATE)
            tensor_entry(e, i, "NULL");
    OUT("};\n");
    return n_state;
}

static void fn_main(Emit *e)
{
    const Graph *g = e->g;
    int x = emit_leaf(g, OP_INPUT), lab = emit_leaf(g, OP_LABEL), n_params = 0;
    for (int i = 0; i < g->n; i++)
        n_params += nd(e, i)->op == OP_PARAM;
    int n_state = tensor_tables(e);
    emit_table_arrays(e->out, g);
    OUT("static float y_buf[%s];  /* predict's output rows */\n", dims_c(nd(e, g->output)->shape).s);
    OUT("\nint main(int argc, char **argv)\n{\n    NnrtModel m;\n    memset(&m, 0, sizeof m);\n");
    emit_model_fields(e->out, g);
    OUT("    m.params = params;\n    m.n_params = %d;\n    m.state = state;\n    m.n_state = %d;\n", n_params, n_state);
    OUT("    m.init = init;\n    m.forward = model_forward;\n    m.backward = backward;\n");
    OUT("    m.update = update;\n    m.predict = model_predict;\n");
    OUT("    m.x_buf = %s;\n    m.t_buf = %s;\n    m.y_buf = y_buf;\n", e->name[x], e->name[lab]);
    if (e->o->blas && large_matmul(g))
        OUT("    m.blas_tune = nnrt_blas_tune;  /* OpenBLAS's fastest kernels for this CPU */\n");
    OUT("    return nnrt_main(&m, argc, argv);\n}\n");
}

/* ---- library mode: the API of M.h over the static storage ---------------- */
static long params_numel(const Emit *e)
{
    long total = 0;
    for (int i = 0; i < e->g->n; i++)
        if (nd(e, i)->op == OP_PARAM)
            total += shape_numel(nd(e, i)->shape, e->g->batch);
    return total;
}

static void lib_save_load(Emit *e)
{
    const char *m = e->g->model;
    OUT("\n/* save: every param, in declaration order, as little-endian f32 bytes.\n");
    OUT(" * Returns the bytes written, or 0 when len is less than the %s_SAVE_BYTES needed. */\n", e->model);
    OUT("size_t %s_save(uint8_t *buf, size_t len)\n{\n    size_t k = 0;\n", m);
    OUT("    if (len < %s_SAVE_BYTES)\n        return 0;\n", e->model);
    for (int i = 0; i < e->g->n; i++)
        if (nd(e, i)->op == OP_PARAM)
            OUT("    for (int i = 0; i < %s; i++) {\n        uint32_t u;\n        memcpy(&u, &%s[i], 4);\n"
                "        for (int b = 0; b < 4; b++)\n            buf[k++] = (uint8_t)(u >> (8 * b));\n    }\n",
                emit_numel(nd(e, i)->shape).s, e->name[i]);
    OUT("    return k;\n}\n");
    OUT("\n/* load: the params from bytes written by save; 0, or -1 when len is not %s_SAVE_BYTES. */\n", e->model);
    OUT("int %s_load(const uint8_t *buf, size_t len)\n{\n    size_t k = 0;\n", m);
    OUT("    if (len != %s_SAVE_BYTES)\n        return -1;\n", e->model);
    for (int i = 0; i < e->g->n; i++)
        if (nd(e, i)->op == OP_PARAM)
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

/* NaN unless n is in [1, B] and, for class ids, every id in [0, K): the
 * ids index the scores, so one outside would read out of bounds. */
static void lib_guard(Emit *e, int t)
{
    OUT("    if (n < 1 || n > B)\n        return NAN;\n");
    if (nd(e, t)->dtype == DT_I32)
        OUT("    for (int r = 0; r < n; r++)\n        if (t_in[r] < 0 || t_in[r] >= %s_CLASSES)\n"
            "            return NAN;\n", e->model);
}

static void fn_library(Emit *e)
{
    int x = emit_leaf(e->g, OP_INPUT), t = emit_leaf(e->g, OP_LABEL), y = e->g->output;
    const char *m = e->g->model, *tt = nd(e, t)->dtype == DT_I32 ? "int32_t" : "float";
    char nan_when[160] = "n is out of range";
    if (nd(e, t)->dtype == DT_I32)
        snprintf(nan_when, sizeof nan_when, "n is out of range or a class id is outside [0, %s_CLASSES)", e->model);
    long xw = shape_row_numel(nd(e, x)->shape), tw = shape_row_numel(nd(e, t)->shape);
    OUT("\n/* ---- the library's API (%s.h) ---- */\n", m);
    OUT("void %s_init(uint32_t seed)\n{\n    init(seed);\n}\n", m);
    OUT("\nvoid %s_set_lr(float lr)\n{\n    ctl.lr = lr;\n}\n", m);
    OUT("\n/* One training step on n rows (1 <= n <= B): forward, backward, update.\n"
        " * Returns the mean loss of the rows before the update; NaN, and nothing\n"
        " * changed, when %s. */\n", nan_when);
    OUT("float %s_train_step(const float *x_in, const %s *t_in, int n)\n{\n", m, tt);
    lib_guard(e, t);
    OUT("    memcpy(%s, x_in, sizeof(float) * (size_t)n * %ld);\n", e->name[x], xw);
    OUT("    memcpy(%s, t_in, sizeof(%s) * (size_t)n * %ld);\n", e->name[t], tt, tw);
    OUT("    float loss_value = forward(n, TRAIN);\n    backward(n);\n    update(ctl.lr, (long)++ctl.step);\n");
    OUT("    return loss_value;\n}\n");
    OUT("\n/* The mean loss of n rows without training (no dropout); NaN when\n * %s. */\n", nan_when);
    OUT("float %s_loss(const float *x_in, const %s *t_in, int n)\n{\n", m, tt);
    lib_guard(e, t);
    OUT("    memcpy(%s, x_in, sizeof(float) * (size_t)n * %ld);\n", e->name[x], xw);
    OUT("    memcpy(%s, t_in, sizeof(%s) * (size_t)n * %ld);\n    return forward(n, EVAL);\n}\n", e->name[t], tt, tw);
    OUT("\n/* The output rows for n inputs (1 <= n <= B): y_out gets n * %s_OUT_DIM floats. */\n", e->model);
    OUT("void %s_predict(const float *x_in, int n, float *y_out)\n{\n", m);
    OUT("    if (n < 1 || n > B)\n        return;\n");
    OUT("    memcpy(%s, x_in, sizeof(float) * (size_t)n * %ld);\n", e->name[x], xw);
    OUT("    forward(n, PREDICT);\n    memcpy(y_out, %s, sizeof(float) * (%s));\n}\n", e->name[y], emit_numel(nd(e, y)->shape).s);
    lib_save_load(e);
}

/* The header's word on M_save's buffer: the byte order and where each
 * param lies, so that a host can read what a device saved. */
static void lib_save_layout(Emit *e, const char *up)
{
    long offset = 0;
    OUT(" *\n * %s_save writes every param in declaration order, each float as\n", e->g->model);
    OUT(" * the 4 bytes of its IEEE 754 binary32 value, least significant byte\n");
    OUT(" * first (little-endian) on every CPU, big-endian ones too; %s_load\n * reads the same:\n", e->g->model);
    for (int i = 0; i < e->g->n; i++) {
        const Node *n = nd(e, i);
        if (n->op != OP_PARAM)
            continue;
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
    OUT("#define %s_IN_DIM %ld        /* floats per input row */\n", up, shape_row_numel(g->nodes[x].shape));
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
    OUT("#define %s_SAVE_BYTES %ld   /* the params as saved by %s_save */\n\n", up, params_numel(e) * 4, m);
    OUT("void %s_init(uint32_t seed);                     /* params to their initial values */\n", m);
    if (g->train.opt == OPT_ADADELTA)
        OUT("void %s_set_lr(float lr);                        /* adadelta has no rate: changes nothing */\n", m);
    else
        OUT("void %s_set_lr(float lr);                        /* default: the train block's lr */\n", m);
    OUT("float %s_train_step(const float *x, const %s *t, int n); /* one step; the loss (NaN: bad n%s) */\n", m, tt,
        g->nodes[t].dtype == DT_I32 ? " or id" : "");
    OUT("float %s_loss(const float *x, const %s *t, int n);       /* the loss, no update */\n", m, tt);
    OUT("void %s_predict(const float *x, int n, float *y);\n", m);
    OUT("size_t %s_save(uint8_t *buf, size_t len);        /* %s_SAVE_BYTES bytes, little-endian (above) */\n", m, up);
    OUT("int %s_load(const uint8_t *buf, size_t len);     /* what %s_save wrote; 0, or -1: wrong len */\n\n#endif\n", m, m);
    arena_free(&a);
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
    else if (g->nodes[emit_leaf(g, OP_INPUT)].dtype != DT_F32)
        why = "an emitted trainer feeds f32 inputs; an i32 input (ids for x[idx]) is not supported yet";
    if (why)
        fprintf(err, "nnc: %s: cannot emit: %s\n", o->path, why);
    return why == NULL;
}

void emit_c(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o, int argc, char **argv)
{
    Arena a;
    arena_init(&a);
    Emit em = {.out = out, .g = g, .p = p, .o = o}, *e = &em;
    e->name = emit_names(g, &a);
    e->model = upper_name(g->model, &a);
    emit_fusion(&e->fu, g, p, &a);
    e->env = (ExprEnv){g, p, e->name, &e->fu};
    header(e, argc, argv);
    decl_persistent(e);
    decl_arena(e);
    library_rng(e);
    portable_gemm(e);
    fn_forward(e);
    fn_backward(e);
    fn_update(e);
    fn_init(e);
    if (e->o->library) {
        fn_library(e);
    } else {
        fn_glue(e);
        fn_main(e);
    }
    arena_free(&a);
}
