/* sema_expr.c: expressions, the builtin table, params and layer sugar.
 *
 * sema_expr() evaluates an expression at compile time into a Val: numbers
 * fold (consts, 1/255), tensors become graph nodes built through graph_op(),
 * which applies the op's shape rule and reports a mismatch at the operator.
 * Calls are checked against the one builtin table below: the function must
 * exist and be allowed where it stands (an optimizer is no expression),
 * keywords must be known and given once, required ones present, and each
 * value of the right kind.  Params are made here, with their init checked
 * against the table (sema_make_param), for a declaration (sema.c) and for
 * layers: dense, mlp and conv create params named after the value they are
 * assigned to, `h = dense(x, 10)` makes h.W and h.b.  Of the rest of sema
 * this file calls only the symbol table (sema_sym.c).
 */
#include "sema.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NUMERR(v) ((v).kind == V_ERR)

static Val val_err(void) { Val v = {.kind = V_ERR}; return v; }
static Val val_tensor(int node, Loc loc) { Val v = {.kind = V_TENSOR, .node = node, .loc = loc}; return v; }
static Val val_num(double x, int is_int, Loc loc) { Val v = {.kind = V_NUM, .num = x, .is_int = is_int, .loc = loc}; return v; }
static Val tensor_or_err(int node, Loc loc) { return node < 0 ? val_err() : val_tensor(node, loc); }

static const char *val_kind_name(ValKind k)
{
    switch (k) {
    case V_ERR: return "an error";
    case V_NONE: return "nothing";
    case V_TENSOR: return "a tensor";
    case V_NUM: return "a number";
    case V_BOOL: return "true/false";
    case V_STR: return "a string";
    case V_LIST: return "a list";
    case V_WORD: return "a name";
    case V_DIMB: return "the batch dimension B";
    case V_CALL: return "a call";
    }
    return "?";
}

const char *sema_val_desc(Sema *s, Val v)
{
    if (v.kind == V_STR && v.cname)
        return arena_printf(s->a, "the string const '%s' (\"%s\")", v.cname, v.str);
    return val_kind_name(v.kind);
}

int sema_scalar_const(Sema *s, double v, Loc loc)
{
    int id = graph_add(s->g, OP_CONST, NULL, 0, shape_scalar(), DT_F32, loc);
    Node *n = graph_node(s->g, id);
    n->data = arena_alloc(s->a, sizeof(double));
    n->data[0] = v;
    n->c[0] = v;
    return id;
}

/* One node through graph_op (its shape checked, a mismatch reported at
 * loc), or -1 when an input is -1: its error was reported already. */
static int op1_at(Sema *s, Op op, int x, Attrs at, Loc loc)
{
    return x < 0 ? -1 : graph_op(s->g, s->d, op, &x, 1, loc, at);
}

static int op1(Sema *s, Op op, int x, Loc loc) { return op1_at(s, op, x, NO_ATTRS, loc); }

static int op2(Sema *s, Op op, int x, int y, Loc loc)
{
    int in[2] = {x, y};
    return x < 0 || y < 0 ? -1 : graph_op(s->g, s->d, op, in, 2, loc, NO_ATTRS);
}

/* ---- numbers and tensors ---------------------------------------------- */

/* Turns a number into a scalar CONST node so it can meet a tensor. */
static int as_node(Sema *s, Val v)
{
    if (v.kind == V_TENSOR)
        return v.node;
    if (v.kind == V_NUM || v.kind == V_BOOL)
        return sema_scalar_const(s, v.num, v.loc);
    if (v.kind == V_WORD)
        sema_undefined(s, v.str, v.loc);
    else if (v.kind != V_ERR)
        error_at(s->d, v.loc, "expected a tensor, found %s", sema_val_desc(s, v));
    return -1;
}

int sema_tensor(Sema *s, const Expr *e) { return as_node(s, sema_expr(s, e)); }

int sema_number(Sema *s, const Expr *e, double *out)
{
    Val v = sema_expr(s, e);
    if (v.kind == V_NUM || v.kind == V_BOOL) {
        *out = v.num;
        return 1;
    }
    if (v.kind == V_WORD)
        sema_undefined(s, v.str, v.loc);
    else if (v.kind != V_ERR)
        error_at(s->d, e->loc, "expected a number known at compile time, found %s", sema_val_desc(s, v));
    return 0;
}

static Val fold(Sema *s, int op, Val a, Val b, Loc loc)
{
    double x = a.num, y = b.num, r = 0;
    int is_int = a.is_int && b.is_int;
    switch (op) {
    case '+': r = x + y; break;
    case '-': r = x - y; break;
    case '*': r = x * y; break;
    case '/':
        if (y == 0) {
            error_at(s->d, loc, "division by zero in a constant expression");
            return val_err();
        }
        r = x / y;
        is_int = is_int && fmod(x, y) == 0;
        break;
    case '^': r = pow(x, y); is_int = is_int && y >= 0; break;
    default:
        error_at(s->d, loc, "'@' needs two tensors, not numbers");
        return val_err();
    }
    if (!isfinite(r)) {
        error_at(s->d, loc, "constant expression overflows");
        return val_err();
    }
    return val_num(r, is_int, loc);
}

static Val binary(Sema *s, const Expr *e)
{
    Val a = sema_expr(s, e->lhs), b = sema_expr(s, e->rhs);
    if (NUMERR(a) || NUMERR(b))
        return val_err();
    if ((a.kind == V_NUM || a.kind == V_BOOL) && (b.kind == V_NUM || b.kind == V_BOOL))
        return fold(s, e->op, a, b, e->loc);
    if (a.kind == V_STR || b.kind == V_STR) { /* strings are paths and names: no arithmetic */
        Val str = a.kind == V_STR ? a : b;
        char op[3] = {(char)e->op, '\0', '\0'};
        if (e->op == '^')
            strcpy(op, "**");
        error_at(s->d, str.loc, "'%s' works on numbers and tensors, not on %s", op, sema_val_desc(s, str));
        return val_err();
    }
    if (e->op == '^') {
        if (b.kind != V_NUM) {
            error_at(s->d, e->rhs->loc, "the exponent of ** must be a number known at compile time");
            return val_err();
        }
        return tensor_or_err(op1_at(s, OP_POW, as_node(s, a), (Attrs){.c = {b.num}}, e->loc), e->loc);
    }
    Op op = e->op == '+' ? OP_ADD : e->op == '-' ? OP_SUB : e->op == '*' ? OP_MUL
          : e->op == '/' ? OP_DIV : OP_MATMUL;
    if (op == OP_MATMUL && (a.kind != V_TENSOR || b.kind != V_TENSOR)) {
        Val bad = a.kind != V_TENSOR ? a : b;
        if (bad.kind == V_WORD)
            sema_undefined(s, bad.str, bad.loc);
        else
            error_at(s->d, e->loc, "'@' needs two tensors; one side is %s", sema_val_desc(s, bad));
        return val_err();
    }
    int x = as_node(s, a), y = as_node(s, b);
    return tensor_or_err(op2(s, op, x, y, e->loc), e->loc);
}

/* A name declared further down: reported with where, 1; else 0. */
static int later_use(Sema *s, const char *name, Loc loc)
{
    for (int i = 0; i < s->n_later; i++)
        if (strcmp(s->later[i], name) == 0) {
            error_at(s->d, loc, "'%s' is used before its definition (declarations are read in order)", name);
            note_at(s->d, s->later_loc[i], "'%s' is defined here", name);
            return 1;
        }
    return 0;
}

static Val name_val(Sema *s, const Expr *e)
{
    if (strcmp(e->str, "B") == 0) {
        Val v = {.kind = V_DIMB, .loc = e->loc};
        return v;
    }
    Sym *sym = sema_lookup(s, e->str);
    if (sym && sym->is_const && sym->str) {
        Val v = {.kind = V_STR, .str = sym->str, .cname = sym->name, .loc = e->loc};
        return v;
    }
    if (sym && sym->is_const)
        return val_num(sym->num, sym->is_int, e->loc);
    if (sym && sym->node < 0)
        return val_err(); /* its declaration failed and was reported */
    if (sym)
        return val_tensor(sym->node, e->loc);
    if (later_use(s, e->str, e->loc))
        return val_err();
    Val v = {.kind = V_WORD, .str = e->str, .loc = e->loc};
    return v;
}

