/* ops.c: the op table's columns as lookups (ops.h), and the printing of an
 * elementwise op's notation and formula with its operands in place.
 */
#include "ops.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[] = {
#define X(e, name, ...) name,
    NNC_OPS(X)
#undef X
};
static const int op_arities[] = {
#define X(e, name, arity, ...) arity,
    NNC_OPS(X)
#undef X
};
static const OpClass op_classes[] = {
#define X(e, name, arity, cls, ...) OPC_##cls,
    NNC_OPS(X)
#undef X
};
static const unsigned op_propses[] = {
#define X(e, name, arity, cls, props, ...) props,
    NNC_OPS(X)
#undef X
};
static const char *const op_notations[] = {
#define X(e, name, arity, cls, props, notation, formula) notation,
    NNC_OPS(X)
#undef X
};
/* The formula's text after macro expansion (NNC_GELU_K becomes its
 * digits), for the emitters; "" for the ops that have none. */
#define FORMULA_TEXT(f) #f
#define X(e, name, arity, cls, props, notation, formula) FORMULA_TEXT(formula),
static const char *const op_formulas[] = {NNC_LEAF_OPS(X) NNC_EW_OPS(X) NNC_EW_GRAD_OPS(X)};
#undef X
/* The elementwise ops stand together, after the leaves. */
#define X(e, ...) 1,
static const char op_leaves[] = {NNC_LEAF_OPS(X)}, op_ews[] = {NNC_EW_OPS(X) NNC_EW_GRAD_OPS(X)};
#undef X
enum { OP_EW_BEGIN = sizeof op_leaves, OP_EW_END = sizeof op_leaves + sizeof op_ews };

const char *op_name(Op op) { return op_names[op]; }
int op_arity(Op op) { return op_arities[op]; }
OpClass op_class(Op op) { return op_classes[op]; }
unsigned op_props(Op op) { return op_propses[op]; }
const char *op_notation(Op op) { return op_notations[op]; }
int op_is_ew(Op op) { return (int)op >= OP_EW_BEGIN && (int)op < OP_EW_END; }
const char *op_formula(Op op) { return op_is_ew(op) ? op_formulas[op] : ""; }

/* ---- rendering ----------------------------------------------------------- */
/* libm's double functions that a formula may call, by their float names. */
static const char *const float_names[][2] = {
    {"exp", "expf"}, {"log", "logf"}, {"log1p", "log1pf"}, {"sqrt", "sqrtf"}, {"sin", "sinf"},
    {"cos", "cosf"}, {"tanh", "tanhf"}, {"fabs", "fabsf"}, {"fmin", "fminf"}, {"fmax", "fmaxf"},
    {"pow", "powf"}, {"double", "float"},
};

/* What word w (n bytes) of a formula or notation becomes: an operand or a
 * constant, a float name, or itself (NULL). */
static const char *word_for(const char *w, size_t n, const OpText *t)
{
    static const char *const names[4] = {"x", "y", "c0", "c1"};
    for (int k = 0; k < 4; k++)
        if (strlen(names[k]) == n && memcmp(w, names[k], n) == 0)
            return t->sub[k];
    for (size_t k = 0; t->c_float && k < sizeof float_names / sizeof float_names[0]; k++)
        if (strlen(float_names[k][0]) == n && memcmp(w, float_names[k][0], n) == 0)
            return float_names[k][1];
    return NULL;
}

static int is_word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

int op_render(const char *text, const OpText *t, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const char *p = text; *p;) {
        const char *q = p;
        char piece[64];
        const char *out = piece;
        if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
            /* a number: 1.0 -> 1.0f in float text */
            while (is_word_char(*q) || *q == '.' || ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E')))
                q++;
            int real = (int)strcspn(p, ".eE") < (int)(q - p);
            snprintf(piece, sizeof piece, "%.*s%s", (int)(q - p), p, t->c_float && real ? "f" : "");
        } else if (is_word_char(*p)) {
            while (is_word_char(*q))
                q++;
            const char *sub = word_for(p, (size_t)(q - p), t);
            if (sub)
                out = sub;
            else
                snprintf(piece, sizeof piece, "%.*s", (int)(q - p), p);
        } else {
            q = p + 1;
            snprintf(piece, sizeof piece, "%c", *p);
        }
        size_t k = strlen(out);
        if (used + k >= len)
            return 0;
        memcpy(buf + used, out, k + 1);
        used += k;
        p = q;
    }
    return 1;
}
