/* sema.c: the driver of the sema/lower pass (sema_lower), declarations and
 * the checks of the whole model; sema.h says how sema is split and why
 * checking and lowering are one pass.
 *
 * Declarations are taken in source order: a name must be defined before it
 * is used and is defined once.  `model` comes first; `minimize` names a
 * scalar that depends on a param; `output` defaults to the last value
 * assigned before the loss.  The train block is resolved last, into the
 * Graph's TrainSpec (sema_train.c), since `freeze` names params declared
 * anywhere.
 *
 * Sizes: a declared value must fit the static storage limit (graph.h) as
 * it is declared (a row of it, with B; sema_fits); once the train block has
 * bound B, every value with B and an estimate of the whole static storage
 * (params, their gradients and optimizer state, batch buffers, tables) are
 * checked too, so --check refuses what could not be built.  The arena
 * exists only after planning: storage_check() adds it then.
 */
#include "sema.h"
#include "plan.h"

#include <limits.h>
#include <math.h>
#include <string.h>

static void name_node(Sema *s, int id, const char *name)
{
    Node *n = graph_node(s->g, id);
    if (!n->name)
        n->name = name;
}

/* ---- types ------------------------------------------------------------- */

/* TYPE = DTYPE[d0, ...] | [d0, ...]; B is allowed as d0 when allow_b. */
static int resolve_type(Sema *s, const TypeSpec *t, int allow_b, Shape *out)
{
    int rank = 0;
    for (const Expr *e = t->dims; e; e = e->next, rank++) {
        if (rank == NNC_MAX_RANK) {
            error_at(s->d, e->loc, "at most %d axes", NNC_MAX_RANK);
            return 0;
        }
        if (e->kind == EX_NAME && strcmp(e->str, "B") == 0) {
            if (!allow_b || rank) {
                error_at(s->d, e->loc, allow_b ? "B may only be the first axis: it counts the samples of a batch"
                                               : "a param has no batch axis B: it is shared by every sample");
                return 0;
            }
            out->d[rank] = DIM_B;
            continue;
        }
        double v;
        if (!sema_number(s, e, &v))
            return 0;
        if (v != floor(v) || v < 1 || v > 1e8) {
            error_at(s->d, e->loc, "a dimension must be a positive integer; got %g", v);
            return 0;
        }
        out->d[rank] = (int)v;
    }
    out->rank = rank;
    return 1;
}

static void declare_leaf(Sema *s, const Decl *dc, Op op)
{
    Shape sh;
    int allow_b = op != OP_PARAM;
    if (!resolve_type(s, dc->type, allow_b, &sh))
        return;
    if (allow_b && (sh.rank == 0 || sh.d[0] != DIM_B)) {
        error_at(s->d, dc->type->loc, "an %s is per sample: its first dimension is B (e.g. f32[B, 2])",
                 op == OP_INPUT ? "input" : "label");
        return;
    }
    DType dt = dc->type->has_dtype ? dc->type->dtype : DT_F32;
    if (dt == DT_I32 && op != OP_LABEL && op != OP_INPUT) {
        error_at(s->d, dc->type->loc, "a param holds f32 values, not i32 (i32 is for class ids and indices)");
        return;
    }
    if (dt == DT_F64)
        dt = DT_F32; /* f64 models compute in f32 (docs/language.md) */
    if (op == OP_PARAM) {
        Val init = {.kind = V_WORD, .str = "zeros", .loc = dc->loc};
        if (dc->value)
            init = dc->value->kind == EX_CALL ? (Val){.kind = V_CALL, .call = dc->value, .loc = dc->value->loc}
                                              : sema_expr(s, dc->value);
        int fan_in = sh.rank ? sh.d[0] : 1, fan_out = sh.rank > 1 ? sh.d[sh.rank - 1] : fan_in;
        if (sh.rank == 4) { /* conv filters [Cout, Cin, KH, KW]: fans Cin·KH·KW and Cout·KH·KW, as PyTorch's */
            long long area = (long long)sh.d[2] * sh.d[3], in = sh.d[1] * area, out = sh.d[0] * area;
            fan_in = in > INT_MAX ? INT_MAX : (int)in; /* too big to fit: sema_make_param says so */
            fan_out = out > INT_MAX ? INT_MAX : (int)out;
        }
        sema_make_param(s, dc->name, sh.rank, sh.d, init, fan_in, fan_out, dc->name_loc);
        return;
    }
    Sym *sym = sema_define(s, dc->name, dc->name_loc, dc);
    if (!sym || !sema_fits(s, op == OP_INPUT ? "input" : "label", dc->name, sh, dc->name_loc))
        return;
    sym->node = graph_add(s->g, op, NULL, 0, sh, dt, dc->name_loc);
    name_node(s, sym->node, dc->name);
}