/* ---- indexing: x[i], x[i:j], x[:, i], x[idx] ------------------------- */
static int slice_axis(Sema *s, int x, int axis, int lo, int hi, Loc loc)
{
    return op1_at(s, OP_SLICE, x, (Attrs){.axis = axis, .lo = lo, .hi = hi}, loc);
}

static int index_bound(Sema *s, const Expr *e, int extent, int dflt, int *out)
{
    double v;
    if (!e) {
        *out = dflt;
        return 1;
    }
    if (!sema_number(s, e, &v))
        return 0;
    if (v != floor(v) || fabs(v) > 1e9) {
        error_at(s->d, e->loc, "an index must be an integer");
        return 0;
    }
    *out = v < 0 ? (int)v + extent : (int)v;
    return 1;
}

static Val gather_list(Sema *s, int x, Val idx, Loc loc)
{
    int id;
    if (idx.kind == V_TENSOR) {
        id = idx.node;
    } else {
        int n = idx.n_items, d0 = n;
        id = graph_add(s->g, OP_CONST, NULL, 0, shape_make(1, &d0), DT_I32, loc);
        Node *c = graph_node(s->g, id);
        c->data = arena_alloc(s->a, (size_t)(n ? n : 1) * sizeof(double));
        for (int i = 0; i < n; i++) {
            Val it = idx.items[i];
            if (it.kind != V_NUM || it.num != floor(it.num)) {
                error_at(s->d, it.loc, "an index list holds integers");
                return val_err();
            }
            c->data[i] = it.num;
        }
        if (n == 0) {
            error_at(s->d, loc, "an index list must not be empty");
            return val_err();
        }
        int rows = graph_node(s->g, x)->shape.d[0];
        for (int i = 0; i < n; i++)
            if (c->data[i] < 0 || c->data[i] >= rows) {
                error_at(s->d, idx.items[i].loc, "index %g is out of range for %d rows", c->data[i], rows);
                return val_err();
            }
    }
    return tensor_or_err(op2(s, OP_GATHER, x, id, loc), loc);
}

static Val index_expr(Sema *s, const Expr *e)
{
    int x = sema_tensor(s, e->lhs);
    if (x < 0)
        return val_err();
    int axis = 0, dropped[NNC_MAX_RANK], n_drop = 0, n_idx = 0;
    Shape whole = graph_node(s->g, x)->shape;
    for (const Expr *it = e->items; it; it = it->next)
        n_idx++;
    for (const Expr *it = e->items; it; it = it->next, axis++) {
        Shape sh = graph_node(s->g, x)->shape;
        int extent = axis < sh.rank ? sh.d[axis] : 0;
        if (axis >= sh.rank) {
            char b[64];
            error_at(s->d, it->loc, "too many indices: %d for a value of shape %s, which has %d ax%s", n_idx,
                     shape_str(whole, b, sizeof b), whole.rank, whole.rank == 1 ? "is" : "es");
            return val_err();
        }
        if (it->kind == EX_SLICE) {
            int lo, hi;
            if (!it->lhs && !it->rhs)
                continue; /* ':' keeps the whole axis */
            if (!index_bound(s, it->lhs, extent, 0, &lo) || !index_bound(s, it->rhs, extent, extent, &hi))
                return val_err();
            x = slice_axis(s, x, axis, lo, hi, it->loc);
        } else {
            Val v = sema_expr(s, it);
            if (v.kind == V_LIST || v.kind == V_TENSOR) {
                if (axis != 0 || e->items->next) {
                    error_at(s->d, it->loc, "an index list selects rows: write x[idx] alone");
                    return val_err();
                }
                return gather_list(s, x, v, it->loc);
            }
            int i;
            if (v.kind != V_NUM || !index_bound(s, it, extent, 0, &i))
                return v.kind == V_NUM || v.kind == V_ERR ? val_err()
                       : (error_at(s->d, it->loc, "an index must be an integer, a slice or a list"), val_err());
            if (extent != DIM_B && (i < 0 || i >= extent)) {
                char b[64];
                error_at(s->d, it->loc, "index %g is out of range for axis %d of %s (%d to %d)", v.num, axis,
                         shape_str(whole, b, sizeof b), -extent, extent - 1);
                return val_err();
            }
            x = slice_axis(s, x, axis, i, i + 1, it->loc);
            dropped[n_drop++] = axis;
        }
        if (x < 0)
            return val_err();
    }
    if (n_drop) { /* integer indices drop their axis: reshape without it */
        Shape sh = graph_node(s->g, x)->shape, to = {0};
        for (int i = 0, k = 0; i < sh.rank; i++) {
            if (k < n_drop && dropped[k] == i) {
                k++;
                continue;
            }
            to.d[to.rank++] = sh.d[i];
        }
        x = op1_at(s, OP_RESHAPE, x, (Attrs){.to = to}, e->loc);
    }
    return tensor_or_err(x, e->loc);
}

/* x.T, and transpose(x) without axes: the axes reversed. */
static Val reversed_axes(Sema *s, int x, Loc loc)
{
    Attrs at = NO_ATTRS;
    int r = graph_node(s->g, x)->shape.rank;
    for (int i = 0; i < r; i++)
        at.perm[i] = r - 1 - i;
    return tensor_or_err(op1_at(s, OP_TRANSPOSE, x, at, loc), loc);
}

static Val dot_t(Sema *s, const Expr *e)
{
    int x = sema_tensor(s, e->lhs);
    return x < 0 ? val_err() : reversed_axes(s, x, e->loc);
}

static Val list_val(Sema *s, const Expr *e)
{
    Val v = {.kind = V_LIST, .loc = e->loc};
    for (const Expr *it = e->items; it; it = it->next)
        v.n_items++;
    v.items = arena_alloc(s->a, (size_t)(v.n_items ? v.n_items : 1) * sizeof *v.items);
    int i = 0;
    for (const Expr *it = e->items; it; it = it->next) {
        v.items[i] = sema_expr(s, it);
        if (NUMERR(v.items[i++]))
            return val_err();
    }
    return v;
}

static Val call_expr(Sema *s, const Expr *e);

Val sema_expr(Sema *s, const Expr *e)
{
    switch (e->kind) {
    case EX_NUM: return val_num(e->num, e->is_int, e->loc);
    case EX_BOOL: { Val v = {.kind = V_BOOL, .num = e->num, .is_int = 1, .loc = e->loc}; return v; }
    case EX_STR: { Val v = {.kind = V_STR, .str = e->str, .loc = e->loc}; return v; }
    case EX_NAME: return name_val(s, e);
    case EX_LIST: return list_val(s, e);
    case EX_NEG: {
        Val v = sema_expr(s, e->lhs);
        if (v.kind == V_NUM)
            return val_num(-v.num, v.is_int, e->loc);
        return NUMERR(v) ? v : tensor_or_err(op1(s, OP_NEG, as_node(s, v), e->loc), e->loc);
    }
    case EX_BINARY: return binary(s, e);
    case EX_CALL: return call_expr(s, e);
    case EX_INDEX: return index_expr(s, e);
    case EX_TRANSPOSE: return dot_t(s, e);
    case EX_SLICE:
        error_at(s->d, e->loc, "a slice a:b may only stand inside x[...]");
        return val_err();
    }
    return val_err();
}

/* ---- builtins: argument checking ----------------------------------------- */

static int builtin_names(int group, const char **names, int cap);

static int param_count(const Builtin *b)
{
    int n = 0;
    while (n < 10 && b->params[n].name)
        n++;
    return n;
}

/* "it takes x, axis, keepdims" for a message. */
static const char *param_list(Sema *s, const Builtin *b)
{
    int np = param_count(b);
    if (np == 0)
        return "it takes none";
    const char *list = "it takes ";
    for (int i = 0; i < np; i++)
        list = arena_printf(s->a, "%s%s%s", list, i ? ", " : "", b->params[i].name);
    return list;
}

static const char *arg_kind_name(ArgKind k)
{
    switch (k) {
    case A_TENSOR: return "a tensor";
    case A_NUM: return "a number";
    case A_INT: return "an integer";
    case A_BOOL: return "true or false";
    case A_STR: return "a string";
    case A_LIST: return "a list";
    case A_AXIS: return "an axis (integer, list of integers, or None)";
    case A_WORD: return "a name";
    case A_INIT: return "an init (zeros, ones, const(v), randn(std=s), uniform(lo=a, hi=b), glorot, he)";
    case A_TENSORS: return "a list of tensors";
    case A_NORM: return "true, false or \"column\"";
    }
    return "?";
}

