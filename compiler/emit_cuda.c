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

typedef struct Cu {
    FILE *out;
    const Graph *g;
    const Plan *p;
    const EmitOptions *o;
    const char **name; /* C name of every node */
    int last_line;
    SrcCursor src_at;  /* where source_line last looked */
    Fusion fu;
    ExprEnv env;       /* for the shared expression builders */
    size_t *pos;       /* params, state, batch: byte offset of the node in its region */
    size_t params_bytes, state_bytes, batch_bytes;
    size_t mem_params, mem_state, mem_grads, mem_batch, mem_arena, mem_scratch, mem_bytes;
    char *used;        /* used[i]: the host code reads node i's device pointer */
    int uses_norm;     /* grad_norm: the code reads grads and scratch */
} Cu;

#define OUT(...) fprintf(e->out, __VA_ARGS__)
#define SCRATCH_BYTES (64 * 8) /* NNRT_CUDA_NORM_BLOCKS doubles */

static const Node *nd(const Cu *e, int id) { return &e->g->nodes[id]; }
static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* An extent as text: "n" for the batch axis (bat: what to write for it), else the number. */
static void ext_text(char *buf, size_t len, int d, const char *bat)
{
    if (d == DIM_B)
        snprintf(buf, len, "%s", bat);
    else
        snprintf(buf, len, "%d", d);
}

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
    "host_params", "host_state", "host_grads", "host_bind", "t_buf", "tensor_params", "tensor_state",
};

/* emit_names(), with the names the .cu needs itself taken too: a clash gets
 * a trailing '_', checked against every name in one hash lookup. */
static const char **cuda_names(const Graph *g, Arena *a)
{
    return emit_names_except(g, a, cuda_reserved, sizeof cuda_reserved / sizeof *cuda_reserved);
}

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
    e->used[id] = 1;
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

/* ---- comments ------------------------------------------------------------------ */
static void source_line(Cu *e, int line)
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
    for (char *q = text; *q; q++)
        if (q[0] == '*' && q[1] == '/')
            q[1] = '|';
    OUT("\n    /* line %d: %s */\n", line, text);
}

