/* sema_train.c: the train block, its data sources and its optimizer.
 *
 * Every key of the train block (docs/language.md, "The train block") is in
 * the table below with the kind of
 * value it takes; an unknown key gets a "did you mean", a key given twice
 * points at the first.  Sources and optimizers are calls checked against the
 * builtin table (sema_expr.c) and resolved into TrainSpec.  A table source
 * is checked against the declared input and label shapes here; file sources
 * (idx, csv) can only be checked when the program loads them.
 */
#include "sema.h"

#include <math.h>
#include <string.h>

typedef enum { K_SOURCE, K_OPT, K_INT, K_BOOL, K_NUM, K_NAMES, K_STR, K_FRACTION } KeyKind;

static const struct {
    const char *key;
    KeyKind kind;
} train_keys[] = {
    {"data", K_SOURCE}, {"test", K_SOURCE}, {"optimizer", K_OPT}, {"epochs", K_INT},
    {"batch", K_INT}, {"shuffle", K_BOOL}, {"drop_last", K_BOOL}, {"seed", K_INT},
    {"log_every", K_INT}, {"eval_every", K_INT}, {"early_stopping", K_BOOL},
    {"clip_grad", K_NUM}, {"weight_decay", K_NUM}, {"freeze", K_NAMES}, {"checkpoint", K_STR},
    {"validation", K_FRACTION},
};
enum { N_KEYS = sizeof train_keys / sizeof train_keys[0] };

void sema_train_defaults(TrainSpec *t)
{
    memset(t, 0, sizeof *t);
    t->opt = OPT_SGD;
    t->lr = 0.01;
    t->final_lr = NAN; /* not given */
    t->epochs = 10;
    t->batch = 32;
    t->shuffle = 1;
    t->eval_every = 1;
}

/* ---- sources ----------------------------------------------------------- */

/* Numbers of a (possibly nested) list, flattened into out; returns count,
 * or -1 after an error.  width receives the length of the inner lists. */
static int flatten_numbers(Sema *s, Val v, double *out, int cap, int *width)
{
    int n = 0;
    *width = 0;
    for (int i = 0; i < v.n_items; i++) {
        Val it = v.items[i];
        if (it.kind == V_LIST) {
            if (i > 0 && it.n_items != *width) {
                error_at(s->d, it.loc, "table rows must all have %d values; this one has %d", *width, it.n_items);
                return -1;
            }
            *width = it.n_items;
            int w;
            int k = flatten_numbers(s, it, out ? out + n : NULL, cap - n, &w);
            if (k < 0 || w != 0) {
                if (k >= 0)
                    error_at(s->d, it.loc, "table rows hold numbers");
                return -1;
            }
            n += k;
        } else if (it.kind == V_NUM || it.kind == V_BOOL) {
            if (out && n < cap)
                out[n] = it.num;
            n++;
        } else {
            error_at(s->d, it.loc, "a table holds numbers, not %s",
                     it.kind == V_WORD ? it.str : it.kind == V_STR ? sema_val_desc(s, it) : "this");
            return -1;
        }
    }
    return n;
}

static int find_leaf(const Graph *g, Op op, int *count)
{
    int id = -1;
    *count = 0;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == op) {
            id = i;
            ++*count;
        }
    return id;
}

/* "[4, 2]" for a table of 4 rows of 2 values, "[4]" for 4 plain numbers. */
static const char *table_shape(int rows, int width, char *buf)
{
    int d[2] = {rows, width};
    return shape_str(shape_make(width ? 2 : 1, d), buf, 64);
}