/* Evaluates one argument and checks its kind against the parameter. */
static Val arg_value(Sema *s, const ParamSpec *p, const Expr *e)
{
    if (p->kind == A_INIT || (p->kind == A_WORD && e->kind == EX_NAME)) {
        if (e->kind == EX_CALL) {
            Val v = {.kind = V_CALL, .call = e, .loc = e->loc};
            return v;
        }
        if (e->kind == EX_NAME) {
            Val v = {.kind = V_WORD, .str = e->str, .loc = e->loc};
            return v;
        }
    }
    Val v = sema_expr(s, e);
    if (NUMERR(v))
        return v;
    int ok = 0;
    switch (p->kind) {
    case A_TENSOR: ok = v.kind == V_TENSOR || v.kind == V_NUM; break;
    case A_NUM: ok = v.kind == V_NUM; break;
    case A_INT: ok = v.kind == V_NUM && v.num == floor(v.num) && fabs(v.num) < 1e9; break;
    case A_BOOL: ok = v.kind == V_BOOL; break;
    case A_STR: ok = v.kind == V_STR; break;
    case A_LIST: ok = v.kind == V_LIST; break;
    case A_AXIS: ok = (v.kind == V_NUM && v.num == floor(v.num)) || v.kind == V_LIST ||
                      (v.kind == V_WORD && strcmp(v.str, "None") == 0); break;
    case A_WORD: ok = v.kind == V_WORD || v.kind == V_STR; break;
    case A_INIT: ok = 0; break;
    case A_TENSORS: ok = v.kind == V_LIST; break;
    case A_NORM: ok = v.kind == V_BOOL || v.kind == V_STR; break;
    }
    if (!ok) {
        if (v.kind == V_WORD)
            sema_undefined(s, v.str, v.loc);
        else if (v.kind == V_NUM)
            error_at(s->d, e->loc, "argument '%s' must be %s, not %g", p->name, arg_kind_name(p->kind), v.num);
        else
            error_at(s->d, e->loc, "argument '%s' must be %s, not %s", p->name, arg_kind_name(p->kind),
                     sema_val_desc(s, v));
        return val_err();
    }
    return v;
}

static Val param_default(const ParamSpec *p, Loc loc)
{
    Val v = {.kind = V_NONE, .loc = loc};
    if (p->word && (p->kind == A_WORD || p->kind == A_STR || p->kind == A_INIT)) {
        v.kind = p->kind == A_STR ? V_STR : V_WORD;
        v.str = p->word;
    } else if (p->kind == A_NUM || p->kind == A_INT) {
        v = val_num(p->num, p->kind == A_INT, loc);
    } else if (p->kind == A_BOOL || p->kind == A_NORM) {
        v.kind = V_BOOL;
        v.num = p->num;
    }
    return v;
}

/* Matches the arguments of `call` to b's parameters (positional in order,
 * then keywords by name) into out[0..nparams). Returns 0 after an error. */
static int match_args(Sema *s, const Builtin *b, const Expr *call, Val *out)
{
    int np = param_count(b), pos = 0, ok = 1;
    int given[10] = {0};
    for (const Arg *a = call->args; a; a = a->next) {
        int k = -1;
        if (!a->name) {
            if (pos >= np) {
                if (np == 0)
                    error_at(s->d, a->value->loc, "%s takes no arguments", b->name);
                else
                    error_at(s->d, a->value->loc, "too many arguments to %s (it takes %d)", b->name, np);
                return 0;
            }
            k = pos++;
        } else {
            for (int i = 0; i < np; i++)
                if (strcmp(b->params[i].name, a->name) == 0)
                    k = i;
            if (k < 0) {
                const char *names[10];
                for (int i = 0; i < np; i++)
                    names[i] = b->params[i].name;
                const char *hint = sema_hint(a->name, names, np);
                if (hint)
                    error_at(s->d, a->name_loc, "%s has no argument '%s'; did you mean '%s'?", b->name, a->name, hint);
                else
                    error_at(s->d, a->name_loc, "%s has no argument '%s' (%s)", b->name, a->name,
                             param_list(s, b));
                ok = 0;
                continue;
            }
            if (given[k]) {
                error_at(s->d, a->name_loc, "argument '%s' of %s is given twice", a->name, b->name);
                ok = 0;
                continue;
            }
        }
        given[k] = 1;
        out[k] = arg_value(s, &b->params[k], a->value);
        if (NUMERR(out[k]))
            ok = 0;
    }
    for (int i = 0; ok && i < np; i++) {
        if (given[i])
            continue;
        if (b->params[i].required) {
            error_at(s->d, call->loc, "%s needs argument '%s' (%s)", b->name, b->params[i].name,
                     arg_kind_name(b->params[i].kind));
            ok = 0;
        } else {
            out[i] = param_default(&b->params[i], call->loc);
        }
    }
    return ok;
}

const char *builtin_group_name(int group)
{
    switch (group) {
    case G_LAYER: return "a layer";
    case G_INIT: return "an init";
    case G_SOURCE: return "a data source";
    case G_OPT: return "an optimizer";
    default: return "a function";
    }
}

static const char *group_place(int group)
{
    switch (group) {
    case G_LAYER: return "it must be the whole value of a named assignment (h = dense(x, 10);)";
    case G_INIT: return "it can only initialize a param (param W: [2, 3] = ...;)";
    case G_SOURCE: return "it can only be train.data or train.test";
    case G_OPT: return "it can only be train.optimizer";
    default: return "it is an expression";
    }
}

/* closest_name allows two edits, which turn any short name into another
 * ('foo' into 'log'): a name under 4 letters is only offered a hint that
 * starts with its letter. */
const char *sema_hint(const char *name, const char *const *cands, int n)
{
    const char *hint = closest_name(name, cands, n);
    if (hint && strlen(name) < 4 && tolower((unsigned char)hint[0]) != tolower((unsigned char)name[0]))
        return NULL;
    return hint;
}

static int sym_order(const void *pa, const void *pb)
{
    const Sym *a = *(const Sym *const *)pa, *b = *(const Sym *const *)pb;
    if (a->loc.line != b->loc.line)
        return a->loc.line - b->loc.line;
    if (a->loc.col != b->loc.col)
        return a->loc.col - b->loc.col;
    return strcmp(a->name, b->name);
}

void sema_undefined(Sema *s, const char *name, Loc loc)
{
    if (later_use(s, name, loc))
        return;
    const Builtin *b = builtin_find(name);
    if (b && (b->group & (G_EXPR | G_LAYER))) {
        error_at(s->d, loc, "'%s' is %s, not a value: call it, as in %s(...)", name, builtin_group_name(b->group), name);
        return;
    }
    if (b) {
        error_at(s->d, loc, "'%s' is %s; %s", name, builtin_group_name(b->group), group_place(b->group));
        return;
    }
    /* the hint: the closest name defined so far, the earliest on a tie */
    const Sym **syms = arena_alloc(s->a, (size_t)(s->n_syms + 1) * sizeof *syms);
    const char **names = arena_alloc(s->a, (size_t)(s->n_syms + 1) * sizeof *names);
    int n = 0;
    for (int i = 0; i < s->cap_syms; i++)
        if (s->syms[i].name)
            syms[n++] = &s->syms[i];
    qsort(syms, (size_t)n, sizeof *syms, sym_order);
    for (int i = 0; i < n; i++)
        names[i] = syms[i]->name;
    const char *hint = sema_hint(name, names, n);
    if (hint)
        error_at(s->d, loc, "undefined name '%s'; did you mean '%s'?", name, hint);
    else
        error_at(s->d, loc, "undefined name '%s'", name);
}

int sema_call_args(Sema *s, const Expr *call, int group, Val *out)
{
    const Builtin *b = builtin_find(call->str);
    if (!b) {
        const char *names[128];
        int n = builtin_names(group, names, 128);
        const char *hint = sema_hint(call->str, names, n);
        if (hint)
            error_at(s->d, call->loc, "unknown function '%s'; did you mean '%s'?", call->str, hint);
        else
            error_at(s->d, call->loc, "unknown function '%s'", call->str);
        return 0;
    }
    if (!(b->group & group)) {
        error_at(s->d, call->loc, "'%s' is %s; %s", b->name, builtin_group_name(b->group), group_place(b->group));
        return 0;
    }
    return match_args(s, b, call, out);
}