/* ---- declarations ------------------------------------------------------- */

/* const NAME = EXPR;  EXPR folds to a number (or true/false), or is a
 * string (a file path: const D = "data/iris.csv";), read where a string
 * goes; there is no arithmetic on strings. */
static void declare_const(Sema *s, const Decl *dc)
{
    Val x = sema_expr(s, dc->value);
    if (x.kind == V_WORD)
        sema_undefined(s, x.str, x.loc);
    else if (x.kind != V_NUM && x.kind != V_BOOL && x.kind != V_STR && x.kind != V_ERR)
        error_at(s->d, dc->value->loc, "const '%s' must be a number or a string known at compile time, not %s",
                 dc->name, x.kind == V_TENSOR ? "a tensor" : x.kind == V_LIST ? "a list"
                 : x.kind == V_DIMB ? "the batch dimension B (known at run time)" : "this");
    if (x.kind != V_NUM && x.kind != V_BOOL && x.kind != V_STR)
        return;
    double v = x.kind == V_STR ? 0 : x.num;
    Sym *sym = sema_define(s, dc->name, dc->name_loc, dc);
    if (!sym)
        return;
    sym->is_const = 1;
    sym->num = v;
    sym->is_int = v == floor(v);
    sym->str = x.kind == V_STR ? x.str : NULL;
    ConstDef *c = arena_alloc(s->a, sizeof *c);
    c->name = dc->name;
    c->value = v;
    c->str = sym->str;
    c->loc = dc->name_loc;
    ptrvec_push(s->a, &s->g->consts, c);
}

/* Names the unnamed nodes that the value of `name = ...` made, after the
 * value and their op (h_matmul, h_add, h_add2), so that the gradient code
 * can speak of dh_add rather than dt7.  The number is 1 + the nodes of the
 * same op made before it (named or not, the result aside): one count per
 * op, so one pass over the new nodes. */
static void name_parts(Sema *s, int first, int result, const char *name)
{
    int count[OP_COUNT] = {0};
    for (int i = first; i < s->g->n; i++) {
        Node *n = &s->g->nodes[i];
        if (i == result)
            continue;
        int k = ++count[n->op];
        if (n->name || n->op == OP_CONST || n->op == OP_ROWS)
            continue;
        n->name = k == 1 ? arena_printf(s->a, "%s_%s", name, op_name(n->op))
                         : arena_printf(s->a, "%s_%s%d", name, op_name(n->op), k);
    }
}

static void declare_assign(Sema *s, const Decl *dc)
{
    if (sema_lookup(s, dc->name)) { /* reported before the value, whose layer params would clash too */
        sema_define(s, dc->name, dc->name_loc, dc);
        return;
    }
    int first = s->g->n;
    s->assign_name = dc->value->kind == EX_CALL ? dc->name : NULL;
    Val v = sema_expr(s, dc->value);
    s->assign_name = NULL;
    if (v.kind == V_ERR)
        return;
    if (v.kind != V_TENSOR) {
        if (v.kind == V_WORD)
            sema_undefined(s, v.str, v.loc);
        else
            error_at(s->d, dc->value->loc, "'%s' must be a tensor expression (use 'const' for numbers)", dc->name);
        return;
    }
    Sym *sym = sema_define(s, dc->name, dc->name_loc, dc);
    if (!sym)
        return;
    sym->node = v.node;
    name_node(s, v.node, dc->name);
    name_parts(s, first, v.node, dc->name);
}

static void collect_names(Sema *s, const Program *p)
{
    for (const Decl *dc = p->decls; dc; dc = dc->next)
        if (dc->name && dc->kind != D_MODEL && dc->kind != D_OUTPUT && dc->kind != D_MINIMIZE)
            s->n_later++;
    s->later = arena_alloc(s->a, (size_t)(s->n_later + 1) * sizeof *s->later);
    s->later_loc = arena_alloc(s->a, (size_t)(s->n_later + 1) * sizeof *s->later_loc);
    int i = 0;
    for (const Decl *dc = p->decls; dc; dc = dc->next)
        if (dc->name && dc->kind != D_MODEL && dc->kind != D_OUTPUT && dc->kind != D_MINIMIZE) {
            s->later_loc[i] = dc->name_loc;
            s->later[i++] = dc->name;
        }
}

