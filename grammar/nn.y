/* nn.y: the grammar of the .nn model language (docs/language.md).
 *
 * A pure bison parser (no global state) driven by the reentrant scanner in
 * nn.l.  Each rule builds AST nodes (ast.h) from the arena in the ParseCtx;
 * declarations are linked into ctx->prog as they are reduced, so a program
 * with syntax errors still holds every declaration that parsed.
 *
 * Error handling, so that one run reports every mistake (up to 20):
 *   - an error discards tokens up to the next ';' or '}' (`decl: error ';'`)
 *     or up to the start of the next declaration or train entry (`decl:
 *     error`), so a missing ';' costs one declaration, not two;
 *   - yyreport_syntax_error turns bison's view (the lookahead and the
 *     expected tokens, exact thanks to LAC) and the scanner's (the open
 *     brackets, the token before) into a message with context:
 *     "')' expected (to close '(' at 5:12)", "')' has no matching '('",
 *     "';' expected after declaration", "'input' is a keyword and cannot
 *     be used as a name", or else "unexpected identifier 'b', expecting
 *     operator or ';'", the expected tokens grouped by what they start
 *     (declaration, expression, operator, type).
 * Expressions deeper than PARSE_MAX_DEPTH nodes (a + a + ... 100000 times)
 * and parser stacks deeper than YYMAXDEPTH give "expression nested too
 * deeply", so that no later recursive pass can run out of C stack; the
 * first abandons its declaration, the second the parse.
 *
 * Each expression value carries its depth (Ex); lists carry their tail so
 * that appending is O(1) however long the list.
 */

%code requires {
#include "ast.h"

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

enum {
    PARSE_MAX_DEPTH = 256,  /* deepest expression tree accepted */
    PARSE_MAX_NAME = 1024,  /* longest dotted name h.l0.W accepted */
    PARSE_MAX_OPEN = 64,    /* open brackets remembered for messages */
};

/* A number token: its value and whether it was written as an integer. */
typedef struct Number {
    double value;
    int is_int;
} Number;

/* An expression being built, with the depth of its tree. */
typedef struct Ex {
    Expr *e;
    int depth;
} Ex;

/* A list of expressions (list literal, index, type dims) being built. */
typedef struct ExList {
    Expr *head, *tail;
    int depth;
} ExList;

/* Call arguments or train entries being built. */
typedef struct ArgList {
    Arg *head, *tail;
    int depth;
    int named;  /* a keyword argument has been seen */
} ArgList;

/* What the scanner knows about the tokens around the lookahead; the
 * syntax-error reporter reads it to give messages with context. */
typedef struct LexState {
    int line, col;          /* where the scanner is (1-based) */
    int kind;               /* the last token returned (the lookahead) */
    Loc loc;                /* its place */
    Loc end;                /* just after it */
    const char *text;       /* its text, in the scanner's buffer */
    int len;
    int prev_kind;          /* the token before it */
    Loc prev_end;           /* just after that one */
    int open_ch[PARSE_MAX_OPEN]; /* brackets open before the lookahead */
    Loc open_at[PARSE_MAX_OPEN];
    int nopen;              /* may exceed PARSE_MAX_OPEN; then not all known */
} LexState;

/* Everything one parse needs: no global state, so any number of parses
 * may run in one process. */
typedef struct ParseCtx {
    Arena *arena;
    Diag *diag;
    const char *file;
    Program *prog;
    Decl **last;      /* where the next declaration is linked */
    LexState lex;
} ParseCtx;
}

%code provides {
void parse_ctx_init(ParseCtx *ctx, Arena *a, Diag *d, const char *file);
Loc parse_loc(const ParseCtx *ctx, YYLTYPE l);
const char *parse_token_name(int token);

/* The scanner (grammar/nn.l). */
int yylex(YYSTYPE *yylval, YYLTYPE *yylloc, yyscan_t scanner);
yyscan_t lex_open(ParseCtx *ctx, const char *src, size_t len);
void lex_close(yyscan_t scanner);
}

