/* emit_common.c: what the C and CUDA emitters share: C names for nodes,
 * extents and literals as C text, the elementwise formulas, broadcast
 * indices, the fusion decisions (which values never need storing), and
 * the program skeleton (header, comments, passes, init, tensor tables,
 * main) with each target's hooks (EmitTarget).
 */
#include "emit_common.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OUT(...) fprintf(e->out, __VA_ARGS__) /* e: the Emit at hand */

/* ---- names ------------------------------------------------------------- */
static const char *const reserved[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
    "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
    "volatile", "while", "main", "n", "i", "j", "k", "l", "r", "mode", "lr", "step", "seed", "arena",
    "grads", "B", "x_in", "t_in", "y_out", "s", "m", "norm", "scale", "rng", "params", "state", "model",
    "forward", "backward", "update", "init", "predict", "fix1", "fix2", "dl", "acc", "total", "best",
    "want", "lse", "NULL", "INFINITY", "POISON", "PREDICT", "sqrtf", "expf", "logf", "tanhf",
    "TRAIN", "EVAL", "TRAIN_SAME_MASK", "gemm", "ctl", "rng_u32", "rng_uniform", "rng_normal", "buf", "len",
    "x_buf", "y_buf", "poison", "lr_t", "dx", "gi", "xr", "yr", "gr", "dr", "a", "u", "b", "tsum",
    "adam_pow", "v0", "v1", "v2", "v3", "loss_value", "train_step", "perm", "start", "d", "take_ids",
};

static int is_reserved(const char *s)
{
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(reserved[i], s) == 0)
            return 1;
    return strncmp(s, "nnrt", 4) == 0 || strncmp(s, "Nnrt", 4) == 0 || strncmp(s, "NNRT", 4) == 0;
}

/* The names given so far, in an open-addressing table (FNV-1a), so that
 * naming stays linear in the graph. */
typedef struct NameSet {
    const char **slot;
    size_t mask;
} NameSet;

static size_t name_slot(const NameSet *t, const char *s)
{
    uint64_t h = 0xCBF29CE484222325u;
    for (const char *q = s; *q; q++)
        h = (h ^ (unsigned char)*q) * 0x100000001B3u;
    size_t k = (size_t)h & t->mask;
    while (t->slot[k] && strcmp(t->slot[k], s) != 0)
        k = (k + 1) & t->mask;
    return k;
}

/* Taken: given already, reserved by the emitted code, or one of the n
 * names in extra (a backend's own). */
static int name_taken(const NameSet *t, const char *s, const char *const *extra, size_t n)
{
    if (t->slot[name_slot(t, s)] || is_reserved(s))
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(extra[i], s) == 0)
            return 1;
    return 0;
}

const char **emit_names(const Graph *g, Arena *a)
{
    return emit_names_except(g, a, NULL, 0);
}