/* A declaration that failed still defines its name, as a value with no
 * node, so that its later uses stay quiet instead of cascading. */
static void mark_failed(Sema *s, const Decl *dc)
{
    if (dc->kind == D_CONST || dc->kind == D_INPUT || dc->kind == D_LABEL || dc->kind == D_PARAM ||
        dc->kind == D_ASSIGN)
        if (dc->name && !sema_lookup(s, dc->name) && strcmp(dc->name, "B") != 0)
            sema_define(s, dc->name, dc->name_loc, dc)->node = -1;
}

/* A named node for `output`/`minimize`; NULL after an error. */
static int named_node(Sema *s, const Decl *dc)
{
    Sym *sym = sema_lookup(s, dc->name);
    if (!sym) {
        sema_undefined(s, dc->name, dc->name_loc);
        return -1;
    }
    if (!sym->is_const && sym->node < 0)
        return -1; /* its declaration failed and was reported */
    if (sym->is_const) {
        error_at(s->d, dc->name_loc, "'%s' is a const; %s needs a tensor", dc->name,
                 dc->kind == D_OUTPUT ? "output" : "minimize");
        return -1;
    }
    return sym->node;
}

static int once(Sema *s, const Decl **seen, const Decl *dc, const char *what)
{
    if (*seen) {
        error_at(s->d, dc->loc, "a model has one '%s'", what);
        note_at(s->d, (*seen)->loc, "the first '%s' is here", what);
        return 0;
    }
    *seen = dc;
    return 1;
}

/* ---- checks after the forward graph is built ----------------------------- */

/* reach[i] = 1 when node i feeds `root`. */
static char *reaching(Sema *s, int root)
{
    char *reach = arena_alloc(s->a, (size_t)s->g->n + 1);
    if (root < 0)
        return reach;
    reach[root] = 1;
    for (int i = root; i >= 0; i--)
        if (reach[i])
            for (int k = 0; k < s->g->nodes[i].n_in; k++)
                reach[s->g->nodes[i].in[k]] = 1;
    return reach;
}

static void check_minimize(Sema *s, const Decl *dc)
{
    int loss = named_node(s, dc);
    if (loss < 0)
        return;
    Node *n = graph_node(s->g, loss);
    char b[64];
    if (n->shape.rank != 0) {
        error_at(s->d, dc->name_loc, "minimize needs a scalar; '%s' has shape %s (a loss, or mean(...), gives one)",
                 dc->name, shape_str(n->shape, b, sizeof b));
        return;
    }
    if (n->op == OP_ACCURACY) {
        error_at(s->d, dc->name_loc, "'%s' is an accuracy metric, which has no gradient; minimize a loss", dc->name);
        return;
    }
    char *reach = reaching(s, loss);
    int any = 0;
    for (int i = 0; i < s->g->n; i++)
        if (reach[i] && s->g->nodes[i].op == OP_PARAM)
            any = 1;
    if (!any) {
        error_at(s->d, dc->name_loc, "'%s' does not depend on any param, so there is nothing to train", dc->name);
        return;
    }
    s->g->loss = loss;
    s->reach = reach;
    if (s->d->errors) /* a param read only by a declaration that failed would be warned about wrongly */
        return;
    for (int i = 0; i < s->g->n; i++)
        if (!reach[i] && s->g->nodes[i].op == OP_PARAM)
            warn_at(s->d, s->g->nodes[i].loc, "param '%s' does not reach the loss '%s'; it will not be trained",
                    s->g->nodes[i].name, dc->name);
}

/* The last value assigned before the loss's own declaration. */
static int default_output(Sema *s, const Program *p, const Decl *min)
{
    int out = -1;
    for (const Decl *dc = p->decls; dc; dc = dc->next) {
        if (dc->kind != D_ASSIGN)
            continue;
        if (min && strcmp(dc->name, min->name) == 0)
            break;
        Sym *sym = sema_lookup(s, dc->name);
        if (sym && sym->node >= 0 && graph_node(s->g, sym->node)->op != OP_ACCURACY)
            out = sym->node;
    }
    return out;
}