static Val call_expr(Sema *s, const Expr *e)
{
    Val args[10];
    int group = G_EXPR | (s->assign_name ? G_LAYER : 0);
    /* a layer must be the whole value of an assignment: its arguments see none */
    const char *owner = s->assign_name;
    s->assign_name = NULL;
    if (!sema_call_args(s, e, group, args))
        return val_err();
    s->assign_name = owner;
    const Builtin *b = builtin_find(e->str);
    NNC_ASSERT(b != NULL, "a checked call names a builtin");
    Val v = b->lower(s, b, e, args);
    s->assign_name = NULL;
    return v;
}

/* ---- builtins: lowering ------------------------------------------------- */

static int arg_node(Sema *s, Val v) { return as_node(s, v); }

/* The node of an elementwise builtin b on x, its number parameters after
 * x as the node's constants c[0], c[1] (leaky_relu's slope, elu's alpha,
 * clip's lo and hi): the values given (a), or their defaults (a NULL). */
static int ew_call(Sema *s, const Builtin *b, int x, const Val *a, Loc loc)
{
    Attrs at = NO_ATTRS;
    for (int k = 1; k <= 2 && b->params[k].name; k++)
        at.c[k - 1] = a ? a[k].num : b->params[k].num;
    return op1_at(s, (Op)b->op, x, at, loc);
}

/* An elementwise builtin. */
static Val lower_unary(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    int id = ew_call(s, b, arg_node(s, a[0]), a, e->loc);
    if (id >= 0 && b->op == OP_CLIP && a[1].num > a[2].num) {
        error_at(s->d, e->loc, "clip needs lo <= hi (got %g > %g)", a[1].num, a[2].num);
        return val_err();
    }
    return tensor_or_err(id, e->loc);
}

/* An activation: an elementwise builtin that act= also names (dense,
 * mlp), with its parameters' defaults there. */
static Val lower_act(Sema *s, const Builtin *b, const Expr *e, Val *a) { return lower_unary(s, b, e, a); }

/* The axis argument as a bit set over a value of rank r: None = all. */
static int axes_of(Sema *s, Val v, int rank, unsigned *axes)
{
    *axes = 0;
    if (v.kind == V_WORD || v.kind == V_NONE) {
        *axes = (1u << rank) - 1;
        return 1;
    }
    int n = v.kind == V_LIST ? v.n_items : 1;
    for (int i = 0; i < n; i++) {
        Val it = v.kind == V_LIST ? v.items[i] : v;
        int ax = (int)it.num;
        if (it.kind != V_NUM || it.num != floor(it.num) || ax < -rank || ax >= rank) {
            error_at(s->d, it.loc, "axis %g is out of range for a value with %d axes", it.num, rank);
            return 0;
        }
        ax = ax < 0 ? ax + rank : ax;
        if (*axes >> ax & 1u) {
            error_at(s->d, it.loc, "axis %d is named twice", ax);
            return 0;
        }
        *axes |= 1u << ax;
    }
    return 1;
}

static int reduce(Sema *s, Op op, int x, unsigned axes, int keepdims, Loc loc)
{
    return op1_at(s, op, x, (Attrs){.axes = axes, .keepdims = keepdims}, loc);
}

/* The number of elements a reduction over `axes` averages: a CONST, times
 * the ROWS node when the batch axis is among them. */
static int count_node(Sema *s, Shape sh, unsigned axes, Loc loc)
{
    double count = 1;
    int has_b = 0;
    for (int i = 0; i < sh.rank; i++)
        if (axes >> i & 1u) {
            if (sh.d[i] == DIM_B)
                has_b = 1;
            else
                count *= sh.d[i];
        }
    int c = sema_scalar_const(s, count, loc);
    if (!has_b)
        return c;
    int rows = graph_add(s->g, OP_ROWS, NULL, 0, shape_scalar(), DT_F32, loc);
    return count == 1 ? rows : op2(s, OP_MUL, rows, c, loc);
}

static Val lower_reduce(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    int x = arg_node(s, a[0]);
    unsigned axes;
    if (x < 0 || !axes_of(s, a[1], graph_node(s->g, x)->shape.rank, &axes))
        return val_err();
    int is_mean = strcmp(b->name, "mean") == 0;
    int id = reduce(s, is_mean ? OP_SUM : (Op)b->op, x, axes, (int)a[2].num, e->loc);
    if (id >= 0 && is_mean)
        id = op2(s, OP_DIV, id, count_node(s, graph_node(s->g, x)->shape, axes, e->loc), e->loc);
    return tensor_or_err(id, e->loc);
}

/* A shape written as a list of integers and B. */
static int shape_of_list(Sema *s, Val v, Shape *out)
{
    if (v.n_items > NNC_MAX_RANK) {
        error_at(s->d, v.loc, "at most %d axes", NNC_MAX_RANK);
        return 0;
    }
    out->rank = v.n_items;
    for (int i = 0; i < v.n_items; i++) {
        Val it = v.items[i];
        if (it.kind == V_DIMB && i == 0) {
            out->d[i] = DIM_B;
        } else if (it.kind == V_NUM && it.num == floor(it.num) && it.num >= 1 && it.num <= 1e8) {
            out->d[i] = (int)it.num;
        } else {
            error_at(s->d, it.loc, it.kind == V_DIMB ? "B may only be the first axis"
                                                     : "a dimension must be a positive integer or B");
            return 0;
        }
    }
    return 1;
}

static Val lower_shape_op(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    int x = arg_node(s, a[0]);
    Shape to;
    if (x < 0 || !shape_of_list(s, a[1], &to))
        return val_err();
    return tensor_or_err(op1_at(s, (Op)b->op, x, (Attrs){.to = to}, e->loc), e->loc);
}

static Val lower_flatten(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int x = arg_node(s, a[0]);
    if (x < 0)
        return val_err();
    Shape sh = graph_node(s->g, x)->shape, to;
    int has_b = sh.rank && sh.d[0] == DIM_B;
    to.rank = has_b ? 2 : 1;
    to.d[0] = has_b ? DIM_B : (int)shape_row_numel(sh);
    to.d[1] = (int)shape_row_numel(sh);
    return tensor_or_err(op1_at(s, OP_RESHAPE, x, (Attrs){.to = to}, e->loc), e->loc);
}

static Val lower_transpose(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int x = arg_node(s, a[0]);
    if (x < 0)
        return val_err();
    int r = graph_node(s->g, x)->shape.rank, seen = 0;
    if (a[1].kind != V_LIST)
        return reversed_axes(s, x, e->loc);
    if (a[1].n_items != r) {
        error_at(s->d, a[1].loc, "transpose axes must name each of the %d axes once", r);
        return val_err();
    }
    Attrs at = NO_ATTRS;
    for (int i = 0; i < r; i++) {
        int ax = (int)a[1].items[i].num;
        if (a[1].items[i].kind != V_NUM || ax < 0 || ax >= r || (seen >> ax & 1)) {
            error_at(s->d, a[1].items[i].loc, "transpose axes must name each of the %d axes once", r);
            return val_err();
        }
        seen |= 1 << ax;
        at.perm[i] = ax;
    }
    return tensor_or_err(op1_at(s, OP_TRANSPOSE, x, at, e->loc), e->loc);
}

static Val lower_concat(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int ins[64], n = a[0].n_items;
    if (n < 1 || n > 64) {
        error_at(s->d, a[0].loc, "concat takes a list of 1 to 64 tensors");
        return val_err();
    }
    for (int i = 0; i < n; i++)
        if ((ins[i] = as_node(s, a[0].items[i])) < 0)
            return val_err();
    int rank = graph_node(s->g, ins[0])->shape.rank, axis = (int)a[1].num;
    if (axis < -rank || axis >= rank) {
        error_at(s->d, a[1].loc, "concat axis %d is out of range for %d axes", axis, rank);
        return val_err();
    }
    int id = graph_op(s->g, s->d, OP_CONCAT, ins, n, e->loc, (Attrs){.axis = axis < 0 ? axis + rank : axis});
    return tensor_or_err(id, e->loc);
}

static Val lower_linear(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int y = op2(s, OP_MATMUL, arg_node(s, a[0]), arg_node(s, a[1]), e->loc);
    if (a[2].kind != V_NONE)
        y = op2(s, OP_ADD, y, arg_node(s, a[2]), e->loc);
    return tensor_or_err(y, e->loc);
}