%code {
#include <string.h>

/* The parser stack bounds how deeply parentheses, unary minus and '**'
 * may nest (each level takes one or two entries); running out of it is
 * reported as "expression nested too deeply" (see yyerror). */
#define YYMAXDEPTH 10000

static void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *ctx, const char *msg);
static Decl *decl_add(ParseCtx *ctx, DeclKind kind, YYLTYPE at, const char *name, YYLTYPE name_at);
static Ex ex_leaf(ParseCtx *ctx, ExprKind kind, YYLTYPE at);
static Ex ex_num(ParseCtx *ctx, Number n, YYLTYPE at);
static Ex ex_str(ParseCtx *ctx, ExprKind kind, const char *s, YYLTYPE at);
static Ex ex_unary(ParseCtx *ctx, ExprKind kind, Ex x, YYLTYPE at);
static Ex ex_binary(ParseCtx *ctx, int op, Ex l, Ex r, YYLTYPE at);
static Ex ex_list(ParseCtx *ctx, ExprKind kind, Ex base, ExList items, YYLTYPE at);
static Ex ex_slice(ParseCtx *ctx, Ex lo, Ex hi, YYLTYPE at);
static Ex ex_call(ParseCtx *ctx, const char *callee, ArgList args, YYLTYPE at);
static Ex ex_dot(ParseCtx *ctx, Ex x, const char *name, YYLTYPE name_at, YYLTYPE span);
static ExList list_add(ExList l, Ex x);
static ArgList args_add(ParseCtx *ctx, ArgList l, const char *name, YYLTYPE name_at, Ex x);
static TypeSpec *type_new(ParseCtx *ctx, int has_dtype, DType t, ExList dims, YYLTYPE at);
static int starts_decl(const ParseCtx *ctx, int token);
static const Ex NO_EX = { NULL, 0 };
static const ExList NO_LIST = { NULL, NULL, 0 };
static const ArgList NO_ARGS = { NULL, NULL, 0, 0 };

/* A constructor gives NO_EX for a tree too deep (reported already): the
 * declaration is abandoned and the parser skips to the next one. */
#define TRY(x) do { if (!(x).e) YYERROR; } while (0)
}

%define api.pure full
%locations
%define parse.error custom
%define parse.lac full
%expect 0
%param {yyscan_t scanner}
%parse-param {ParseCtx *ctx}

%union {
    Number number;
    const char *str;
    DType dtype;
    Ex ex;
    ExList list;
    ArgList args;
    TypeSpec *type;
}

%token <str> NAME "identifier"
%token <number> NUM "number"
%token <str> STR "string"
%token MODEL "model" CONST "const" INPUT "input" LABEL "label" PARAM "param"
%token OUTPUT "output" MINIMIZE "minimize" TRAIN "train"
%token TRUE "true" FALSE "false" F32 "f32" F64 "f64" I32 "i32"
%token POW "'**'"

%type <ex> expr postfix primary index_item
%type <list> items items1 index_items dims
%type <args> args args1 train_entries
%type <type> type
%type <dtype> dtype
%type <str> arg_name

%left '+' '-'
%left '*' '/' '@'
%precedence NEG
%right POW

%%

/* program: decl* */
program
  : %empty
  | program decl
  ;

/* decl: "model" NAME ";" | "const" NAME "=" expr ";"
 *     | "input" NAME ":" type ";" | "label" NAME ":" type ";"
 *     | "param" NAME ":" type ["=" expr] ";" | NAME "=" expr ";"
 *     | "output" NAME ";" | "minimize" NAME ";" | "train" "{" entry* "}"
 * After an error, tokens are skipped up to a ';' or '}' (taken), or up to
 * the start of the next declaration (kept), e.g. after a missing ';'.
 * Errors are reported again at once after ';', '}' or a keyword that
 * starts a declaration (starts_decl), not only three tokens later as
 * bison would. */
