/* ast.c: syntax tree constructors and the tree dump (nnc -dA).
 *
 * The dump is one line per node, indented two spaces a level; every line
 * ends with the node's place @LINE:COL, so a dump diffs cleanly and points
 * back at the source.
 *
 *   model NAME @L:C              a declaration is placed at its name (train
 *   const NAME @L:C              at its keyword); its children are its value
 *   input NAME @L:C: TYPE        (const, assign, param's init) or its
 *   label NAME @L:C: TYPE        entries (train)
 *   param NAME @L:C: TYPE
 *   assign NAME @L:C
 *   output NAME @L:C
 *   minimize NAME @L:C
 *   train @L:C
 *     entry KEY @L:C             over the entry's value
 *
 *   num 10 @L:C                  an integer as written; a real in the
 *   num 0.01 @L:C                shortest form that reads back exactly,
 *                                always with '.', 'e', inf or nan (2. is 2.0)
 *   str "a\"b" @L:C              with \" \\ and \xNN for other bytes
 *   bool true @L:C
 *   name h.W @L:C
 *   list @L:C                    over the items
 *   neg @L:C                     over the operand
 *   binary + @L:C                over lhs and rhs; ops + - * / @ **
 *   call sigmoid @L:C            over the arguments, a named one as
 *     arg std @L:C               "arg NAME" over its value
 *   index @L:C                   over the indexed value, then the items
 *   slice lo:hi @L:C             "lo:hi", "lo:", ":hi" or ":" say which
 *                                bounds follow as children
 *   transpose @L:C               over the operand
 *
 * TYPE reads as written: f32[B, 2], or [2, H] when no dtype was given; its
 * dimensions print inline, with every binary expression in parentheses.
 */
#include "ast.h"

#include <stdlib.h>
#include <string.h>

/* dtype_name() (declared in ast.h) lives in graph.c beside the graph's
 * other names. */

Expr *ast_expr(Arena *a, ExprKind kind, Loc loc)
{
    Expr *e = arena_alloc(a, sizeof *e);
    e->kind = kind;
    e->loc = loc;
    return e;
}

Arg *ast_arg(Arena *a, const char *name, Loc name_loc, Expr *value)
{
    Arg *arg = arena_alloc(a, sizeof *arg);
    arg->name = name;
    arg->name_loc = name_loc;
    arg->value = value;
    return arg;
}

Decl *ast_decl(Arena *a, DeclKind kind, Loc loc)
{
    Decl *d = arena_alloc(a, sizeof *d);
    d->kind = kind;
    d->loc = loc;
    return d;
}

/* ---- leaves --------------------------------------------------------- */

static void print_num(FILE *out, const Expr *e)
{
    char buf[40];
    if (e->is_int) {
        fprintf(out, "%.17g", e->num);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, e->num);
        if (strtod(buf, NULL) == e->num)
            break;
    }
    fputs(buf, out);
    if (!strpbrk(buf, ".ein"))
        fputs(".0", out);
}

static void print_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static const char *op_name(int op)
{
    switch (op) {
    case '+': return "+";
    case '-': return "-";
    case '*': return "*";
    case '/': return "/";
    case '@': return "@";
    case '^': return "**";
    }
    return "?";
}

/* ---- inline form (type dimensions) ------------------------------------ */

static void print_inline(FILE *out, const Expr *e);

static void print_inline_list(FILE *out, const Expr *items)
{
    for (const Expr *it = items; it; it = it->next) {
        print_inline(out, it);
        if (it->next)
            fputs(", ", out);
    }
}

static void print_inline_args(FILE *out, const Arg *args)
{
    for (const Arg *a = args; a; a = a->next) {
        if (a->name)
            fprintf(out, "%s=", a->name);
        print_inline(out, a->value);
        if (a->next)
            fputs(", ", out);
    }
}

static void print_inline(FILE *out, const Expr *e)
{
    switch (e->kind) {
    case EX_NUM: print_num(out, e); break;
    case EX_STR: print_str(out, e->str); break;
    case EX_BOOL: fputs(e->num != 0 ? "true" : "false", out); break;
    case EX_NAME: fputs(e->str, out); break;
    case EX_LIST:
        fputc('[', out);
        print_inline_list(out, e->items);
        fputc(']', out);
        break;
    case EX_NEG:
        fputc('-', out);
        print_inline(out, e->lhs);
        break;
    case EX_BINARY:
        fputc('(', out);
        print_inline(out, e->lhs);
        fprintf(out, " %s ", op_name(e->op));
        print_inline(out, e->rhs);
        fputc(')', out);
        break;
    case EX_CALL:
        fprintf(out, "%s(", e->str);
        print_inline_args(out, e->args);
        fputc(')', out);
        break;
    case EX_INDEX:
        print_inline(out, e->lhs);
        fputc('[', out);
        print_inline_list(out, e->items);
        fputc(']', out);
        break;
    case EX_SLICE:
        if (e->lhs)
            print_inline(out, e->lhs);
        fputc(':', out);
        if (e->rhs)
            print_inline(out, e->rhs);
        break;
    case EX_TRANSPOSE:
        print_inline(out, e->lhs);
        fputs(".T", out);
        break;
    }
}