/* ---- images: conv2d, pooling ------------------------------------------------ */

/* y + b with b [Cout] seen as [Cout, 1, 1]: repeated over B, H and W, so
 * its gradient is the sum of dy over them (Repeat ↔ Sum). */
static int conv_bias(Sema *s, int y, int b, Loc loc)
{
    if (y < 0 || b < 0)
        return -1;
    Shape ys = graph_node(s->g, y)->shape, bs = graph_node(s->g, b)->shape;
    if (bs.rank != 1 || bs.d[0] != ys.d[1]) {
        char b1[64], b2[64];
        error_at(s->d, loc, "conv2d: the bias b %s does not fit the %d filters of the result %s; it needs [%d]",
                 shape_str(bs, b1, sizeof b1), ys.d[1], shape_str(ys, b2, sizeof b2), ys.d[1]);
        return -1;
    }
    int d[3] = {ys.d[1], 1, 1};
    return op2(s, OP_ADD, y, op1_at(s, OP_RESHAPE, b, (Attrs){.to = shape_make(3, d)}, loc), loc);
}

static int conv_node(Sema *s, int x, int w, int stride, int pad, Loc loc)
{
    int in[2] = {x, w};
    return x < 0 || w < 0 ? -1 : graph_op(s->g, s->d, OP_CONV2D, in, 2, loc, (Attrs){.stride = stride, .pad = pad});
}

/* conv2d(x, W, b, stride=1, pad=0) */
static Val lower_conv2d(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int y = conv_node(s, arg_node(s, a[0]), arg_node(s, a[1]), (int)a[3].num, (int)a[4].num, e->loc);
    if (a[2].kind != V_NONE)
        y = conv_bias(s, y, arg_node(s, a[2]), e->loc);
    return tensor_or_err(y, e->loc);
}

/* max_pool(x, size=2, stride=size, pad=0), avg_pool(...) */
static Val lower_pool(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    int size = (int)a[1].num, stride = isnan(a[2].num) ? size : (int)a[2].num;
    Attrs at = {.size = size, .stride = stride, .pad = (int)a[3].num};
    return tensor_or_err(op1_at(s, (Op)b->op, arg_node(s, a[0]), at, e->loc), e->loc);
}

static int softmax_node(Sema *s, Op op, int x, int axis, Loc loc)
{
    if (x < 0)
        return -1;
    int rank = graph_node(s->g, x)->shape.rank;
    return op1_at(s, op, x, (Attrs){.axis = axis < 0 ? axis + rank : axis}, loc);
}

static Val lower_softmax(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    return tensor_or_err(softmax_node(s, (Op)b->op, arg_node(s, a[0]), (int)a[1].num, e->loc), e->loc);
}

static int dropout_node(Sema *s, int x, double keep, Loc loc)
{
    if (x < 0 || keep >= 1)
        return x;
    int m = graph_add(s->g, OP_DROPMASK, NULL, 0, graph_node(s->g, x)->shape, DT_F32, loc);
    graph_node(s->g, m)->c[0] = keep;
    return op2(s, OP_MUL, x, m, loc);
}

static Val lower_dropout(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    if (a[1].num <= 0 || a[1].num > 1) {
        error_at(s->d, a[1].loc, "dropout keep must be in (0, 1]; got %g", a[1].num);
        return val_err();
    }
    return tensor_or_err(dropout_node(s, arg_node(s, a[0]), a[1].num, e->loc), e->loc);
}

/* Loss and metric ops that take (scores, labels) directly. */
static Val lower_pair(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    int id = op2(s, (Op)b->op, arg_node(s, a[0]), arg_node(s, a[1]), e->loc);
    return tensor_or_err(id, e->loc);
}

/* Σ over every axis of v, divided by the rows: "mean over rows". */
static int sum_per_row(Sema *s, int v, Loc loc)
{
    if (v < 0)
        return -1;
    Shape sh = graph_node(s->g, v)->shape;
    int total = reduce(s, OP_SUM, v, (1u << sh.rank) - 1, 0, loc);
    if (sh.rank == 0)
        return total;
    return op2(s, OP_DIV, total, count_node(s, sh, 1u, loc), loc);
}

static int same_shape(Sema *s, int y, int t, const char *fn, Loc loc)
{
    if (y < 0 || t < 0)
        return 0;
    Node *ny = graph_node(s->g, y), *nt = graph_node(s->g, t);
    if (shape_eq(ny->shape, nt->shape) && nt->dtype == DT_F32)
        return 1;
    char b1[64], b2[64];
    error_at(s->d, loc, "%s needs predictions and targets of one shape, in f32; got %s and %s%s", fn,
             shape_str(ny->shape, b1, sizeof b1), dtype_name(nt->dtype), shape_str(nt->shape, b2, sizeof b2));
    return 0;
}

/* mse = 1/n Σ (y-t)²;  sse = 1/n Σ ½(y-t)²  (n rows; Σ over all elements) */
static Val lower_squares(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    int y = arg_node(s, a[0]), t = arg_node(s, a[1]);
    if (!same_shape(s, y, t, b->name, e->loc))
        return val_err();
    int d = op2(s, OP_SUB, y, t, e->loc);
    int sq = op2(s, OP_MUL, d, d, e->loc);
    if (strcmp(b->name, "sse") == 0)
        sq = op2(s, OP_MUL, sq, sema_scalar_const(s, 0.5, e->loc), e->loc);
    return tensor_or_err(sum_per_row(s, sq, e->loc), e->loc);
}

/* bce = -1/n Σ t·log p + (1-t)·log(1-p), with p clipped to [1e-7, 1-1e-7]
 * so a saturated sigmoid gives a large finite loss, not log 0. */
static Val lower_bce(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    int p = arg_node(s, a[0]), t = arg_node(s, a[1]);
    Loc l = e->loc;
    if (!same_shape(s, p, t, b->name, l))
        return val_err();
    int pc = op1_at(s, OP_CLIP, p, (Attrs){.c = {1e-7, 1 - 1e-7}}, l);
    int one = sema_scalar_const(s, 1, l);
    int pos = op2(s, OP_MUL, t, op1(s, OP_LOG, pc, l), l);
    int neg = op2(s, OP_MUL, op2(s, OP_SUB, one, t, l), op1(s, OP_LOG, op2(s, OP_SUB, one, pc, l), l), l);
    int sum = op1(s, OP_NEG, op2(s, OP_ADD, pos, neg, l), l);
    return tensor_or_err(sum_per_row(s, sum, l), l);
}

/* ---- params and their inits (declared, or made by a layer) ------------ */

static int init_of(Sema *s, Val v, Node *p, int fan_in, int fan_out)
{
    static const char *const words[] = {"zeros", "ones", "glorot", "he", "const", "randn", "uniform"};
    const char *name = v.kind == V_WORD ? v.str : v.kind == V_CALL ? v.call->str : NULL;
    if (!name) {
        if (v.kind == V_NUM)
            error_at(s->d, v.loc, "a param's init is a name or a call; write const(%g) to fill it with %g", v.num, v.num);
        else if (v.kind != V_ERR)
            error_at(s->d, v.loc, "a param's init is one of zeros, ones, const(v), randn(std=s), uniform(lo=a, hi=b), glorot, he");
        return 0;
    }
    const Builtin *b = builtin_find(name);
    if (b && b->group != G_INIT) {
        error_at(s->d, v.loc, "'%s' is %s, not an init: use zeros, ones, const(v), randn(std=s), uniform(lo=a, hi=b), glorot or he",
                 name, builtin_group_name(b->group));
        return 0;
    }
    if (!b) {
        const char *hint = sema_hint(name, words, 7);
        error_at(s->d, v.loc, "unknown init '%s'%s%s%s", name, hint ? "; did you mean '" : "", hint ? hint : "",
                 hint ? "'?" : "");
        return 0;
    }
    Val args[10];
    if (v.kind == V_CALL && !sema_call_args(s, v.call, G_INIT, args))
        return 0;
    if (v.kind == V_WORD && b->params[0].name && b->params[0].required) {
        error_at(s->d, v.loc, "init '%s' needs an argument: %s(%s=...)", name, name, b->params[0].name);
        return 0;
    }
    if (v.kind == V_WORD && b->params[0].name)
        args[0].num = b->params[0].num; /* randn alone: its default std */
    if (strcmp(name, "zeros") == 0) p->init = INIT_ZEROS;
    else if (strcmp(name, "ones") == 0) p->init = INIT_ONES;
    else if (strcmp(name, "const") == 0) { p->init = INIT_CONST; p->c[0] = args[0].num; }
    else if (strcmp(name, "randn") == 0) { p->init = INIT_RANDN; p->c[0] = args[0].num; }
    else if (strcmp(name, "uniform") == 0) { p->init = INIT_UNIFORM; p->c[0] = args[0].num; p->c[1] = args[1].num; }
    else if (strcmp(name, "glorot") == 0) { p->init = INIT_GLOROT; p->c[0] = sqrt(2.0 / (fan_in + fan_out)); }
    else { p->init = INIT_HE; p->c[0] = sqrt(2.0 / fan_in); }
    if ((p->init == INIT_RANDN && p->c[0] < 0) || (p->init == INIT_UNIFORM && p->c[0] > p->c[1])) {
        if (p->init == INIT_RANDN)
            error_at(s->d, v.loc, "randn needs std >= 0; got %g", p->c[0]);
        else
            error_at(s->d, v.loc, "uniform needs lo <= hi; got lo=%g, hi=%g", p->c[0], p->c[1]);
        return 0;
    }
    return 1;
}