decl
  : MODEL NAME ';'            { decl_add(ctx, D_MODEL, @1, $2, @2); }
  | CONST NAME '=' expr ';'   { decl_add(ctx, D_CONST, @1, $2, @2)->value = $4.e; }
  | INPUT NAME ':' type ';'   { decl_add(ctx, D_INPUT, @1, $2, @2)->type = $4; }
  | LABEL NAME ':' type ';'   { decl_add(ctx, D_LABEL, @1, $2, @2)->type = $4; }
  | PARAM NAME ':' type ';'   { decl_add(ctx, D_PARAM, @1, $2, @2)->type = $4; }
  | PARAM NAME ':' type '=' expr ';'
                              { Decl *d = decl_add(ctx, D_PARAM, @1, $2, @2);
                                d->type = $4;
                                d->value = $6.e; }
  | NAME '=' expr ';'         { decl_add(ctx, D_ASSIGN, @1, $1, @1)->value = $3.e; }
  | OUTPUT NAME ';'           { decl_add(ctx, D_OUTPUT, @1, $2, @2); }
  | MINIMIZE NAME ';'         { decl_add(ctx, D_MINIMIZE, @1, $2, @2); }
  | TRAIN '{' train_entries '}'
                              { decl_add(ctx, D_TRAIN, @1, "train", @1)->keys = $3.head; }
  | error ';'                 { yyerrok; }
  | error '}'                 { yyerrok; }
  | error                     { if (starts_decl(ctx, yychar)) yyerrok; }
  ;

/* train_entries: (NAME "=" expr ";")*, recovering as decl does */
train_entries
  : %empty                              { $$ = NO_ARGS; }
  | train_entries NAME '=' expr ';'     { $$ = args_add(ctx, $1, $2, @2, $4); }
  | train_entries error ';'             { $$ = $1; yyerrok; }
  | train_entries error                 { $$ = $1; }
  ;

/* type: dtype? "[" dims "]" */
type
  : dtype '[' dims ']'  { $$ = type_new(ctx, 1, $1, $3, @$); }
  | '[' dims ']'        { $$ = type_new(ctx, 0, DT_F32, $2, @$); }
  ;

/* dtype: "f32" | "f64" | "i32" */
dtype
  : F32  { $$ = DT_F32; }
  | F64  { $$ = DT_F64; }
  | I32  { $$ = DT_I32; }
  ;

/* dims: (expr ("," expr)*)? */
dims
  : items
  ;

/* expr: expr ("+" | "-" | "*" | "/" | "@" | "**") expr | "-" expr | postfix
 * with the precedence declared above: + - < * / @ < unary - < ** (right). */
expr
  : expr '+' expr           { $$ = ex_binary(ctx, '+', $1, $3, @2); TRY($$); }
  | expr '-' expr           { $$ = ex_binary(ctx, '-', $1, $3, @2); TRY($$); }
  | expr '*' expr           { $$ = ex_binary(ctx, '*', $1, $3, @2); TRY($$); }
  | expr '/' expr           { $$ = ex_binary(ctx, '/', $1, $3, @2); TRY($$); }
  | expr '@' expr           { $$ = ex_binary(ctx, '@', $1, $3, @2); TRY($$); }
  | expr POW expr           { $$ = ex_binary(ctx, '^', $1, $3, @2); TRY($$); }
  | '-' expr %prec NEG      { $$ = ex_unary(ctx, EX_NEG, $2, @1); TRY($$); }
  | postfix
  ;

/* postfix: primary | postfix "[" index "]" | postfix "." NAME
 *        | NAME "(" args ")" | "const" "(" args ")" */
postfix
  : primary
  | postfix '[' index_items ']'  { $$ = ex_list(ctx, EX_INDEX, $1, $3, @2); TRY($$); }
  | postfix '.' NAME             { $$ = ex_dot(ctx, $1, $3, @3, @$); TRY($$); }
  | NAME '(' args ')'            { $$ = ex_call(ctx, $1, $3, @1); TRY($$); }
  | CONST '(' args ')'           { $$ = ex_call(ctx, "const", $3, @1); TRY($$); }
  ;