const char **emit_names_except(const Graph *g, Arena *a, const char *const *extra, size_t n_extra)
{
    const char **name = arena_alloc(a, (size_t)g->n * sizeof *name);
    NameSet taken = {NULL, 15};
    while (taken.mask < 2 * (size_t)g->n)
        taken.mask = 2 * taken.mask + 1;
    taken.slot = arena_alloc(a, (taken.mask + 1) * sizeof *taken.slot);
    for (int i = 0; i < g->n; i++) {
        const char *src = g->nodes[i].name ? g->nodes[i].name : arena_printf(a, "t%d", i);
        char *c = arena_strdup(a, src);
        for (char *q = c; *q; q++)
            if (!(*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9')))
                *q = '_';
        while (name_taken(&taken, c, extra, n_extra))
            c = arena_printf(a, "%s_", c);
        name[i] = c;
        taken.slot[name_slot(&taken, c)] = c;
    }
    return name;
}

/* The start of line `line` of the source, moving the cursor there from
 * where it was (from the first line when unset): the steps' lines run
 * mostly forwards, then backwards, so the moves add up to a few passes over
 * the source rather than one pass per step.  Past the last line: the end. */
const char *emit_src_line(const char *src, size_t len, int line, SrcCursor *at)
{
    const char *end = src + len;
    if (!at->p)
        at->p = src, at->line = 1;
    for (; at->line < line && at->p < end; at->p++)
        if (*at->p == '\n')
            at->line++;
    while (at->line > line && at->line > 1) {
        while (at->p > src && at->p[-1] != '\n')
            at->p--; /* the start of the cursor's line */
        for (at->p--; at->p > src && at->p[-1] != '\n'; at->p--)
            ; /* the start of the line above */
        at->line--;
    }
    return at->p;
}

Str emit_ext(int d)
{
    Str r;
    snprintf(r.s, sizeof r.s, d == DIM_B ? "n" : "%d", d);
    return r;
}

/* The element count of a shape as a C expression: "n * 10", "30". */
Str emit_numel(Shape s)
{
    Str r;
    long fixed = shape_row_numel(s);
    NNC_ASSERT(fixed >= 0 && fixed <= NNC_MAX_STATIC_BYTES / 4, "a size past sema's limit");
    int has_b = s.rank && s.d[0] == DIM_B;
    if (has_b && fixed == 1)
        snprintf(r.s, sizeof r.s, "n");
    else if (has_b)
        snprintf(r.s, sizeof r.s, "n * %ld", fixed);
    else
        snprintf(r.s, sizeof r.s, "%ld", fixed);
    return r;
}

/* "oh * 2 - 1 + kh": the input row (or column) that output o's window
 * element k reads, for a window of this stride and padding. */
Str emit_win_at(const char *o, int stride, int pad, const char *k)
{
    Str r;
    char st[24] = "", pd[24] = "";
    if (stride != 1)
        snprintf(st, sizeof st, " * %d", stride);
    if (pad)
        snprintf(pd, sizeof pd, " - %d", pad);
    snprintf(r.s, sizeof r.s, "%s%s%s + %s", o, st, pd, k);
    return r;
}

Str emit_lit(double v)
{
    Str r;
    if (isinf(v)) {
        snprintf(r.s, sizeof r.s, v > 0 ? "INFINITY" : "-INFINITY");
    } else if (v == floor(v) && fabs(v) < 1e7) {
        snprintf(r.s, sizeof r.s, "%.1ff", v);
    } else {
        snprintf(r.s, sizeof r.s, "%.9g", v); /* 1e+08 or 0.00999999978: add the f, and a point if none */
        size_t n = strlen(r.s);
        snprintf(r.s + n, sizeof r.s - n, strpbrk(r.s, ".e") ? "f" : ".0f");
    }
    return r;
}

/* The op's formula (ops.h) as float C, x and y in place of its operands;
 * x^2 is x * x.  An expression that does not fit is a bug (fusion keeps
 * chains short). */
Big emit_ew_expr(const Node *n, const char *x, const char *y)
{
    Big r;
    Str c0 = emit_lit(n->c[0]), c1 = emit_lit(n->c[1]);
    OpText t = {{x, y, c0.s, c1.s}, 1};
    const char *f = n->op == OP_POW && n->c[0] == 2 ? "x * x" : op_formula(n->op);
    NNC_ASSERT(op_is_ew(n->op), "not an elementwise op");
    NNC_ASSERT(op_render(f, &t, r.s, sizeof r.s), "expression too long");
    return r;
}

const char emit_loopvar[] = "ijkl";

Str emit_index_in(Shape s, Shape big)
{
    Str r;
    r.s[0] = '\0';
    long stride = 1;
    char terms[NNC_MAX_RANK][48];
    int nt = 0;
    for (int a = big.rank - 1; a >= 0; a--) {
        int k = s.rank - big.rank + a;
        int ext_k = k >= 0 ? s.d[k] : 1;
        if (ext_k != 1) {
            if (stride == 1)
                snprintf(terms[nt++], 48, "%c", emit_loopvar[a]);
            else
                snprintf(terms[nt++], 48, "%c * %ld", emit_loopvar[a], stride);
        }
        stride *= ext_k == DIM_B ? 1 : ext_k;
    }
    if (nt == 0)
        snprintf(r.s, sizeof r.s, "0");
    for (int t = nt - 1; t >= 0; t--) {
        size_t used = strlen(r.s);
        snprintf(r.s + used, sizeof r.s - used, "%s%s", t == nt - 1 ? "" : " + ", terms[t]);
    }
    return r;
}


/* ---- fusion ---------------------------------------------------------------- */
static const Node *gnode(const Graph *g, int id) { return &g->nodes[id]; }

int emit_is_ew(Op op) { return op_is_ew(op); }

/* A fused chain is computed at the step of its last node; an operand read
 * with broadcasting (another shape) must not share bytes with that node's
 * output, so it must be outside the arena or still live at that step. */
static int leaves_live(const Fusion *f, const Graph *g, const Plan *p, int id, Shape loop, int step)
{
    const Node *n = gnode(g, id);
    for (int k = 0; k < n->n_in; k++) {
        int in = n->in[k];
        const BufPlan *b = &p->buf[p->buf[in].root];
        if (f->fused[in] ? !leaves_live(f, g, p, in, loop, step)
                         : (!shape_eq(gnode(g, in)->shape, loop) && b->cls == SC_ARENA && b->last < step))
            return 0;
    }
    return 1;
}

static int fusable(const Fusion *f, const Graph *g, const Plan *p, int a, int b, int step_b, const int *readers, const int *reader)
{
    const Node *na = gnode(g, a), *nb = gnode(g, b);
    return emit_is_ew(na->op) && emit_is_ew(nb->op) && readers[a] == 1 && reader[a] == b &&
           p->buf[a].cls == SC_ARENA && a != g->loss && a != g->output && a != g->metric &&
           na->stage == nb->stage && shape_eq(na->shape, nb->shape) && leaves_live(f, g, p, a, nb->shape, step_b);
}

/* b sums a over its rows into a param gradient (the bias gradient). */
static int column_sum(const Fusion *f, const Graph *g, const Plan *p, int a, int b)
{
    const Node *na = gnode(g, a), *nb = gnode(g, b);
    if (na->shape.rank != 2)
        return 0;
    int rows = (nb->op == OP_SUM_TO && nb->to.rank >= 1 && nb->to.d[nb->to.rank - 1] == na->shape.d[1]) ||
               (nb->op == OP_SUM && nb->axes == 1u);
    return rows && nb->in[0] == a && emit_is_ew(na->op) && !f->fused[a] &&
           shape_numel(nb->shape, 1) == na->shape.d[1] && p->buf[b].cls == SC_GRAD && na->stage == nb->stage;
}

void emit_fusion(Fusion *f, const Graph *g, const Plan *p, Arena *a)
{
    int *readers = arena_alloc(a, (size_t)g->n * sizeof *readers), *reader = arena_alloc(a, (size_t)g->n * sizeof *reader);
    f->fused = arena_alloc(a, (size_t)g->n);
    f->depth = arena_alloc(a, (size_t)g->n);
    f->epilogue = arena_alloc(a, (size_t)g->n * sizeof *f->epilogue);
    for (int i = 0; i < g->n; i++) {
        f->epilogue[i] = -1;
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            readers[g->nodes[i].in[k]]++;
            reader[g->nodes[i].in[k]] = i;
        }
    }
    for (int s = 0; s + 1 < p->n_steps; s++) {
        int x = p->order[s], y = p->order[s + 1];
        if (fusable(f, g, p, x, y, s + 1, readers, reader) && f->depth[x] < 3) {
            f->fused[x] = 1;
            f->depth[y] = (char)(f->depth[x] + 1);
        } else if (column_sum(f, g, p, x, y)) {
            f->epilogue[x] = y;
        }
    }
}


/* ---- expressions over node buffers (both emitters) ------------------------- */
/* Element `idx` of node id: a literal for scalar constants, n for ROWS. */
Str emit_elem(const ExprEnv *e, int id, const char *idx)
{
    Str r;
    const Node *n = gnode(e->g, id);
    if (n->op == OP_CONST && e->p->buf[id].cls == SC_NONE)
        return emit_lit(n->data[0]);
    if (n->op == OP_ROWS)
        snprintf(r.s, sizeof r.s, "(float)n");
    else if (n->shape.rank == 0 || (shape_row_numel(n->shape) == 1 && n->shape.rank && n->shape.d[0] != DIM_B))
        snprintf(r.s, sizeof r.s, "%s[0]", e->name[id]);
    else
        snprintf(r.s, sizeof r.s, "%s[%s]", e->name[id], idx);
    return r;
}

static int is_scalar_operand(const ExprEnv *e, int id)
{
    const Node *n = gnode(e->g, id);
    return n->shape.rank == 0 || n->op == OP_ROWS;
}

/* Whether every operand read by the (possibly fused) expression of node id
 * has the loop's shape or is a scalar: then one flat loop does. */
int emit_flat_operands(const ExprEnv *e, int id, Shape loop)
{
    const Node *n = gnode(e->g, id);
    for (int k = 0; k < n->n_in; k++) {
        int in = n->in[k];
        if (e->fu->fused[in] ? !emit_flat_operands(e, in, loop)
                         : !(is_scalar_operand(e, in) || shape_eq(gnode(e->g, in)->shape, loop)))
            return 0;
    }
    return 1;
}

/* How many times node n's formula reads its operand k; *whole: each read
 * is a whole argument of a call, f(x) or f(x, c), which needs no
 * parentheses around an expression. */
static int reads_of(const Node *n, int k, int *whole)
{
    Big probe = emit_ew_expr(n, "\x01", "\x02");
    int count = 0;
    *whole = 1;
    for (const char *q = probe.s; *q; q++)
        if (*q == (k ? '\x02' : '\x01')) {
            count++;
            *whole &= q > probe.s && q[-1] == '(' && (q[1] == ')' || q[1] == ',');
        }
    return count;
}

/* The expression of node id inside a loop over `loop`: operands that are
 * fused into it are expanded in place, in parentheses unless the formula
 * passes them whole to a function (tanhf(a + b)); the others are read
 * from their buffers.  A fused operand the formula reads twice (relu's
 * x > 0 ? x : 0) is computed once, into a local v0..v3 declared in lets
 * (one "const float v0 = ...;" a line), when lets is given. */
Big emit_ew_tree(const ExprEnv *e, int id, Shape loop, int flat, Lets *lets)
{
    const Node *n = gnode(e->g, id);
    Big arg[2];
    for (int k = 0; k < n->n_in && k < 2; k++) {
        int in = n->in[k];
        if (e->fu->fused[in]) {
            Big inner = emit_ew_tree(e, in, loop, flat, lets);
            int whole, reads = reads_of(n, k, &whole);
            if (lets && lets->n < 4 && reads > 1) {
                size_t used = strlen(lets->text.s);
                NNC_ASSERT(snprintf(lets->text.s + used, sizeof lets->text.s - used, "const float v%d = %s;\n",
                                    lets->n, inner.s) < (int)(sizeof lets->text.s - used), "expression too long");
                snprintf(arg[k].s, sizeof arg[k].s, "v%d", lets->n++);
            } else {
                snprintf(arg[k].s, sizeof arg[k].s, whole ? "%.4000s" : "(%.4000s)", inner.s);
            }
        } else {
            snprintf(arg[k].s, sizeof arg[k].s, "%s",
                     emit_elem(e, in, flat ? "i" : emit_index_in(gnode(e->g, in)->shape, loop).s).s);
        }
    }
    return emit_ew_expr(n, arg[0].s, n->n_in > 1 ? arg[1].s : "");
}

void emit_ew_step(const Emit *e, int id, EwStep *st)
{
    Shape s = gnode(e->g, id)->shape;
    st->red = e->fu.epilogue[id];
    st->flat = st->red < 0 && emit_flat_operands(&e->env, id, s);
    st->lets.text.s[0] = '\0';
    st->lets.n = 0;
    st->f = emit_ew_tree(&e->env, id, s, st->flat, &st->lets);
}

void emit_want(Emit *e, const LossRows *L, const char *ind)
{
    const char *t = e->name[L->t];
    OUT("%sint want = 0;\n%sfor (int j = 1; j < %d; j++)\n", ind, ind, L->k);
    OUT("%s    want = %s[r * %d + j] > %s[r * %d + want] ? j : want;\n", ind, t, L->k, t, L->k);
}

/* The lines of lets, each after indent. */
void emit_lets(FILE *out, const Lets *lets, const char *indent)
{
    for (const char *p = lets->text.s; *p;) {
        const char *eol = strchr(p, '\n');
        fprintf(out, "%s%.*s\n", indent, (int)(eol - p), p);
        p = eol + 1;
    }
}

/* ---- softmax and losses: rows of the last axis -------------------------- */
Str emit_rows_of(Shape s)
{
    Shape r = s;
    r.rank = s.rank - 1;
    return emit_numel(r);
}

const char *emit_softmax_sum(Op op)
{
    return op == OP_SOFTMAX_GRAD ? "dr[j] * xr[j]" : op == OP_LOG_SOFTMAX_GRAD ? "dr[j]" : NULL;
}

const char *emit_softmax_out(Op op)
{
    switch (op) {
    case OP_SOFTMAX: return "expf(xr[j] - m) / s";
    case OP_LOG_SOFTMAX: return "xr[j] - m - logf(s)";
    case OP_SOFTMAX_GRAD: return "xr[j] * (dr[j] - s)";
    default: return "dr[j] - expf(xr[j]) * s";
    }
}

/* softmax_cross_entropy, nll, sigmoid_cross_entropy, accuracy: scores,
 * label; their gradients: scores, label, dL (nll's: label, dL, and the
 * scores' shape in n->to). */
LossRows emit_loss_rows(const ExprEnv *e, int id)
{
    const Node *n = gnode(e->g, id);
    int grad = n->op == OP_SOFTMAX_CE_GRAD || n->op == OP_NLL_GRAD || n->op == OP_SIGMOID_CE_GRAD;
    int nll = n->op == OP_NLL_GRAD;
    LossRows r;
    r.ys = nll ? n->to : gnode(e->g, n->in[0])->shape;
    r.k = r.ys.d[1];
    r.t = n->in[nll ? 0 : 1];
    r.dl = grad ? n->in[nll ? 1 : 2] : -1;
    r.rows = emit_ext(r.ys.d[0]);
    r.tg = emit_target(e, r.t, r.k);
    r.mean = r.ys.d[0] == DIM_B ? emit_ext(DIM_B) : r.rows;
    r.dl_n.s[0] = '\0';
    if (grad)
        snprintf(r.dl_n.s, sizeof r.dl_n.s, "%.60s / %.30s", emit_elem(e, r.dl, "0").s,
                 r.ys.d[0] == DIM_B ? "(float)n" : emit_lit(r.ys.d[0]).s);
    return r;
}

Gemm emit_gemm(const Graph *g, int id)
{
    const Node *n = gnode(g, id), *a = gnode(g, n->in[0]), *b = gnode(g, n->in[1]);
    int kd = n->ta ? a->shape.d[0] : a->shape.d[1];
    Gemm m = {n->ta, n->tb, a->shape.d[1], b->shape.d[1], n->shape.d[1], emit_ext(n->shape.d[0]),
              emit_ext(n->shape.d[1]), emit_ext(kd), 0};
    m.work = shape_numel(n->shape, g->batch) * (kd == DIM_B ? g->batch : kd);
    return m;
}

/* The elements of one row of a gather's table or a scatter_add's result:
 * what follows the first axis, 1 for a vector (x[idx] of x: [V] picks
 * single elements). */
long emit_row_width(Shape table)
{
    long numel = shape_numel(table, 1);
    return table.rank == 0 || table.d[0] == DIM_B ? numel : numel / table.d[0];
}

/* The target of row r, class j: from class ids or from float rows. */
Str emit_target(const ExprEnv *e, int t, int k)
{
    Str r;
    if (gnode(e->g, t)->dtype == DT_I32)
        snprintf(r.s, sizeof r.s, "(float)(%s[r] == j)", e->name[t]);
    else
        snprintf(r.s, sizeof r.s, "%s[r * %d + j]", e->name[t], k);
    return r;
}

const char *emit_init_text(const Node *n, char *buf, size_t len)
{
    switch (n->init) {
    case INIT_ZEROS: return "zeros";
    case INIT_ONES: return "ones";
    case INIT_CONST: snprintf(buf, len, "const(%g)", n->c[0]); return buf;
    case INIT_RANDN: snprintf(buf, len, "randn(std=%g)", n->c[0]); return buf;
    case INIT_UNIFORM: snprintf(buf, len, "uniform(lo=%g, hi=%g)", n->c[0], n->c[1]); return buf;
    case INIT_GLOROT: snprintf(buf, len, "glorot: normal, std %.6g", n->c[0]); return buf;
    case INIT_HE: snprintf(buf, len, "he: normal, std %.6g", n->c[0]); return buf;
    }
    return "";
}

/* An epilogue is summed in the loop of the step right before it. */
int emit_is_epilogue(const ExprEnv *e, int id)
{
    int s = e->p->step_of[id];
    return s > 0 && e->fu->epilogue[e->p->order[s - 1]] == id;
}


int emit_leaf(const Graph *g, Op op)
{
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == op)
            return i;
    return -1;
}

