/* emit_cuda.c: from the graph and its plan, one CUDA training program.
 *
 * The .cu is emit_c.c's program moved onto the GPU, and reads the same way
 * (llm.c style: kernels beside the code that launches them):
 *
 *   header      what made it, the plan's totals, the device memory map
 *   layout      one cudaMalloc: params | state | grads | batch | arena |
 *               scratch, at MEM_* byte offsets; the arena and the gradient
 *               block keep the plan's own offsets; host mirrors of the
 *               params, state and grads (init, checkpoints, --gradcheck)
 *   namespace model
 *     pointers  a named device pointer per buffer, carved by bind()
 *     kernel::  one kernel per step of the schedule, under its equation
 *     forward, backward, update
 *               the launches in schedule order, each under its .nn line and
 *               equation; matmuls are cublasSgemm calls
 *     init      params into the host mirrors, the C program's numbers
 *   main        the NnrtModel the C program would fill, inside an
 *               NnrtCudaModel, handed to nnrt_cuda_main (runtime/cuda)
 *
 * Kernels by kind of step:
 *   elementwise   a thread per element; a fused chain (emit_fusion's
 *                 decisions, shared with the C emitter) is one expression;
 *                 with a column-sum epilogue (a bias gradient) it becomes a
 *                 column kernel: 32 columns x 16 row groups per block, the
 *                 groups added by a fixed tree
 *   matmul        cublasSgemm with the transpose flags: row-major C = A·B is
 *                 column-major Cᵀ = Bᵀ·Aᵀ, so the operands trade places
 *   sum/max/min   the column kernel for sums over rows, else a thread per
 *                 output, or a block per output with a fixed tree
 *   softmax       a warp per row, butterfly max and sum
 *   losses        one block: warps take rows in a fixed stride, each
 *                 warp's total in double, the warps added in order
 *   shapes        a thread per output element
 *   conv2d, pool  a thread per output element; their gradients in gather
 *                 form (a thread per input element summing what reaches
 *                 it; conv2d's weight gradient a block per weight, a tree)
 *   batchnorm     the statistics and the gradient a block per feature (sums
 *                 in double, a fixed tree), x̂ a thread per element
 *   update        a thread per element; lr and the step from NnrtCudaCtl
 * No reduction uses atomics: two runs give the same bits.
 *
 * Every name a model gives lives inside namespace model (and kernel
 * parameters), so a value called y1 or index cannot collide with libc;
 * C++ keywords and the names the emitted code uses itself get a trailing
 * underscore.
 */
#include "emit.h"
#include "emit_common.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct CuState {
    size_t *pos;       /* params, state, batch: byte offset of the node in its region */
    size_t params_bytes, state_bytes, batch_bytes;
    size_t mem_params, mem_state, mem_grads, mem_batch, mem_arena, mem_scratch, mem_bytes;
    char *used;        /* used[i]: the host code reads node i's device pointer */
    int uses_norm;     /* grad_norm: the code reads grads and scratch */
};
typedef Emit Cu;

#define OUT(...) fprintf(e->out, __VA_ARGS__)
#define SCRATCH_BYTES (64 * 8) /* NNRT_CUDA_NORM_BLOCKS doubles */

static const Node *nd(const Cu *e, int id) { return &e->g->nodes[id]; }
static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* "a * k": a count of rows times a row width. */
static Str product(const char *a, long k)
{
    Big b;
    Str r;
    snprintf(b.s, sizeof b.s, "%s * %ld", a, k);
    NNC_ASSERT(strlen(b.s) < sizeof r.s, "expression too long");
    memcpy(r.s, b.s, strlen(b.s) + 1);
    return r;
}

/* ---- names: C++ keywords and the emitted code's own names are taken --------- */
static const char *const cuda_reserved[] = {
    "and", "and_eq", "asm", "bitand", "bitor", "bool", "catch", "char16_t", "char32_t", "class", "compl",
    "const_cast", "constexpr", "decltype", "delete", "dynamic_cast", "explicit", "export", "false", "friend",
    "mutable", "namespace", "new", "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private",
    "protected", "public", "reinterpret_cast", "static_assert", "static_cast", "template", "this", "thread_local",
    "throw", "true", "try", "typeid", "typename", "using", "virtual", "wchar_t", "xor", "xor_eq", "alignas",
    "alignof", "concept", "requires", "co_await", "co_return", "co_yield", "char8_t", "consteval", "constinit",
    "threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize", "dim3", "kernel", "consts", "std",
    "sinf", "cosf", "fabsf", "fminf", "fmaxf", "powf", "log1pf", "sqrt", "isfinite",
    "mem", "ctl", "cublas", "one", "zero", "idx", "lane", "warp", "part", "sum", "total", "o", "q", "oo", "qq",
    "v", "c", "w", "bv", "bi", "bind", "control", "handle", "cm", "scratch", "keep", "GRID", "WARPS", "COLS", "LOSS_BLOCK", "BLOCKS", "NAN",
    "MEM_PARAMS", "MEM_STATE", "MEM_GRADS", "MEM_BATCH", "MEM_ARENA", "MEM_SCRATCH", "MEM_BYTES",
    "host_params", "host_state", "host_grads", "host_bind", "t_buf",
    "co", "ci", "oh", "ow", "kh", "kw", "ih", "iw", "th", "tw", "qh", "qw", "jh", "jw", "at", "pl", /* window kernels */
    "fi", "cnt", "mu", "sq", "sd", "md", "mdx", /* batch norm */
};

/* ---- element expressions (as emit_c.c's) ----------------------------------- */
/* A node whose value lives in device memory (it has a pointer). */
static int has_ptr(const Cu *e, int id)
{
    StorageClass c = e->p->buf[id].cls;
    return c != SC_NONE;
}

/* ---- kernel parameters: the buffers a kernel touches, output first ---------- */
typedef struct Params {
    int id[24];
    int out[24]; /* written by the kernel */
    int n;
} Params;

static void param_add(Params *a, int id, int written)
{
    for (int i = 0; i < a->n; i++)
        if (a->id[i] == id) {
            a->out[i] |= written;
            return;
        }
    NNC_ASSERT(a->n < 24, "too many kernel operands");
    a->id[a->n] = id;
    a->out[a->n++] = written;
}

/* The stored operands of node id's expression, through its fused producers. */
static void param_tree(const Cu *e, Params *a, int id)
{
    const Node *n = nd(e, id);
    for (int k = 0; k < n->n_in; k++) {
        int in = n->in[k];
        if (e->fu.fused[in])
            param_tree(e, a, in);
        else if (has_ptr(e, in))
            param_add(a, in, 0);
    }
}

static const char *ctype(const Cu *e, int id) { return nd(e, id)->dtype == DT_I32 ? "int32_t" : "float"; }

/* The device pointer of node id, as the host code names it; only pointers
 * something reads are declared (the body is written first). */
static const char *use(Cu *e, int id)
{
    e->cu->used[id] = 1;
    return e->name[id];
}

/* "float *h, const float *h_matmul, const float *h_b" */
static void param_decl(Cu *e, const Params *a)
{
    for (int i = 0; i < a->n; i++)
        OUT("%s%s%s *%s", i ? ", " : "", a->out[i] ? "" : "const ", ctype(e, a->id[i]), e->name[a->id[i]]);
}

static void param_call(Cu *e, const Params *a)
{
    for (int i = 0; i < a->n; i++)
        OUT("%s%s", i ? ", " : "", use(e, a->id[i]));
}

/* ---- index arithmetic in kernels ------------------------------------------------ */
/* Whether loop variable v (i, j, k, l) appears in text as a name of its own. */
static int uses_var(const char *text, char v)
{
    for (const char *p = text; *p; p++) {
        if (*p != v)
            continue;
        int before = p > text && (p[-1] == '_' || isalnum((unsigned char)p[-1]));
        int after = p[1] == '_' || isalnum((unsigned char)p[1]);
        if (!before && !after)
            return 1;
    }
    return 0;
}

/* "int i = idx / 100, j = idx % 100;": the coordinates of flat index idx
 * in shape s, in the loop variables i, j, k, l, those that `body` reads.
 * Axis 0 (possibly n) is never a divisor. */
static void coords(Cu *e, Shape s, const char *indent, const char *body)
{
    int need[NNC_MAX_RANK];
    for (int a = 0; a < s.rank; a++)
        need[a] = uses_var(body, emit_loopvar[a]);
    if (s.rank == 1 && need[0])
        OUT("%sint i = idx;\n", indent);
    if (s.rank == 2 && need[0] && need[1])
        OUT("%sint i = idx / %d, j = idx %% %d;\n", indent, s.d[1], s.d[1]);
    else if (s.rank == 2 && need[0] && s.d[1] == 1)
        OUT("%sint i = idx;\n", indent);
    else if (s.rank == 2 && need[0])
        OUT("%sint i = idx / %d;\n", indent, s.d[1]);
    else if (s.rank == 2 && need[1])
        OUT("%sint j = idx %% %d;\n", indent, s.d[1]);
    if (s.rank <= 2)
        return;
    OUT("%sint q = idx;\n", indent);
    for (int a = s.rank - 1; a > 0; a--) {
        if (need[a])
            OUT("%sint %c = q %% %d;\n", indent, emit_loopvar[a], s.d[a]);
        OUT("%sq /= %d;\n", indent, s.d[a]);
    }
    OUT("%sint i = q;\n%s(void)i;\n", indent, indent);
}

/* The opening of a kernel with a thread per element of `count` elements. */
static void kernel_open(Cu *e, int id, const Params *a, const char *count)
{
    OUT("__global__ void %s(", e->name[id]);
    param_decl(e, a);
    OUT("%sint n)\n{\n    int idx = blockIdx.x * blockDim.x + threadIdx.x;\n", a->n ? ", " : "");
    OUT("    if (idx >= %s)\n        return;\n", count);
}

static void launch(Cu *e, int id, const char *config, const Params *a)
{
    OUT("    kernel::%s<<<%s>>>(", e->name[id], config);
    param_call(e, a);
    OUT("%sn);\n    NNRT_CUDA_LAUNCHED(\"%s\");\n", a->n ? ", " : "", e->name[id]);
}

static void launch_grid(Cu *e, int id, Str count, const Params *a)
{
    char cfg[200];
    snprintf(cfg, sizeof cfg, "GRID(%s)", count.s);
    launch(e, id, cfg, a);
}