/* primary: NUM | STR | "true" | "false" | NAME | "(" expr ")" | "[" items "]" */
primary
  : NUM               { $$ = ex_num(ctx, $1, @1); }
  | STR               { $$ = ex_str(ctx, EX_STR, $1, @1); }
  | TRUE              { $$ = ex_leaf(ctx, EX_BOOL, @1); $$.e->num = 1; }
  | FALSE             { $$ = ex_leaf(ctx, EX_BOOL, @1); }
  | NAME              { $$ = ex_str(ctx, EX_NAME, $1, @1); }
  | '(' expr ')'      { $$ = $2; }
  | '[' items ']'     { $$ = ex_list(ctx, EX_LIST, NO_EX, $2, @1); TRY($$); }
  ;

/* items: (expr ("," expr)*)? */
items
  : %empty        { $$ = NO_LIST; }
  | items1
  ;

items1
  : expr              { $$ = list_add(NO_LIST, $1); }
  | items1 ',' expr   { $$ = list_add($1, $3); }
  ;

/* index: index_item ("," index_item)*
 * index_item: expr | expr? ":" expr? */
index_items
  : index_item                   { $$ = list_add(NO_LIST, $1); }
  | index_items ',' index_item   { $$ = list_add($1, $3); }
  ;

index_item
  : expr
  | ':'            { $$ = ex_slice(ctx, NO_EX, NO_EX, @1); TRY($$); }
  | expr ':'       { $$ = ex_slice(ctx, $1, NO_EX, @2); TRY($$); }
  | ':' expr       { $$ = ex_slice(ctx, NO_EX, $2, @1); TRY($$); }
  | expr ':' expr  { $$ = ex_slice(ctx, $1, $3, @2); TRY($$); }
  ;

/* args: (arg ("," arg)*)?
 * arg: expr | arg_name "=" expr  -- no positional argument after a named one */
args
  : %empty     { $$ = NO_ARGS; }
  | args1
  ;

args1
  : expr                          { $$ = args_add(ctx, NO_ARGS, NULL, @1, $1); }
  | arg_name '=' expr             { $$ = args_add(ctx, NO_ARGS, $1, @1, $3); }
  | args1 ',' expr                { $$ = args_add(ctx, $1, NULL, @3, $3); }
  | args1 ',' arg_name '=' expr   { $$ = args_add(ctx, $1, $3, @3, $5); }
  ;

/* arg_name: NAME, or a keyword such as `label` in csv(..., label=-1) */
arg_name
  : NAME
  | MODEL     { $$ = "model"; }
  | CONST     { $$ = "const"; }
  | INPUT     { $$ = "input"; }
  | LABEL     { $$ = "label"; }
  | PARAM     { $$ = "param"; }
  | OUTPUT    { $$ = "output"; }
  | MINIMIZE  { $$ = "minimize"; }
  | TRAIN     { $$ = "train"; }
  ;

%%

/* ---- locations ------------------------------------------------------- */

/* Bison's columns run [first_column, last_column): one past the end. */
Loc parse_loc(const ParseCtx *ctx, YYLTYPE l)
{
    Loc loc = { ctx->file, l.first_line, l.first_column, 1 };
    if (l.last_line == l.first_line && l.last_column > l.first_column)
        loc.len = l.last_column - l.first_column;
    return loc;
}

void parse_ctx_init(ParseCtx *ctx, Arena *a, Diag *d, const char *file)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->arena = a;
    ctx->diag = d;
    ctx->file = file;
    ctx->prog = arena_alloc(a, sizeof *ctx->prog);
    ctx->prog->file = file;
    ctx->last = &ctx->prog->decls;
    ctx->lex.line = 1;
    ctx->lex.col = 1;
    ctx->lex.kind = YYEOF;
    ctx->lex.prev_kind = YYEOF;
    ctx->lex.end = (Loc){ file, 1, 1, 1 };
    ctx->lex.prev_end = ctx->lex.end;
}

/* ---- building the tree ----------------------------------------------- */