/* A table's rows against `input x: f32[B, D]` and the label's type. */
static void check_table(Sema *s, Source *src, Val x, Val t)
{
    int nx, nl, xi = find_leaf(s->g, OP_INPUT, &nx), ti = find_leaf(s->g, OP_LABEL, &nl);
    int xw, tw;
    int rows = x.n_items;
    int cx = flatten_numbers(s, x, NULL, 0, &xw), ct = flatten_numbers(s, t, NULL, 0, &tw);
    if (cx < 0 || ct < 0 || xi < 0 || ti < 0)
        return;
    if (t.n_items != rows) {
        error_at(s->d, t.loc, "table x has %d rows but t has %d", rows, t.n_items);
        return;
    }
    Node *in = graph_node(s->g, xi), *lb = graph_node(s->g, ti);
    char b[64], tb[64];
    long want_x = shape_row_numel(in->shape);
    if ((xw ? xw : 1) != want_x) {
        error_at(s->d, x.loc, "table x has shape %s but input '%s' is %s%s: each row must hold %ld value%s",
                 table_shape(rows, xw, tb), in->name, dtype_name(in->dtype), shape_str(in->shape, b, sizeof b),
                 want_x, want_x == 1 ? "" : "s");
        return;
    }
    long want_t = lb->dtype == DT_I32 ? 1 : shape_row_numel(lb->shape);
    if ((tw ? tw : 1) != want_t && !(tw == 0 && src->one_hot == want_t)) {
        const char *what = lb->dtype == DT_I32 ? "one class id per row"
                         : tw == 0 ? arena_printf(s->a, "rows of %ld values (or class ids with one_hot=%ld)", want_t, want_t)
                                   : arena_printf(s->a, "rows of %ld value%s", want_t, want_t == 1 ? "" : "s");
        error_at(s->d, t.loc, "table t has shape %s but label '%s' is %s%s: it takes %s", table_shape(t.n_items, tw, tb),
                 lb->name, dtype_name(lb->dtype), shape_str(lb->shape, b, sizeof b), what);
        return;
    }
    src->table_rows = rows;
    src->table_t_width = tw ? tw : 1;
    src->table_x = arena_alloc(s->a, (size_t)cx * sizeof(double));
    src->table_t = arena_alloc(s->a, (size_t)ct * sizeof(double));
    flatten_numbers(s, x, src->table_x, cx, &xw);
    flatten_numbers(s, t, src->table_t, ct, &tw);
    for (int i = 0; tw == 0 && src->one_hot > 0 && i < ct; i++)
        if (src->table_t[i] != floor(src->table_t[i]) || src->table_t[i] < 0 || src->table_t[i] >= src->one_hot) {
            error_at(s->d, t.items[i].loc, "with one_hot=%d the labels are class ids 0 to %d; the table has %g",
                     src->one_hot, src->one_hot - 1, src->table_t[i]);
            return;
        }
    for (int i = 0; lb->dtype == DT_I32 && i < ct; i++)
        if (src->table_t[i] != floor(src->table_t[i]) || src->table_t[i] < 0) {
            error_at(s->d, tw ? t.loc : t.items[i].loc, "label '%s' holds i32 class ids (integers >= 0); the table has %g",
                     lb->name, src->table_t[i]);
            return;
        }
}

/* What a built-in source (spiral, xor, gate: rows of 2 inputs, class ids)
 * and one_hot=K promise, against the declared input and label.  Files
 * (idx, csv) can only be checked when they are read; tables have their own
 * check above. */
static void check_fit(Sema *s, const Source *src)
{
    int nx, nl, xi = find_leaf(s->g, OP_INPUT, &nx), ti = find_leaf(s->g, OP_LABEL, &nl);
    if (nx != 1 || nl != 1)
        return; /* check_feeds reports it */
    Node *in = graph_node(s->g, xi), *lb = graph_node(s->g, ti);
    char b[64];
    long width = lb->dtype == DT_I32 ? 0 : shape_row_numel(lb->shape);
    int builtin = src->kind == SRC_SPIRAL || src->kind == SRC_XOR || src->kind == SRC_GATE;
    int classes = src->kind == SRC_SPIRAL ? src->classes : 2;
    const char *what = src->kind == SRC_SPIRAL ? "spiral()" : src->kind == SRC_XOR ? "xor()" : "gate()";
    if (builtin && shape_row_numel(in->shape) != 2)
        error_at(s->d, src->loc, "%s gives rows of 2 values but input '%s' is %s%s", what, in->name,
                 dtype_name(in->dtype), shape_str(in->shape, b, sizeof b));
    else if (src->one_hot > 0 && width != src->one_hot)
        error_at(s->d, src->loc, "one_hot=%d makes label rows of %d values but label '%s' is %s%s", src->one_hot,
                 src->one_hot, lb->name, dtype_name(lb->dtype), shape_str(lb->shape, b, sizeof b));
    else if (builtin && src->one_hot == 0 && width > 1 && width != classes)
        error_at(s->d, src->loc, "%s has %d classes but label '%s' is %s%s: it takes i32[B] class ids or f32[B, %d] rows",
                 what, classes, lb->name, dtype_name(lb->dtype), shape_str(lb->shape, b, sizeof b), classes);
}