/* ---- elementwise ------------------------------------------------------------------ */
static void ew_params(const Cu *e, int id, Params *a)
{
    a->n = 0;
    param_add(a, id, 1);
    if (e->fu.epilogue[id] >= 0)
        param_add(a, e->fu.epilogue[id], 1);
    param_tree(e, a, id);
}

static void kernel_ew(Cu *e, int id)
{
    const Node *n = nd(e, id);
    EwStep st;
    emit_ew_step(e, id, &st);
    int red = st.red;
    Params a;
    ew_params(e, id, &a);
    Str at = emit_index_in(n->shape, n->shape);
    if (red >= 0) { /* rank 2: rows i, columns j; the column sum rides along */
        int cols = n->shape.d[1];
        OUT("__global__ void %s(", e->name[id]);
        param_decl(e, &a);
        OUT(", int n)\n{\n    int j = blockIdx.x * NNRT_COL_X + threadIdx.x;\n    float s = 0.0f;\n");
        OUT("    if (j < %d)\n        for (int i = threadIdx.y; i < %s; i += NNRT_COL_Y) {\n", cols,
            emit_ext(n->shape.d[0]).s);
        emit_lets(e->out, &st.lets, "            ");
        OUT("            float v = %s;\n            %s[%s] = v;\n            s += v;\n        }\n", st.f.s, e->name[id], at.s);
        OUT("    s = nnrt_col_tree(s);  /* %s = Σ_rows %s, a fixed-order tree over the row groups */\n",
            nd(e, red)->name, n->name);
        OUT("    if (threadIdx.y == 0 && j < %d)\n        %s[j] = s;\n}\n", cols, e->name[red]);
        return;
    }
    kernel_open(e, id, &a, emit_numel(n->shape).s);
    Capture c; /* the body first: the coordinates are those it reads */
    emit_capture(e, &c);
    emit_lets(e->out, &st.lets, "    ");
    OUT("    %s[%s] = %s;\n", e->name[id], st.flat ? "i" : at.s, st.f.s);
    char *body = emit_captured(e, &c);
    if (st.flat)
        OUT("    int i = idx;\n");
    else
        coords(e, n->shape, "    ", body);
    OUT("%s}\n", body);
    free(body);
}

static void launch_ew(Cu *e, int id)
{
    const Node *n = nd(e, id);
    Params a;
    ew_params(e, id, &a);
    if (e->fu.epilogue[id] >= 0) {
        char cfg[64];
        snprintf(cfg, sizeof cfg, "COLS(%d)", n->shape.d[1]);
        launch(e, id, cfg, &a);
        return;
    }
    launch_grid(e, id, emit_numel(n->shape), &a);
}

/* ---- matmul: cuBLAS --------------------------------------------------------------- */
static void launch_matmul(Cu *e, int id)
{
    const Node *n = nd(e, id), *a = nd(e, n->in[0]), *b = nd(e, n->in[1]);
    Gemm m = emit_gemm(e->g, id);
    OUT("    /* row-major %s = op(%s)·op(%s) is column-major %sᵀ = op(%s)ᵀ·op(%s)ᵀ: operands swapped */\n",
        n->name ? n->name : e->name[id], a->name ? a->name : "a", b->name ? b->name : "b",
        n->name ? n->name : e->name[id], b->name ? b->name : "b", a->name ? a->name : "a");
    OUT("    NNRT_CUBLAS_CHECK(cublasSgemm(cublas, CUBLAS_OP_%c, CUBLAS_OP_%c, %s, %s, %s, &one, %s, %d, %s, %d, &zero, "
        "%s, %d));\n",
        m.tb ? 'T' : 'N', m.ta ? 'T' : 'N', m.N.s, m.M.s, m.K.s, use(e, n->in[1]), m.ldb, use(e, n->in[0]), m.lda,
        use(e, id), m.ldc);
}

/* ---- sum, max, min, sum_to ----------------------------------------------------- */
/* The shape the input folds to (1 on the reduced axes), aligned to the input's rank. */
static unsigned fold_axes(const Cu *e, int id)
{
    const Node *n = nd(e, id);
    Shape in = nd(e, n->in[0])->shape;
    unsigned red = 0;
    for (int a = 0; a < in.rank; a++) {
        int ext_k = in.d[a];
        if (n->op == OP_SUM_TO) {
            int kk = n->to.rank - in.rank + a;
            ext_k = kk >= 0 ? n->to.d[kk] : 1;
        } else if (n->axes >> a & 1u) {
            ext_k = 1;
        }
        if (ext_k == 1 && in.d[a] != 1)
            red |= 1u << a;
    }
    return red;
}

static int fold_columns(const Cu *e, int id)
{
    Shape in = nd(e, nd(e, id)->in[0])->shape;
    return nd(e, id)->op != OP_MAX && nd(e, id)->op != OP_MIN && in.rank == 2 && fold_axes(e, id) == 1u;
}

/* The reduced extent as C text ("n * 10") and its value with n = B. */
static Str fold_count(const Cu *e, int id, long *at_b)
{
    Shape in = nd(e, nd(e, id)->in[0])->shape;
    unsigned red = fold_axes(e, id);
    Str r;
    r.s[0] = '\0';
    *at_b = 1;
    for (int a = 0; a < in.rank; a++)
        if (red >> a & 1u) {
            size_t u = strlen(r.s);
            snprintf(r.s + u, sizeof r.s - u, "%s%.15s", u ? " * " : "", emit_ext(in.d[a]).s);
            *at_b *= in.d[a] == DIM_B ? e->g->batch : in.d[a];
        }
    if (!r.s[0])
        snprintf(r.s, sizeof r.s, "1");
    return r;
}

/* A block per output when each output folds many elements and there are few outputs. */
static int fold_by_block(const Cu *e, int id)
{
    long at_b;
    fold_count(e, id, &at_b);
    return at_b > 64 && shape_numel(nd(e, id)->shape, e->g->batch) < 4096;
}

/* The coordinates i, j, k, l that body reads, from the output index o
 * (kept axes) and the folded index q (reduced axes), last axis first. */
static void fold_coords(Cu *e, int id, const char *indent, const char *body)
{
    Shape in = nd(e, nd(e, id)->in[0])->shape;
    unsigned red = fold_axes(e, id);
    for (int pass = 0; pass < 2; pass++) { /* kept axes from o, then reduced axes from q */
        const char *src = pass ? "qq" : "oo";
        int first = -1; /* the leftmost axis of this kind that body reads */
        for (int a = in.rank - 1; a >= 0; a--)
            if ((int)(red >> a & 1u) == pass && uses_var(body, emit_loopvar[a]))
                first = a;
        if (first < 0)
            continue;
        OUT("%sint %s = %s;\n", indent, src, pass ? "q" : "o");
        for (int a = in.rank - 1; a >= first; a--) {
            if ((int)(red >> a & 1u) != pass)
                continue;
            Str ext = emit_ext(in.d[a]);
            if (uses_var(body, emit_loopvar[a]))
                OUT("%sint %c = %s %% %s;\n", indent, emit_loopvar[a], src, ext.s);
            if (a > first)
                OUT("%s%s /= %s;\n", indent, src, ext.s);
        }
    }
}

static void kernel_fold(Cu *e, int id)
{
    const Node *n = nd(e, id);
    int x = n->in[0];
    Shape in = nd(e, x)->shape;
    Params a = {{0}, {0}, 0};
    param_add(&a, id, 1);
    if (has_ptr(e, x))
        param_add(&a, x, 0);
    const char *start = n->op == OP_MAX ? "-INFINITY" : n->op == OP_MIN ? "INFINITY" : "0.0f";
    const char *comb = n->op == OP_MAX ? "fmaxf" : n->op == OP_MIN ? "fminf" : NULL;
    Str xi = emit_elem(&e->env, x, emit_index_in(in, in).s);
    if (fold_columns(e, id)) {
        int cols = in.d[1];
        OUT("__global__ void %s(", e->name[id]);
        param_decl(e, &a);
        OUT(", int n)\n{\n    int j = blockIdx.x * NNRT_COL_X + threadIdx.x;\n    float s = 0.0f;\n");
        OUT("    if (j < %d)\n        for (int i = threadIdx.y; i < %s; i += NNRT_COL_Y)\n            s += %s;\n", cols,
            emit_ext(in.d[0]).s, xi.s);
        OUT("    s = nnrt_col_tree(s);  /* the row groups, by a fixed-order tree */\n");
        OUT("    if (threadIdx.y == 0 && j < %d)\n        %s[j] = s;\n}\n", cols, e->name[id]);
        return;
    }
    long at_b;
    Str count = fold_count(e, id, &at_b), outs = emit_numel(n->shape);
    OUT("__global__ void %s(", e->name[id]);
    param_decl(e, &a);
    OUT(", int n)\n{\n");
    if (fold_by_block(e, id)) {
        OUT("    int o = blockIdx.x;  /* a block per output, its threads over the folded elements */\n");
        OUT("    float s = %s;\n    for (int q = threadIdx.x; q < %s; q += blockDim.x) {\n", start, count.s);
    } else {
        OUT("    int o = blockIdx.x * blockDim.x + threadIdx.x;  /* a thread per output */\n");
        OUT("    if (o >= %s)\n        return;\n    float s = %s;\n    for (int q = 0; q < %s; q++) {\n", outs.s, start,
            count.s);
    }
    fold_coords(e, id, "        ", xi.s);
    if (comb)
        OUT("        s = %s(s, %s);\n    }\n", comb, xi.s);
    else
        OUT("        s += %s;\n    }\n", xi.s);
    if (fold_by_block(e, id)) {
        OUT("    s = %s(s);  /* a fixed-order tree */\n", n->op == OP_MAX   ? "nnrt_block_max"
                                                         : n->op == OP_MIN ? "nnrt_block_min"
                                                                           : "nnrt_block_sum");
        OUT("    if (threadIdx.x == 0)\n        %s[o] = s;\n}\n", e->name[id]);
    } else {
        OUT("    %s[o] = s;\n}\n", e->name[id]);
    }
}

static void launch_fold(Cu *e, int id)
{
    Params a = {{0}, {0}, 0};
    param_add(&a, id, 1);
    if (has_ptr(e, nd(e, id)->in[0]))
        param_add(&a, nd(e, id)->in[0], 0);
    char cfg[200];
    if (fold_columns(e, id))
        snprintf(cfg, sizeof cfg, "COLS(%d)", nd(e, nd(e, id)->in[0])->shape.d[1]);
    else if (fold_by_block(e, id))
        snprintf(cfg, sizeof cfg, "BLOCKS(%s)", emit_numel(nd(e, id)->shape).s);
    else
        snprintf(cfg, sizeof cfg, "GRID(%s)", emit_numel(nd(e, id)->shape).s);
    launch(e, id, cfg, &a);
}