static void formula(Cu *e, int id, const char *indent, int with_rule)
{
    const Node *n = nd(e, id);
    char f[512];
    graph_formula(e->g, id, f, sizeof f);
    for (char *q = f; *q; q++)
        if (q[0] == '*' && q[1] == '/')
            q[1] = '|';
    if (with_rule && n->rule)
        OUT("%s/* %s\n%s   %s */\n", indent, f, indent, n->rule);
    else
        OUT("%s/* %s */\n", indent, f);
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

/* The flat index of the coordinates (i, j, ...) in shape big, with axis
 * `axis` shifted by delta: "i * 100 + (j + 3)". */
static Str shifted(Shape big, int axis, int delta)
{
    Str r;
    r.s[0] = '\0';
    long stride = 1;
    char terms[NNC_MAX_RANK][64];
    for (int a = big.rank - 1; a >= 0; a--) {
        if (a == axis && delta)
            snprintf(terms[a], 64, "(%c %c %d)", emit_loopvar[a], delta > 0 ? '+' : '-', delta > 0 ? delta : -delta);
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
    if (big.rank == 0)
        snprintf(r.s, sizeof r.s, "0");
    return r;
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
    int red = e->fu.epilogue[id];
    int flat = red < 0 && emit_flat_operands(&e->env, id, n->shape);
    Big f = emit_ew_tree(&e->env, id, n->shape, flat);
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
        OUT("            float v = %s;\n            %s[%s] = v;\n            s += v;\n        }\n", f.s, e->name[id], at.s);
        OUT("    s = nnrt_col_tree(s);  /* %s = Σ_rows %s, a fixed-order tree over the row groups */\n",
            nd(e, red)->name, n->name);
        OUT("    if (threadIdx.y == 0 && j < %d)\n        %s[j] = s;\n}\n", cols, e->name[red]);
        return;
    }
    kernel_open(e, id, &a, emit_numel(n->shape).s);
    if (flat) {
        OUT("    int i = idx;\n    %s[i] = %s;\n}\n", e->name[id], f.s);
        return;
    }
    Big stmt;
    snprintf(stmt.s, sizeof stmt.s, "    %s[%s] = %.3900s;\n", e->name[id], at.s, f.s);
    coords(e, n->shape, "    ", stmt.s);
    OUT("%s}\n", stmt.s);
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
    int kd = n->ta ? a->shape.d[0] : a->shape.d[1], lda = a->shape.d[1], ldb = b->shape.d[1], ldc = n->shape.d[1];
    Str M = emit_ext(n->shape.d[0]), N = emit_ext(n->shape.d[1]), K = emit_ext(kd);
    OUT("    /* row-major %s = op(%s)·op(%s) is column-major %sᵀ = op(%s)ᵀ·op(%s)ᵀ: operands swapped */\n",
        n->name ? n->name : e->name[id], a->name ? a->name : "a", b->name ? b->name : "b",
        n->name ? n->name : e->name[id], b->name ? b->name : "b", a->name ? a->name : "a");
    OUT("    NNRT_CUBLAS_CHECK(cublasSgemm(cublas, CUBLAS_OP_%c, CUBLAS_OP_%c, %s, %s, %s, &one, %s, %d, %s, %d, &zero, "
        "%s, %d));\n",
        n->tb ? 'T' : 'N', n->ta ? 'T' : 'N', N.s, M.s, K.s, use(e, n->in[1]), ldb, use(e, n->in[0]), lda,
        use(e, id), ldc);
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
            char ext[16];
            size_t u = strlen(r.s);
            ext_text(ext, sizeof ext, in.d[a], "n");
            snprintf(r.s + u, sizeof r.s - u, "%s%s", u ? " * " : "", ext);
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

/* The source index of a transpose: input axis perm[a] is output axis a. */
static Big transpose_src(const Cu *e, int id)
{
    const Node *n = nd(e, id);
    Shape in = nd(e, n->in[0])->shape;
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
    return src;
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
    char *body = NULL;
    size_t len = 0;
    FILE *saved = e->out;
    e->out = open_memstream(&body, &len);
    NNC_ASSERT(e->out, "open_memstream failed");
    switch (n->op) {
    case OP_BROADCAST_TO: /* a scalar constant x is a literal: a fill */
        OUT("    %s[%s] = %s;\n", y, at.s, emit_elem(&e->env, n->in[0], emit_index_in(in, n->shape).s).s);
        break;
    case OP_TRANSPOSE: OUT("    %s[%s] = %s[%s];\n", y, at.s, x, transpose_src(e, id).s); break;
    case OP_SLICE: OUT("    %s[%s] = %s[%s];\n", y, at.s, x, shifted(in, n->axis, n->lo).s); break;
    case OP_PAD: {
        char c = emit_loopvar[n->axis];
        OUT("    %s[%s] = %c >= %d && %c < %d ? %s[%s] : 0.0f;\n", y, at.s, c, n->lo, c, n->lo + in.d[n->axis], x,
            shifted(in, n->axis, -n->lo).s);
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
            OUT("    %s[%s] = %s[%s];\n", y, at.s, e->name[n->in[k]], shifted(ink, n->axis, -(off - ink.d[n->axis])).s);
        }
        break;
    }
    default: NNC_ASSERT(0, "not a data-moving op");
    }
    fclose(e->out);
    e->out = saved;
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
    if (n->op == OP_SOFTMAX || n->op == OP_LOG_SOFTMAX) {
        warp_max_sum(e, "xr", k);
        if (n->op == OP_SOFTMAX)
            OUT("    for (int j = lane; j < %d; j += 32)\n        yr[j] = expf(xr[j] - m) / s;\n}\n", k);
        else
            OUT("    for (int j = lane; j < %d; j += 32)\n        yr[j] = xr[j] - m - logf(s);\n}\n", k);
        return;
    }
    OUT("    const float *dr = %s + (long)r * %d;\n    float s = 0.0f;\n", e->name[n->in[1]], k);
    if (n->op == OP_SOFTMAX_GRAD) {
        OUT("    for (int j = lane; j < %d; j += 32)\n        s += dr[j] * xr[j];\n    s = nnrt_warp_sum(s);\n", k);
        OUT("    for (int j = lane; j < %d; j += 32)\n        yr[j] = xr[j] * (dr[j] - s);\n}\n", k);
    } else {
        OUT("    for (int j = lane; j < %d; j += 32)\n        s += dr[j];\n    s = nnrt_warp_sum(s);\n", k);
        OUT("    for (int j = lane; j < %d; j += 32)\n        yr[j] = dr[j] - expf(xr[j]) * s;\n}\n", k);
    }
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
    Shape ys = nd(e, n->in[0])->shape;
    int k = ys.d[1], t = n->in[1];
    const char *y = e->name[n->in[0]], *tn = e->name[t];
    int ids = nd(e, t)->dtype == DT_I32;
    Str rows = emit_ext(ys.d[0]), tg = emit_target(&e->env, t, k);
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
        else
            OUT("        int want = 0;\n        for (int j = 1; j < %d; j++)\n            want = %s[r * %d + j] > %s[r * %d + want] ? j : want;\n"
                "        float v = best == want;\n", k, tn, k, tn, k);
    }
    OUT("        total += v;\n    }\n    if (lane == 0)\n        part[warp] = total;\n    __syncthreads();\n");
    OUT("    if (threadIdx.x == 0) {\n        double sum = 0.0;\n");
    OUT("        for (int w = 0; w < NNRT_CUDA_LOSS_THREADS / 32; w++)\n            sum += part[w];\n");
    OUT("        %s[0] = (float)sum / (float)%s;\n    }\n}\n", e->name[id], ys.d[0] == DIM_B ? "n" : rows.s);
}