/* normalize = true | false | "column" */
static int normalize_mode(Sema *s, Val v)
{
    static const char *const modes[] = {"column", "true", "false"};
    if (v.kind == V_BOOL)
        return v.num != 0 ? NORM_ALL : NORM_NONE;
    if (strcmp(v.str, "column") == 0)
        return NORM_COLUMN;
    const char *hint = sema_hint(v.str, modes, 3);
    if (hint && strcmp(hint, "column") != 0)
        error_at(s->d, v.loc, "normalize is true, false or \"column\"; got \"%s\": did you mean %s, "
                 "without quotes?", v.str, hint);
    else if (hint)
        error_at(s->d, v.loc, "normalize is true, false or \"column\"; got \"%s\": did you mean "
                 "\"column\"?", v.str);
    else
        error_at(s->d, v.loc, "normalize is true (all inputs), false or \"column\" (each input "
                 "column); got \"%s\"", v.str);
    return NORM_NONE;
}

static void set_transforms(Sema *s, Source *src, const Val *a)
{
    src->scale = a[0].num;
    src->normalize = normalize_mode(s, a[1]);
    src->flatten = (int)a[2].num;
    src->one_hot = (int)a[3].num;
}

static void resolve_source(Sema *s, const Expr *e, Source *src)
{
    Val a[10];
    const Builtin *b = e->kind == EX_NAME ? builtin_find(e->str) : NULL;
    if (b && b->group == G_SOURCE) {
        error_at(s->d, e->loc, "a data source is a call: write %s(%s)", e->str,
                 b->params[0].required ? "..." : "");
        return;
    }
    if (e->kind != EX_CALL) {
        error_at(s->d, e->loc, "a data source is a call such as spiral(), idx(images=\"...\", labels=\"...\")");
        return;
    }
    if (!sema_call_args(s, e, G_SOURCE, a))
        return;
    memset(src, 0, sizeof *src);
    src->loc = e->loc;
    const char *n = e->str;
    if (strcmp(n, "spiral") == 0) {
        src->kind = SRC_SPIRAL;
        src->classes = (int)a[0].num;
        src->points = (int)a[1].num;
        src->seed = (long)a[2].num;
        set_transforms(s, src, a + 3);
        if (src->classes < 1 || src->points < 1)
            error_at(s->d, e->loc, "spiral needs classes >= 1 and points >= 1");
    } else if (strcmp(n, "xor") == 0) {
        src->kind = SRC_XOR;
        set_transforms(s, src, a);
    } else if (strcmp(n, "gate") == 0) {
        static const char *const gates[] = {"and", "or", "nand", "xor"};
        src->kind = SRC_GATE;
        src->gate = a[0].str;
        set_transforms(s, src, a + 1);
        int ok = 0;
        for (int i = 0; i < 4; i++)
            ok |= strcmp(gates[i], src->gate) == 0;
        if (!ok)
            error_at(s->d, a[0].loc, "gate is one of \"and\", \"or\", \"nand\", \"xor\"; got \"%s\"", src->gate);
    } else if (strcmp(n, "table") == 0) {
        src->kind = SRC_TABLE;
        set_transforms(s, src, a + 2);
        check_table(s, src, a[0], a[1]);
    } else if (strcmp(n, "idx") == 0) {
        src->kind = SRC_IDX;
        src->images = a[0].str;
        src->labels = a[1].str;
        set_transforms(s, src, a + 2);
    } else {
        src->kind = SRC_CSV;
        src->path = a[0].str;
        src->csv_label = (int)a[1].num;
        src->csv_header = (int)a[2].num;
        set_transforms(s, src, a + 3);
    }
    if (src->one_hot < 0 || src->scale != src->scale)
        error_at(s->d, e->loc, "one_hot must be >= 0");
    else if (src->kind != SRC_TABLE)
        check_fit(s, src);
}