/* The extent an i32 label indexes when node n reads it as input j: the
 * class axis of the scores (softmax_cross_entropy, nll, accuracy and their
 * gradients) or the rows of a table (x[t]); 0 where it indexes nothing. */
static long label_extent(const Graph *g, const Node *n, int j)
{
    switch (n->op) {
    case OP_SOFTMAX_CE: case OP_NLL: case OP_ACCURACY: case OP_SOFTMAX_CE_GRAD:
        return j == 1 ? gnode(g, n->in[0])->shape.d[1] : 0;
    case OP_NLL_GRAD: return j == 0 ? n->to.d[1] : 0;
    case OP_GATHER: return j == 1 ? gnode(g, n->in[0])->shape.d[0] : 0;
    case OP_SCATTER_ADD: return j == 1 ? n->to.d[0] : 0;
    default: return 0;
    }
}

/* V, the id count of an i32 input: every id must lie in [0, V) for each
 * node that indexes with it (the rows of a table, x[ids]), so V is the
 * smallest extent they index; 0 for an f32 input, or ids that index nothing. */
long emit_input_ids(const Graph *g)
{
    int x = emit_leaf(g, OP_INPUT);
    long v = 0;
    if (x < 0 || gnode(g, x)->dtype != DT_I32)
        return 0;
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < gnode(g, i)->n_in; j++) {
            long e = gnode(g, i)->in[j] == x ? label_extent(g, gnode(g, i), j) : 0;
            if (e > 0 && (v == 0 || e < v))
                v = e;
        }
    return v;
}