int sema_fits(Sema *s, const char *kind, const char *name, Shape sh, Loc loc)
{
    long long cnt = shape_count(sh, 1);
    if (cnt >= 0 && cnt <= NNC_MAX_STATIC_BYTES / 4)
        return 1;
    char b[64], bytes[32];
    int has_b = sh.rank && sh.d[0] == DIM_B;
    if (cnt < 0)
        snprintf(bytes, sizeof bytes, "over 2^64");
    else if (cnt > LLONG_MAX / 4)
        snprintf(bytes, sizeof bytes, "over 2^63");
    else
        snprintf(bytes, sizeof bytes, "%lld", cnt * 4);
    error_at(s->d, loc, "%s '%s' %s takes %s bytes%s, more than the %lld bytes of static storage a model may take; "
             "use smaller %s", kind, name, shape_str(sh, b, sizeof b), bytes, has_b ? " a row" : "",
             NNC_MAX_STATIC_BYTES, strcmp(kind, "param") == 0 ? "layers" : "rows");
    return 0;
}

int sema_make_param(Sema *s, const char *name, int rank, const int *d, Val init, int fan_in, int fan_out, Loc loc)
{
    Sym *sym = sema_define(s, name, loc, NULL);
    if (!sym || !sema_fits(s, "param", name, shape_make(rank, d), loc))
        return -1;
    int id = graph_add(s->g, OP_PARAM, NULL, 0, shape_make(rank, d), DT_F32, loc);
    graph_node(s->g, id)->name = name;
    if (init.kind != V_NONE && !init_of(s, init, graph_node(s->g, id), fan_in, fan_out))
        return -1;
    if (init.kind == V_NONE) { /* a layer's default: randn(std=0.01) */
        graph_node(s->g, id)->init = INIT_RANDN;
        graph_node(s->g, id)->c[0] = 0.01;
    }
    sym->node = id;
    return id;
}

/* ---- layers ------------------------------------------------------------ */

static int activation_names(const char **names, int max);

static int activation(Sema *s, int x, Val act, Loc loc)
{
    const char *w = act.kind == V_WORD || act.kind == V_STR ? act.str : "none";
    if (strcmp(w, "none") == 0 || strcmp(w, "linear") == 0)
        return x;
    if (strcmp(w, "softmax") == 0)
        return softmax_node(s, OP_SOFTMAX, x, -1, loc);
    const Builtin *b = builtin_find(w);
    if (b && b->lower == lower_act)
        return ew_call(s, b, x, NULL, loc);
    const char *acts[32] = {"none", "linear"};
    int n = 2 + activation_names(acts + 2, 29);
    acts[n++] = "softmax";
    char list[512] = "";
    for (int k = 0; k < n; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? " " : "", acts[k]);
    const char *hint = sema_hint(w, acts, n);
    if (hint)
        error_at(s->d, act.loc, "unknown activation '%s'; did you mean '%s'?", w, hint);
    else
        error_at(s->d, act.loc, "unknown activation '%s' (one of %s)", w, list);
    return -1;
}

/* One dense layer named `prefix`: act(x @ prefix.W + prefix.b). */
static int dense_layer(Sema *s, const char *prefix, int x, int units, Val act, Val init, int bias, Loc loc)
{
    if (x < 0)
        return -1;
    Shape sh = graph_node(s->g, x)->shape;
    if (sh.rank != 2) {
        char b[64];
        error_at(s->d, loc, "a dense layer needs [rows, features]; got %s (flatten it first)", shape_str(sh, b, sizeof b));
        return -1;
    }
    int wd[2] = {sh.d[1], units};
    int W = sema_make_param(s, arena_printf(s->a, "%s.W", prefix), 2, wd, init, sh.d[1], units, loc);
    int y = op2(s, OP_MATMUL, x, W, loc);
    if (bias) {
        Val zeros = {.kind = V_WORD, .str = "zeros", .loc = loc};
        int bv = sema_make_param(s, arena_printf(s->a, "%s.b", prefix), 1, &units, zeros, sh.d[1], units, loc);
        y = op2(s, OP_ADD, y, bv, loc);
    }
    return activation(s, y, act, loc);
}

static Val lower_dense(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int units = (int)a[1].num;
    if (units < 1) {
        error_at(s->d, a[1].loc, "a layer needs at least 1 unit; got %d", units);
        return val_err();
    }
    if (a[5].num <= 0 || a[5].num > 1) {
        error_at(s->d, a[5].loc, "dense keep must be in (0, 1]; got %g", a[5].num);
        return val_err();
    }
    int y = dense_layer(s, s->assign_name, arg_node(s, a[0]), units, a[2], a[3], (int)a[4].num, e->loc);
    return tensor_or_err(dropout_node(s, y, a[5].num, e->loc), e->loc);
}

/* h = conv(x, filters, kernel=3, stride=1, pad=0, act=none, init=he, bias=true):
 * act(conv2d(x, h.W, h.b)), h.W [filters, Cin, kernel, kernel] with fan-in
 * Cin·kernel² (PyTorch's), h.b [filters] zeros. */
static Val lower_conv(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int x = arg_node(s, a[0]), filters = (int)a[1].num, k = (int)a[2].num;
    if (x < 0)
        return val_err();
    Shape sh = graph_node(s->g, x)->shape;
    char b1[64];
    if (sh.rank != 4) {
        error_at(s->d, e->loc, "a conv layer needs images [B, C, H, W]; got %s", shape_str(sh, b1, sizeof b1));
        return val_err();
    }
    if (filters < 1 || filters > 1e8 || k < 1 || k > 1e8) {
        error_at(s->d, filters < 1 || filters > 1e8 ? a[1].loc : a[2].loc,
                 "a conv layer needs filters >= 1 and kernel >= 1; got filters=%d, kernel=%d", filters, k);
        return val_err();
    }
    long long fan_in = (long long)sh.d[1] * k * k, fan_out = (long long)filters * k * k;
    if (fan_in > INT_MAX || fan_out > INT_MAX) {
        error_at(s->d, e->loc, "a conv layer of %d filters %d×%d over %d channels is too large", filters, k, k,
                 sh.d[1]);
        return val_err();
    }
    int wd[4] = {filters, sh.d[1], k, k};
    int W = sema_make_param(s, arena_printf(s->a, "%s.W", s->assign_name), 4, wd, a[6], (int)fan_in, (int)fan_out,
                            e->loc);
    int y = conv_node(s, x, W, (int)a[3].num, (int)a[4].num, e->loc);
    if (a[7].num && y >= 0) {
        Val zeros = {.kind = V_WORD, .str = "zeros", .loc = e->loc};
        int bv = sema_make_param(s, arena_printf(s->a, "%s.b", s->assign_name), 1, &filters, zeros, (int)fan_in,
                                 filters, e->loc);
        y = conv_bias(s, y, bv, e->loc);
    }
    return tensor_or_err(y < 0 ? -1 : activation(s, y, a[5], e->loc), e->loc);
}

/* h.mean or h.var: running statistics [F], persistent and not trained,
 * starting at zeros (mean) or ones (var). */