/* ---- the optimizer --------------------------------------------------------- */
static void resolve_opt(Sema *s, const Expr *e, TrainSpec *t)
{
    Val a[10];
    const Builtin *b = e->kind == EX_NAME ? builtin_find(e->str) : NULL;
    if (b && b->group == G_OPT) {
        error_at(s->d, e->loc, "an optimizer is a call: write %s()", e->str);
        return;
    }
    if (b) {
        error_at(s->d, e->loc, "'%s' is %s, not an optimizer (sgd, momentum, adagrad, adadelta, adam)", e->str,
                 builtin_group_name(b->group));
        return;
    }
    if (e->kind != EX_CALL) {
        error_at(s->d, e->loc, "an optimizer is a call such as sgd(lr=0.1) or adam()");
        return;
    }
    if (!sema_call_args(s, e, G_OPT, a))
        return;
    const char *n = e->str;
    int k = 0;
    if (strcmp(n, "sgd") == 0) { t->opt = OPT_SGD; t->lr = a[k++].num; }
    else if (strcmp(n, "momentum") == 0) { t->opt = OPT_MOMENTUM; t->lr = a[k++].num; t->momentum = a[k++].num; }
    else if (strcmp(n, "adagrad") == 0) { t->opt = OPT_ADAGRAD; t->lr = a[k++].num; t->eps = a[k++].num; }
    else if (strcmp(n, "adadelta") == 0) { t->opt = OPT_ADADELTA; t->lr = 1; t->rho = a[k++].num; t->eps = a[k++].num; }
    else { t->opt = OPT_ADAM; t->lr = a[k++].num; t->beta1 = a[k++].num; t->beta2 = a[k++].num; t->eps = a[k++].num; }
    const char *decay = a[k].str;
    t->final_lr = a[k + 1].num;
    if (strcmp(decay, "none") == 0) t->decay = DECAY_NONE;
    else if (strcmp(decay, "linear") == 0) t->decay = DECAY_LINEAR;
    else if (strcmp(decay, "exponential") == 0) t->decay = DECAY_EXPONENTIAL;
    else error_at(s->d, a[k].loc, "decay is \"none\", \"linear\" or \"exponential\"; got \"%s\"", decay);
    if (t->opt == OPT_ADADELTA && t->decay != DECAY_NONE)
        warn_at(s->d, a[k].loc, "adadelta has no learning rate, so decay=\"%s\" changes nothing", decay);
    if (t->lr <= 0 && t->opt != OPT_ADADELTA)
        error_at(s->d, a[0].loc, "the learning rate must be > 0; got %g", t->lr);
    if (t->decay != DECAY_NONE && isnan(t->final_lr))
        error_at(s->d, a[k].loc, "decay=\"%s\" needs final_lr=... (the rate at the last epoch)", decay);
    else if (t->decay != DECAY_NONE && t->final_lr < 0)
        error_at(s->d, a[k + 1].loc, "final_lr must be >= 0; got %g", t->final_lr);
    else if (t->decay == DECAY_EXPONENTIAL && t->final_lr <= 0)
        error_at(s->d, a[k + 1].loc, "exponential decay needs final_lr > 0; got %g", t->final_lr);
}

/* ---- keys ------------------------------------------------------------------- */