static Decl *decl_add(ParseCtx *ctx, DeclKind kind, YYLTYPE at, const char *name, YYLTYPE name_at)
{
    Decl *d = ast_decl(ctx->arena, kind, parse_loc(ctx, at));
    d->name = name;
    d->name_loc = parse_loc(ctx, name_at);
    *ctx->last = d;
    ctx->last = &d->next;
    return d;
}

/* Every interior node passes through here: a tree deeper than
 * PARSE_MAX_DEPTH is reported and gives NO_EX, which abandons the
 * declaration (TRY), so the tree handed on stays shallow. */
static Ex ex_checked(ParseCtx *ctx, Expr *e, int depth)
{
    if (depth <= PARSE_MAX_DEPTH)
        return (Ex){ e, depth };
    error_at(ctx->diag, e->loc, "expression nested too deeply (more than %d levels)",
             PARSE_MAX_DEPTH);
    return NO_EX;
}

static int max_int(int a, int b) { return a > b ? a : b; }

static Ex ex_leaf(ParseCtx *ctx, ExprKind kind, YYLTYPE at)
{
    return (Ex){ ast_expr(ctx->arena, kind, parse_loc(ctx, at)), 1 };
}

static Ex ex_num(ParseCtx *ctx, Number n, YYLTYPE at)
{
    Ex x = ex_leaf(ctx, EX_NUM, at);
    x.e->num = n.value;
    x.e->is_int = n.is_int;
    return x;
}

static Ex ex_str(ParseCtx *ctx, ExprKind kind, const char *s, YYLTYPE at)
{
    Ex x = ex_leaf(ctx, kind, at);
    x.e->str = s;
    return x;
}

static Ex ex_unary(ParseCtx *ctx, ExprKind kind, Ex x, YYLTYPE at)
{
    Expr *e = ast_expr(ctx->arena, kind, parse_loc(ctx, at));
    e->lhs = x.e;
    return ex_checked(ctx, e, x.depth + 1);
}

static Ex ex_binary(ParseCtx *ctx, int op, Ex l, Ex r, YYLTYPE at)
{
    Expr *e = ast_expr(ctx->arena, EX_BINARY, parse_loc(ctx, at));
    e->op = op;
    e->lhs = l.e;
    e->rhs = r.e;
    return ex_checked(ctx, e, max_int(l.depth, r.depth) + 1);
}

/* [items] (base.e == NULL) or base[items]. */
static Ex ex_list(ParseCtx *ctx, ExprKind kind, Ex base, ExList items, YYLTYPE at)
{
    Expr *e = ast_expr(ctx->arena, kind, parse_loc(ctx, at));
    e->lhs = base.e;
    e->items = items.head;
    return ex_checked(ctx, e, max_int(base.depth, items.depth) + 1);
}

static Ex ex_slice(ParseCtx *ctx, Ex lo, Ex hi, YYLTYPE at)
{
    Expr *e = ast_expr(ctx->arena, EX_SLICE, parse_loc(ctx, at));
    e->lhs = lo.e;
    e->rhs = hi.e;
    return ex_checked(ctx, e, max_int(lo.depth, hi.depth) + 1);
}

static Ex ex_call(ParseCtx *ctx, const char *callee, ArgList args, YYLTYPE at)
{
    Expr *e = ast_expr(ctx->arena, EX_CALL, parse_loc(ctx, at));
    e->str = callee;
    e->args = args.head;
    return ex_checked(ctx, e, args.depth + 1);
}

/* x.T transposes; x.NAME extends a dotted name (h.W, y.l0.W), one EX_NAME
 * whose place spans the whole of it. */