static void kernel_loss_grad(Cu *e, int id)
{
    const Node *n = nd(e, id);
    int nll = n->op == OP_NLL_GRAD;
    Shape ys = nll ? n->to : nd(e, n->in[0])->shape;
    int k = ys.d[1], t = n->in[nll ? 0 : 1], dl = n->in[nll ? 1 : 2];
    Str rows = emit_ext(ys.d[0]), tg = emit_target(&e->env, t, k), dls = emit_elem(&e->env, dl, "0");
    const char *g = e->name[id];
    Params a;
    data_params(e, id, &a);
    OUT("__global__ void %s(", g);
    param_decl(e, &a);
    OUT(", int n)\n{\n");
    if (n->op == OP_SOFTMAX_CE_GRAD) {
        warp_row(e, rows.s);
        OUT("    const float dl = %s / %s; /* dL/n */\n", dls.s, ys.d[0] == DIM_B ? "(float)n" : emit_lit(ys.d[0]).s);
        OUT("    const float *yr = %s + (long)r * %d;\n    float *gr = %s + (long)r * %d;\n", e->name[n->in[0]], k, g, k);
        warp_max_sum(e, "yr", k);
        OUT("    for (int j = lane; j < %d; j += 32)\n        gr[j] = dl * (expf(yr[j] - m) / s - %s);\n}\n", k, tg.s);
        return;
    }
    OUT("    int idx = blockIdx.x * blockDim.x + threadIdx.x;\n    if (idx >= %s * %d)\n        return;\n", rows.s, k);
    OUT("    int r = idx / %d, j = idx %% %d;\n", k, k);
    OUT("    const float dl = %s / %s; /* dL/n */\n", dls.s, ys.d[0] == DIM_B ? "(float)n" : emit_lit(ys.d[0]).s);
    if (nll)
        OUT("    %s[idx] = -dl * %s;\n}\n", g, tg.s);
    else
        OUT("    %s[idx] = dl * (1.0f / (1.0f + expf(-%s[idx])) - %s);\n}\n", g, e->name[n->in[0]], tg.s);
}