static void freeze_params(Sema *s, const Expr *e)
{
    if (e->kind != EX_LIST) {
        error_at(s->d, e->loc, "freeze takes a list of params: freeze = [W1, h.b];");
        return;
    }
    for (const Expr *it = e->items; it; it = it->next) {
        Sym *sym = it->kind == EX_NAME ? sema_lookup(s, it->str) : NULL;
        if (sym && !sym->is_const && sym->node < 0)
            continue; /* its declaration failed and was reported */
        if (it->kind == EX_NAME && !sym) {
            sema_undefined(s, it->str, it->loc);
            continue;
        }
        if (!sym || sym->is_const || graph_node(s->g, sym->node)->op != OP_PARAM) {
            Op op = sym && !sym->is_const ? graph_node(s->g, sym->node)->op : OP_CONST;
            error_at(s->d, it->loc, "freeze names params; %s%s%s is %s", sym ? "'" : "", sym ? it->str : "this",
                     sym ? "'" : "", !sym ? "no name" : sym->is_const ? "a const" : op == OP_INPUT ? "an input"
                     : op == OP_LABEL ? "a label" : "a computed value");
            continue;
        }
        graph_node(s->g, sym->node)->frozen = 1;
    }
}

static int int_value(Sema *s, const Arg *k, int lo, int *out)
{
    Val x = sema_expr(s, k->value);
    if (x.kind != V_NUM) {
        if (x.kind == V_WORD)
            sema_undefined(s, x.str, x.loc);
        else if (x.kind != V_ERR)
            error_at(s->d, k->value->loc, "%s must be an integer >= %d, not %s", k->name, lo,
                     x.kind == V_STR ? sema_val_desc(s, x) : x.kind == V_BOOL ? "true/false"
                     : x.kind == V_TENSOR ? "a tensor" : "this");
        return 0;
    }
    double v = x.num;
    if (v != floor(v) || v < lo || v > 2e9) {
        error_at(s->d, k->value->loc, "%s must be an integer >= %d; got %g", k->name, lo, v);
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* validation = f: a fraction of the training rows, 0 < f < 1. */
static void set_fraction(Sema *s, const Arg *k, TrainSpec *t)
{
    Val v = sema_expr(s, k->value);
    if (v.kind != V_NUM) {
        if (v.kind == V_WORD)
            sema_undefined(s, v.str, v.loc);
        else if (v.kind != V_ERR)
            error_at(s->d, k->value->loc, "%s is the fraction of training rows to hold out, a number "
                     "between 0 and 1 such as 0.1", k->name);
        return;
    }
    if (!(v.num > 0 && v.num < 1))
        error_at(s->d, k->value->loc, "%s must lie strictly between 0 and 1 (the fraction of training "
                 "rows to hold out, such as 0.1); got %g", k->name, v.num);
    else
        t->validation = v.num;
}

static void set_key(Sema *s, const Arg *k, KeyKind kind, TrainSpec *t)
{
    const char *n = k->name;
    Val v;
    int i = 0;
    switch (kind) {
    case K_SOURCE: resolve_source(s, k->value, strcmp(n, "data") == 0 ? &t->data : &t->test); return;
    case K_OPT: resolve_opt(s, k->value, t); return;
    case K_NAMES: freeze_params(s, k->value); return;
    case K_FRACTION: set_fraction(s, k, t); return;
    case K_INT:
        if (!int_value(s, k, strcmp(n, "epochs") == 0 || strcmp(n, "batch") == 0 || strcmp(n, "eval_every") == 0, &i))
            return;
        if (strcmp(n, "epochs") == 0) t->epochs = i;
        else if (strcmp(n, "batch") == 0) t->batch = i;
        else if (strcmp(n, "seed") == 0) t->seed = i;
        else if (strcmp(n, "log_every") == 0) t->log_every = i;
        else t->eval_every = i;
        return;
    case K_BOOL:
        v = sema_expr(s, k->value);
        if (v.kind != V_BOOL) {
            if (v.kind != V_ERR)
                error_at(s->d, k->value->loc, "%s must be true or false%s%s", n, v.kind == V_STR ? ", not " : "",
                         v.kind == V_STR ? sema_val_desc(s, v) : "");
            return;
        }
        if (strcmp(n, "shuffle") == 0) t->shuffle = (int)v.num;
        else if (strcmp(n, "drop_last") == 0) t->drop_last = (int)v.num;
        else t->early_stopping = (int)v.num;
        return;
    case K_NUM: {
        double x;
        v = sema_expr(s, k->value);
        if (v.kind != V_NUM) {
            if (v.kind == V_WORD)
                sema_undefined(s, v.str, v.loc);
            else if (v.kind != V_ERR)
                error_at(s->d, k->value->loc, "%s must be a number >= 0%s%s", n, v.kind == V_STR ? ", not " : "",
                         v.kind == V_STR ? sema_val_desc(s, v) : "");
            return;
        }
        x = v.num;
        if (x < 0)
            error_at(s->d, k->value->loc, "%s must be >= 0; got %g", n, x);
        if (strcmp(n, "clip_grad") == 0) t->clip_grad = x;
        else t->weight_decay = x;
        return;
    }
    case K_STR:
        v = sema_expr(s, k->value);
        if (v.kind != V_STR) {
            if (v.kind != V_ERR)
                error_at(s->d, k->value->loc, "%s must be a file name in double quotes (or a string const)", n);
            return;
        }
        t->checkpoint = v.str;
        return;
    }
}

/* A train block feeds one input and one label. */
static void check_feeds(Sema *s, TrainSpec *t, const Arg *early)
{
    int nx, nl;
    find_leaf(s->g, OP_INPUT, &nx);
    find_leaf(s->g, OP_LABEL, &nl);
    if (t->data.kind != SRC_NONE && (nx != 1 || nl != 1))
        error_at(s->d, t->data.loc, "a data source feeds one input and one label; the model has %d input%s and %d label%s",
                 nx, nx == 1 ? "" : "s", nl, nl == 1 ? "" : "s");
    if (t->early_stopping && t->test.kind == SRC_NONE && t->validation == 0)
        warn_at(s->d, early->name_loc, "early_stopping needs a test set (test = ...) or validation = "
                "...; it will be ignored");
}

/* The first optimizer or source that takes an argument called `name`
 * (lr = 0.1 in the train block belongs in sgd(lr=0.1)), or NULL. */
static const char *argument_owner(const char *name)
{
    static const char *const calls[] = {"sgd", "momentum", "adam", "adadelta", "spiral", "idx", "csv", "table"};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        const Builtin *b = builtin_find(calls[i]);
        for (int k = 0; k < 10 && b->params[k].name; k++)
            if (strcmp(b->params[k].name, name) == 0)
                return calls[i];
    }
    return NULL;
}

void sema_train(Sema *s, const Decl *train)
{
    TrainSpec *t = &s->g->train;
    const Arg *seen[N_KEYS] = {0};
    t->has_block = 1;
    for (const Arg *k = train->keys; k; k = k->next) {
        int i = 0;
        while (i < N_KEYS && strcmp(train_keys[i].key, k->name) != 0)
            i++;
        if (i == N_KEYS) {
            const char *names[N_KEYS];
            for (int j = 0; j < N_KEYS; j++)
                names[j] = train_keys[j].key;
            const char *hint = sema_hint(k->name, names, N_KEYS);
            const char *list = names[0];
            for (int j = 1; j < N_KEYS; j++)
                list = arena_printf(s->a, "%s, %s", list, names[j]);
            const char *owner = argument_owner(k->name);
            if (hint)
                error_at(s->d, k->name_loc, "unknown key '%s'; did you mean '%s'?", k->name, hint);
            else if (owner && builtin_find(owner)->group == G_OPT)
                error_at(s->d, k->name_loc, "unknown key '%s': it is an argument of the optimizer, as in optimizer = %s(%s=...)",
                         k->name, owner, k->name);
            else if (owner)
                error_at(s->d, k->name_loc, "unknown key '%s': it is an argument of the data source, as in data = %s(%s=...)",
                         k->name, owner, k->name);
            else
                error_at(s->d, k->name_loc, "unknown key '%s' in the train block (the keys: %s)", k->name, list);
            continue;
        }
        if (seen[i]) {
            error_at(s->d, k->name_loc, "train key '%s' is given twice", k->name);
            note_at(s->d, seen[i]->name_loc, "the first '%s' is here", k->name);
            continue;
        }
        seen[i] = k;
        set_key(s, k, train_keys[i].kind, t);
    }
    int early = 0;
    while (strcmp(train_keys[early].key, "early_stopping") != 0)
        early++;
    check_feeds(s, t, seen[early]);
}