/* K, the class count of an i32 label: every id must lie in [0, K) for
 * each node that indexes with it, so K is the smallest extent they index
 * (the output's width when none does).  0 for f32 labels. */
long emit_label_classes(const Graph *g)
{
    int t = emit_leaf(g, OP_LABEL);
    long k = 0;
    if (t < 0 || gnode(g, t)->dtype != DT_I32)
        return 0;
    for (int i = 0; i < g->n; i++)
        for (int j = 0; j < gnode(g, i)->n_in; j++) {
            long e = gnode(g, i)->in[j] == t ? label_extent(g, gnode(g, i), j) : 0;
            if (e > 0 && (k == 0 || e < k))
                k = e;
        }
    return k > 0 ? k : shape_row_numel(gnode(g, g->output)->shape);
}

/* How the runtime counts a row right (nnrt.h: acc_kind): argmax for class
 * ids or one-hot rows, a threshold for one output (0 for logits under
 * sigmoid_cross_entropy, 0.5 for probabilities), none otherwise. */
void emit_acc_kind(const Graph *g, int *kind, float *threshold)
{
    const Node *t = gnode(g, emit_leaf(g, OP_LABEL)), *y = gnode(g, g->output);
    *kind = 0;
    *threshold = 0.5f;
    if (t->dtype == DT_I32 || shape_row_numel(t->shape) > 1) {
        *kind = 1;
    } else if (shape_row_numel(y->shape) == 1) {
        if (gnode(g, g->loss)->op == OP_SIGMOID_CE)
            *kind = 2, *threshold = 0.0f;
        else if (y->op == OP_SIGMOID)
            *kind = 2;
    }
}

void emit_c_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 32)
            fprintf(out, "\\%03o", (unsigned char)*s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void table_array(FILE *out, const Graph *g, const Source *s, const char *which)
{
    if (s->kind != SRC_TABLE)
        return;
    long xw = shape_row_numel(gnode(g, emit_leaf(g, OP_INPUT))->shape);
    fprintf(out, "static const float %s_x[] = {", which);
    for (long i = 0; i < s->table_rows * xw; i++)
        fprintf(out, "%s%s", i ? ", " : "", emit_lit(s->table_x[i]).s);
    fprintf(out, "};\nstatic const float %s_t[] = {", which);
    for (long i = 0; i < (long)s->table_rows * s->table_t_width; i++)
        fprintf(out, "%s%s", i ? ", " : "", emit_lit(s->table_t[i]).s);
    fprintf(out, "};\n");
}

void emit_table_arrays(FILE *out, const Graph *g)
{
    table_array(out, g, &g->train.data, "data");
    table_array(out, g, &g->train.test, "test");
}

/* Adam's bias correction 1 - β^t loses its digits in float: β = 0.999
 * becomes 0.99900001287f, so 1 - β^t comes out 1.3e-5 too small in
 * relative terms and every step 6e-6 too large.  The emitted code takes
 * β^t in double, from β written to 17 digits, by squaring: multiplications
 * only, which IEEE 754 rounds alike on every target (soft-float ones too),
 * and a relative error of at most 2·log2(t) double roundings. */
void emit_adam_pow(FILE *out, const char *qual, const char *step_type)
{
    fprintf(out, "\n/* β^t in double, by squaring: Adam's 1 - β^t has too few digits in float */\n");
    fprintf(out, "%s double adam_pow(double beta, %s t)\n{\n    double r = 1.0;\n", qual, step_type);
    fprintf(out, "    for (unsigned %s k = (unsigned %s)t; k; k >>= 1, beta *= beta)\n", step_type, step_type);
    fprintf(out, "        if (k & 1)\n            r *= beta;\n    return r;\n}\n");
}

/* v as a double literal: the fewest digits that read back as v (0.9, not
 * 0.90000000000000002). */
static Str emit_dlit(double v)
{
    Str r;
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(r.s, sizeof r.s, "%.*g", digits, v);
        if (strtod(r.s, NULL) == v)
            break;
    }
    if (!strpbrk(r.s, ".e"))
        strcat(r.s, ".0");
    return r;
}

void emit_adam_rate(FILE *out, const TrainSpec *t, const char *ind, const char *step)
{
    fprintf(out, "%s/* Adam's bias correction folded into the rate: lr·√(1-β2^t)/(1-β1^t) */\n", ind);
    fprintf(out, "%sconst float fix2 = (float)(1.0 - adam_pow(%s, %s));\n", ind, emit_dlit(t->beta2).s, step);
    fprintf(out, "%sconst float fix1 = (float)(1.0 - adam_pow(%s, %s));\n", ind, emit_dlit(t->beta1).s, step);
    fprintf(out, "%sconst float lr_t = lr * sqrtf(fix2) / fix1;\n", ind);
}

/* The optimizer's update of element i of one param: the gradient (scaled
 * when clipping, plus weight decay), then the rule (autodiff.c, docs/design.md).
 * lr (and for Adam lr_t, the bias-corrected rate) are in scope where this
 * is written. */
