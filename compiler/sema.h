/* sema.h: what the files of sema share (the pass itself is sema_lower()
 * in graph.h).
 *
 * Sema walks the AST once, in source order, checks everything a user can
 * get wrong, and lowers what it checked straight into the forward graph:
 * the shape rules live with the ops (shape.c), so checking a shape and
 * building the node are one step (graph_op) and no rule is written twice.
 * After sema, later passes assert instead of reporting.
 *
 * Four files, each calling only those listed after it:
 *   sema.c        the driver: declarations in order, minimize, output, the
 *                 checks of the whole model and its sizes
 *   sema_train.c  the train block: keys, data sources, optimizer, freeze
 *   sema_expr.c   expressions, the builtin table and its argument checks,
 *                 params and their inits, layers (which make params)
 *   sema_sym.c    the symbol table
 */
#ifndef NNC_SEMA_H
#define NNC_SEMA_H

#include "graph.h"

/* What an expression evaluates to at compile time. */
typedef enum {
    V_ERR,    /* an error was already reported */
    V_NONE,   /* an optional argument left out */
    V_TENSOR, /* a graph node */
    V_NUM,
    V_BOOL,
    V_STR,
    V_LIST,
    V_WORD,   /* a bare identifier that names no value: sigmoid, zeros, None */
    V_DIMB,   /* the batch dimension B */
    V_CALL,   /* an init, source or optimizer call, kept for its consumer */
} ValKind;

typedef struct Val Val;
struct Val {
    ValKind kind;
    Loc loc;
    int node;        /* V_TENSOR */
    double num;      /* V_NUM, V_BOOL */
    int is_int;
    const char *str; /* V_STR, V_WORD */
    const char *cname; /* V_STR read through a string const: the const's name */
    Val *items;      /* V_LIST */
    int n_items;
    const Expr *call; /* V_CALL */
};

typedef struct Sym {
    const char *name;
    const Decl *decl;  /* where it was defined */
    Loc loc;
    int is_const;
    double num;
    const char *str;   /* a string const: its text (num unused); NULL for a number */
    int is_int;
    int node;
} Sym;

typedef struct Sema {
    Graph *g;
    Diag *d;
    Arena *a;
    Sym *syms;         /* open-addressing hash table */
    int n_syms, cap_syms;
    const char **later; /* names declared anywhere in the file, for "used before" */
    Loc *later_loc;     /* where each of them is declared */
    int n_later;
    const char *assign_name; /* the name a layer call is being assigned to */
    char *reach;       /* reach[i]: node i feeds the loss (after check_minimize) */
    int no_output;     /* the default output candidate without a batch axis, or -1 */
} Sema;

/* ---- sema_sym.c -------------------------------------------------------- */
Sym *sema_lookup(Sema *s, const char *name);
/* Defines name, or reports a redefinition (with where the first one is)
 * and returns NULL. */
Sym *sema_define(Sema *s, const char *name, Loc loc, const Decl *decl);

/* ---- sema_expr.c ------------------------------------------------------- */
Val sema_expr(Sema *s, const Expr *e);
/* What a value is, for a message: "a string", "a tensor", or "the string
 * const 'D' (\"data/iris.csv\")" for a string read through a const. */
const char *sema_val_desc(Sema *s, Val v);
int sema_tensor(Sema *s, const Expr *e);           /* a value that must be a tensor: node or -1 */
int sema_number(Sema *s, const Expr *e, double *out); /* a compile-time number: 1 ok, 0 error */
int sema_call_args(Sema *s, const Expr *call, int group, Val *out); /* checks a call against the builtin table */
int sema_scalar_const(Sema *s, double v, Loc loc);  /* a CONST scalar node */
/* A PARAM node named `name` with its init checked and recorded; fan_in and
 * fan_out feed glorot and he.  Returns the id or -1. */
int sema_make_param(Sema *s, const char *name, int rank, const int *d, Val init, int fan_in, int fan_out, Loc loc);
/* 1 when a declared value (kind "param", "input" or "label") of shape sh
 * fits the static storage limit (a row of it, when it has B); else 0 and
 * an error at loc. */
int sema_fits(Sema *s, const char *kind, const char *name, Shape sh, Loc loc);

/* Builtin groups: where a call may stand. */
enum { G_EXPR = 1, G_LAYER = 2, G_INIT = 4, G_SOURCE = 8, G_OPT = 16 };

/* The parameters of a builtin. */
/* A_NORM: true, false or a string (normalize="column"; sema_train.c checks the string) */
typedef enum { A_TENSOR, A_NUM, A_INT, A_BOOL, A_STR, A_LIST, A_AXIS, A_WORD, A_INIT, A_TENSORS, A_NORM } ArgKind;
typedef struct ParamSpec {
    const char *name;
    ArgKind kind;
    int required;
    double num;       /* default number/bool */
    const char *word; /* default word or string */
} ParamSpec;

typedef struct Builtin Builtin;
typedef Val (*LowerFn)(Sema *s, const Builtin *b, const Expr *call, Val *args);
struct Builtin {
    const char *name;
    int group;
    int op;           /* the graph op for simple builtins, or -1 */
    LowerFn lower;
    ParamSpec params[10];
};
const Builtin *builtin_find(const char *name);
const char *builtin_group_name(int group); /* "a layer", "an init", ... */
/* A "did you mean" among cands, or NULL when none is close. */
const char *sema_hint(const char *name, const char *const *cands, int n);
/* Reports a bare name that names no value: undefined (with a hint among
 * the names defined so far), or a builtin written without its call. */
void sema_undefined(Sema *s, const char *name, Loc loc);

/* ---- sema_train.c: the train block into g->train ----------------------- */
void sema_train_defaults(TrainSpec *t);
void sema_train(Sema *s, const Decl *train);

#endif