static int running_stat(Sema *s, const char *slot, int features, InitKind init, Loc loc)
{
    const char *name = arena_printf(s->a, "%s.%s", s->assign_name, slot);
    Sym *sym = sema_define(s, name, loc, NULL);
    Shape sh = shape_make(1, &features);
    if (!sym || !sema_fits(s, "running statistic", name, sh, loc))
        return -1;
    int id = graph_add(s->g, OP_STATE, NULL, 0, sh, DT_F32, loc);
    Node *n = graph_node(s->g, id);
    n->name = name;
    n->slot = slot;
    n->init = init;
    sym->node = id;
    return id;
}

/* h = batchnorm(x, momentum=0.1, eps=1e-5): per feature f (axis 1 of
 * [B, F] or [B, C, H, W]),
 *   h.stats = batchnorm_stats(x, h.mean, h.var)   μ, σ² of the batch (train) or the running ones (eval)
 *   h.xhat  = (x - μ)/√(σ² + ε)
 *   h       = h.xhat·h.gamma + h.beta             γ ones, β zeros, [F] seen as [F, 1, 1] for images
 * and, at each update, h.mean and h.var move towards the batch's μ and
 * unbiased σ² by momentum. */
static Val lower_batchnorm(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int x = arg_node(s, a[0]);
    double momentum = a[1].num, eps = a[2].num;
    if (x < 0)
        return val_err();
    if (!(momentum >= 0 && momentum <= 1)) {
        error_at(s->d, a[1].loc, "batchnorm momentum must be in [0, 1]; got %g", momentum);
        return val_err();
    }
    if (!(eps > 0 && eps < 1e30)) {
        error_at(s->d, a[2].loc, "batchnorm eps must be a positive number; got %g", eps);
        return val_err();
    }
    Shape sh = graph_node(s->g, x)->shape;
    char b1[64];
    if ((sh.rank != 2 && sh.rank != 4) || sh.d[0] != DIM_B) {
        error_at(s->d, e->loc, "batchnorm normalizes each feature of [B, F] or each channel of [B, C, H, W] over "
                               "the batch's rows; got x %s (reshape or flatten it to one of these)",
                 shape_str(sh, b1, sizeof b1));
        return val_err();
    }
    int f = sh.d[1];
    Val ones = {.kind = V_WORD, .str = "ones", .loc = e->loc}, zeros = {.kind = V_WORD, .str = "zeros", .loc = e->loc};
    int gamma = sema_make_param(s, arena_printf(s->a, "%s.gamma", s->assign_name), 1, &f, ones, f, f, e->loc);
    int beta = sema_make_param(s, arena_printf(s->a, "%s.beta", s->assign_name), 1, &f, zeros, f, f, e->loc);
    int mean = running_stat(s, "mean", f, INIT_ZEROS, e->loc), var = running_stat(s, "var", f, INIT_ONES, e->loc);
    if (gamma < 0 || beta < 0 || mean < 0 || var < 0)
        return val_err();
    int in[3] = {x, mean, var};
    int st = graph_op(s->g, s->d, OP_BN_STATS, in, 3, e->loc, (Attrs){.c = {momentum}});
    if (st < 0)
        return val_err();
    graph_node(s->g, st)->name = arena_printf(s->a, "%s.stats", s->assign_name);
    int in2[2] = {x, st};
    int xh = graph_op(s->g, s->d, OP_BN_NORM, in2, 2, e->loc, (Attrs){.c = {eps}});
    if (xh < 0)
        return val_err();
    graph_node(s->g, xh)->name = arena_printf(s->a, "%s.xhat", s->assign_name);
    int d[3] = {f, 1, 1}; /* images: one γ and β per channel, repeated over H and W */
    if (sh.rank == 4) {
        gamma = op1_at(s, OP_RESHAPE, gamma, (Attrs){.to = shape_make(3, d)}, e->loc);
        beta = op1_at(s, OP_RESHAPE, beta, (Attrs){.to = shape_make(3, d)}, e->loc);
    }
    return tensor_or_err(op2(s, OP_ADD, op2(s, OP_MUL, xh, gamma, e->loc), beta, e->loc), e->loc);
}

static Val lower_mlp(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)b;
    int x = arg_node(s, a[0]);
    Val sizes = a[1];
    if (sizes.n_items < 1) {
        error_at(s->d, sizes.loc, "mlp needs at least one layer size");
        return val_err();
    }
    Val none = {.kind = V_WORD, .str = "none", .loc = e->loc};
    for (int i = 0; i < sizes.n_items && x >= 0; i++) {
        Val it = sizes.items[i];
        if (it.kind == V_WORD) {
            sema_undefined(s, it.str, it.loc);
            return val_err();
        }
        if (it.kind != V_NUM || it.num != floor(it.num) || it.num < 1 || it.num > 1e8) {
            if (it.kind == V_NUM)
                error_at(s->d, it.loc, "a layer size must be a positive integer; got %g", it.num);
            else
                error_at(s->d, it.loc, "a layer size must be a positive integer, not %s", sema_val_desc(s, it));
            return val_err();
        }
        const char *prefix = arena_printf(s->a, "%s.l%d", s->assign_name, i);
        int last = i == sizes.n_items - 1;
        x = dense_layer(s, prefix, x, (int)it.num, last ? none : a[2], a[3], 1, e->loc);
    }
    return tensor_or_err(x, e->loc);
}

/* Calls that are not expressions are checked by their consumers (inits by
 * init_of above, sources and optimizers by sema_train.c); standing in an
 * expression they are refused in sema_call_args before lower is reached. */
static Val lower_refused(Sema *s, const Builtin *b, const Expr *e, Val *a)
{
    (void)a;
    error_at(s->d, e->loc, "'%s' is %s; %s", b->name, builtin_group_name(b->group), group_place(b->group));
    return val_err();
}

/* ---- the table ------------------------------------------------------------ */
#define T(n) {n, A_TENSOR, 1, 0, NULL}
#define TRANSFORMS {"scale", A_NUM, 0, 1, NULL}, {"normalize", A_NORM, 0, 0, NULL}, \
                   {"flatten", A_BOOL, 0, 0, NULL}, {"one_hot", A_INT, 0, 0, NULL}
#define SCHEDULE {"decay", A_STR, 0, 0, "none"}, {"final_lr", A_NUM, 0, NAN, NULL} /* NaN: not given */