void emit_update_body(FILE *out, const ExprEnv *e, int id, const char *ind)
{
    const Node *n = gnode(e->g, id);
    const TrainSpec *t = &e->g->train;
    const char *p = e->name[n->in[0]], *g = e->name[n->in[1]];
    const char *s1 = n->n_in > 2 + n->clip ? e->name[n->in[2]] : NULL;
    const char *s2 = n->n_in > 3 + n->clip ? e->name[n->in[3]] : NULL;
    Str eps = emit_lit(t->eps), rho = emit_lit(t->rho), rho1 = emit_lit(1 - t->rho);
    fprintf(out, "%sfloat gi = %s[i]%s", ind, g, n->clip ? " * scale" : "");
    if (t->weight_decay > 0)
        fprintf(out, " + %s * %s[i]", emit_lit(t->weight_decay).s, p);
    fprintf(out, ";\n");
    switch (n->op) {
    case OP_SGD: fprintf(out, "%s%s[i] -= lr * gi;\n", ind, p); break;
    case OP_MOMENTUM:
        fprintf(out, "%s%s[i] = %s * %s[i] - lr * gi;\n%s%s[i] += %s[i];\n", ind, s1, emit_lit(t->momentum).s, s1,
                ind, p, s1);
        break;
    case OP_ADAGRAD:
        fprintf(out, "%s%s[i] += gi * gi;\n%s%s[i] -= lr * gi / (sqrtf(%s[i]) + %s);\n", ind, s1, ind, p, s1, eps.s);
        break;
    case OP_ADADELTA:
        fprintf(out, "%s%s[i] = %s * %s[i] + %s * gi * gi;\n", ind, s1, rho.s, s1, rho1.s);
        fprintf(out, "%sfloat dx = sqrtf((%s[i] + %s) / (%s[i] + %s)) * gi;\n", ind, s2, eps.s, s1, eps.s);
        fprintf(out, "%s%s[i] = %s * %s[i] + %s * dx * dx;\n%s%s[i] -= dx;\n", ind, s2, rho.s, s2, rho1.s, ind, p);
        break;
    case OP_ADAM:
        fprintf(out, "%s%s[i] += %s * (gi - %s[i]);\n", ind, s1, emit_lit(1 - t->beta1).s, s1);
        fprintf(out, "%s%s[i] += %s * (gi * gi - %s[i]);\n", ind, s2, emit_lit(1 - t->beta2).s, s2);
        fprintf(out, "%s%s[i] -= lr_t * %s[i] / (sqrtf(%s[i]) + %s);\n", ind, p, s1, s2, eps.s);
        break;
    NNC_NOT_OPT_CASES
        NNC_ASSERT(0, "not an update op");
    }
}


/* ---- the program skeleton ------------------------------------------------- */
void emit_capture(Emit *e, Capture *c)
{
    c->saved = e->out;
    c->text = NULL;
    c->len = 0;
    e->out = open_memstream(&c->text, &c->len);
    NNC_ASSERT(e->out, "open_memstream failed");
}

char *emit_captured(Emit *e, Capture *c)
{
    fclose(e->out);
    e->out = c->saved;
    return c->text;
}

void emit_program(FILE *out, const Graph *g, const Plan *p, const EmitOptions *o, const EmitTarget *t,
                  int argc, char **argv)
{
    Arena a;
    arena_init(&a);
    Emit em = {.out = out, .g = g, .p = p, .o = o, .t = t, .a = &a}, *e = &em;
    e->name = emit_names_except(g, &a, t->reserved, t->n_reserved);
    emit_fusion(&e->fu, g, p, &a);
    e->env = (ExprEnv){g, p, e->name, &e->fu};
    if (t->prepare)
        t->prepare(e);
    Capture c; /* the code first: writing it decides what the declarations need */
    emit_capture(e, &c);
    t->code(e);
    char *code = emit_captured(e, &c);
    emit_header(e, argc, argv);
    t->decls(e);
    fputs(code, out);
    free(code);
    t->finish(e);
    arena_free(&a);
}

const char *emit_opt_name(const Graph *g)
{
    static const char *const names[] = {"sgd", "momentum", "adagrad", "adadelta", "adam"};
    return names[g->train.opt];
}