static void launch_loss_grad(Cu *e, int id)
{
    const Node *n = nd(e, id);
    int nll = n->op == OP_NLL_GRAD;
    Shape ys = nll ? n->to : nd(e, n->in[0])->shape;
    Params a;
    data_params(e, id, &a);
    Str rows = emit_ext(ys.d[0]);
    if (n->op == OP_SOFTMAX_CE_GRAD) {
        launch_rows(e, id, rows.s);
        return;
    }
    launch_grid(e, id, product(rows.s, ys.d[1]), &a);
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
typedef enum { K_NONE, K_EW, K_MATMUL, K_RESHAPE, K_FOLD, K_DATA, K_SOFTMAX, K_LOSS, K_LOSS_GRAD, K_DROPMASK,
               K_GRAD_NORM, K_UPDATE } Kind;

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
        e->uses_norm = 1;
        OUT("    nnrt_cuda_grad_norm(s, grads, %zu, scratch, %s);  /* one pass over the contiguous gradient block */\n",
            e->p->grad_bytes / 4, use(e, id));
        break;
    case K_UPDATE: launch_update(e, id); break;
    case K_NONE: break;
    }
}

/* ---- the file ----------------------------------------------------------------------- */
static void header(Cu *e, int argc, char **argv)
{
    char src[512];
    snprintf(src, sizeof src, "%s.cu", e->g->model);
    const char *file = e->o->source ? e->o->source : src;
    OUT("/* %s: a CUDA training program for the model '%s' (%s).\n", file, e->g->model, e->o->path);
    OUT(" * Generated by nnc %s; do not edit, edit the model and run nnc again:\n *   nnc", NNC_VERSION);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *slash = strrchr(arg, '/');
        OUT(" %s", strcmp(argv[i - 1], "-o") == 0 && slash ? slash + 1 : arg);
    }
    OUT("\n * Build: nvcc -O2 -arch=sm_90 %s $(nnc --cflags --target cuda) $(nnc --libs --target cuda)\n *\n",
        file);
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
    OUT(" *\n * Device memory: one cudaMalloc of %zu bytes\n", e->mem_bytes);
    OUT(" *   params %zu B | state %zu B | grads %zu B | batch %zu B | arena %zu B | scratch %d B\n", e->params_bytes,
        e->state_bytes, e->p->grad_bytes, e->batch_bytes, e->p->arena_bytes, SCRATCH_BYTES);
    OUT(" * The arena and the gradient block keep the plan's offsets.  The data sets,\n");
    OUT(" * the epoch's permutation and the step losses belong to the runtime\n");
    OUT(" * (runtime/cuda/nnrt_cuda.cu), which captures one training step as a CUDA\n");
    OUT(" * graph and replays it.\n *\n");
    OUT(" * Dimensions:\n *   B = %d   rows of a batch, the size every buffer is planned for\n", e->g->batch);
    OUT(" *   n        rows of the batch at hand (n <= B: the last batch may be smaller)\n");
    for (int i = 0; i < e->g->consts.len; i++) {
        const ConstDef *c = e->g->consts.items[i];
        if (!c->str) /* a string const is a path, not a dimension */
            OUT(" *   %-8s %g (const, line %d)\n", c->name, c->value, c->loc.line);
    }
    OUT(" * Shapes are written [rows, columns]; every tensor is row-major float.\n */\n");
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
    e->pos = arena_alloc(a, (size_t)g->n * sizeof *e->pos);
    for (int i = 0; i < g->n; i++) {
        size_t *region = NULL;
        switch (e->p->buf[i].cls) {
        case SC_PARAM: region = &e->params_bytes; break;
        case SC_STATE: region = &e->state_bytes; break;
        case SC_BATCH: region = &e->batch_bytes; break;
        default: continue;
        }
        e->pos[i] = *region;
        *region += align_up(e->p->buf[i].bytes, PLAN_ALIGN);
    }
    e->mem_params = 0;
    e->mem_state = align_up(e->params_bytes, 256);
    e->mem_grads = e->mem_state + align_up(e->state_bytes, 256);
    e->mem_batch = e->mem_grads + align_up(e->p->grad_bytes, 256);
    e->mem_arena = e->mem_batch + align_up(e->batch_bytes, 256);
    e->mem_scratch = e->mem_arena + align_up(e->p->arena_bytes, 256);
    e->mem_bytes = e->mem_scratch + SCRATCH_BYTES;
}