/* ---- moving data: a thread per output element ----------------------------------- */
static void data_params(const Cu *e, int id, Params *a)
{
    const Node *n = nd(e, id);
    a->n = 0;
    param_add(a, id, 1);
    for (int k = 0; k < n->n_in; k++)
        if (has_ptr(e, n->in[k]))
            param_add(a, n->in[k], 0);
}

/* gather/scatter_add: the row width (emit_row_width). */
static long rows_width(const Cu *e, int id)
{
    const Node *n = nd(e, id);
    return emit_row_width(n->op == OP_GATHER ? nd(e, n->in[0])->shape : n->shape);
}

static void kernel_data(Cu *e, int id)
{
    const Node *n = nd(e, id);
    Params a;
    data_params(e, id, &a);
    const char *y = e->name[id], *x = n->n_in ? e->name[n->in[0]] : "";
    Shape in = n->n_in ? nd(e, n->in[0])->shape : n->shape;
    Str at = emit_index_in(n->shape, n->shape);
    if (n->op == OP_GATHER || n->op == OP_SCATTER_ADD) {
        long row = rows_width(e, id);
        Str count = emit_numel(nd(e, n->in[1])->shape);
        const char *ix = e->name[n->in[1]];
        if (n->op == OP_GATHER) {
            kernel_open(e, id, &a, product(count.s, row).s);
            OUT("    int i = idx / %ld, j = idx %% %ld;\n    %s[i * %ld + j] = %s[%s[i] * %ld + j];\n}\n", row, row, y,
                row, x, ix, row);
        } else { /* a thread per output element sums its rows in row order: no atomics */
            kernel_open(e, id, &a, emit_numel(n->shape).s);
            OUT("    int r = idx / %ld, j = idx %% %ld;\n    float s = 0.0f;\n", row, row);
            OUT("    for (int i = 0; i < %s; i++)\n        if (%s[i] == r)\n            s += %s[i * %ld + j];\n", count.s,
                ix, x, row);
            OUT("    %s[idx] = s;\n}\n", y);
        }
        return;
    }
    kernel_open(e, id, &a, emit_numel(n->shape).s);
    Capture cap; /* the body first: the coordinates are those it reads */
    emit_capture(e, &cap);
    switch (n->op) {
    case OP_BROADCAST_TO: /* a scalar constant x is a literal: a fill */
        OUT("    %s[%s] = %s;\n", y, at.s, emit_elem(&e->env, n->in[0], emit_index_in(in, n->shape).s).s);
        break;
    case OP_TRANSPOSE: OUT("    %s[%s] = %s[%s];\n", y, at.s, x, emit_transpose_src(e->g, id).s); break;
    case OP_SLICE: OUT("    %s[%s] = %s[%s];\n", y, at.s, x, emit_shifted(in, n->axis, n->lo).s); break;
    case OP_PAD: {
        char c = emit_loopvar[n->axis];
        OUT("    %s[%s] = %c >= %d && %c < %d ? %s[%s] : 0.0f;\n", y, at.s, c, n->lo, c, n->lo + in.d[n->axis], x,
            emit_shifted(in, n->axis, -n->lo).s);
        break;
    }
    case OP_CONCAT: {
        char c = emit_loopvar[n->axis];
        int off = 0;
        for (int k = 0; k < n->n_in; k++) {
            Shape ink = nd(e, n->in[k])->shape;
            off += ink.d[n->axis];
            if (k + 1 < n->n_in)
                OUT("    %sif (%c < %d)\n    ", k ? "else " : "", c, off);
            else if (k)
                OUT("    else\n    ");
            OUT("    %s[%s] = %s[%s];\n", y, at.s, e->name[n->in[k]], emit_shifted(ink, n->axis, -(off - ink.d[n->axis])).s);
        }
        break;
    }
    default: NNC_ASSERT(0, "not a data-moving op");
    }
    char *body = emit_captured(e, &cap);
    coords(e, n->shape, "    ", body);
    OUT("%s}\n", body);
    free(body);
}

static void launch_data(Cu *e, int id)
{
    const Node *n = nd(e, id);
    Params a;
    data_params(e, id, &a);
    if (n->op == OP_GATHER) {
        launch_grid(e, id, product(emit_numel(nd(e, n->in[1])->shape).s, rows_width(e, id)), &a);
        return;
    }
    launch_grid(e, id, emit_numel(n->shape), &a);
}

/* ---- conv2d, pooling and their gradients: generated kernels ------------------------ *
 * One kernel per op, every sum in a fixed order and no atomics (the
 * gradients are written in gather form: each thread owns one output
 * element and sums what reaches it), so two runs give the same bits.
 * The window of output (oh, ow) reads input (ih, iw) = (oh·S - P + kh,
 * ow·S - P + kw); a tap in the padding adds nothing. */

/* "int ow = idx % 8, oh = idx / 8 % 8, pl = idx / 64;": an element of
 * [planes, rows, cols] from the flat index. */
static void plane_coords(Cu *e, const char *pl, const char *r, const char *c, int rows, int cols)
{
    OUT("    const int %s = idx %% %d, %s = idx / %d %% %d, %s = idx / %d;\n", c, cols, r, cols, rows, pl, rows * cols);
}

/* The window taps (kh, kw) that put input row ih (col iw) in the window of
 * an output row oh (col ow) of `rows` (`cols`): kh from the last, so oh
 * rises; the caller closes the two blocks it opens at `depth`. */
static void open_taps(Cu *e, const Node *n, int depth, int kh, int kw, int rows, int cols)
{
    const char *ax[2][4] = {{"kh", "ih", "oh", "th"}, {"kw", "iw", "ow", "tw"}};
    int k[2] = {kh, kw}, o[2] = {rows, cols};
    for (int a = 0; a < 2; a++) {
        int d = depth + 4 * a;
        OUT("%*sfor (int %s = %d; %s >= 0; %s--) {\n", d, "", ax[a][0], k[a] - 1, ax[a][0], ax[a][0]);
        char pd[24] = "";
        if (n->pad)
            snprintf(pd, sizeof pd, " + %d", n->pad);
        OUT("%*sconst int %s = %s%s - %s;  /* = %s·%d: the output whose tap %s reads %s */\n", d + 4, "", ax[a][3], ax[a][1], pd,
            ax[a][0], ax[a][2], n->stride, ax[a][0], ax[a][1]);
        if (n->stride > 1)
            OUT("%*sif (%s < 0 || %s %% %d != 0 || %s / %d >= %d)\n", d + 4, "", ax[a][3], ax[a][3], n->stride,
                ax[a][3], n->stride, o[a]);
        else
            OUT("%*sif (%s < 0 || %s >= %d)\n", d + 4, "", ax[a][3], ax[a][3], o[a]);
        OUT("%*scontinue;  /* no window of this output %s reads it */\n", d + 8, "", a ? "column" : "row");
        OUT("%*sconst int %s = %s / %d;\n", d + 4, "", ax[a][2], ax[a][3], n->stride);
    }
}

/* The taps of output (oh, ow)'s window over an input of h × w, with the
 * padding skipped; the caller closes the block at depth + 4. */
static void open_window(Cu *e, int depth, const Node *n, int kh, int kw, int h, int w)
{
    OUT("%*sfor (int kh = 0; kh < %d; kh++)\n", depth, "", kh);
    OUT("%*sfor (int kw = 0; kw < %d; kw++) {\n", depth + 4, "", kw);
    OUT("%*sconst int ih = %s, iw = %s;\n", depth + 8, "", emit_win_at("oh", n->stride, n->pad, "kh").s,
        emit_win_at("ow", n->stride, n->pad, "kw").s);
    OUT("%*sif (ih < 0 || ih >= %d || iw < 0 || iw >= %d)\n%*scontinue;  /* the padding */\n", depth + 8, "", h, w,
        depth + 12, "");
}

/* The shapes of a conv step: x [B,C,H,W], w [O,C,KH,KW], y [B,O,OH,OW],
 * whichever of them the step computes. */
static void conv_shapes(const Cu *e, int id, Shape *x, Shape *w, Shape *y)
{
    const Node *n = nd(e, id);
    *x = n->op == OP_CONV2D_GRAD_X ? n->shape : nd(e, n->in[0])->shape;
    *w = n->op == OP_CONV2D_GRAD_W ? n->shape : nd(e, n->in[1])->shape;
    *y = n->op == OP_CONV2D ? n->shape : nd(e, n->in[n->op == OP_CONV2D_GRAD_W])->shape;
}

/* A thread per element of the output (conv2d, conv2d_grad_x) or a block
 * per element (conv2d_grad_w: each folds the whole batch). */