static Ex ex_dot(ParseCtx *ctx, Ex x, const char *name, YYLTYPE name_at, YYLTYPE span)
{
    if (strcmp(name, "T") == 0)
        return ex_unary(ctx, EX_TRANSPOSE, x, name_at);
    if (x.e->kind != EX_NAME) {
        error_at(ctx->diag, parse_loc(ctx, name_at),
                 "'.%s' must follow a name (as in h.W); only '.T' applies to any value", name);
        return x;
    }
    size_t n = strnlen(x.e->str, PARSE_MAX_NAME + 1) + strnlen(name, PARSE_MAX_NAME + 1);
    if (n + 1 > PARSE_MAX_NAME) {
        error_at(ctx->diag, parse_loc(ctx, name_at), "dotted name longer than %d characters",
                 PARSE_MAX_NAME);
        return NO_EX;
    }
    x.e->str = arena_printf(ctx->arena, "%s.%s", x.e->str, name);
    x.e->loc = parse_loc(ctx, span);
    return x;
}

static ExList list_add(ExList l, Ex x)
{
    if (l.tail)
        l.tail->next = x.e;
    else
        l.head = x.e;
    l.tail = x.e;
    l.depth = max_int(l.depth, x.depth);
    return l;
}

/* Appends `name = x` (or a positional x when name is NULL). */
static ArgList args_add(ParseCtx *ctx, ArgList l, const char *name, YYLTYPE name_at, Ex x)
{
    if (!name && l.named)
        error_at(ctx->diag, x.e->loc,
                 "positional argument after a keyword argument (write name=value)");
    Arg *a = ast_arg(ctx->arena, name, parse_loc(ctx, name_at), x.e);
    if (l.tail)
        l.tail->next = a;
    else
        l.head = a;
    l.tail = a;
    l.depth = max_int(l.depth, x.depth);
    l.named |= name != NULL;
    return l;
}

static TypeSpec *type_new(ParseCtx *ctx, int has_dtype, DType t, ExList dims, YYLTYPE at)
{
    TypeSpec *ts = arena_alloc(ctx->arena, sizeof *ts);
    ts->dtype = t;
    ts->has_dtype = has_dtype;
    ts->dims = dims.head;
    ts->loc = parse_loc(ctx, at);
    return ts;
}

/* ---- syntax errors ---------------------------------------------------- */

/* Bison calls this itself only when its stack is full. */
static void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *ctx, const char *msg)
{
    (void)scanner;
    if (strcmp(msg, "memory exhausted") == 0)
        error_at(ctx->diag, parse_loc(ctx, *loc), "expression nested too deeply");
    else
        error_at(ctx->diag, parse_loc(ctx, *loc), "%s", msg);
}

/* A set of expected tokens. */
typedef struct Expected {
    yysymbol_kind_t tok[YYNTOKENS];
    int n;
} Expected;

static int expects(const Expected *x, yysymbol_kind_t t)
{
    for (int i = 0; i < x->n; i++)
        if (x->tok[i] == t)
            return 1;
    return 0;
}

static int expects_char(const Expected *x, int c) { return expects(x, YYTRANSLATE(c)); }

static int is_keyword(yysymbol_kind_t t) { return t >= YYSYMBOL_MODEL && t <= YYSYMBOL_I32; }

static int is_decl_keyword(int token)
{
    return token == MODEL || token == CONST || token == INPUT || token == LABEL ||
           token == PARAM || token == OUTPUT || token == MINIMIZE || token == TRAIN;
}

/* Whether the lookahead surely starts a declaration: a keyword such as
 * `output`, not itself misplaced after one (const input = 1). */
static int starts_decl(const ParseCtx *ctx, int token)
{
    return is_decl_keyword(token) && !is_decl_keyword(ctx->lex.prev_kind);
}

const char *parse_token_name(int token)
{
    return yysymbol_name(YYTRANSLATE(token));
}

/* Appends to a message buffer, truncating quietly. */
typedef struct Msg {
    char buf[512];
    size_t len;
} Msg;