static void resolve_output(Sema *s, const Program *p, const Decl *out, const Decl *min)
{
    int id = out ? named_node(s, out) : default_output(s, p, min);
    if (id < 0)
        return;
    Node *n = graph_node(s->g, id);
    if (n->shape.rank < 1 || n->shape.d[0] != DIM_B) {
        char b[64];
        if (out)
            error_at(s->d, out->name_loc, "output gives one row per sample: its first axis is B; '%s' has shape %s",
                     out->name, shape_str(n->shape, b, sizeof b));
        else
            s->no_output = id; /* reported after the train block, if it needs an output */
        return;
    }
    s->g->output = id;
}

static void find_metric(Sema *s)
{
    for (int i = 0; i < s->g->n; i++)
        if (s->g->nodes[i].op == OP_ACCURACY && s->g->nodes[i].name) {
            s->g->metric = i;
            s->g->metric_name = s->g->nodes[i].name;
        }
}


/* After the train block: something must be left to train. */
static void check_trainable(Sema *s, const Decl *min)
{
    if (!s->reach || s->g->loss < 0)
        return;
    for (int i = 0; i < s->g->n; i++)
        if (s->reach[i] && s->g->nodes[i].op == OP_PARAM && !s->g->nodes[i].frozen)
            return;
    error_at(s->d, min->name_loc, "every param that '%s' depends on is frozen, so there is nothing to train", min->name);
}

/* ---- sizes once B is bound ---------------------------------------------- */

/* The bytes of a node's value with B bound to the batch (the limit keeps
 * every factor small, so this never overflows after sema). */
static long long value_bytes(const Graph *g, int id) { return shape_count(g->nodes[id].shape, g->batch) * 4; }

/* The table rows a program holds as static arrays (data and test). */
static long long table_bytes(const Graph *g)
{
    long long total = 0, xw = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_INPUT && !xw)
            xw = shape_count(g->nodes[i].shape, 1);
    const Source *src[2] = {&g->train.data, &g->train.test};
    for (int k = 0; k < 2; k++)
        if (src[k]->kind == SRC_TABLE)
            total += (long long)src[k]->table_rows * (xw + src[k]->table_t_width) * 4;
    return total;
}

static int optimizer_slots(OptKind k) { return k == OPT_SGD ? 0 : k == OPT_ADADELTA || k == OPT_ADAM ? 2 : 1; }

/* Every value with B fits; then the static storage sema can foresee: each
 * param, and for a trainable one that reaches the loss its gradient and
 * optimizer slots, the batch buffers and the tables.  Reported at the
 * largest part. */
static void check_sizes(Sema *s)
{
    Graph *g = s->g;
    char b[64];
    for (int i = 0; i < g->n; i++) {
        Node *n = &g->nodes[i];
        long long cnt = shape_count(n->shape, g->batch);
        if (n->shape.rank && n->shape.d[0] == DIM_B && (cnt < 0 || cnt > NNC_MAX_STATIC_BYTES / 4)) {
            error_at(s->d, n->loc, "'%s' %s takes %lld bytes with B = %d, more than the %lld bytes of static "
                     "storage a model may take; use a smaller batch", graph_name(g, i),
                     shape_str(n->shape, b, sizeof b), cnt * 4, g->batch, NNC_MAX_STATIC_BYTES);
            return;
        }
    }
    long long params = 0, grads = 0, state = 0, batch = 0, tables = table_bytes(g), big = 0;
    int slots = optimizer_slots(g->train.opt), big_id = -1;
    for (int i = 0; i < g->n; i++) {
        Node *n = &g->nodes[i];
        long long part = 0, bytes = value_bytes(g, i);
        if (n->op == OP_PARAM) {
            int trained = !n->frozen && s->reach && s->reach[i];
            params += bytes;
            grads += trained ? bytes : 0;
            state += trained ? slots * bytes : 0;
            part = trained ? (2 + slots) * bytes : bytes;
        } else if (n->op == OP_INPUT || n->op == OP_LABEL) {
            batch += part = bytes;
        }
        if (part > big) {
            big = part;
            big_id = i;
        }
    }
    long long total = params + grads + state + batch + tables;
    if (total <= NNC_MAX_STATIC_BYTES || big_id < 0)
        return;
    Node *n = &g->nodes[big_id];
    error_at(s->d, n->loc, "the model's static storage takes at least %lld bytes (params %lld, their gradients %lld, "
             "optimizer state %lld, batch buffers %lld, tables %lld), more than the %lld bytes a model may take; "
             "the largest part is '%s' %s (%lld bytes%s): use smaller layers or a smaller batch", total, params, grads,
             state, batch, tables, NNC_MAX_STATIC_BYTES, n->name, shape_str(n->shape, b, sizeof b), big,
             n->op != OP_PARAM || big == value_bytes(g, big_id) ? "" : slots ? " with its gradient and optimizer state"
                                                                        : " with its gradient");
}