static void decl_layout(Cu *e)
{
    OUT("\n/* ---- device memory: one allocation, regions at these byte offsets ---- */\n");
    OUT("enum : size_t {\n");
    OUT("    MEM_PARAMS = %zu,   /* %zu B */\n", e->mem_params, e->params_bytes);
    OUT("    MEM_STATE = %zu,    /* %zu B */\n", e->mem_state, e->state_bytes);
    OUT("    MEM_GRADS = %zu,    /* %zu B, the plan's gradient block */\n", e->mem_grads, e->p->grad_bytes);
    OUT("    MEM_BATCH = %zu,    /* %zu B, inputs and labels */\n", e->mem_batch, e->batch_bytes);
    OUT("    MEM_ARENA = %zu,    /* %zu B, the plan's arena */\n", e->mem_arena, e->p->arena_bytes);
    OUT("    MEM_SCRATCH = %zu,  /* %d B, partial sums of the gradient norm */\n", e->mem_scratch, SCRATCH_BYTES);
    OUT("    MEM_BYTES = %zu\n};\n", e->mem_bytes);
    OUT("\n/* ---- host mirrors: init, checkpoints and --gradcheck read and write these ---- */\n");
    OUT("static float host_params[%zu];\n", e->params_bytes / 4 ? e->params_bytes / 4 : 1);
    OUT("static float host_state[%zu];\n", e->state_bytes / 4 ? e->state_bytes / 4 : 1);
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
    return c == SC_GRAD || c == SC_ARENA ? e->p->buf[id].offset : e->pos[id];
}

static void decl_comment(Cu *e, int id, const char *where)
{
    const Node *n = nd(e, id);
    char b[64];
    OUT("  /* %s, %s", shape_str(n->shape, b, sizeof b), where);
    if (n->loc.line)
        OUT(", line %d", n->loc.line);
    OUT(" */\n");
}