static void msg_add(Msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg_add(Msg *m, const char *fmt, ...)
{
    if (m->len >= sizeof m->buf - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, sizeof m->buf - m->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        m->len += (size_t)n;
    if (m->len > sizeof m->buf - 1)
        m->len = sizeof m->buf - 1;
}

/* "identifier 'foo'", "number '1e-3'", "keyword 'input'", "')'", ... */
static void describe_token(Msg *m, const ParseCtx *ctx, yysymbol_kind_t t)
{
    const LexState *lx = &ctx->lex;
    int len = lx->len > 32 ? 32 : lx->len;
    const char *more = lx->len > 32 ? "..." : "";
    if (t == YYSYMBOL_NAME || t == YYSYMBOL_NUM)
        msg_add(m, "%s '%.*s%s'", yysymbol_name(t), len, lx->text, more);
    else if (is_keyword(t))
        msg_add(m, "keyword '%s'", yysymbol_name(t));
    else
        msg_add(m, "%s", yysymbol_name(t));
}

/* Tokens that may start an expression, and those that may follow one. */
static int starts_expr(yysymbol_kind_t t)
{
    return t == YYSYMBOL_NAME || t == YYSYMBOL_NUM || t == YYSYMBOL_STR ||
           t == YYSYMBOL_TRUE || t == YYSYMBOL_FALSE || t == YYSYMBOL_CONST ||
           t == YYTRANSLATE('-') || t == YYTRANSLATE('(') || t == YYTRANSLATE('[');
}

static int is_operator(yysymbol_kind_t t)
{
    static const char ops[] = "+-*/@[.(";
    for (const char *p = ops; *p; p++)
        if (t == YYTRANSLATE((unsigned char)*p))
            return 1;
    return t == YYSYMBOL_POW;
}

static int is_dtype(yysymbol_kind_t t)
{
    return t == YYSYMBOL_F32 || t == YYSYMBOL_F64 || t == YYSYMBOL_I32;
}

/* "expecting expression, ',' or ')'": runs of tokens are named by what
 * they start (a declaration, an expression, an operator, a type).  Where
 * an expression may stand, so may keyword argument names (label=...):
 * they go unnamed. */
static void describe_expected(Msg *m, const Expected *x)
{
    const char *names[YYNTOKENS];
    int n = 0;
    int expr = expects(x, YYSYMBOL_NUM), op = expects_char(x, '*');
    int type = expects(x, YYSYMBOL_F32) && expects_char(x, '[');
    int decl = expects(x, YYSYMBOL_MINIMIZE) && !expr;
    if (decl)
        names[n++] = "declaration";
    if (expr)
        names[n++] = "expression";
    if (op)
        names[n++] = "operator";
    if (type)
        names[n++] = "type";
    for (int i = 0; i < x->n; i++) {
        yysymbol_kind_t t = x->tok[i];
        if (!(expr && (starts_expr(t) || is_keyword(t))) && !(op && is_operator(t)) &&
            !(type && (is_dtype(t) || t == YYTRANSLATE('['))) &&
            !(decl && (is_keyword(t) || t == YYSYMBOL_NAME)))
            names[n++] = yysymbol_name(t);
    }
    for (int i = 0; i < n; i++)
        msg_add(m, "%s%s", i == 0 ? ", expecting " : i == n - 1 ? " or " : ", ", names[i]);
}

/* Whether the lookahead plainly ends what came before: ';', a closing
 * bracket, the end, a keyword, or anything on a later line. */
static int ends_statement(const ParseCtx *ctx, yysymbol_kind_t t, Loc at)
{
    return t == YYTRANSLATE(';') || t == YYTRANSLATE('}') || t == YYTRANSLATE(')') ||
           t == YYTRANSLATE(']') || t == YYSYMBOL_YYEOF || is_keyword(t) ||
           at.line > ctx->lex.prev_end.line;
}

/* ')' expected (to close '(' at 5:12), when the innermost open bracket
 * before the lookahead could be closed here and the lookahead shows the
 * bracket was left open (f(a b) is rather a missing operator or ','). */
static int report_unclosed(ParseCtx *ctx, const Expected *x, yysymbol_kind_t t, Loc at)
{
    const LexState *lx = &ctx->lex;
    if (lx->nopen == 0 || lx->nopen > PARSE_MAX_OPEN || !ends_statement(ctx, t, at))
        return 0;
    int open = lx->open_ch[lx->nopen - 1];
    int close = open == '(' ? ')' : open == '[' ? ']' : '}';
    if (!expects_char(x, close))
        return 0;
    Loc o = lx->open_at[lx->nopen - 1];
    error_at(ctx->diag, at, "'%c' expected (to close '%c' at %d:%d)", close, open, o.line, o.col);
    return 1;
}

/* '}' has no matching '{': a closing bracket with nothing open to close. */
static int report_unmatched(ParseCtx *ctx, yysymbol_kind_t t, Loc at)
{
    const LexState *lx = &ctx->lex;
    int close = t == YYTRANSLATE(')') ? ')' : t == YYTRANSLATE(']') ? ']' :
                t == YYTRANSLATE('}') ? '}' : 0;
    int open = close == ')' ? '(' : close == ']' ? '[' : '{';
    if (!close || lx->nopen > PARSE_MAX_OPEN ||
        (lx->nopen > 0 && lx->open_ch[lx->nopen - 1] == open))
        return 0;
    error_at(ctx->diag, at, "'%c' has no matching '%c'", close, open);
    return 1;
}

/* ';' expected after declaration, when the lookahead plainly starts
 * something new: it is on a later line, a keyword, '}' or the end. */
static int report_missing_semi(ParseCtx *ctx, const Expected *x, yysymbol_kind_t t, Loc at)
{
    const LexState *lx = &ctx->lex;
    if (!expects_char(x, ';') || !ends_statement(ctx, t, at) || t == YYTRANSLATE(')') ||
        t == YYTRANSLATE(']'))
        return 0;
    int in_train = lx->nopen > 0 && lx->nopen <= PARSE_MAX_OPEN &&
                   lx->open_ch[lx->nopen - 1] == '{';
    error_at(ctx->diag, lx->prev_end, "';' expected after %s",
             in_train ? "train entry" : "declaration");
    return 1;
}

/* const input = 1;  -- a keyword where the name being declared goes. */
static int report_keyword_name(ParseCtx *ctx, const Expected *x, yysymbol_kind_t t, Loc at)
{
    if (!is_keyword(t) || !expects(x, YYSYMBOL_NAME) || !is_decl_keyword(ctx->lex.prev_kind))
        return 0;
    error_at(ctx->diag, at, "'%s' is a keyword and cannot be used as a name", yysymbol_name(t));
    return 1;
}

static int yyreport_syntax_error(const yypcontext_t *yyctx, yyscan_t scanner, ParseCtx *ctx)
{
    (void)scanner;
    Loc at = parse_loc(ctx, *yypcontext_location(yyctx));
    if (ctx->diag->errors >= NNC_MAX_ERRORS) { /* counted, not printed */
        error_at(ctx->diag, at, "syntax error");
        return 0;
    }
    Expected x;
    x.n = yypcontext_expected_tokens(yyctx, x.tok, YYNTOKENS);
    if (x.n < 0)
        return x.n;
    yysymbol_kind_t t = yypcontext_token(yyctx);
    if (report_unclosed(ctx, &x, t, at) || report_unmatched(ctx, t, at) ||
        report_missing_semi(ctx, &x, t, at) || report_keyword_name(ctx, &x, t, at))
        return 0;
    Msg m = { "", 0 };
    msg_add(&m, "unexpected ");
    describe_token(&m, ctx, t);
    describe_expected(&m, &x);
    error_at(ctx->diag, at, "%s", m.buf);
    return 0;
}

/* ---- the entry point -------------------------------------------------- */

Program *parse_program(Arena *a, Diag *d, const char *file, const char *src, size_t len)
{
    ParseCtx ctx;
    parse_ctx_init(&ctx, a, d, file);
    if (len > (size_t)1 << 30) {
        Loc start = { file, 1, 1, 1 };
        error_at(d, start, "file too large (%zu bytes; at most 1 GiB)", len);
        return ctx.prog;
    }
    yyscan_t scanner = lex_open(&ctx, src, len);
    yyparse(scanner, &ctx);
    lex_close(scanner);
    return ctx.prog;
}