/* After planning: the static storage the emitted code declares, arena
 * included, against the limit; reported at the largest value stored. */
int storage_check(const Graph *g, const Plan *p, Diag *d)
{
    long long out = g->output >= 0 ? value_bytes(g, g->output) : 0, tables = table_bytes(g);
    long long total = (long long)(p->param_bytes + p->grad_bytes + p->state_bytes + p->batch_bytes + p->const_bytes +
                                  p->arena_bytes) + out + tables;
    if (total <= NNC_MAX_STATIC_BYTES)
        return 1;
    int big = -1;
    for (int i = 0; i < g->n; i++)
        if (p->buf[i].cls != SC_NONE && p->buf[i].cls != SC_ALIAS && (big < 0 || p->buf[i].bytes > p->buf[big].bytes))
            big = i;
    NNC_ASSERT(big >= 0, "storage past the limit without a stored value");
    const Node *n = &g->nodes[big];
    char b[64], name[32];
    snprintf(name, sizeof name, "t%d", big);
    error_at(d, n->loc, "the planned static storage takes %lld bytes (params %zu, gradients %zu, optimizer state %zu, "
             "batch buffers %zu, arena %zu, constants and tables %lld, output rows %lld), more than the %lld bytes a "
             "model may take; the largest value is '%s' %s (%zu bytes): use smaller layers or a smaller batch", total,
             p->param_bytes, p->grad_bytes, p->state_bytes, p->batch_bytes, p->arena_bytes,
             (long long)p->const_bytes + tables, out, NNC_MAX_STATIC_BYTES, n->name ? n->name : name,
             shape_str(n->shape, b, sizeof b), p->buf[big].bytes);
    return 0;
}

int sema_lower(Graph *g, Diag *d, const Program *p, int batch_override)
{
    Sema s = {.g = g, .d = d, .a = g->arena, .no_output = -1};
    sema_train_defaults(&g->train);
    const Decl *model = NULL, *out = NULL, *min = NULL, *train = NULL;
    collect_names(&s, p);
    for (const Decl *dc = p->decls; dc; dc = dc->next) {
        switch (dc->kind) {
        case D_MODEL:
            if (once(&s, &model, dc, "model") && dc != p->decls)
                error_at(d, dc->loc, "'model NAME;' must be the first declaration");
            g->model = dc->name;
            break;
        case D_CONST: declare_const(&s, dc); break;
        case D_INPUT: declare_leaf(&s, dc, OP_INPUT); break;
        case D_LABEL: declare_leaf(&s, dc, OP_LABEL); break;
        case D_PARAM: declare_leaf(&s, dc, OP_PARAM); break;
        case D_ASSIGN: declare_assign(&s, dc); break;
        case D_OUTPUT: once(&s, &out, dc, "output"); break;
        case D_MINIMIZE: once(&s, &min, dc, "minimize"); break;
        case D_TRAIN: once(&s, &train, dc, "train"); break;
        }
        mark_failed(&s, dc);
    }
    Loc top = p->decls ? p->decls->loc : (Loc){p->file, 1, 1, 1};
    if (!model)
        error_at(d, top, "a model starts with 'model NAME;'");
    if (min)
        check_minimize(&s, min);
    else
        error_at(d, model ? model->loc : top, "the model has no 'minimize NAME;': name the scalar loss to train");
    resolve_output(&s, p, out, min);
    find_metric(&s);
    if (train)
        sema_train(&s, train);
    if (min)
        check_trainable(&s, min);
    if (min && s.no_output >= 0 && g->loss >= 0 && g->train.data.kind != SRC_NONE && d->errors == 0) {
        char b[64];
        Node *n = graph_node(g, s.no_output);
        warn_at(d, min->loc, "the value before the loss, '%s' %s, has no batch axis, so the program has no "
                "output; write 'output NAME;' naming per-sample predictions", n->name, shape_str(n->shape, b, sizeof b));
    }
    g->batch = batch_override > 0 ? batch_override : g->train.batch;
    if (d->errors == 0)
        check_sizes(&s);
    g->n_forward = g->n;
    return d->errors == 0;
}
