/* ast.h: the syntax tree of a .nn model, as the parser builds it.
 *
 * A Program is a list of Decls in source order.  Expressions are Expr nodes;
 * lists (list literals, index lists, call arguments, train keys) are linked
 * through `next`.  Every node keeps the Loc of the token that names it, so
 * sema can point at the exact place of an error.  Nothing here is checked:
 * names, argument lists and shapes are sema's business.
 */
#ifndef NNC_AST_H
#define NNC_AST_H

#include "base.h"

typedef enum { DT_F32, DT_F64, DT_I32 } DType;
const char *dtype_name(DType t);

typedef enum {
    EX_NUM,       /* 300, 0.01, 1e-3, .5         num, is_int            */
    EX_STR,       /* "path"                       str (escapes resolved) */
    EX_BOOL,      /* true / false                 num = 1 / 0            */
    EX_NAME,      /* x, B, h.W                    str (dotted, joined)   */
    EX_LIST,      /* [a, b, ...]                  items                  */
    EX_NEG,       /* -lhs                                                */
    EX_BINARY,    /* lhs OP rhs                   op: + - * / @ and '^' for ** */
    EX_CALL,      /* name(args)                   str = callee, args     */
    EX_INDEX,     /* lhs[items]                   items (EX_SLICE for a:b) */
    EX_SLICE,     /* lo:hi in an index            lhs = lo, rhs = hi (NULL if left out) */
    EX_TRANSPOSE, /* lhs.T                                               */
} ExprKind;

typedef struct Expr Expr;
typedef struct Arg Arg;

struct Expr {
    ExprKind kind;
    Loc loc;
    double num;
    int is_int;      /* EX_NUM written without '.' or exponent */
    const char *str; /* EX_STR text, EX_NAME name, EX_CALL callee */
    int op;          /* EX_BINARY */
    Expr *lhs, *rhs;
    Expr *items;     /* EX_LIST elements, EX_INDEX indices */
    Arg *args;       /* EX_CALL arguments */
    Expr *next;      /* next element of the enclosing list */
};

/* A call argument (`name = value` or positional with name == NULL), and a
 * train-block entry (`key = value;`). */
struct Arg {
    const char *name;
    Loc name_loc;
    Expr *value;
    Arg *next;
};

typedef struct TypeSpec {
    DType dtype;
    int has_dtype; /* 0 for `[d0, ...]`, which means f32 */
    Expr *dims;    /* list of dimension expressions (numbers, consts, B) */
    Loc loc;
} TypeSpec;

typedef enum {
    D_MODEL,    /* model NAME;                 */
    D_CONST,    /* const NAME = value;         */
    D_INPUT,    /* input NAME: type;           */
    D_LABEL,    /* label NAME: type;           */
    D_PARAM,    /* param NAME: type [= value]; value is the init (NULL: zeros) */
    D_ASSIGN,   /* NAME = value;               */
    D_OUTPUT,   /* output NAME;                */
    D_MINIMIZE, /* minimize NAME;              */
    D_TRAIN,    /* train { keys }              */
} DeclKind;

typedef struct Decl Decl;
struct Decl {
    DeclKind kind;
    Loc loc;        /* the keyword (or the name for D_ASSIGN) */
    const char *name;
    Loc name_loc;
    TypeSpec *type; /* D_INPUT, D_LABEL, D_PARAM */
    Expr *value;    /* D_CONST, D_ASSIGN, D_PARAM init */
    Arg *keys;      /* D_TRAIN entries */
    Decl *next;
};

typedef struct Program {
    const char *file;
    Decl *decls;
} Program;

/* Parses src (len bytes, need not be NUL-terminated) into a Program
 * allocated from a.  Syntax errors go to d (the parser recovers at ';' and
 * '}' and reports up to NNC_MAX_ERRORS); the Program returned holds the
 * declarations that parsed.  Never returns NULL. */
Program *parse_program(Arena *a, Diag *d, const char *file, const char *src, size_t len);

/* Prints the tree in a stable, indented text form (nnc -dA). */
void ast_dump(FILE *out, const Program *p);

/* Constructors used by the parser. */
Expr *ast_expr(Arena *a, ExprKind kind, Loc loc);
Arg *ast_arg(Arena *a, const char *name, Loc name_loc, Expr *value);
Decl *ast_decl(Arena *a, DeclKind kind, Loc loc);

#endif