static void kernel_conv(Cu *e, int id)
{
    const Node *n = nd(e, id);
    Shape x, w, y;
    conv_shapes(e, id, &x, &w, &y);
    Params a;
    data_params(e, id, &a);
    const char *X = e->name[n->op == OP_CONV2D_GRAD_X ? id : n->in[0]];
    const char *W = e->name[n->op == OP_CONV2D_GRAD_W ? id : n->in[1]];
    const char *Y = e->name[n->op == OP_CONV2D ? id : n->in[n->op == OP_CONV2D_GRAD_W]];
    int C = x.d[1], H = x.d[2], Wd = x.d[3], O = w.d[0], KH = w.d[2], KW = w.d[3], OH = y.d[2], OW = y.d[3];
    char xi[96], wi[96], yi[96];
    snprintf(xi, sizeof xi, "((b * %d + ci) * %d + ih) * %d + iw", C, H, Wd);
    snprintf(wi, sizeof wi, "((co * %d + ci) * %d + kh) * %d + kw", C, KH, KW);
    snprintf(yi, sizeof yi, "((b * %d + co) * %d + oh) * %d + ow", O, OH, OW);
    if (n->op == OP_CONV2D_GRAD_W) {
        OUT("/* %s [%d,%d,%d,%d] = Σ_b,oh,ow %s[b,co,oh,ow]·%s[b,ci,ih,iw]: dy against the unfolded input\n"
            " * (im2col's row of this tap), one block per weight, its threads over (b, oh, ow), added by a fixed tree */\n",
            W, O, C, KH, KW, Y, X);
        OUT("__global__ void %s(", e->name[id]);
        param_decl(e, &a);
        OUT(", int n)\n{\n    const int idx = blockIdx.x;  /* the weight [co, ci, kh, kw] */\n");
        OUT("    const int kw = idx %% %d, kh = idx / %d %% %d, ci = idx / %d %% %d, co = idx / %d;\n", KW, KW, KH, KW * KH,
            C, KW * KH * C);
        OUT("    float s = 0.0f;\n    for (int q = threadIdx.x; q < n * %d; q += blockDim.x) {\n", OH * OW);
        OUT("        const int ow = q %% %d, oh = q / %d %% %d, b = q / %d;\n", OW, OW, OH, OW * OH);
        OUT("        const int ih = %s, iw = %s;\n", emit_win_at("oh", n->stride, n->pad, "kh").s,
            emit_win_at("ow", n->stride, n->pad, "kw").s);
        OUT("        if (ih >= 0 && ih < %d && iw >= 0 && iw < %d)  /* else the padding: nothing */\n", H, Wd);
        OUT("            s += %s[%s] * %s[%s];\n    }\n", Y, yi, X, xi);
        OUT("    s = nnrt_block_sum(s);  /* a fixed-order tree */\n");
        OUT("    if (threadIdx.x == 0)\n        %s[idx] = s;\n}\n", W);
        return;
    }
    kernel_open(e, id, &a, emit_numel(n->shape).s);
    if (n->op == OP_CONV2D) {
        OUT("    /* y [B,%d,%d,%d]: y[b,co,oh,ow] = Σ_ci,kh,kw x[b,ci,ih,iw]·W[co,ci,kh,kw] */\n", O, OH, OW);
        plane_coords(e, "pl", "oh", "ow", OH, OW);
        OUT("    const int co = pl %% %d, b = pl / %d;\n    float s = 0.0f;\n", O, O);
        OUT("    for (int ci = 0; ci < %d; ci++)\n", C);
        open_window(e, 8, n, KH, KW, H, Wd);
        OUT("                s += %s[%s] * %s[%s];\n            }\n", X, xi, W, wi);
        OUT("    %s[idx] = s;\n}\n", Y);
        return;
    }
    /* the transposed convolution: each dx element gathers the dy·W that reach it */
    OUT("    /* dx [B,%d,%d,%d]: dx[b,ci,ih,iw] = Σ_co,kh,kw dy[b,co,oh,ow]·W[co,ci,kh,kw] over the outputs\n"
        "     * (oh, ow) whose window reads (ih, iw) through tap (kh, kw) */\n", C, H, Wd);
    plane_coords(e, "pl", "ih", "iw", H, Wd);
    OUT("    const int ci = pl %% %d, b = pl / %d;\n    float s = 0.0f;\n", C, C);
    OUT("    for (int co = 0; co < %d; co++)\n", O);
    open_taps(e, n, 8, KH, KW, OH, OW);
    OUT("                s += %s[%s] * %s[%s];\n            }\n        }\n", Y, yi, W, wi);
    OUT("    %s[idx] = s;\n}\n", X);
}

static void launch_conv(Cu *e, int id)
{
    Params a;
    data_params(e, id, &a);
    if (nd(e, id)->op == OP_CONV2D_GRAD_W) {
        char cfg[64];
        snprintf(cfg, sizeof cfg, "BLOCKS(%ld)", shape_numel(nd(e, id)->shape, 1));
        launch(e, id, cfg, &a);
        return;
    }
    launch_grid(e, id, emit_numel(nd(e, id)->shape), &a);
}

/* max_pool, avg_pool and their gradients over planes [H, W] (the axes
 * before the last two), a thread per output element:
 *   max_pool       y = x at the window's first largest element inside the image
 *   max_pool_grad  dx[e] = Σ dy over the windows whose first largest is e
 *   avg_pool       y = Σ window / size² (the padding adds zeros)
 *   avg_pool_grad  dx[e] = Σ dy / size² over the windows that hold e */
static void kernel_pool(Cu *e, int id)
{
    const Node *n = nd(e, id);
    int fwd = n->op == OP_MAX_POOL || n->op == OP_AVG_POOL, is_max = n->op == OP_MAX_POOL || n->op == OP_MAX_POOL_GRAD;
    Shape x = fwd ? nd(e, n->in[0])->shape : n->shape, y = fwd ? n->shape : nd(e, n->in[n->n_in - 1])->shape;
    int r = x.rank, h = x.d[r - 2], w = x.d[r - 1], oh = y.d[r - 2], ow = y.d[r - 1], area = n->size * n->size;
    const char *X = fwd || is_max ? e->name[n->in[0]] : NULL, *DY = fwd ? NULL : e->name[n->in[n->n_in - 1]];
    Params a;
    data_params(e, id, &a);
    char xi[64], yi[64];
    snprintf(xi, sizeof xi, "(pl * %d + ih) * %d + iw", h, w);
    snprintf(yi, sizeof yi, "(pl * %d + oh) * %d + ow", oh, ow);
    kernel_open(e, id, &a, emit_numel(n->shape).s);
    if (fwd) {
        OUT("    /* y [.., %d, %d] from x [.., %d, %d], window %d×%d */\n", oh, ow, h, w, n->size, n->size);
        plane_coords(e, "pl", "oh", "ow", oh, ow);
        OUT(is_max ? "    int bi = -1;  /* the first largest element of the window */\n" : "    float s = 0.0f;\n");
        open_window(e, 4, n, n->size, n->size, h, w);
        if (is_max)
            OUT("            if (bi < 0 || %s[%s] > %s[bi])\n                bi = %s;\n        }\n", X, xi, X, xi);
        else
            OUT("            s += %s[%s];\n        }\n", X, xi);
        if (is_max)
            OUT("    %s[idx] = %s[bi];\n}\n", e->name[id], X);
        else
            OUT("    %s[idx] = s / %d.0f;\n}\n", e->name[id], area);
        return;
    }
    OUT("    /* dx [.., %d, %d] from dy [.., %d, %d], window %d×%d */\n", h, w, oh, ow, n->size, n->size);
    plane_coords(e, "pl", "ih", "iw", h, w);
    OUT("    float s = 0.0f;\n");
    open_taps(e, n, 4, n->size, n->size, oh, ow);
    if (is_max) {
        OUT("            int bi = -1;  /* window (oh, ow)'s first largest, as max_pool found it */\n");
        OUT("            for (int qh = 0; qh < %d; qh++)\n", n->size);
        OUT("                for (int qw = 0; qw < %d; qw++) {\n", n->size);
        OUT("                    const int jh = %s, jw = %s;\n", emit_win_at("oh", n->stride, n->pad, "qh").s,
            emit_win_at("ow", n->stride, n->pad, "qw").s);
        OUT("                    if (jh < 0 || jh >= %d || jw < 0 || jw >= %d)\n                        continue;\n", h, w);
        OUT("                    const int at = (pl * %d + jh) * %d + jw;\n", h, w);
        OUT("                    if (bi < 0 || %s[at] > %s[bi])\n                        bi = at;\n                }\n", X,
            X);
        OUT("            if (bi == idx)\n                s += %s[%s];\n", DY, yi);
    } else {
        OUT("            s += %s[%s] / %d.0f;\n", DY, yi, area);
    }
    OUT("        }\n    }\n    %s[idx] = s;\n}\n", e->name[id]);
}

static void launch_pool(Cu *e, int id)
{
    Params a;
    data_params(e, id, &a);
    launch_grid(e, id, emit_numel(nd(e, id)->shape), &a);
}

/* ---- batch norm: per feature f of x [n, F] or [n, F, H, W] ---------------------------- *
 * The m = n·H·W values of feature fi are x[(b * F + fi) * HW + i]; a block
 * per feature walks them (q = b·HW + i) and adds its threads' sums (in
 * double) by a fixed tree.  The statistics are [3, F]: μ, σ² and
 * σ²·m/(m - 1), the unbiased variance the running var averages. */
typedef struct BnDims {
    int F, hw;     /* features, and the values of one feature in one row (H·W, or 1) */
    char at[64];   /* the index of value (b, fi, i) */
} BnDims;

static BnDims bn_dims(Shape x)
{
    BnDims d = {.F = x.d[1], .hw = x.rank == 4 ? x.d[2] * x.d[3] : 1};
    if (d.hw == 1)
        snprintf(d.at, sizeof d.at, "q * %d + fi", d.F);
    else
        snprintf(d.at, sizeof d.at, "(q / %d * %d + fi) * %d + q %% %d", d.hw, d.F, d.hw, d.hw);
    return d;
}

/* "for (int q = threadIdx.x; q < n * HW; q += blockDim.x) {": the block's
 * threads over the values of feature fi, at depth; the caller closes it. */
static void bn_values(Cu *e, const BnDims *d, int depth)
{
    OUT("%*sfor (int q = threadIdx.x; q < n * %d; q += blockDim.x) {\n%*sconst int at = %s;\n", depth, "", d->hw,
        depth + 4, "", d->at);
}

/* batchnorm_stats (x, mean, var) -> [3, F]: a block per feature. */
static void kernel_bn_stats(Cu *e, int id)
{
    const Node *n = nd(e, id);
    BnDims d = bn_dims(nd(e, n->in[0])->shape);
    const char *S = e->name[id], *X = e->name[n->in[0]];
    OUT("__global__ void %s(float *%s, const float *%s, const float *%s, const float *%s, int n, int mode)\n{\n", S, S,
        X, e->name[n->in[1]], e->name[n->in[2]]);
    OUT("    const int fi = blockIdx.x;  /* the feature */\n");
    OUT("    if (mode == TRAIN || mode == TRAIN_SAME_MASK) {  /* the batch's, over the m = n·%d values */\n", d.hw);
    OUT("        const double cnt = (double)n * %d.0;\n        double mu = 0.0, sq = 0.0;\n", d.hw);
    bn_values(e, &d, 8);
    OUT("            mu += (double)%s[at];\n        }\n", X);
    OUT("        mu = nnrt_block_sum_d(mu) / cnt;  /* μ = Σ x / m */\n");
    bn_values(e, &d, 8);
    OUT("            sq += ((double)%s[at] - mu) * ((double)%s[at] - mu);\n        }\n", X, X);
    OUT("        sq = nnrt_block_sum_d(sq);\n");
    OUT("        if (threadIdx.x == 0) {\n            %s[fi] = (float)mu;\n", S);
    OUT("            %s[%d + fi] = (float)(sq / cnt);  /* σ² = Σ (x - μ)² / m */\n", S, d.F);
    OUT("            %s[%d + fi] = (float)(cnt > 1.0 ? sq / (cnt - 1.0) : sq / cnt);  /* unbiased, for the running var */\n",
        S, 2 * d.F);
    OUT("        }\n    } else if (threadIdx.x == 0) {  /* evaluation: the running statistics */\n");
    OUT("        %s[fi] = %s[fi];\n", S, e->name[n->in[1]]);
    OUT("        %s[%d + fi] = %s[%d + fi] = %s[fi];\n    }\n}\n", S, d.F, S, 2 * d.F, e->name[n->in[2]]);
}