static int word_char(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Whether C code names `name` outside its comments. */
int emit_uses_name(const char *text, const char *name)
{
    size_t len = strlen(name);
    int comment = 0; /* one pass, linear in the text */
    for (const char *p = text; *p; p++) {
        if (comment) {
            if (p[0] == '*' && p[1] == '/')
                comment = 0, p++;
        } else if (p[0] == '/' && p[1] == '*') {
            comment = 1, p++;
        } else if (*p == *name && strncmp(p, name, len) == 0 && (p == text || !word_char(p[-1])) &&
                   !word_char(p[len])) {
            return 1;
        }
    }
    return 0;
}

/* A shape as text: each extent (batch: the axis B), the separator between
 * them, and what opens and closes it; `scalar` for rank 0. */
static Str shape_text(Shape s, const char *batch, const char *sep, const char *open, const char *close,
                      const char *scalar)
{
    Str r;
    snprintf(r.s, sizeof r.s, "%s", s.rank ? open : scalar);
    for (int i = 0; i < s.rank; i++) {
        size_t u = strlen(r.s);
        if (s.d[i] == DIM_B)
            snprintf(r.s + u, sizeof r.s - u, "%s%s", i ? sep : "", batch);
        else
            snprintf(r.s + u, sizeof r.s - u, "%s%d", i ? sep : "", s.d[i]);
    }
    if (s.rank)
        strcat(r.s, close);
    return r;
}

/* An array's extent: "B * 10" (B for the batch axis), "1" for a scalar. */
Str emit_dims(Shape s) { return shape_text(s, "B", " * ", "", "", "1"); }

/* A shape as the equations write it: "[n,10]" (n, the rows at hand, for
 * the batch axis); nothing for a scalar. */
Str emit_shaped(Shape s) { return shape_text(s, "n", ",", "[", "]", ""); }

/* A node's name in graph_formula's equations: its own, or t<id>. */
static const char *shown_name(const Graph *g, int id, char *buf, size_t len)
{
    if (gnode(g, id)->name)
        return gnode(g, id)->name;
    snprintf(buf, len, "t%d", id);
    return buf;
}

enum { SHAPED_MAX = 9 }; /* the node and its first 8 operands get shapes */

/* graph_formula's equation with the shapes of the node and its operands
 * after their first appearance: "h_matmul[n,10] = x[n,2] · W1[2,10]".
 * Scalars, literals, n and the functions (softmax(...), even where a
 * value has that name) stay as they are. */
const char *emit_shaped_formula(const Graph *g, int id, char *buf, size_t len)
{
    char f[512], word[96], own[32];
    int who[SHAPED_MAX], n_who = 0;
    const Node *n = gnode(g, id);
    who[n_who++] = id;
    for (int k = 0; k < n->n_in && n_who < SHAPED_MAX; k++)
        who[n_who++] = n->in[k];
    graph_formula(g, id, f, sizeof f);
    size_t used = 0;
    buf[0] = '\0';
    for (const char *p = f; *p && used + 1 < len;) {
        size_t w = 0;
        while (word_char(p[w]) || (w && p[w] == '.' && word_char(p[w + 1])))
            w++;
        if (!w) {
            buf[used++] = *p++;
            buf[used] = '\0';
            continue;
        }
        snprintf(word, sizeof word, "%.*s", (int)w, p);
        Str shape = {{0}};
        for (int k = 0; k < n_who && p[w] != '('; k++) { /* a word before ( is a function */
            if (who[k] < 0 || strcmp(shown_name(g, who[k], own, sizeof own), word) != 0)
                continue;
            const Node *o = gnode(g, who[k]);
            if (o->op != OP_ROWS && !(o->op == OP_CONST && o->shape.rank == 0))
                shape = emit_shaped(o->shape);
            for (int q = 0; q < n_who; q++) /* each name once */
                if (who[q] >= 0 && strcmp(shown_name(g, who[q], own, sizeof own), word) == 0)
                    who[q] = -1;
            break;
        }
        int wrote = snprintf(buf + used, len - used, "%s%s", word, shape.s);
        used = wrote < 0 || (size_t)wrote >= len - used ? len - 1 : used + (size_t)wrote;
        p += w;
    }
    for (char *q = buf; *q; q++) /* keep the comment a comment */
        if (q[0] == '*' && q[1] == '/')
            q[1] = '|';
    return buf;
}

/* "line 15: h = sigmoid(x @ W1 + b1);" above the first statement of a
 * .nn line (its comment and trailing blanks left out). */
void emit_source_line(Emit *e, int line, const char *indent)
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

/* The node's shaped equation, and the backward rule that made it. */
void emit_formula(Emit *e, int id, const char *indent, int with_rule)
{
    const Node *n = gnode(e->g, id);
    char f[640];
    emit_shaped_formula(e->g, id, f, sizeof f);
    if (with_rule && n->rule)
        OUT("%s/* %s\n%s   %s */\n", indent, f, indent, n->rule);
    else
        OUT("%s/* %s */\n", indent, f);
}

/* "  /- [B, 10], MEM_ARENA + 0, line 15 -/" after a declaration (where: NULL or a place). */
void emit_decl_comment(Emit *e, int id, const char *where)
{
    const Node *n = gnode(e->g, id);
    char b[64];
    OUT("  /* %s", shape_str(n->shape, b, sizeof b));
    if (where)
        OUT(", %s", where);
    if (n->loc.line)
        OUT(", line %d", n->loc.line);
    OUT(" */\n");
}

void emit_const_array(Emit *e, int id, const char *qual)
{
    const Node *n = gnode(e->g, id);
    long cnt = shape_numel(n->shape, e->g->batch);
    OUT("%s %s %s[%ld] = {", qual, n->dtype == DT_I32 ? "int32_t" : "float", e->name[id], cnt);
    for (long k = 0; k < cnt; k++)
        OUT("%s%s", k ? ", " : "", n->dtype == DT_I32 ? emit_ext((int)n->data[k]).s : emit_lit(n->data[k]).s);
    OUT("};\n");
}

/* The flat index into shape s of the loop variables, axis a's being
 * emit_loopvar[var[a]], with axis `axis` shifted by delta:
 * "i * 100 + (j + 3)". */
static Str strided(Shape s, const int *var, int axis, int delta)
{
    Str r;
    long stride = 1;
    char terms[NNC_MAX_RANK][64];
    for (int a = s.rank - 1; a >= 0; a--) {
        char v = emit_loopvar[var[a]];
        if (a == axis && delta)
            snprintf(terms[a], 64, "(%c %c %d)", v, delta > 0 ? '+' : '-', delta > 0 ? delta : -delta);
        else
            snprintf(terms[a], 64, "%c", v);
        if (stride != 1) {
            size_t u = strlen(terms[a]);
            snprintf(terms[a] + u, 64 - u, " * %ld", stride);
        }
        stride *= s.d[a] == DIM_B ? 1 : s.d[a];
    }
    snprintf(r.s, sizeof r.s, "%s", s.rank ? "" : "0");
    for (int a = 0; a < s.rank; a++) {
        size_t used = strlen(r.s);
        snprintf(r.s + used, sizeof r.s - used, "%s%s", a ? " + " : "", terms[a]);
    }
    return r;
}

Str emit_shifted(Shape big, int axis, int delta)
{
    int same[NNC_MAX_RANK];
    for (int a = 0; a < NNC_MAX_RANK; a++)
        same[a] = a;
    return strided(big, same, axis, delta);
}

/* The source index of a transpose, looping over its output: input axis
 * perm[a] is output axis a. */
Str emit_transpose_src(const Graph *g, int id)
{
    const Node *n = gnode(g, id);
    int var[NNC_MAX_RANK] = {0};
    for (int q = 0; q < n->shape.rank; q++)
        var[n->perm[q]] = q;
    return strided(gnode(g, n->in[0])->shape, var, -1, 0);
}

/* ---- the header ----------------------------------------------------------- */
void emit_header(Emit *e, int argc, char **argv)
{
    char deflt[512];
    snprintf(deflt, sizeof deflt, "%s.%s", e->g->model, e->t->ext);
    const char *file = e->o->source ? e->o->source : deflt;
    e->t->intro(e, file);
    OUT(" * Generated by nnc %s; do not edit, edit the model and run nnc again:\n *   nnc", NNC_VERSION);
    for (int i = 1; i < argc; i++) { /* the output's folder is left out, so regenerating elsewhere compares */
        const char *arg = argv[i], *slash = strrchr(arg, '/');
        OUT(" %s", strcmp(argv[i - 1], "-o") == 0 && slash ? slash + 1 : arg);
    }
    OUT("\n");
    if (e->t->notes)
        e->t->notes(e, file, 0);
    OUT(" *\n");
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
    if (e->t->notes)
        e->t->notes(e, file, 1);
    OUT(" *\n * Dimensions:\n *   B = %d   rows of a batch, the size every buffer is planned for\n", e->g->batch);
    OUT(" *   n        rows of the batch at hand (n <= B: the last batch may be smaller)\n");
    for (int i = 0; i < e->g->consts.len; i++) {
        const ConstDef *c = e->g->consts.items[i];
        if (!c->str) /* a string const is a path, not a dimension */
            OUT(" *   %-8s %g (const, line %d)\n", c->name, c->value, c->loc.line);
    }
    OUT(" * Shapes are written [rows, columns]; every tensor is row-major float.\n */\n");
}

/* ---- forward, backward, update ------------------------------------------- */
/* One statement per step, each under its .nn line and its equation; a
 * fused value and a column sum done in its producer's loop get a note. */
void emit_steps(Emit *e, int from, int to)
{
    e->last_line = 0;
    for (int s = from; s < to; s++) {
        int id = e->p->order[s];
        if (e->t->has_code(e, id)) {
            emit_source_line(e, gnode(e->g, id)->loc.line, "    ");
            emit_formula(e, id, "    ", e->t->step_rules);
            if (e->fu.fused[id])
                OUT("    /*   (computed inside the next %s, never stored) */\n", e->t->unit);
            else if (emit_is_epilogue(&e->env, id))
                OUT("    /*   (summed inside the %s above) */\n", e->t->unit);
            else
                e->t->step(e, id);
        }
        if (e->t->after_step)
            e->t->after_step(e, s);
        if (id == e->g->output && from == 0)
            OUT("    if (mode == PREDICT)  /* %s is the output: predict stops here */\n        %s\n", e->name[id],
                e->t->stop);
    }
}

void emit_pass(Emit *e, const char *comment, const char *sig, const char *const *params,
               void (*prelude)(Emit *e), int from, int to, const char *tail)
{
    Capture c;
    emit_capture(e, &c);
    if (prelude)
        prelude(e);
    emit_steps(e, from, to);
    OUT("%s", tail);
    char *body = emit_captured(e, &c);
    OUT("\n%s\n%s\n{\n", comment, sig);
    int voids = 0;
    for (; *params; params++) {
        char names[128], *save = NULL;
        int used = 0;
        snprintf(names, sizeof names, "%s", *params);
        for (char *w = strtok_r(names, "|", &save); w; w = strtok_r(NULL, "|", &save))
            used |= emit_uses_name(body, w);
        if (!used)
            OUT("    (void)%.*s;\n", (int)strcspn(*params, "|"), *params), voids++;
    }
    OUT("%s}\n", body + (!voids && body[0] == '\n')); /* no blank line right after the brace */
    free(body);
}

/* ---- init, the tensor tables, main ---------------------------------------- */
void emit_init(Emit *e, const char *rng_seed)
{
    OUT("static void init(uint64_t seed)\n{\n    NnrtRng r;\n    nnrt_rng_seed_stream(&r, seed, NNRT_STREAM_INIT);\n");
    for (int i = 0; i < e->g->n; i++) {
        const Node *n = gnode(e->g, i);
        if (n->op != OP_PARAM && n->op != OP_STATE)
            continue;
        char at[96], b[96];
        e->t->addr(e, i, at, sizeof at);
        Str cnt = emit_numel(n->shape), c0 = emit_lit(n->c[0]), c1 = emit_lit(n->c[1]);
        if (n->op == OP_STATE) { /* optimizer state: zeros; running statistics: theirs (mean 0, var 1) */
            OUT("    nnrt_init_fill(%s, %s, %s);  /* %s = %s */\n", at, cnt.s, emit_lit(n->init == INIT_ONES).s, n->name,
                n->init == INIT_ONES ? "ones" : "zeros");
            continue;
        }
        switch (n->init) {
        case INIT_ZEROS: case INIT_ONES: case INIT_CONST: {
            Str v = n->init == INIT_ZEROS ? emit_lit(0) : n->init == INIT_ONES ? emit_lit(1) : c0;
            OUT("    nnrt_init_fill(%s, %s, %s);", at, cnt.s, v.s);
            break;
        }
        case INIT_UNIFORM: OUT("    nnrt_init_uniform(%s, %s, %s, %s, &r);", at, cnt.s, c0.s, c1.s); break;
        case INIT_RANDN: case INIT_GLOROT: case INIT_HE:
            OUT("    nnrt_init_normal(%s, %s, %s, &r);", at, cnt.s, c0.s);
            break;
        }
        OUT("  /* %s = %s */\n", n->name, emit_init_text(n, b, sizeof b));
    }
    if (rng_seed)
        OUT("    %s\n", rng_seed);
    OUT("}\n");
}

static void tensor_entry(Emit *e, int id, int gi)
{
    const Node *n = gnode(e->g, id);
    char at[96], grad[96] = "NULL";
    e->t->addr(e, id, at, sizeof at);
    if (gi >= 0)
        e->t->addr(e, gi, grad, sizeof grad);
    OUT("    {\"%s\", %s, %s, %d, {", n->name, at, grad, n->shape.rank);
    for (int k = 0; k < n->shape.rank; k++)
        OUT("%s%d", k ? ", " : "", n->shape.d[k]);
    OUT("%s}, %ld},\n", n->shape.rank ? "" : "0", shape_numel(n->shape, e->g->batch));
}

/* The running statistics (batchnorm's h.mean, h.var), which lead state[]:
 * made in the forward graph, before any optimizer state. */
int emit_running_count(const Graph *g)
{
    int k = 0, opt = 0;
    for (int i = 0; i < g->n; i++) {
        const Node *n = gnode(g, i);
        NNC_ASSERT(!(opt && graph_is_running(n)), "running statistics come before optimizer state");
        opt |= n->op == OP_STATE && !graph_is_running(n);
        k += graph_is_running(n);
    }
    return k;
}

/* params[] and state[]: what the runtime saves, loads and checks. */
static void tensor_tables(Emit *e, int *n_params, int *n_state)
{
    const Graph *g = e->g;
    *n_params = *n_state = 0;
    OUT("\n/* ---- the tensors the runtime saves, loads and checks ---- */\n");
    OUT("static NnrtTensor params[] = {  /* name, data, grad, rank, shape, numel */\n");
    for (int i = 0; i < g->n; i++)
        if (gnode(g, i)->op == OP_PARAM) {
            int gi = g->grad && i < g->n_forward ? g->grad[i] : -1;
            tensor_entry(e, i, gi >= 0 && e->p->buf[gi].cls == SC_GRAD && !gnode(g, i)->frozen ? gi : -1);
            ++*n_params;
        }
    OUT("};\n");
    for (int i = 0; i < g->n; i++)
        *n_state += gnode(g, i)->op == OP_STATE;
    if (!*n_state) {
        OUT("static NnrtTensor state[1];  /* this optimizer keeps no state */\n");
        return;
    }
    OUT("static NnrtTensor state[] = {\n");
    for (int i = 0; i < g->n; i++)
        if (gnode(g, i)->op == OP_STATE)
            tensor_entry(e, i, -1);
    OUT("};\n");
}

/* One field of main's NnrtModel m: ".name = v," inside its initializer
 * (designated targets) or "m.name = v;" (C++ has no designated
 * initializers before C++20).  depth 1: a field of m.data or m.test. */
void emit_field(Emit *e, const char *parent, const char *name, const char *fmt, ...)
{
    va_list ap;
    if (e->t->designated)
        OUT("%*s.%s = ", parent ? 12 : 8, "", name);
    else
        OUT("    m.%s%s%s = ", parent ? parent : "", parent ? "." : "", name);
    va_start(ap, fmt);
    vfprintf(e->out, fmt, ap);
    va_end(ap);
    OUT("%s\n", e->t->designated ? "," : ";");
}

static void string_field(Emit *e, const char *parent, const char *name, const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    NNC_ASSERT(f, "open_memstream failed");
    emit_c_string(f, s);
    fclose(f);
    emit_field(e, parent, name, "%s", buf);
    free(buf);
}

/* A data source, with the values nnrt_source_init gives the fields the
 * train block leaves alone (scale 1, csv_label -1, csv_header 1). */
static void source_fields(Emit *e, const Source *s, const char *f)
{
    static const char *const kinds[] = {"NONE", "SPIRAL", "XOR", "GATE", "TABLE", "IDX", "CSV"};
    int all = e->t->designated; /* an initializer leaves the rest zero; nnrt_source_init does not */
    if (all)
        OUT("        .%s = {\n", f);
    else
        OUT("    nnrt_source_init(&m.%s);\n", f);
    if (all || s->kind != SRC_NONE)
        emit_field(e, f, "kind", "NNRT_SRC_%s", kinds[s->kind]);
    switch (s->kind) {
    case SRC_SPIRAL:
        emit_field(e, f, "classes", "%d", s->classes);
        emit_field(e, f, "points", "%d", s->points);
        emit_field(e, f, "seed", "%ld", s->seed);
        break;
    case SRC_GATE: string_field(e, f, "gate", s->gate); break;
    case SRC_TABLE:
        emit_field(e, f, "table_x", "%s_x", f);
        emit_field(e, f, "table_t", "%s_t", f);
        emit_field(e, f, "table_rows", "%d", s->table_rows);
        emit_field(e, f, "table_t_dim", "%d", s->table_t_width);
        break;
    case SRC_IDX:
        string_field(e, f, "images", s->images);
        string_field(e, f, "labels", s->labels);
        break;
    default: break;
    }
    if (s->kind == SRC_CSV) {
        string_field(e, f, "csv_path", s->path);
        emit_field(e, f, "csv_label", "%d", s->csv_label);
        emit_field(e, f, "csv_header", "%d", s->csv_header);
    } else if (all) {
        emit_field(e, f, "csv_label", "-1");
        emit_field(e, f, "csv_header", "1");
    }
    if (all || (s->kind != SRC_NONE && s->scale != 1))
        emit_field(e, f, "scale", "%s", emit_lit(s->kind == SRC_NONE ? 1 : s->scale).s);
    if (s->normalize == NORM_COLUMN)
        emit_field(e, f, "normalize", "NNRT_NORM_COLUMN");
    else if (s->normalize)
        emit_field(e, f, "normalize", "%d", s->normalize);
    if (s->flatten)
        emit_field(e, f, "flatten", "%d", s->flatten);
    if (s->one_hot)
        emit_field(e, f, "one_hot", "%d", s->one_hot);
    if (all)
        OUT("        },\n");
}

/* The model's dimensions, its train block and its data sources. */
static void model_fields(Emit *e)
{
    static const char *const acc[] = {"NONE", "ARGMAX", "THRESHOLD"};
    static const char *const decay[] = {"NONE", "LINEAR", "EXPONENTIAL"};
    const Graph *g = e->g;
    const TrainSpec *t = &g->train;
    int x = emit_leaf(g, OP_INPUT), lab = emit_leaf(g, OP_LABEL), acc_kind;
    float thr;
    emit_acc_kind(g, &acc_kind, &thr);
    string_field(e, NULL, "name", g->model);
    emit_field(e, NULL, "batch", "B");
    emit_field(e, NULL, "in_dim", "%ld", shape_row_numel(gnode(g, x)->shape));
    if (gnode(g, x)->dtype == DT_I32)
        emit_field(e, NULL, "in_ids", "%ld", emit_input_ids(g));  /* ids in [0, V), checked at load */
    emit_field(e, NULL, "label_kind", "NNRT_LABEL_%s", gnode(g, lab)->dtype == DT_I32 ? "CLASS" : "FLOAT");
    emit_field(e, NULL, "label_dim", "%ld", shape_row_numel(gnode(g, lab)->shape));
    emit_field(e, NULL, "out_dim", "%ld", shape_row_numel(gnode(g, g->output)->shape));
    emit_field(e, NULL, "acc_kind", "NNRT_ACC_%s", acc[acc_kind]);
    emit_field(e, NULL, "acc_threshold", "%s", emit_lit(thr).s);
    if (gnode(g, lab)->dtype == DT_I32)
        emit_field(e, NULL, "classes", "%ld", emit_label_classes(g));
    emit_field(e, NULL, "epochs", "%d", t->epochs);
    emit_field(e, NULL, "lr", "%s", emit_lit(t->lr).s);
    emit_field(e, NULL, "final_lr", "%s", emit_lit(t->decay == DECAY_NONE ? t->lr : t->final_lr).s);
    emit_field(e, NULL, "decay", "NNRT_DECAY_%s", decay[t->decay]);
    if (t->opt == OPT_ADADELTA)
        emit_field(e, NULL, "no_lr", "1");  /* adadelta has no learning rate: --lr changes nothing */
    emit_field(e, NULL, "shuffle", "%d", t->shuffle);
    emit_field(e, NULL, "drop_last", "%d", t->drop_last);
    emit_field(e, NULL, "seed", "%ld", t->seed);
    emit_field(e, NULL, "log_every", "%d", t->log_every);
    emit_field(e, NULL, "eval_every", "%d", t->eval_every);
    emit_field(e, NULL, "early_stopping", "%d", t->early_stopping);
    if (t->validation > 0)
        emit_field(e, NULL, "validation", "%s", emit_lit(t->validation).s);
    if (t->checkpoint)
        string_field(e, NULL, "checkpoint", t->checkpoint);
    source_fields(e, &t->data, "data");
    source_fields(e, &t->test, "test");
}

/* The tensor tables, the host buffers and main: an NnrtModel filled from
 * the graph, handed to the target's driver. */
void emit_main(Emit *e)
{
    int n_params, n_state;
    tensor_tables(e, &n_params, &n_state);
    emit_table_arrays(e->out, e->g);
    e->t->main_decls(e);
    OUT("\nint main(int argc, char **argv)\n{\n");
    if (e->t->designated)
        OUT("    NnrtModel m = {\n");
    else
        OUT("    NnrtModel m;\n    memset(&m, 0, sizeof m);\n");
    model_fields(e);
    emit_field(e, NULL, "params", "params");
    emit_field(e, NULL, "n_params", "%d", n_params);
    emit_field(e, NULL, "state", "state");
    emit_field(e, NULL, "n_state", "%d", n_state);
    int n_running = emit_running_count(e->g);
    if (n_running)
        emit_field(e, NULL, "n_running", "%d", n_running);  /* the running statistics lead state[] */
    if (e->t->model_fns)
        e->t->model_fns(e);
    int x = emit_leaf(e->g, OP_INPUT);
    emit_field(e, NULL, "x_buf", "%s", e->t->x_buf ? e->t->x_buf : gnode(e->g, x)->dtype == DT_I32 ? "x_buf" : e->name[x]);
    emit_field(e, NULL, "t_buf", "%s", e->t->t_buf ? e->t->t_buf : e->name[emit_leaf(e->g, OP_LABEL)]);
    emit_field(e, NULL, "y_buf", "y_buf");
    if (e->t->designated)
        OUT("    };\n");
    e->t->main_tail(e);
    OUT("}\n");
}