static void print_type(FILE *out, const TypeSpec *t)
{
    if (t->has_dtype)
        fputs(dtype_name(t->dtype), out);
    fputc('[', out);
    print_inline_list(out, t->dims);
    fputc(']', out);
}

/* ---- tree form -------------------------------------------------------- */

static void print_at(FILE *out, Loc loc) { fprintf(out, " @%d:%d", loc.line, loc.col); }

static void indent(FILE *out, int depth) { fprintf(out, "%*s", 2 * depth, ""); }

static void dump_expr(FILE *out, const Expr *e, int depth);

static void dump_items(FILE *out, const Expr *items, int depth)
{
    for (const Expr *it = items; it; it = it->next)
        dump_expr(out, it, depth);
}

static void dump_args(FILE *out, const Arg *args, int depth)
{
    for (const Arg *a = args; a; a = a->next) {
        if (!a->name) {
            dump_expr(out, a->value, depth);
            continue;
        }
        indent(out, depth);
        fprintf(out, "arg %s", a->name);
        print_at(out, a->name_loc);
        fputc('\n', out);
        dump_expr(out, a->value, depth + 1);
    }
}

/* The head of a node's line, without its place. */
static void print_head(FILE *out, const Expr *e)
{
    switch (e->kind) {
    case EX_NUM: fputs("num ", out); print_num(out, e); break;
    case EX_STR: fputs("str ", out); print_str(out, e->str); break;
    case EX_BOOL: fputs(e->num != 0 ? "bool true" : "bool false", out); break;
    case EX_NAME: fprintf(out, "name %s", e->str); break;
    case EX_LIST: fputs("list", out); break;
    case EX_NEG: fputs("neg", out); break;
    case EX_BINARY: fprintf(out, "binary %s", op_name(e->op)); break;
    case EX_CALL: fprintf(out, "call %s", e->str); break;
    case EX_INDEX: fputs("index", out); break;
    case EX_SLICE: fprintf(out, "slice %s:%s", e->lhs ? "lo" : "", e->rhs ? "hi" : ""); break;
    case EX_TRANSPOSE: fputs("transpose", out); break;
    }
}

static void dump_expr(FILE *out, const Expr *e, int depth)
{
    indent(out, depth);
    print_head(out, e);
    print_at(out, e->loc);
    fputc('\n', out);
    if (e->lhs)
        dump_expr(out, e->lhs, depth + 1);
    if (e->rhs)
        dump_expr(out, e->rhs, depth + 1);
    dump_items(out, e->items, depth + 1);
    dump_args(out, e->args, depth + 1);
}

static const char *decl_word(DeclKind k)
{
    switch (k) {
    case D_MODEL: return "model";
    case D_CONST: return "const";
    case D_INPUT: return "input";
    case D_LABEL: return "label";
    case D_PARAM: return "param";
    case D_ASSIGN: return "assign";
    case D_OUTPUT: return "output";
    case D_MINIMIZE: return "minimize";
    case D_TRAIN: return "train";
    }
    return "?";
}

static void dump_train(FILE *out, const Decl *d)
{
    fprintf(out, "train");
    print_at(out, d->loc);
    fputc('\n', out);
    for (const Arg *k = d->keys; k; k = k->next) {
        fprintf(out, "  entry %s", k->name);
        print_at(out, k->name_loc);
        fputc('\n', out);
        dump_expr(out, k->value, 2);
    }
}

static void dump_decl(FILE *out, const Decl *d)
{
    if (d->kind == D_TRAIN) {
        dump_train(out, d);
        return;
    }
    fprintf(out, "%s %s", decl_word(d->kind), d->name);
    print_at(out, d->name_loc);
    if (d->type) {
        fputs(": ", out);
        print_type(out, d->type);
    }
    fputc('\n', out);
    if (d->value)
        dump_expr(out, d->value, 1);
}

void ast_dump(FILE *out, const Program *p)
{
    for (const Decl *d = p->decls; d; d = d->next)
        dump_decl(out, d);
}