/* batchnorm_norm (x, stats): x̂ = (x - μ)/σ, σ = √(σ² + ε), a thread per element;
 * batchnorm_norm_grad (x̂, stats, dx̂): dx = (dx̂ - mean(dx̂) - x̂·mean(dx̂·x̂))/σ,
 * a block per feature (the means over its m values, then its elements). */
static void kernel_bn_norm(Cu *e, int id)
{
    const Node *n = nd(e, id);
    BnDims d = bn_dims(n->shape);
    const char *Y = e->name[id], *X = e->name[n->in[0]], *S = e->name[n->in[1]];
    Params a;
    data_params(e, id, &a);
    Str eps = emit_lit(n->c[0]);
    if (n->op == OP_BN_NORM) {
        kernel_open(e, id, &a, emit_numel(n->shape).s);
        if (d.hw == 1)
            OUT("    const int fi = idx %% %d;\n", d.F);
        else
            OUT("    const int fi = idx / %d %% %d;\n", d.hw, d.F);
        OUT("    const float mu = %s[fi], sd = sqrtf(%s[%d + fi] + %s);\n", S, S, d.F, eps.s);
        OUT("    %s[idx] = (%s[idx] - mu) / sd;\n}\n", Y, X);
        return;
    }
    const char *DXH = e->name[n->in[2]];
    OUT("__global__ void %s(", Y);
    param_decl(e, &a);
    OUT(", int n)\n{\n    const int fi = blockIdx.x;  /* the feature */\n");
    OUT("    const float sd = sqrtf(%s[%d + fi] + %s);\n", S, d.F, eps.s);
    OUT("    double md = 0.0, mdx = 0.0;  /* mean(dx̂) and mean(dx̂·x̂) over the m = n·%d values */\n", d.hw);
    bn_values(e, &d, 4);
    OUT("        md += (double)%s[at];\n        mdx += (double)%s[at] * (double)%s[at];\n    }\n", DXH, DXH, X);
    OUT("    md = nnrt_block_sum_d(md) / ((double)n * %d.0);\n", d.hw);
    OUT("    mdx = nnrt_block_sum_d(mdx) / ((double)n * %d.0);\n", d.hw);
    bn_values(e, &d, 4);
    OUT("        %s[at] = (%s[at] - (float)md - %s[at] * (float)mdx) / sd;\n    }\n}\n", Y, DXH, X);
}

static void launch_bn(Cu *e, int id)
{
    const Node *n = nd(e, id);
    Params a;
    data_params(e, id, &a);
    char cfg[64];
    if (n->op == OP_BN_NORM) {
        launch_grid(e, id, emit_numel(n->shape), &a);
        return;
    }
    snprintf(cfg, sizeof cfg, "BLOCKS(%d)", bn_dims(n->op == OP_BN_STATS ? nd(e, n->in[0])->shape : n->shape).F);
    if (n->op == OP_BN_NORM_GRAD) {
        launch(e, id, cfg, &a);
        return;
    }
    OUT("    kernel::%s<<<%s>>>(%s, %s, %s, %s, n, mode);\n    NNRT_CUDA_LAUNCHED(\"%s\");\n", e->name[id], cfg, use(e, id),
        use(e, n->in[0]), use(e, n->in[1]), use(e, n->in[2]), e->name[id]);
}

/* batchnorm_running (mean, var, stats), in the update stage: each moves
 * momentum of the way to the batch's μ and unbiased σ², a thread per
 * feature, rounded step by step as the C program rounds it (no FMA). */
static void kernel_bn_running(Cu *e, int id)
{
    const Node *n = nd(e, id);
    int F = n->shape.d[0];
    const char *RM = e->name[n->in[0]], *RV = e->name[n->in[1]], *S = e->name[n->in[2]];
    Str keep = emit_lit(1 - n->c[0]), m = emit_lit(n->c[0]);
    OUT("__global__ void %s(float *%s, float *%s, const float *%s)\n{\n", e->name[id], RM, RV, S);
    OUT("    const int fi = blockIdx.x * blockDim.x + threadIdx.x;\n    if (fi >= %d)\n        return;\n", F);
    OUT("    %s[fi] = __fadd_rn(__fmul_rn(%s, %s[fi]), __fmul_rn(%s, %s[fi]));\n", RM, keep.s, RM, m.s, S);
    OUT("    %s[fi] = __fadd_rn(__fmul_rn(%s, %s[fi]), __fmul_rn(%s, %s[%d + fi]));\n}\n", RV, keep.s, RV, m.s, S, 2 * F);
}

static void launch_bn_running(Cu *e, int id)
{
    const Node *n = nd(e, id);
    OUT("    kernel::%s<<<GRID(%d)>>>(%s, %s, %s);\n    NNRT_CUDA_LAUNCHED(\"%s\");\n", e->name[id], n->shape.d[0],
        use(e, n->in[0]), use(e, n->in[1]), use(e, n->in[2]), e->name[id]);
}

/* "int r = ...; if (r >= rows) return;": a warp per row. */
static void warp_row(Cu *e, const char *rows)
{
    OUT("    int r = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x %% 32;\n");
    OUT("    if (r >= %s)  /* the whole warp leaves together */\n        return;\n", rows);
}

/* m = max_j xr[j], s = Σ_j e^(xr[j] - m), over the warp */
static void warp_max_sum(Cu *e, const char *xr, int k)
{
    OUT("    float m = -INFINITY, s = 0.0f;\n");
    OUT("    for (int j = lane; j < %d; j += 32)\n        m = fmaxf(m, %s[j]);\n    m = nnrt_warp_max(m);\n", k, xr);
    OUT("    for (int j = lane; j < %d; j += 32)\n        s += expf(%s[j] - m);\n    s = nnrt_warp_sum(s);\n", k, xr);
}

static void softmax_params(const Cu *e, int id, Params *a) { data_params(e, id, a); }

static void kernel_softmax(Cu *e, int id)
{
    const Node *n = nd(e, id);
    int k = n->shape.d[n->shape.rank - 1];
    Params a;
    softmax_params(e, id, &a);
    OUT("__global__ void %s(", e->name[id]);
    param_decl(e, &a);
    OUT(", int n)\n{\n");
    warp_row(e, emit_rows_of(n->shape).s);
    OUT("    const float *xr = %s + (long)r * %d;\n    float *yr = %s + (long)r * %d;\n", e->name[n->in[0]], k,
        e->name[id], k);
    if (!emit_softmax_sum(n->op)) {
        warp_max_sum(e, "xr", k);
    } else {
        OUT("    const float *dr = %s + (long)r * %d;\n    float s = 0.0f;\n", e->name[n->in[1]], k);
        OUT("    for (int j = lane; j < %d; j += 32)\n        s += %s;\n    s = nnrt_warp_sum(s);\n", k,
            emit_softmax_sum(n->op));
    }
    OUT("    for (int j = lane; j < %d; j += 32)\n        yr[j] = %s;\n}\n", k, emit_softmax_out(n->op));
}

static void launch_rows(Cu *e, int id, const char *rows)
{
    Params a;
    data_params(e, id, &a);
    char cfg[200];
    snprintf(cfg, sizeof cfg, "WARPS(%s)", rows);
    launch(e, id, cfg, &a);
}

/* The mean over rows of a row value (loss or accuracy) in one block of
 * NNRT_CUDA_LOSS_THREADS: warp w takes rows w, w + 32, ..., its total in
 * double; the warps' totals are added in warp order. */
static void kernel_loss(Cu *e, int id)
{
    const Node *n = nd(e, id);
    LossRows L = emit_loss_rows(&e->env, id);
    int k = L.k;
    const char *y = e->name[n->in[0]], *tn = e->name[L.t];
    int ids = nd(e, L.t)->dtype == DT_I32;
    Str rows = L.rows, tg = L.tg;
    Params a;
    data_params(e, id, &a);
    OUT("__global__ void %s(", e->name[id]);
    param_decl(e, &a);
    OUT(", int n)\n{\n    __shared__ double part[NNRT_CUDA_LOSS_THREADS / 32];\n");
    OUT("    int warp = threadIdx.x / 32, lane = threadIdx.x %% 32;\n    double total = 0.0;\n");
    OUT("    for (int r = warp; r < %s; r += NNRT_CUDA_LOSS_THREADS / 32) {\n        const float *yr = %s + (long)r * %d;\n",
        rows.s, y, k);
    if (n->op == OP_SOFTMAX_CE) {
        OUT("        float m = -INFINITY, s = 0.0f, v = 0.0f;\n");
        OUT("        for (int j = lane; j < %d; j += 32)\n            m = fmaxf(m, yr[j]);\n        m = nnrt_warp_max(m);\n", k);
        OUT("        for (int j = lane; j < %d; j += 32)\n            s += expf(yr[j] - m);\n        s = nnrt_warp_sum(s);\n", k);
        OUT("        float lse = m + logf(s); /* log Σ e^y */\n");
        if (ids)
            OUT("        v = lse - yr[%s[r]];\n", tn);
        else
            OUT("        for (int j = lane; j < %d; j += 32)\n            v += %s * (lse - yr[j]);\n        v = nnrt_warp_sum(v);\n",
                k, tg.s);
    } else if (n->op == OP_NLL) {
        if (ids)
            OUT("        float v = -yr[%s[r]];\n", tn);
        else
            OUT("        float v = 0.0f;\n        for (int j = lane; j < %d; j += 32)\n            v -= %s * yr[j];\n"
                "        v = nnrt_warp_sum(v);\n", k, tg.s);
    } else if (n->op == OP_SIGMOID_CE) {
        OUT("        float v = 0.0f;\n        for (int j = lane; j < %d; j += 32) /* max(y,0) - y·t + log(1 + e^-|y|) */\n", k);
        OUT("            v += fmaxf(yr[j], 0.0f) - yr[j] * %s + log1pf(expf(-fabsf(yr[j])));\n", tg.s);
        OUT("        v = nnrt_warp_sum(v);\n");
    } else { /* accuracy: the first largest output against the label */
        OUT("        float bv = -INFINITY;\n        int bi = 1 << 30;\n");
        OUT("        for (int j = lane; j < %d; j += 32)\n            if (yr[j] > bv || bi == 1 << 30) {\n"
            "                bv = yr[j];\n                bi = j;\n            }\n", k);
        OUT("        int best = nnrt_warp_argmax(bv, bi);\n");
        if (ids)
            OUT("        float v = best == %s[r];\n", tn);
        else if (k == 1)
            OUT("        float v = (yr[0] >= 0.5f) == (%s[r] >= 0.5f);\n        (void)best;\n", tn);
        else {
            emit_want(e, &L, "        ");
            OUT("        float v = best == want;\n");
        }
    }
    OUT("        total += v;\n    }\n    if (lane == 0)\n        part[warp] = total;\n    __syncthreads();\n");
    OUT("    if (threadIdx.x == 0) {\n        double sum = 0.0;\n");
    OUT("        for (int w = 0; w < NNRT_CUDA_LOSS_THREADS / 32; w++)\n            sum += part[w];\n");
    OUT("        %s[0] = (float)sum / (float)%s;\n    }\n}\n", e->name[id], L.mean.s);
}

