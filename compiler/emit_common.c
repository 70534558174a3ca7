/* emit_common.c: what the C and CUDA emitters share: C names for nodes,
 * extents and literals as C text, the elementwise formulas, broadcast
 * indices, and the fusion decisions (which values never need storing).
 */
#include "emit_common.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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
    "adam_pow",
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
        if (ext_k != 1 || (k >= 0 && big.d[a] == 1 && ext_k == 1 && 0)) {
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


/* ---- the NnrtModel descriptor ---------------------------------------------- */
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

/* The expression of node id inside a loop over `loop`: operands that are
 * fused into it are expanded in place (in parentheses), the others read
 * from their buffers. */
Big emit_ew_tree(const ExprEnv *e, int id, Shape loop, int flat)
{
    const Node *n = gnode(e->g, id);
    Big arg[2];
    for (int k = 0; k < n->n_in && k < 2; k++) {
        int in = n->in[k];
        if (e->fu->fused[in]) {
            Big inner = emit_ew_tree(e, in, loop, flat);
            snprintf(arg[k].s, sizeof arg[k].s, "(%.4000s)", inner.s);
        } else {
            snprintf(arg[k].s, sizeof arg[k].s, "%s",
                     emit_elem(e, in, flat ? "i" : emit_index_in(gnode(e->g, in)->shape, loop).s).s);
        }
    }
    return emit_ew_expr(n, arg[0].s, n->n_in > 1 ? arg[1].s : "");
}

/* ---- softmax and losses: rows of the last axis -------------------------- */
Str emit_rows_of(Shape s)
{
    Shape r = s;
    r.rank = s.rank - 1;
    return emit_numel(r);
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

static void source_fields(FILE *out, const Source *s, const char *f)
{
    static const char *const kinds[] = {"NONE", "SPIRAL", "XOR", "GATE", "TABLE", "IDX", "CSV"};
    fprintf(out, "    nnrt_source_init(&m.%s);\n", f);
    if (s->kind == SRC_NONE)
        return;
    fprintf(out, "    m.%s.kind = NNRT_SRC_%s;\n", f, kinds[s->kind]);
    switch (s->kind) {
    case SRC_SPIRAL:
        fprintf(out, "    m.%s.classes = %d;\n    m.%s.points = %d;\n    m.%s.seed = %ld;\n", f, s->classes, f,
                s->points, f, s->seed);
        break;
    case SRC_GATE:
        fprintf(out, "    m.%s.gate = ", f);
        emit_c_string(out, s->gate);
        fprintf(out, ";\n");
        break;
    case SRC_TABLE:
        fprintf(out, "    m.%s.table_x = %s_x;\n    m.%s.table_t = %s_t;\n    m.%s.table_rows = %d;\n"
                     "    m.%s.table_t_dim = %d;\n", f, f, f, f, f, s->table_rows, f, s->table_t_width);
        break;
    case SRC_IDX:
        fprintf(out, "    m.%s.images = ", f);
        emit_c_string(out, s->images);
        fprintf(out, ";\n    m.%s.labels = ", f);
        emit_c_string(out, s->labels);
        fprintf(out, ";\n");
        break;
    case SRC_CSV:
        fprintf(out, "    m.%s.csv_path = ", f);
        emit_c_string(out, s->path);
        fprintf(out, ";\n    m.%s.csv_label = %d;\n    m.%s.csv_header = %d;\n", f, s->csv_label, f, s->csv_header);
        break;
    default: break;
    }
    if (s->scale != 1)
        fprintf(out, "    m.%s.scale = %s;\n", f, emit_lit(s->scale).s);
    if (s->normalize == NORM_COLUMN)
        fprintf(out, "    m.%s.normalize = NNRT_NORM_COLUMN;\n", f);
    else
        fprintf(out, "    m.%s.normalize = %d;\n", f, s->normalize);
    fprintf(out, "    m.%s.flatten = %d;\n    m.%s.one_hot = %d;\n", f, s->flatten, f, s->one_hot);
}

void emit_model_fields(FILE *out, const Graph *g)
{
    static const char *const acc[] = {"NONE", "ARGMAX", "THRESHOLD"};
    static const char *const decay[] = {"NONE", "LINEAR", "EXPONENTIAL"};
    const TrainSpec *t = &g->train;
    int x = emit_leaf(g, OP_INPUT), lab = emit_leaf(g, OP_LABEL), acc_kind;
    float thr;
    emit_acc_kind(g, &acc_kind, &thr);
    fprintf(out, "    m.name = \"%s\";\n    m.batch = B;\n    m.in_dim = %ld;\n", g->model,
            shape_row_numel(gnode(g, x)->shape));
    fprintf(out, "    m.label_kind = NNRT_LABEL_%s;\n    m.label_dim = %ld;\n",
            gnode(g, lab)->dtype == DT_I32 ? "CLASS" : "FLOAT", shape_row_numel(gnode(g, lab)->shape));
    fprintf(out, "    m.out_dim = %ld;\n    m.acc_kind = NNRT_ACC_%s;\n    m.acc_threshold = %s;\n",
            shape_row_numel(gnode(g, g->output)->shape), acc[acc_kind], emit_lit(thr).s);
    if (gnode(g, lab)->dtype == DT_I32)
        fprintf(out, "    m.classes = %ld;\n", emit_label_classes(g));
    fprintf(out, "    m.epochs = %d;\n    m.lr = %s;\n    m.final_lr = %s;\n    m.decay = NNRT_DECAY_%s;\n", t->epochs,
            emit_lit(t->lr).s, emit_lit(t->decay == DECAY_NONE ? t->lr : t->final_lr).s, decay[t->decay]);
    if (t->opt == OPT_ADADELTA)
        fprintf(out, "    m.no_lr = 1;  /* adadelta has no learning rate: --lr changes nothing */\n");
    fprintf(out, "    m.shuffle = %d;\n    m.drop_last = %d;\n    m.seed = %ld;\n", t->shuffle, t->drop_last, t->seed);
    fprintf(out, "    m.log_every = %d;\n    m.eval_every = %d;\n    m.early_stopping = %d;\n", t->log_every,
            t->eval_every, t->early_stopping);
    if (t->validation > 0)
        fprintf(out, "    m.validation = %s;\n", emit_lit(t->validation).s);
    if (t->checkpoint) {
        fprintf(out, "    m.checkpoint = ");
        emit_c_string(out, t->checkpoint);
        fprintf(out, ";\n");
    }
    source_fields(out, &t->data, "data");
    source_fields(out, &t->test, "test");
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
    default: NNC_ASSERT(0, "not an update op");
    }
}