static const Builtin builtins[] = {
    /* elementwise */
    {"exp", G_EXPR, OP_EXP, lower_unary, {T("x")}},
    {"log", G_EXPR, OP_LOG, lower_unary, {T("x")}},
    {"sqrt", G_EXPR, OP_SQRT, lower_unary, {T("x")}},
    {"sin", G_EXPR, OP_SIN, lower_unary, {T("x")}},
    {"cos", G_EXPR, OP_COS, lower_unary, {T("x")}},
    {"abs", G_EXPR, OP_ABS, lower_unary, {T("x")}},
    {"sigmoid", G_EXPR, OP_SIGMOID, lower_act, {T("x")}},
    {"tanh", G_EXPR, OP_TANH, lower_act, {T("x")}},
    {"relu", G_EXPR, OP_RELU, lower_act, {T("x")}},
    {"leaky_relu", G_EXPR, OP_LEAKY_RELU, lower_act, {T("x"), {"slope", A_NUM, 0, 0.2, NULL}}},
    {"softplus", G_EXPR, OP_SOFTPLUS, lower_act, {T("x")}},
    {"elu", G_EXPR, OP_ELU, lower_act, {T("x"), {"alpha", A_NUM, 0, 1.0, NULL}}},
    {"silu", G_EXPR, OP_SILU, lower_act, {T("x")}},
    {"gelu", G_EXPR, OP_GELU, lower_act, {T("x")}},
    {"clip", G_EXPR, OP_CLIP, lower_unary, {T("x"), {"lo", A_NUM, 1, 0, NULL}, {"hi", A_NUM, 1, 0, NULL}}},
    /* reductions */
    {"sum", G_EXPR, OP_SUM, lower_reduce, {T("x"), {"axis", A_AXIS, 0, 0, NULL}, {"keepdims", A_BOOL, 0, 0, NULL}}},
    {"mean", G_EXPR, OP_SUM, lower_reduce, {T("x"), {"axis", A_AXIS, 0, 0, NULL}, {"keepdims", A_BOOL, 0, 0, NULL}}},
    {"max", G_EXPR, OP_MAX, lower_reduce, {T("x"), {"axis", A_AXIS, 0, 0, NULL}, {"keepdims", A_BOOL, 0, 0, NULL}}},
    {"min", G_EXPR, OP_MIN, lower_reduce, {T("x"), {"axis", A_AXIS, 0, 0, NULL}, {"keepdims", A_BOOL, 0, 0, NULL}}},
    /* shapes */
    {"reshape", G_EXPR, OP_RESHAPE, lower_shape_op, {T("x"), {"shape", A_LIST, 1, 0, NULL}}},
    {"transpose", G_EXPR, OP_TRANSPOSE, lower_transpose, {T("x"), {"axes", A_AXIS, 0, 0, "None"}}},
    {"flatten", G_EXPR, OP_RESHAPE, lower_flatten, {T("x")}},
    {"broadcast_to", G_EXPR, OP_BROADCAST_TO, lower_shape_op, {T("x"), {"shape", A_LIST, 1, 0, NULL}}},
    {"sum_to", G_EXPR, OP_SUM_TO, lower_shape_op, {T("x"), {"shape", A_LIST, 1, 0, NULL}}},
    {"concat", G_EXPR, OP_CONCAT, lower_concat, {{"xs", A_TENSORS, 1, 0, NULL}, {"axis", A_INT, 0, 0, NULL}}},
    /* nn */
    {"linear", G_EXPR, -1, lower_linear, {T("x"), T("W"), {"b", A_TENSOR, 0, 0, NULL}}},
    {"softmax", G_EXPR, OP_SOFTMAX, lower_softmax, {T("x"), {"axis", A_INT, 0, -1, NULL}}},
    {"log_softmax", G_EXPR, OP_LOG_SOFTMAX, lower_softmax, {T("x"), {"axis", A_INT, 0, -1, NULL}}},
    {"dropout", G_EXPR, -1, lower_dropout, {T("x"), {"keep", A_NUM, 0, 0.8, NULL}}},
    {"conv2d", G_EXPR, OP_CONV2D, lower_conv2d,
     {T("x"), T("W"), {"b", A_TENSOR, 0, 0, NULL}, {"stride", A_INT, 0, 1, NULL}, {"pad", A_INT, 0, 0, NULL}}},
    {"max_pool", G_EXPR, OP_MAX_POOL, lower_pool,
     {T("x"), {"size", A_INT, 0, 2, NULL}, {"stride", A_INT, 0, NAN, NULL}, {"pad", A_INT, 0, 0, NULL}}},
    {"avg_pool", G_EXPR, OP_AVG_POOL, lower_pool,
     {T("x"), {"size", A_INT, 0, 2, NULL}, {"stride", A_INT, 0, NAN, NULL}, {"pad", A_INT, 0, 0, NULL}}},
    /* losses and metrics */
    {"softmax_cross_entropy", G_EXPR, OP_SOFTMAX_CE, lower_pair, {T("y"), T("t")}},
    {"nll", G_EXPR, OP_NLL, lower_pair, {T("logp"), T("t")}},
    {"sigmoid_cross_entropy", G_EXPR, OP_SIGMOID_CE, lower_pair, {T("y"), T("t")}},
    {"mse", G_EXPR, -1, lower_squares, {T("y"), T("t")}},
    {"sse", G_EXPR, -1, lower_squares, {T("y"), T("t")}},
    {"bce", G_EXPR, -1, lower_bce, {T("p"), T("t")}},
    {"accuracy", G_EXPR, OP_ACCURACY, lower_pair, {T("y"), T("t")}},
    /* layers */
    {"dense", G_LAYER, -1, lower_dense,
     {T("x"), {"n", A_INT, 1, 0, NULL}, {"act", A_WORD, 0, 0, "none"}, {"init", A_INIT, 0, 0, NULL},
      {"bias", A_BOOL, 0, 1, NULL}, {"keep", A_NUM, 0, 1, NULL}}},
    {"conv", G_LAYER, -1, lower_conv,
     {T("x"), {"filters", A_INT, 1, 0, NULL}, {"kernel", A_INT, 0, 3, NULL}, {"stride", A_INT, 0, 1, NULL},
      {"pad", A_INT, 0, 0, NULL}, {"act", A_WORD, 0, 0, "none"}, {"init", A_INIT, 0, 0, "he"},
      {"bias", A_BOOL, 0, 1, NULL}}},
    {"batchnorm", G_LAYER, -1, lower_batchnorm,
     {T("x"), {"momentum", A_NUM, 0, 0.1, NULL}, {"eps", A_NUM, 0, 1e-5, NULL}}},
    {"mlp", G_LAYER, -1, lower_mlp,
     {T("x"), {"sizes", A_LIST, 1, 0, NULL}, {"act", A_WORD, 0, 0, "sigmoid"}, {"init", A_INIT, 0, 0, NULL}}},
    /* inits */
    {"zeros", G_INIT, -1, lower_refused, {{0}}},
    {"ones", G_INIT, -1, lower_refused, {{0}}},
    {"const", G_INIT, -1, lower_refused, {{"v", A_NUM, 1, 0, NULL}}},
    {"randn", G_INIT, -1, lower_refused, {{"std", A_NUM, 0, 1, NULL}}},
    {"uniform", G_INIT, -1, lower_refused, {{"lo", A_NUM, 1, 0, NULL}, {"hi", A_NUM, 1, 0, NULL}}},
    {"glorot", G_INIT, -1, lower_refused, {{0}}},
    {"he", G_INIT, -1, lower_refused, {{0}}},
    /* data sources */
    {"spiral", G_SOURCE, -1, lower_refused,
     {{"classes", A_INT, 0, 3, NULL}, {"points", A_INT, 0, 100, NULL}, {"seed", A_INT, 0, 1984, NULL}, TRANSFORMS}},
    {"xor", G_SOURCE, -1, lower_refused, {TRANSFORMS}},
    {"gate", G_SOURCE, -1, lower_refused, {{"op", A_STR, 1, 0, NULL}, TRANSFORMS}},
    {"table", G_SOURCE, -1, lower_refused, {{"x", A_LIST, 1, 0, NULL}, {"t", A_LIST, 1, 0, NULL}, TRANSFORMS}},
    {"idx", G_SOURCE, -1, lower_refused, {{"images", A_STR, 1, 0, NULL}, {"labels", A_STR, 1, 0, NULL}, TRANSFORMS}},
    {"csv", G_SOURCE, -1, lower_refused,
     {{"path", A_STR, 1, 0, NULL}, {"label", A_INT, 0, -1, NULL}, {"header", A_BOOL, 0, 1, NULL}, TRANSFORMS}},
    /* optimizers */
    {"sgd", G_OPT, -1, lower_refused, {{"lr", A_NUM, 0, 0.01, NULL}, SCHEDULE}},
    {"momentum", G_OPT, -1, lower_refused, {{"lr", A_NUM, 0, 0.01, NULL}, {"momentum", A_NUM, 0, 0.9, NULL}, SCHEDULE}},
    {"adagrad", G_OPT, -1, lower_refused, {{"lr", A_NUM, 0, 0.001, NULL}, {"eps", A_NUM, 0, 1e-8, NULL}, SCHEDULE}},
    {"adadelta", G_OPT, -1, lower_refused, {{"rho", A_NUM, 0, 0.95, NULL}, {"eps", A_NUM, 0, 1e-6, NULL}, SCHEDULE}},
    {"adam", G_OPT, -1, lower_refused,
     {{"lr", A_NUM, 0, 0.001, NULL}, {"beta1", A_NUM, 0, 0.9, NULL}, {"beta2", A_NUM, 0, 0.999, NULL},
      {"eps", A_NUM, 0, 1e-8, NULL}, SCHEDULE}},
    {NULL, 0, -1, NULL, {{0}}},
};

static int builtin_names(int group, const char **names, int cap)
{
    int n = 0;
    for (const Builtin *b = builtins; b->name && n < cap; b++)
        if (b->group & group)
            names[n++] = b->name;
    return n;
}

/* The activations' names, in the table's order (act='s hint and list). */
static int activation_names(const char **names, int max)
{
    int n = 0;
    for (const Builtin *b = builtins; b->name && n < max; b++)
        if (b->lower == lower_act)
            names[n++] = b->name;
    return n;
}

const Builtin *builtin_find(const char *name)
{
    for (const Builtin *b = builtins; b->name; b++)
        if (strcmp(b->name, name) == 0)
            return b;
    return NULL;
}