static void kernel_loss_grad(Cu *e, int id)
{
    const Node *n = nd(e, id);
    LossRows L = emit_loss_rows(&e->env, id);
    int k = L.k;
    const char *g = e->name[id], *rows = L.rows.s, *tg = L.tg.s;
    Params a;
    data_params(e, id, &a);
    OUT("__global__ void %s(", g);
    param_decl(e, &a);
    OUT(", int n)\n{\n");
    if (n->op == OP_SOFTMAX_CE_GRAD) {
        warp_row(e, rows);
        OUT("    const float dl = %s; /* dL/n */\n", L.dl_n.s);
        OUT("    const float *yr = %s + (long)r * %d;\n    float *gr = %s + (long)r * %d;\n", e->name[n->in[0]], k, g, k);
        warp_max_sum(e, "yr", k);
        OUT("    for (int j = lane; j < %d; j += 32)\n        gr[j] = dl * (expf(yr[j] - m) / s - %s);\n}\n", k, tg);
        return;
    }
    OUT("    int idx = blockIdx.x * blockDim.x + threadIdx.x;\n    if (idx >= %s * %d)\n        return;\n", rows, k);
    OUT("    int r = idx / %d, j = idx %% %d;\n", k, k);
    OUT("    const float dl = %s; /* dL/n */\n", L.dl_n.s);
    if (n->op == OP_NLL_GRAD)
        OUT("    %s[idx] = -dl * %s;\n}\n", g, tg);
    else
        OUT("    %s[idx] = dl * (1.0f / (1.0f + expf(-%s[idx])) - %s);\n}\n", g, e->name[n->in[0]], tg);
}

static void launch_loss_grad(Cu *e, int id)
{
    LossRows L = emit_loss_rows(&e->env, id);
    Params a;
    data_params(e, id, &a);
    if (nd(e, id)->op == OP_SOFTMAX_CE_GRAD)
        launch_rows(e, id, L.rows.s);
    else
        launch_grid(e, id, product(L.rows.s, L.k), &a);
}

/* ---- dropout masks: the C program's draws, each thread jumping to its own ---------- */
static void kernel_dropmask(Cu *e, int id)
{
    const Node *n = nd(e, id);
    Str keep = emit_lit(n->c[0]), inv = emit_lit(1 / n->c[0]);
    OUT("__global__ void %s(float *%s, const NnrtCudaCtl *ctl, int mode, int n)\n{\n", e->name[id], e->name[id]);
    OUT("    int idx = blockIdx.x * blockDim.x + threadIdx.x;\n    if (idx >= %s)\n        return;\n",
        emit_numel(n->shape).s);
    OUT("    if (mode == TRAIN)  /* draw ctl->drop_pos + idx of the dropout stream: keep with probability %s */\n", keep.s);
    OUT("        %s[idx] = nnrt_uniform_at(ctl->drop_state, ctl->drop_inc, ctl->drop_pos + idx) < %s ? %s : 0.0f;\n",
        e->name[id], keep.s, inv.s);
    OUT("    else  /* inference: no dropout */\n        %s[idx] = 1.0f;\n}\n", e->name[id]);
}

static void launch_dropmask(Cu *e, int id)
{
    Str count = emit_numel(nd(e, id)->shape);
    OUT("    if (mode != TRAIN_SAME_MASK) {  /* TRAIN_SAME_MASK keeps the last masks */\n");
    OUT("        kernel::%s<<<GRID(%s)>>>(%s, ctl, mode, n);\n        NNRT_CUDA_LAUNCHED(\"%s\");\n", e->name[id], count.s,
        use(e, id), e->name[id]);
    OUT("        if (mode == TRAIN)\n            nnrt_cuda_drop_advance(s, ctl, %s);\n    }\n", count.s);
}

/* ---- the update stage ----------------------------------------------------------------- */
static void update_params(const Cu *e, int id, Params *a)
{
    const Node *n = nd(e, id);
    a->n = 0;
    param_add(a, n->in[0], 1);
    for (int k = 1; k < n->n_in; k++)
        param_add(a, n->in[k], nd(e, n->in[k])->op == OP_STATE);
}

static void kernel_update(Cu *e, int id)
{
    const Node *n = nd(e, id);
    const TrainSpec *t = &e->g->train;
    Params a;
    update_params(e, id, &a);
    OUT("__global__ void %s(", e->name[id]);
    param_decl(e, &a);
    OUT(", const NnrtCudaCtl *ctl)\n{\n    int i = blockIdx.x * blockDim.x + threadIdx.x;\n");
    OUT("    if (i >= %s)\n        return;\n", emit_numel(n->shape).s);
    if (n->op != OP_ADADELTA) /* adadelta has no learning rate */
        OUT("    const float lr = ctl->lr;\n");
    if (n->clip) {
        const char *norm = e->name[n->in[n->n_in - 1]];
        OUT("    /* clip: scale every gradient so the global norm is at most %g */\n", t->clip_grad);
        OUT("    const float scale = %s[0] > %s ? %s / (%s[0] + 1e-6f) : 1.0f;\n", norm, emit_lit(t->clip_grad).s,
            emit_lit(t->clip_grad).s, norm);
    }
    if (n->op == OP_ADAM)
        emit_adam_rate(e->out, t, "    ", "ctl->step");
    emit_update_body(e->out, &e->env, id, "    ");
    OUT("}\n");
}

static void launch_update(Cu *e, int id)
{
    Params a;
    update_params(e, id, &a);
    OUT("    kernel::%s<<<GRID(%s)>>>(", e->name[id], emit_numel(nd(e, id)->shape).s);
    param_call(e, &a);
    OUT(", ctl);\n    NNRT_CUDA_LAUNCHED(\"%s\");\n", e->name[id]);
}

/* ---- dispatch: the kernel of a step, and its launch ------------------------------------ */
typedef enum { K_NONE, K_EW, K_MATMUL, K_RESHAPE, K_FOLD, K_DATA, K_CONV, K_POOL, K_BN, K_BN_RUNNING, K_SOFTMAX, K_LOSS, K_LOSS_GRAD,
               K_DROPMASK, K_GRAD_NORM, K_UPDATE } Kind;

static Kind kind_of(const Cu *e, int id)
{
    const Node *n = nd(e, id);
    switch (n->op) {
    case OP_INPUT: case OP_LABEL: case OP_PARAM: case OP_STATE: case OP_CONST: case OP_ROWS:
        return K_NONE;
    case OP_DROPMASK: return K_DROPMASK;
    NNC_EW_OPS(NNC_CASE)
    NNC_EW_GRAD_OPS(NNC_CASE)
        return K_EW;
    case OP_MATMUL: return K_MATMUL;
    case OP_RESHAPE: return e->p->buf[id].cls == SC_ALIAS ? K_NONE : K_RESHAPE;
    case OP_TRANSPOSE: case OP_BROADCAST_TO: case OP_SLICE: case OP_PAD: case OP_CONCAT: case OP_GATHER:
    case OP_SCATTER_ADD:
        return K_DATA;
    case OP_SUM_TO: case OP_SUM: case OP_MAX: case OP_MIN: return K_FOLD;
    case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_SOFTMAX_GRAD: case OP_LOG_SOFTMAX_GRAD: return K_SOFTMAX;
    case OP_SOFTMAX_CE: case OP_NLL: case OP_SIGMOID_CE: case OP_ACCURACY: return K_LOSS;
    case OP_SOFTMAX_CE_GRAD: case OP_NLL_GRAD: case OP_SIGMOID_CE_GRAD: return K_LOSS_GRAD;
    case OP_GRAD_NORM: return K_GRAD_NORM;
    case OP_SGD: case OP_MOMENTUM: case OP_ADAGRAD: case OP_ADADELTA: case OP_ADAM: return K_UPDATE;
    case OP_CONV2D: case OP_CONV2D_GRAD_X: case OP_CONV2D_GRAD_W: return K_CONV;
    case OP_MAX_POOL: case OP_AVG_POOL: case OP_MAX_POOL_GRAD: case OP_AVG_POOL_GRAD: return K_POOL;
    case OP_BN_STATS: case OP_BN_NORM: case OP_BN_NORM_GRAD: return K_BN;
    case OP_BN_RUNNING: return K_BN_RUNNING;
    }
    return K_NONE;
}

/* A step that has a kernel of its own (not fused into another, not summed in another's). */
static int own_kernel(const Cu *e, int id)
{
    Kind k = kind_of(e, id);
    return k != K_NONE && k != K_MATMUL && k != K_RESHAPE && k != K_GRAD_NORM && !e->fu.fused[id] &&
           !emit_is_epilogue(&e->env, id);
}