static void decl_pointers(Cu *e)
{
    OUT("\n/* ---- device pointers into the one allocation, set by bind() ---- */\n");
    for (int i = 0; i < e->g->n; i++) {
        StorageClass c = e->p->buf[i].cls;
        if (c == SC_NONE || !e->used[i])
            continue;
        char where[96];
        if (c == SC_ALIAS)
            snprintf(where, sizeof where, "a view of %s", e->name[e->p->buf[i].root]);
        else if (c == SC_CONST)
            snprintf(where, sizeof where, "a constant (consts::%s)", e->name[i]);
        else
            snprintf(where, sizeof where, "%s + %zu", region_of(c), offset_of(e, i));
        OUT("static %s%s *%s;", c == SC_CONST ? "const " : "", ctype(e, i), e->name[i]);
        decl_comment(e, i, where);
    }
    if (e->uses_norm)
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
        if (e->p->buf[i].cls != SC_CONST || !e->used[i])
            continue;
        if (!any++)
            OUT("\n/* ---- constant tensors, in device memory ---- */\nnamespace consts {\n");
        const Node *n = nd(e, i);
        long cnt = shape_numel(n->shape, e->g->batch);
        OUT("__device__ %s %s[%ld] = {", ctype(e, i), e->name[i], cnt);
        for (long k = 0; k < cnt; k++)
            OUT("%s%s", k ? ", " : "", n->dtype == DT_I32 ? emit_ext((int)n->data[k]).s : emit_lit(n->data[k]).s);
        OUT("};\n");
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
        if (!e->used[i])
            continue;
        if (region_of(c))
            OUT("    %s = (%s *)(mem + %s + %zu);\n", e->name[i], ctype(e, i), region_of(c), offset_of(e, i));
        else if (c == SC_CONST)
            OUT("    NNRT_CUDA_CHECK(cudaGetSymbolAddress((void **)&%s, consts::%s));\n", e->name[i], e->name[i]);
    }
    for (int i = 0; i < e->g->n; i++) /* views, after what they view */
        if (e->p->buf[i].cls == SC_ALIAS && e->used[i])
            OUT("    %s = (%s *)%s;\n", e->name[i], ctype(e, i), e->name[e->p->buf[i].root]);
    if (e->uses_norm)
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
        formula(e, id, "", 1);
        for (int k = 0; k < nd(e, id)->n_in; k++)
            if (e->fu.fused[nd(e, id)->in[k]]) {
                OUT("/*   with ");
                char f[512];
                graph_formula(e->g, nd(e, id)->in[k], f, sizeof f);
                OUT("%s inline */\n", f);
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

static void emit_steps(Cu *e, int from, int to)
{
    e->last_line = 0;
    for (int s = from; s < to; s++) {
        int id = e->p->order[s];
        if (kind_of(e, id) == K_NONE)
            continue;
        source_line(e, nd(e, id)->loc.line);
        formula(e, id, "    ", 0);
        if (e->fu.fused[id])
            OUT("    /*   (computed inside the next kernel, never stored) */\n");
        else if (emit_is_epilogue(&e->env, id))
            OUT("    /*   (summed inside the kernel above) */\n");
        else if (unread_metric(e, id))
            emit_metric_launch(e, id);
        else
            emit_launch(e, id);
        if (id == e->g->output && from == 0)
            OUT("    if (mode == PREDICT)  /* %s is the output: predict stops here */\n        return;\n", e->name[id]);
    }
}

static void fn_passes(Cu *e)
{
    OUT("\n/* forward: the mean loss of the n rows in the batch buffers into %s.\n", e->name[e->g->loss]);
    OUT(" * mode: TRAIN (new dropout masks), TRAIN_SAME_MASK, EVAL, PREDICT. */\n");
    OUT("static void forward(cudaStream_t s, int n, int mode)\n{\n");
    emit_steps(e, 0, e->p->fwd_end);
    OUT("    (void)mode;\n}\n");
    OUT("\n/* backward: the gradient of the loss, from the loss back to every param,\n");
    OUT(" * in reverse order of the forward pass. */\nstatic void backward(cudaStream_t s, int n)\n{\n    (void)s;\n    (void)n;\n");
    emit_steps(e, e->p->fwd_end, e->p->bwd_end);
    OUT("}\n");
    static const char *const names[] = {"sgd", "momentum", "adagrad", "adadelta", "adam"};
    OUT("\n/* update: one %s step over every trainable param (lr and step from ctl). */\n", names[e->g->train.opt]);
    OUT("static void update(cudaStream_t s)\n{\n    (void)s;\n");
    emit_steps(e, e->p->bwd_end, e->p->n_steps);
    OUT("}\n");
}

/* init: the C program's init, into the host mirrors (the same RNG calls in the same order). */
static void fn_init(Cu *e)
{
    OUT("\n/* init: params to their initial values in the host mirrors (the C program's\n");
    OUT(" * numbers: the same calls in the same order), optimizer state to zero. */\n");
    OUT("static void init(uint64_t seed)\n{\n    NnrtRng r;\n    nnrt_rng_seed_stream(&r, seed, NNRT_STREAM_INIT);\n");
    for (int i = 0; i < e->g->n; i++) {
        const Node *n = nd(e, i);
        char b[96];
        if (n->op == OP_STATE) {
            OUT("    memset(host_state + %zu, 0, %zu);  /* %s */\n", e->pos[i] / 4, e->p->buf[i].bytes, n->name);
            continue;
        }
        if (n->op != OP_PARAM)
            continue;
        Str cnt = emit_numel(n->shape), c0 = emit_lit(n->c[0]), c1 = emit_lit(n->c[1]);
        size_t at = e->pos[i] / 4;
        switch (n->init) {
        case INIT_ZEROS: case INIT_ONES: case INIT_CONST: {
            Str v = n->init == INIT_ZEROS ? emit_lit(0) : n->init == INIT_ONES ? emit_lit(1) : c0;
            OUT("    nnrt_init_fill(host_params + %zu, %s, %s);", at, cnt.s, v.s);
            break;
        }
        case INIT_UNIFORM: OUT("    nnrt_init_uniform(host_params + %zu, %s, %s, %s, &r);", at, cnt.s, c0.s, c1.s); break;
        case INIT_RANDN: case INIT_GLOROT: case INIT_HE:
            OUT("    nnrt_init_normal(host_params + %zu, %s, %s, &r);", at, cnt.s, c0.s);
            break;
        }
        OUT("  /* %s = %s */\n", n->name, emit_init_text(n, b, sizeof b));
    }
    OUT("}\n");
}

static void tensor_entry(Cu *e, int id, int gi)
{
    const Node *n = nd(e, id);
    char grad[64] = "NULL";
    if (gi >= 0)
        snprintf(grad, sizeof grad, "host_grads + %zu", e->p->buf[gi].offset / 4);
    OUT("    {\"%s\", host_%s + %zu, %s, %d, {", n->name, n->op == OP_PARAM ? "params" : "state", e->pos[id] / 4, grad,
        n->shape.rank);
    for (int k = 0; k < n->shape.rank; k++)
        OUT("%s%d", k ? ", " : "", n->shape.d[k]);
    OUT("%s}, %ld},\n", n->shape.rank ? "" : "0", shape_numel(n->shape, e->g->batch));
}

static void tensor_tables(Cu *e, int *n_params, int *n_state)
{
    const Graph *g = e->g;
    *n_params = *n_state = 0;
    OUT("\n/* ---- the tensors the runtime saves, loads and checks (over the host mirrors) ---- */\n");
    OUT("static NnrtTensor tensor_params[] = {  /* name, data, grad, rank, shape, numel */\n");
    for (int i = 0; i < g->n; i++)
        if (nd(e, i)->op == OP_PARAM) {
            int gi = g->grad && i < g->n_forward ? g->grad[i] : -1;
            tensor_entry(e, i, gi >= 0 && e->p->buf[gi].cls == SC_GRAD && !nd(e, i)->frozen ? gi : -1);
            ++*n_params;
        }
    OUT("};\n");
    for (int i = 0; i < g->n; i++)
        *n_state += nd(e, i)->op == OP_STATE;
    if (!*n_state) {
        OUT("static NnrtTensor tensor_state[1];  /* this optimizer keeps no state */\n");
        return;
    }
    OUT("static NnrtTensor tensor_state[] = {\n");
    for (int i = 0; i < g->n; i++)
        if (nd(e, i)->op == OP_STATE)
            tensor_entry(e, i, -1);
    OUT("};\n");
}

static Str dims_c(Shape s)
{
    Str r;
    r.s[0] = '\0';
    for (int i = 0; i < s.rank; i++) {
        char ext[16];
        size_t u = strlen(r.s);
        ext_text(ext, sizeof ext, s.d[i], "B");
        snprintf(r.s + u, sizeof r.s - u, "%s%s", i ? " * " : "", ext);
    }
    if (!s.rank)
        snprintf(r.s, sizeof r.s, "1");
    return r;
}

static void fn_main(Cu *e)
{
    const Graph *g = e->g;
    int x = emit_leaf(g, OP_INPUT), t = emit_leaf(g, OP_LABEL), n_params, n_state;
    tensor_tables(e, &n_params, &n_state);
    emit_table_arrays(e->out, g);
    OUT("/* host batch rows: the runtime gathers into these for --gradcheck and predict */\n");
    OUT("static float x_buf[%s];\nstatic %s t_buf[%s];\nstatic float y_buf[%s];\n", dims_c(nd(e, x)->shape).s,
        ctype(e, t), dims_c(nd(e, t)->shape).s, dims_c(nd(e, g->output)->shape).s);
    OUT("\nstatic void host_bind(NnrtCudaModel *cm, char *mem, NnrtCudaCtl *c, cublasHandle_t h)\n{\n");
    OUT("    model::bind(mem, c, h);\n    cm->x = model::%s;\n    cm->t = model::%s;\n", e->name[x], e->name[t]);
    OUT("    cm->loss = model::%s;\n    cm->output = model::%s;\n}\n", e->name[g->loss], e->name[g->output]);
    OUT("\nint main(int argc, char **argv)\n{\n    NnrtModel m;\n    memset(&m, 0, sizeof m);\n");
    emit_model_fields(e->out, g);
    OUT("    m.params = tensor_params;\n    m.n_params = %d;\n    m.state = tensor_state;\n    m.n_state = %d;\n", n_params,
        n_state);
    OUT("    m.x_buf = x_buf;\n    m.t_buf = t_buf;\n    m.y_buf = y_buf;\n");
    OUT("\n    NnrtCudaModel cm;\n    memset(&cm, 0, sizeof cm);\n    cm.m = &m;\n    cm.mem_bytes = MEM_BYTES;\n");
    OUT("    cm.params_off = MEM_PARAMS;\n    cm.params_bytes = %zu;\n", e->params_bytes);
    OUT("    cm.state_off = MEM_STATE;\n    cm.state_bytes = %zu;\n", e->state_bytes);
    OUT("    cm.grads_off = MEM_GRADS;\n    cm.grads_bytes = %zu;\n", e->p->grad_bytes);
    OUT("    cm.host_params = host_params;\n    cm.host_state = host_state;\n    cm.host_grads = host_grads;\n");
    OUT("    cm.x_bytes_per_row = %ld;\n    cm.t_bytes_per_row = %ld;\n", shape_row_numel(nd(e, x)->shape) * 4,
        shape_row_numel(nd(e, t)->shape) * 4);
    OUT("    cm.bind = host_bind;\n    cm.init = model::init;\n    cm.forward = model::forward;\n");
    OUT("    cm.backward = model::backward;\n    cm.update = model::update;\n");
    OUT("    return nnrt_cuda_main(&cm, argc, argv);\n}\n");
}

void emit_cuda(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o, int argc, char **argv)
{
    Arena a;
    arena_init(&a);
    Cu em = {.out = out, .g = g, .p = p, .o = o}, *e = &em;
    e->name = cuda_names(g, &a);
    e->used = arena_alloc(&a, (size_t)g->n);
    emit_fusion(&e->fu, g, p, &a);
    e->env = (ExprEnv){g, p, e->name, &e->fu};
    layout(e, &a);
    /* the kernels and passes first, into memory: they decide which pointers exist */
    char *body = NULL;
    size_t len = 0;
    e->out = open_memstream(&body, &len);
    NNC_ASSERT(e->out, "open_memstream failed");
    emit_kernels(e);
    fn_passes(e);
    fn_init(e);
    fclose(e->out);
    e->out = out;
    int leaves[4] = {emit_leaf(g, OP_INPUT), emit_leaf(g, OP_LABEL), g->loss, g->output};
    for (int k = 0; k < 4; k++)
        e->used[leaves[k]] = 1; /* main hands these to the runtime */
    for (int i = 0; i < g->n; i++) /* a view is set from what it views */
        if (e->used[i] && p->buf[i].cls == SC_ALIAS)
            e->used[p->buf[i].root] = 1;
    header(e, argc, argv);
    decl_layout(e);
    OUT("\nnamespace model {\n");
    decl_consts(e);
    decl_pointers(e);
    fn_bind(e);
    fputs(body, out);
    free(body);
    OUT("} /* namespace model */\n");
    fn_main(e);
    arena_free(&a);
}