static void emit_kernel(Cu *e, int id)
{
    switch (kind_of(e, id)) {
    case K_EW: kernel_ew(e, id); break;
    case K_FOLD: kernel_fold(e, id); break;
    case K_DATA: kernel_data(e, id); break;
    case K_CONV: kernel_conv(e, id); break;
    case K_POOL: kernel_pool(e, id); break;
    case K_BN: if (nd(e, id)->op == OP_BN_STATS) kernel_bn_stats(e, id); else kernel_bn_norm(e, id); break;
    case K_BN_RUNNING: kernel_bn_running(e, id); break;
    case K_SOFTMAX: kernel_softmax(e, id); break;
    case K_LOSS: kernel_loss(e, id); break;
    case K_LOSS_GRAD: kernel_loss_grad(e, id); break;
    case K_DROPMASK: kernel_dropmask(e, id); break;
    case K_UPDATE: kernel_update(e, id); break;
    case K_NONE: case K_MATMUL: case K_RESHAPE: case K_GRAD_NORM: break;
    }
}

static void emit_launch(Cu *e, int id)
{
    const Node *n = nd(e, id);
    switch (kind_of(e, id)) {
    case K_EW: launch_ew(e, id); break;
    case K_MATMUL: launch_matmul(e, id); break;
    case K_RESHAPE:
        OUT("    NNRT_CUDA_CHECK(cudaMemcpyAsync(%s, %s, sizeof(float) * (%s), cudaMemcpyDeviceToDevice, s));\n",
            use(e, id), use(e, n->in[0]), emit_numel(n->shape).s);
        break;
    case K_FOLD: launch_fold(e, id); break;
    case K_DATA: launch_data(e, id); break;
    case K_CONV: launch_conv(e, id); break;
    case K_POOL: launch_pool(e, id); break;
    case K_BN: launch_bn(e, id); break;
    case K_BN_RUNNING: launch_bn_running(e, id); break;
    case K_SOFTMAX: launch_rows(e, id, emit_rows_of(n->shape).s); break;
    case K_LOSS: {
        Params a;
        data_params(e, id, &a);
        launch(e, id, "LOSS_BLOCK", &a);
        break;
    }
    case K_LOSS_GRAD: launch_loss_grad(e, id); break;
    case K_DROPMASK: launch_dropmask(e, id); break;
    case K_GRAD_NORM:
        e->cu->uses_norm = 1;
        OUT("    nnrt_cuda_grad_norm(s, grads, %zu, scratch, %s);  /* one pass over the contiguous gradient block */\n",
            e->p->grad_bytes / 4, use(e, id));
        break;
    case K_UPDATE: launch_update(e, id); break;
    case K_NONE: break;
    }
}

/* ---- the file ----------------------------------------------------------------------- */
static void cu_intro(Cu *e, const char *file)
{
    OUT("/* %s: a CUDA training program for the model '%s' (%s).\n", file, e->g->model, e->o->path);
}

/* The build line after the command; the device memory after the plan. */
static void cu_notes(Cu *e, const char *file, int after_plan)
{
    if (!after_plan) {
        OUT(" * Build: nvcc -O2 -arch=sm_90 %s $(nnc --cflags --target cuda) $(nnc --libs --target cuda)\n", file);
        return;
    }
    OUT(" *\n * Device memory: one cudaMalloc of %zu bytes\n", e->cu->mem_bytes);
    OUT(" *   params %zu B | state %zu B | grads %zu B | batch %zu B | arena %zu B | scratch %d B\n",
        e->cu->params_bytes, e->cu->state_bytes, e->p->grad_bytes, e->cu->batch_bytes, e->p->arena_bytes, SCRATCH_BYTES);
    OUT(" * The arena and the gradient block keep the plan's offsets.  The data sets,\n");
    OUT(" * the epoch's permutation and the step losses belong to the runtime\n");
    OUT(" * (runtime/cuda/nnrt_cuda.cu), which captures one training step as a CUDA\n");
    OUT(" * graph and replays it.\n");
}

/* After the header: the includes, B, the forward modes, the launch configurations. */
static void includes(Cu *e)
{
    OUT("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n#include \"nnrt_cuda.h\"\n\n");
    OUT("#define B %d\n", e->g->batch);
    OUT("enum { TRAIN = NNRT_TRAIN, EVAL = NNRT_EVAL, TRAIN_SAME_MASK = NNRT_TRAIN_SAME_MASK, PREDICT = NNRT_CUDA_PREDICT };\n");
    OUT("\n/* Launch configurations: a thread per element, a warp per row, a block per\n");
    OUT(" * output, the one block of a loss, column blocks (NNRT_COL_X columns by\n * NNRT_COL_Y row groups). */\n");
    OUT("#define GRID(count) nnrt_cuda_blocks((count), NNRT_CUDA_THREADS), NNRT_CUDA_THREADS, 0, s\n");
    OUT("#define WARPS(rows) nnrt_cuda_blocks((rows), NNRT_CUDA_THREADS / 32), NNRT_CUDA_THREADS, 0, s\n");
    OUT("#define BLOCKS(count) (unsigned)(count), NNRT_CUDA_THREADS, 0, s\n");
    OUT("#define LOSS_BLOCK 1, NNRT_CUDA_LOSS_THREADS, 0, s\n");
    OUT("#define COLS(cols) nnrt_cuda_blocks((cols), NNRT_COL_X), dim3(NNRT_COL_X, NNRT_COL_Y), 0, s\n");
}

/* Byte positions of params, state and batch buffers in their regions. */
static void layout(Cu *e, Arena *a)
{
    const Graph *g = e->g;
    e->cu->pos = arena_alloc(a, (size_t)g->n * sizeof *e->cu->pos);
    for (int i = 0; i < g->n; i++) {
        size_t *region = NULL;
        switch (e->p->buf[i].cls) {
        case SC_PARAM: region = &e->cu->params_bytes; break;
        case SC_STATE: region = &e->cu->state_bytes; break;
        case SC_BATCH: region = &e->cu->batch_bytes; break;
        default: continue;
        }
        e->cu->pos[i] = *region;
        *region += align_up(e->p->buf[i].bytes, PLAN_ALIGN);
    }
    e->cu->mem_params = 0;
    e->cu->mem_state = align_up(e->cu->params_bytes, 256);
    e->cu->mem_grads = e->cu->mem_state + align_up(e->cu->state_bytes, 256);
    e->cu->mem_batch = e->cu->mem_grads + align_up(e->p->grad_bytes, 256);
    e->cu->mem_arena = e->cu->mem_batch + align_up(e->cu->batch_bytes, 256);
    e->cu->mem_scratch = e->cu->mem_arena + align_up(e->p->arena_bytes, 256);
    e->cu->mem_bytes = e->cu->mem_scratch + SCRATCH_BYTES;
}

static void decl_layout(Cu *e)
{
    OUT("\n/* ---- device memory: one allocation, regions at these byte offsets ---- */\n");
    OUT("enum : size_t {\n");
    OUT("    MEM_PARAMS = %zu,   /* %zu B */\n", e->cu->mem_params, e->cu->params_bytes);
    OUT("    MEM_STATE = %zu,    /* %zu B */\n", e->cu->mem_state, e->cu->state_bytes);
    OUT("    MEM_GRADS = %zu,    /* %zu B, the plan's gradient block */\n", e->cu->mem_grads, e->p->grad_bytes);
    OUT("    MEM_BATCH = %zu,    /* %zu B, inputs and labels */\n", e->cu->mem_batch, e->cu->batch_bytes);
    OUT("    MEM_ARENA = %zu,    /* %zu B, the plan's arena */\n", e->cu->mem_arena, e->p->arena_bytes);
    OUT("    MEM_SCRATCH = %zu,  /* %d B, partial sums of the gradient norm */\n", e->cu->mem_scratch, SCRATCH_BYTES);
    OUT("    MEM_BYTES = %zu\n};\n", e->cu->mem_bytes);
    OUT("\n/* ---- host mirrors: init, checkpoints and --gradcheck read and write these ---- */\n");
    OUT("static float host_params[%zu];\n", e->cu->params_bytes / 4 ? e->cu->params_bytes / 4 : 1);
    OUT("static float host_state[%zu];\n", e->cu->state_bytes / 4 ? e->cu->state_bytes / 4 : 1);
    OUT("static float host_grads[%zu];\n", e->p->grad_bytes / 4 ? e->p->grad_bytes / 4 : 1);
}

static const char *region_of(StorageClass c)
{
    switch (c) {
    case SC_PARAM: return "MEM_PARAMS";
    case SC_STATE: return "MEM_STATE";
    case SC_GRAD: return "MEM_GRADS";
    case SC_BATCH: return "MEM_BATCH";
    case SC_ARENA: return "MEM_ARENA";
    default: return NULL;
    }
}

/* The byte offset of node id in its region. */
static size_t offset_of(const Cu *e, int id)
{
    StorageClass c = e->p->buf[id].cls;
    return c == SC_GRAD || c == SC_ARENA ? e->p->buf[id].offset : e->cu->pos[id];
}

static void decl_pointers(Cu *e)
{
    OUT("\n/* ---- device pointers into the one allocation, set by bind() ---- */\n");
    for (int i = 0; i < e->g->n; i++) {
        StorageClass c = e->p->buf[i].cls;
        if (c == SC_NONE || !e->cu->used[i])
            continue;
        char where[96];
        if (c == SC_ALIAS)
            snprintf(where, sizeof where, "a view of %s", e->name[e->p->buf[i].root]);
        else if (c == SC_CONST)
            snprintf(where, sizeof where, "a constant (consts::%s)", e->name[i]);
        else
            snprintf(where, sizeof where, "%s + %zu", region_of(c), offset_of(e, i));
        OUT("static %s%s *%s;", c == SC_CONST ? "const " : "", ctype(e, i), e->name[i]);
        emit_decl_comment(e, i, where);
    }
    if (e->cu->uses_norm)
        OUT("static float *grads;           /* the gradient block, MEM_GRADS */\n"
            "static double *scratch;        /* MEM_SCRATCH */\n");
    OUT("static NnrtCudaCtl *ctl;       /* lr, step, cursors, the dropout stream */\n");
    OUT("static cublasHandle_t cublas;\n");
    OUT("static const float one = 1.0f, zero = 0.0f;  /* GEMM alpha and beta */\n");
}

static void decl_consts(Cu *e)
{
    int any = 0;
    for (int i = 0; i < e->g->n; i++) {
        if (e->p->buf[i].cls != SC_CONST || !e->cu->used[i])
            continue;
        if (!any++)
            OUT("\n/* ---- constant tensors, in device memory ---- */\nnamespace consts {\n");
        emit_const_array(e, i, "__device__");
    }
    if (any)
        OUT("} /* namespace consts */\n");
}

static void fn_bind(Cu *e)
{
    OUT("\n/* bind: the pointers at their offsets in mem (MEM_BYTES bytes). */\n");
    OUT("static void bind(char *mem, NnrtCudaCtl *control, cublasHandle_t handle)\n{\n");
    for (int i = 0; i < e->g->n; i++) {
        StorageClass c = e->p->buf[i].cls;
        if (!e->cu->used[i])
            continue;
        if (region_of(c))
            OUT("    %s = (%s *)(mem + %s + %zu);\n", e->name[i], ctype(e, i), region_of(c), offset_of(e, i));
        else if (c == SC_CONST)
            OUT("    NNRT_CUDA_CHECK(cudaGetSymbolAddress((void **)&%s, consts::%s));\n", e->name[i], e->name[i]);
    }
    for (int i = 0; i < e->g->n; i++) /* views, after what they view */
        if (e->p->buf[i].cls == SC_ALIAS && e->cu->used[i])
            OUT("    %s = (%s *)%s;\n", e->name[i], ctype(e, i), e->name[e->p->buf[i].root]);
    if (e->cu->uses_norm)
        OUT("    grads = (float *)(mem + MEM_GRADS);\n    scratch = (double *)(mem + MEM_SCRATCH);\n");
    OUT("    ctl = control;\n    cublas = handle;\n}\n");
}

static void emit_kernels(Cu *e)
{
    OUT("\n/* ---- the kernels, one per step of the schedule (fused steps inside their reader's) ---- */\n");
    OUT("namespace kernel {\n");
    if (e->g->train.opt == OPT_ADAM)
        emit_adam_pow(e->out, "__device__ static", "long long");
    for (int s = 0; s < e->p->n_steps; s++) {
        int id = e->p->order[s];
        if (!own_kernel(e, id))
            continue;
        OUT("\n");
        emit_formula(e, id, "", 1);
        for (int k = 0; k < nd(e, id)->n_in; k++)
            if (e->fu.fused[nd(e, id)->in[k]]) {
                char f[640];
                OUT("/*   with %s inline */\n", emit_shaped_formula(e->g, nd(e, id)->in[k], f, sizeof f));
            }
        emit_kernel(e, id);
    }
    OUT("} /* namespace kernel */\n");
}

/* An accuracy nothing reads: the runtime counts right predictions itself
 * (from the output rows), so a training step need not compute it. */
static int unread_metric(const Cu *e, int id)
{
    if (nd(e, id)->op != OP_ACCURACY)
        return 0;
    for (int i = 0; i < e->g->n; i++)
        for (int k = 0; k < nd(e, i)->n_in; k++)
            if (nd(e, i)->in[k] == id)
                return 0;
    return 1;
}

static void emit_metric_launch(Cu *e, int id)
{
    OUT("    if (mode == EVAL) {  /* read by no one while training: skipped there */\n");
    Params a;
    data_params(e, id, &a);
    OUT("        kernel::%s<<<LOSS_BLOCK>>>(", e->name[id]);
    param_call(e, &a);
    OUT(", n);\n        NNRT_CUDA_LAUNCHED(\"%s\");\n    }\n", e->name[id]);
}

/* One step of a pass: its kernel's launch (an accuracy only in EVAL). */
static void cu_step(Cu *e, int id)
{
    if (unread_metric(e, id))
        emit_metric_launch(e, id);
    else
        emit_launch(e, id);
}

static int cu_has_code(const Cu *e, int id) { return kind_of(e, id) != K_NONE; }

static void fn_passes(Cu *e)
{
#define S "s|GRID|WARPS|BLOCKS|LOSS_BLOCK|COLS" /* the launch configurations name the stream */
    static const char *const fwd[] = {S, "n", "mode", NULL}, *const bwd[] = {S, "n", NULL}, *const upd[] = {S, NULL};
#undef S
    char comment[200];
    snprintf(comment, sizeof comment, "/* forward: the mean loss of the n rows in the batch buffers into %s.\n"
             " * mode: TRAIN (new dropout masks), TRAIN_SAME_MASK, EVAL, PREDICT. */", e->name[e->g->loss]);
    emit_pass(e, comment, "static void forward(cudaStream_t s, int n, int mode)", fwd, NULL, 0, e->p->fwd_end, "");
    emit_pass(e, "/* backward: the gradient of the loss, from the loss back to every param,\n"
                 " * in reverse order of the forward pass. */",
              "static void backward(cudaStream_t s, int n)", bwd, NULL, e->p->fwd_end, e->p->bwd_end, "");
    snprintf(comment, sizeof comment, "/* update: one %s step over every trainable param (lr and step from ctl). */",
             emit_opt_name(e->g));
    emit_pass(e, comment, "static void update(cudaStream_t s)", upd, NULL, e->p->bwd_end, e->p->n_steps, "");
}

/* init: the C program's init, into the host mirrors (the same RNG calls in the same order). */
static void fn_init(Cu *e)
{
    OUT("\n/* init: params to their initial values in the host mirrors (the C program's\n");
    OUT(" * numbers: the same calls in the same order), optimizer state to zero. */\n");
    emit_init(e, NULL);
}

/* ---- main's hooks: the host mirrors, the batch rows, NnrtCudaModel ---------- */
static void cu_addr(const Cu *e, int id, char *buf, size_t len)
{
    StorageClass c = e->p->buf[id].cls;
    if (c == SC_GRAD)
        snprintf(buf, len, "host_grads + %zu", e->p->buf[id].offset / 4);
    else
        snprintf(buf, len, "host_%s + %zu", c == SC_PARAM ? "params" : "state", e->cu->pos[id] / 4);
}

static void cu_main_decls(Cu *e)
{
    int x = emit_leaf(e->g, OP_INPUT), t = emit_leaf(e->g, OP_LABEL);
    OUT("/* host batch rows: the runtime gathers into these for --gradcheck and predict */\n");
    OUT("static float x_buf[%s];\nstatic %s t_buf[%s];\nstatic float y_buf[%s];\n", emit_dims(nd(e, x)->shape).s,
        ctype(e, t), emit_dims(nd(e, t)->shape).s, emit_dims(nd(e, e->g->output)->shape).s);
    OUT("\nstatic void host_bind(NnrtCudaModel *cm, char *mem, NnrtCudaCtl *c, cublasHandle_t h)\n{\n");
    OUT("    model::bind(mem, c, h);\n    cm->x = model::%s;\n    cm->t = model::%s;\n", e->name[x], e->name[t]);
    OUT("    cm->loss = model::%s;\n    cm->output = model::%s;\n}\n", e->name[e->g->loss], e->name[e->g->output]);
}

static void cu_main_tail(Cu *e)
{
    int x = emit_leaf(e->g, OP_INPUT), t = emit_leaf(e->g, OP_LABEL);
    OUT("\n    NnrtCudaModel cm;\n    memset(&cm, 0, sizeof cm);\n    cm.m = &m;\n    cm.mem_bytes = MEM_BYTES;\n");
    OUT("    cm.params_off = MEM_PARAMS;\n    cm.params_bytes = %zu;\n", e->cu->params_bytes);
    OUT("    cm.state_off = MEM_STATE;\n    cm.state_bytes = %zu;\n", e->cu->state_bytes);
    OUT("    cm.grads_off = MEM_GRADS;\n    cm.grads_bytes = %zu;\n", e->p->grad_bytes);
    OUT("    cm.host_params = host_params;\n    cm.host_state = host_state;\n    cm.host_grads = host_grads;\n");
    OUT("    cm.x_bytes_per_row = %ld;\n    cm.t_bytes_per_row = %ld;\n", shape_row_numel(nd(e, x)->shape) * 4,
        shape_row_numel(nd(e, t)->shape) * 4);
    OUT("    cm.bind = host_bind;\n    cm.init = model::init;\n    cm.forward = model::forward;\n");
    OUT("    cm.backward = model::backward;\n    cm.update = model::update;\n");
    if (e->o->mpi) /* --mpi: a GPU per rank, NCCL's allreduce of the grads (runtime/cuda/nnrt_cuda_mpi.cu) */
        OUT("    return nnrt_cuda_mpi_main(&cm, argc, argv);  /* mpirun -np N: data parallel over N ranks */\n");
    else
        OUT("    return nnrt_cuda_main(&cm, argc, argv);\n");
}

/* The device memory map, before any code is written. */
static void cu_prepare(Cu *e)
{
    e->cu = arena_alloc(e->a, sizeof *e->cu);
    memset(e->cu, 0, sizeof *e->cu);
    e->cu->used = arena_alloc(e->a, (size_t)e->g->n);
    memset(e->cu->used, 0, (size_t)e->g->n);
    layout(e, e->a);
}

static void cu_code(Cu *e)
{
    emit_kernels(e);
    fn_passes(e);
    fn_init(e);
}

/* After the code: the pointers it reads are known, and main's. */
static void cu_decls(Cu *e)
{
    const Graph *g = e->g;
    int leaves[4] = {emit_leaf(g, OP_INPUT), emit_leaf(g, OP_LABEL), g->loss, g->output};
    for (int k = 0; k < 4; k++)
        e->cu->used[leaves[k]] = 1; /* main hands these to the runtime */
    for (int i = 0; i < g->n; i++) /* a view is set from what it views */
        if (e->cu->used[i] && e->p->buf[i].cls == SC_ALIAS)
            e->cu->used[e->p->buf[i].root] = 1;
    includes(e);
    decl_layout(e);
    OUT("\nnamespace model {\n");
    decl_consts(e);
    decl_pointers(e);
    fn_bind(e);
}

static void cu_finish(Cu *e)
{
    OUT("} /* namespace model */\n");
    emit_main(e);
}

static const EmitTarget cuda_target = {
    .ext = "cu",
    .reserved = cuda_reserved,
    .n_reserved = sizeof cuda_reserved / sizeof *cuda_reserved,
    .prepare = cu_prepare, .code = cu_code, .decls = cu_decls, .finish = cu_finish,
    .intro = cu_intro, .notes = cu_notes,
    .unit = "kernel", .step_rules = 0, /* the kernels carry the rules */
    .stop = "return;", .has_code = cu_has_code, .step = cu_step,
    .addr = cu_addr, .main_decls = cu_main_decls, .x_buf = "x_buf", .t_buf = "t_buf", .main_tail = cu_main_tail,
};

void emit_cuda(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o, int argc, char **argv)
{
    emit_program(out, g, p, o, &cuda_target, argc, argv);
}
