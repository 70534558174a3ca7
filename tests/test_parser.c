/* test_parser.c: the grammar (grammar/nn.y) and the tree dump (ast.c).
 *
 *   - every example construct of the language (docs/language.md) parses
 *     without errors;
 *   - every model in models/ parses, and models/twolayer.nn dumps exactly as
 *     tests/golden/twolayer.ast;
 *   - precedence, associativity, dotted names, slices and places are right;
 *   - syntax errors name the right line:col with a useful message, several
 *     errors are reported in one run, and no more than 20 are printed;
 *   - hostile input (deep nesting, NUL bytes, huge lines) is an error, not
 *     a crash, and many parses in one process do not disturb each other.
 * Tests run from the repository root.
 */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "graph.h"

typedef struct Parsed {
    char *dump;  /* ast_dump of what parsed */
    char *diags; /* every diagnostic, and the "more errors" line */
    int errors;
} Parsed;

static Parsed parse_bytes(const char *src, size_t len)
{
    Parsed r;
    size_t dl, gl;
    FILE *dump = open_memstream(&r.dump, &dl);
    FILE *diags = open_memstream(&r.diags, &gl);
    Arena a;
    arena_init(&a);
    Diag d;
    diag_init(&d, diags, "t.nn", src, len);
    Program *p = parse_program(&a, &d, "t.nn", src, len);
    ast_dump(dump, p);
    diag_summary(&d);
    fclose(dump);
    fclose(diags);
    r.errors = d.errors;
    arena_free(&a);
    return r;
}

static Parsed parse(const char *src) { return parse_bytes(src, strlen(src)); }

static void parsed_free(Parsed *r)
{
    free(r->dump);
    free(r->diags);
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

/* Parses src and checks that it has no errors. */
static void expect_ok(const char *src)
{
    Parsed r = parse(src);
    ck_assert_msg(r.errors == 0, "%s\ngave\n%s", src, r.diags);
    parsed_free(&r);
}

/* Parses src and checks its dump. */
static void expect_dump(const char *src, const char *dump)
{
    Parsed r = parse(src);
    ck_assert_msg(r.errors == 0, "%s\ngave\n%s", src, r.diags);
    ck_assert_str_eq(r.dump, dump);
    parsed_free(&r);
}

/* Parses src and checks the number of errors and the first message line. */
static void expect_error(const char *src, int errors, const char *first)
{
    Parsed r = parse(src);
    ck_assert_msg(r.errors == errors && strncmp(r.diags, first, strlen(first)) == 0,
                  "for\n%s\nexpected %d errors, the first\n%s\ngot %d\n%s", src, errors, first,
                  r.errors, r.diags);
    parsed_free(&r);
}

/* ---- the language (docs/language.md), construct by construct ------------- */

static const char *const language_snippets[] = {
    /* 3. declarations */
    "model twolayer;",
    "const H = 10;",
    "const N = 2 * H + 1;",
    "input x: f32[B, 2];",
    "input img: [B, 28, 28];",
    "input x: f64[B, 2, H];",
    "label t: i32[B];",
    "label t: f32[B, 1];",
    "label t: f32[B, K];",
    "param W1: [2, H] = randn(std=0.01);",
    "param b1: [H]    = zeros;",
    "param b: [3];",
    "h = sigmoid(x @ W1 + b1);",
    "output y;",
    "minimize loss;",
    /* 3. inits */
    "param W: [2, 3] = zeros;",
    "param W: [2, 3] = ones;",
    "param W: [2, 3] = const(0.5);",
    "param W: [2, 3] = randn(std=0.1);",
    "param W: [2, 3] = uniform(lo=-0.1, hi=0.1);",
    "param W: [2, 3] = glorot;",
    "param W: [2, 3] = he;",
    /* 4. expressions */
    "y = a + b - c * d / e @ f ** 2;",
    "y = -x ** 2;",
    "y = exp(x) + log(x) + sqrt(x) + sin(x) + cos(x) + abs(x);",
    "y = sigmoid(x) + tanh(x) + relu(x) + leaky_relu(x, slope=0.2) + clip(x, lo, hi);",
    "s = sum(x, axis=None, keepdims=false);",
    "s = mean(x); s = max(x, axis=1); s = min(x, axis=0, keepdims=true);",
    "y = reshape(x, [B, 784]); y = transpose(x, axes=None); y = x.T; y = flatten(x);",
    "y = broadcast_to(x, [B, 3]); y = sum_to(x, [3]); y = concat([a, b], 1);",
    "y = x[i]; y = x[i:j]; y = x[:, i]; y = x[idx]; y = x[[0, 2, 2]];",
    "y = x[:j]; y = x[i:]; y = x[:, 1:3];",
    "y = linear(x, W, b); y = softmax(x, axis=-1); y = log_softmax(x, axis=-1);",
    "y = dropout(x, keep=0.8);",
    "l = softmax_cross_entropy(y, t); l = nll(logp, t); l = mse(y, t); l = sse(y, t);",
    "l = bce(p, t); l = sigmoid_cross_entropy(y, t);",
    "acc = accuracy(y, t);",
    "s = \"a path\";",
    "b = true; c = false;",
    /* 6. layers */
    "h = dense(x, n, act=none, init=randn(std=0.01), bias=true, keep=1.0);",
    "y = mlp(x, [n1, n2, nk], act=sigmoid, init=glorot);",
    "w = h.W; w = y.l0.W; g = y.l1.b.T;",
    "act = [none, linear, sigmoid, tanh, relu, leaky_relu, softmax];",
    /* 7. the train block, as written there */
    "train {\n"
    "  data          = SOURCE;           # required for a program; see below\n"
    "  test          = SOURCE;           # optional held-out set\n"
    "  optimizer     = OPT;              # default sgd(lr=0.01)\n"
    "  epochs        = 10;\n"
    "  batch         = 32;               # binds B\n"
    "  shuffle       = true;             # a new permutation each epoch\n"
    "  drop_last     = false;\n"
    "  seed          = 0;                # params, shuffling, dropout\n"
    "  log_every     = 0;                # iterations between progress lines (0: once per epoch)\n"
    "  eval_every    = 1;                # epochs between test evaluations\n"
    "  early_stopping = false;           # stop when test loss rises; keep the best params\n"
    "  clip_grad     = 0;                # max global L2 norm of all grads (0: off)\n"
    "  weight_decay  = 0;                # adds rate*param to each grad\n"
    "  freeze        = [W1];             # params that are not updated\n"
    "  checkpoint    = \"twolayer.safetensors\";  # written at the end (and on early stop)\n"
    "}",
    "train {}",
    /* 7. sources and transforms */
    "train { data = spiral(classes=3, points=100, seed=1984); }",
    "train { data = xor(); test = gate(\"and\"); test = gate(\"nand\"); }",
    "train { data = table(x=[[0, 0], [0, 1], [1, 0], [1, 1]], t=[0, 1, 1, 0]); }",
    "train { data = idx(images=\"PATH\", labels=\"PATH\"); }",
    "train { data = csv(\"PATH\", label=-1, header=true); }",
    "train { data = idx(images=\"i\", labels=\"l\", scale=1/255, normalize=true, flatten=true,"
    " one_hot=10); }",
    "train { data = idx(images=\"i\", labels=\"l\", scale=0.00392156862745098); }",
    /* 7. optimizers */
    "train { optimizer = sgd(lr); optimizer = sgd(lr=0.1); }",
    "train { optimizer = momentum(lr, momentum=0.9); }",
    "train { optimizer = adagrad(lr=0.001, eps=1e-8); }",
    "train { optimizer = adadelta(rho=0.95, eps=1e-6); }",
    "train { optimizer = adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8); }",
    "train { optimizer = sgd(lr=0.1, decay=\"linear\", final_lr=0.001); }",
    "train { optimizer = adam(decay=\"exponential\", final_lr=1e-5); }",
    /* trivia */
    "",
    "# only a comment",
    "model m;\n# no newline at the end",
    "model m;",
};

START_TEST(language_examples)
{
    int n = (int)(sizeof language_snippets / sizeof *language_snippets);
    for (int i = 0; i < n; i++)
        expect_ok(language_snippets[i]);
}
END_TEST

/* Reads a file relative to the repository root (tests run from there). */
static char *slurp(Arena *a, const char *path, size_t *len)
{
    char *s = read_file(a, path, len);
    ck_assert_msg(s != NULL, "cannot read %s (run the tests from the repository root)", path);
    return s;
}

START_TEST(every_model_parses)
{
    DIR *dir = opendir("models");
    ck_assert_msg(dir != NULL, "no models/ (run the tests from the repository root)");
    int models = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".nn") != 0)
            continue;
        Arena a;
        arena_init(&a);
        char *path = arena_printf(&a, "models/%s", e->d_name);
        size_t len;
        char *src = slurp(&a, path, &len);
        Parsed r = parse_bytes(src, len);
        ck_assert_msg(r.errors == 0, "%s:\n%s", path, r.diags);
        ck_assert_msg(count(r.dump, "minimize ") == 1, "%s has no single minimize", path);
        ck_assert_msg(strncmp(r.dump, "model ", 6) == 0, "%s does not start with model", path);
        parsed_free(&r);
        arena_free(&a);
        models++;
    }
    closedir(dir);
    ck_assert_int_ge(models, 11);
}
END_TEST

START_TEST(twolayer_golden)
{
    Arena a;
    arena_init(&a);
    size_t len, glen;
    char *src = slurp(&a, "models/twolayer.nn", &len);
    char *golden = slurp(&a, "tests/golden/twolayer.ast", &glen);
    Parsed r = parse_bytes(src, len);
    ck_assert_str_eq(r.diags, "");
    ck_assert_str_eq(r.dump, golden);
    parsed_free(&r);
    arena_free(&a);
}
END_TEST

/* ---- the shape of the tree ------------------------------------------------ */

START_TEST(precedence)
{
    expect_dump("y = a + b * c;",
                "assign y @1:1\n"
                "  binary + @1:7\n"
                "    name a @1:5\n"
                "    binary * @1:11\n"
                "      name b @1:9\n"
                "      name c @1:13\n");
    expect_dump("y = a @ b + c;",
                "assign y @1:1\n"
                "  binary + @1:11\n"
                "    binary @ @1:7\n"
                "      name a @1:5\n"
                "      name b @1:9\n"
                "    name c @1:13\n");
    /* unary minus binds tighter than * but looser than ** */
    expect_dump("y = -a * b;",
                "assign y @1:1\n"
                "  binary * @1:8\n"
                "    neg @1:5\n"
                "      name a @1:6\n"
                "    name b @1:10\n");
    expect_dump("y = -a ** 2;",
                "assign y @1:1\n"
                "  neg @1:5\n"
                "    binary ** @1:8\n"
                "      name a @1:6\n"
                "      num 2 @1:11\n");
    expect_dump("y = 2 ** -1;",
                "assign y @1:1\n"
                "  binary ** @1:7\n"
                "    num 2 @1:5\n"
                "    neg @1:10\n"
                "      num 1 @1:11\n");
    /* postfix binds tightest */
    expect_dump("y = -x.T ** 2;",
                "assign y @1:1\n"
                "  neg @1:5\n"
                "    binary ** @1:10\n"
                "      transpose @1:8\n"
                "        name x @1:6\n"
                "      num 2 @1:13\n");
}
END_TEST

START_TEST(associativity)
{
    expect_dump("y = a - b - c;",
                "assign y @1:1\n"
                "  binary - @1:11\n"
                "    binary - @1:7\n"
                "      name a @1:5\n"
                "      name b @1:9\n"
                "    name c @1:13\n");
    expect_dump("y = a / b * c;",
                "assign y @1:1\n"
                "  binary * @1:11\n"
                "    binary / @1:7\n"
                "      name a @1:5\n"
                "      name b @1:9\n"
                "    name c @1:13\n");
    expect_dump("y = a ** b ** c;",
                "assign y @1:1\n"
                "  binary ** @1:7\n"
                "    name a @1:5\n"
                "    binary ** @1:12\n"
                "      name b @1:10\n"
                "      name c @1:15\n");
    expect_dump("y = (a - b) - (c - d);",
                "assign y @1:1\n"
                "  binary - @1:13\n"
                "    binary - @1:8\n"
                "      name a @1:6\n"
                "      name b @1:10\n"
                "    binary - @1:18\n"
                "      name c @1:16\n"
                "      name d @1:20\n");
}
END_TEST

START_TEST(dotted_names)
{
    /* one name whose place spans all of it */
    expect_dump("w = y.l0.W;\nv = h . W;",
                "assign w @1:1\n"
                "  name y.l0.W @1:5\n"
                "assign v @2:1\n"
                "  name h.W @2:5\n");
    expect_dump("g = h.W.T;",
                "assign g @1:1\n"
                "  transpose @1:9\n"
                "    name h.W @1:5\n");
    expect_error("g = (a + b).W;", 1,
                 "t.nn:1:13: error: '.W' must follow a name (as in h.W); only '.T' applies"
                 " to any value\n");
    expect_error("g = x.T.W;", 1, "t.nn:1:9: error: '.W' must follow a name");
    expect_error("g = f(x).b;", 1, "t.nn:1:10: error: '.b' must follow a name");
}
END_TEST

START_TEST(dotted_name_place_spans_it)
{
    /* the caret underlines the whole dotted name */
    Parsed r = parse("w = y.l0.W + ;");
    ck_assert_str_eq(r.diags, "t.nn:1:14: error: unexpected ';', expecting expression\n"
                              "w = y.l0.W + ;\n"
                              "             ^\n");
    parsed_free(&r);
}
END_TEST

START_TEST(calls_and_arguments)
{
    expect_dump("p = csv(\"d.csv\", label=-1, header=true);",
                "assign p @1:1\n"
                "  call csv @1:5\n"
                "    str \"d.csv\" @1:9\n"
                "    arg label @1:18\n"
                "      neg @1:24\n"
                "        num 1 @1:25\n"
                "    arg header @1:28\n"
                "      bool true @1:35\n");
    expect_dump("param W: [2] = const(0.5);",
                "param W @1:7: [2]\n"
                "  call const @1:16\n"
                "    num 0.5 @1:22\n");
    expect_dump("z = f();",
                "assign z @1:1\n"
                "  call f @1:5\n");
    expect_error("z = f(a=1, 2);", 1,
                 "t.nn:1:12: error: positional argument after a keyword argument"
                 " (write name=value)\n");
}
END_TEST

START_TEST(lists_and_indexing)
{
    expect_dump("l = [[1, 2], [], [3]];",
                "assign l @1:1\n"
                "  list @1:5\n"
                "    list @1:6\n"
                "      num 1 @1:7\n"
                "      num 2 @1:10\n"
                "    list @1:14\n"
                "    list @1:18\n"
                "      num 3 @1:19\n");
    expect_dump("y = x[:, i:j, :k, 2:, idx];",
                "assign y @1:1\n"
                "  index @1:6\n"
                "    name x @1:5\n"
                "    slice : @1:7\n"
                "    slice lo:hi @1:11\n"
                "      name i @1:10\n"
                "      name j @1:12\n"
                "    slice :hi @1:15\n"
                "      name k @1:16\n"
                "    slice lo: @1:20\n"
                "      num 2 @1:19\n"
                "    name idx @1:23\n");
    expect_dump("y = x[[0, 2]][0];",
                "assign y @1:1\n"
                "  index @1:14\n"
                "    index @1:6\n"
                "      name x @1:5\n"
                "      list @1:7\n"
                "        num 0 @1:8\n"
                "        num 2 @1:11\n"
                "    num 0 @1:15\n");
    expect_error("y = x[];", 1, "t.nn:1:7: error: unexpected ']', expecting expression or ':'\n");
}
END_TEST

START_TEST(literals)
{
    expect_dump("a = [300, 0.01, 1e-3, .5, 2., 1e300, \"p\\\"q\\\\\", true, false];",
                "assign a @1:1\n"
                "  list @1:5\n"
                "    num 300 @1:6\n"
                "    num 0.01 @1:11\n"
                "    num 0.001 @1:17\n"
                "    num 0.5 @1:23\n"
                "    num 2.0 @1:27\n"
                "    num 1e+300 @1:31\n"
                "    str \"p\\\"q\\\\\" @1:38\n"
                "    bool true @1:48\n"
                "    bool false @1:54\n");
}
END_TEST

START_TEST(declarations)
{
    expect_dump("model m;\nconst K = 3;\ninput x: f32[B, 2 * K];\nlabel t: [B];\n"
                "param W: f64[K];\nparam V: [1] = zeros;\ny = x;\noutput y;\nminimize y;\n"
                "train { epochs = 2; batch = B; }",
                "model m @1:7\n"
                "const K @2:7\n"
                "  num 3 @2:11\n"
                "input x @3:7: f32[B, (2 * K)]\n"
                "label t @4:7: [B]\n"
                "param W @5:7: f64[K]\n"
                "param V @6:7: [1]\n"
                "  name zeros @6:16\n"
                "assign y @7:1\n"
                "  name x @7:5\n"
                "output y @8:8\n"
                "minimize y @9:10\n"
                "train @10:1\n"
                "  entry epochs @10:9\n"
                "    num 2 @10:18\n"
                "  entry batch @10:21\n"
                "    name B @10:29\n");
}
END_TEST

START_TEST(string_const)
{
    expect_dump("model m;\nconst D = \"data/iris.csv\";\n",
                "model m @1:7\n"
                "const D @2:7\n"
                "  str \"data/iris.csv\" @2:11\n");
}
END_TEST

/* ---- sema: string consts ------------------------------------------------- */

/* Runs src through parse and sema; the graph in *g (arena a), the
 * diagnostics in the returned string (malloc'd). */
static char *lower(Arena *a, Graph *g, const char *src, int *errors)
{
    char *diags = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&diags, &len);
    Diag d;
    diag_init(&d, f, "t.nn", src, strlen(src));
    Program *p = parse_program(a, &d, "t.nn", src, strlen(src));
    graph_init(g, a);
    if (d.errors == 0)
        sema_lower(g, &d, p, 0);
    fclose(f);
    *errors = d.errors;
    return diags;
}

static const char string_model[] =
    "model m;\nconst IMG = \"train-images.gz\";\nconst LAB = IMG;\nconst CSV = \"data/iris.csv\";\n"
    "const CK = \"m.ckpt\";\nconst H = 3;\n"
    "input x: f32[B, 4];\nlabel t: i32[B];\nparam W: [4, H];\ny = x @ W;\n"
    "loss = softmax_cross_entropy(y, t);\nminimize loss;\n"
    "train { data = csv(CSV, label=-1); test = idx(images=IMG, labels=LAB); checkpoint = CK; }\n";

/* A string const goes wherever a string goes: a source's path, a keyword
 * argument, the checkpoint; a const may name another. */
START_TEST(string_consts_are_paths)
{
    Arena a;
    arena_init(&a);
    Graph g;
    int errors;
    char *diags = lower(&a, &g, string_model, &errors);
    ck_assert_msg(errors == 0, "%s", diags);
    ck_assert_int_eq(g.train.data.kind, SRC_CSV);
    ck_assert_str_eq(g.train.data.path, "data/iris.csv");
    ck_assert_int_eq(g.train.test.kind, SRC_IDX);
    ck_assert_str_eq(g.train.test.images, "train-images.gz");
    ck_assert_str_eq(g.train.test.labels, "train-images.gz");
    ck_assert_str_eq(g.train.checkpoint, "m.ckpt");
    free(diags);
    arena_free(&a);
}
END_TEST

/* Where a number is wanted, a string const is one error that names the
 * const, its text and the place that wanted a number. */
START_TEST(string_const_for_a_number)
{
    static const struct { const char *line, *want; } cases[] = {
        {"param V: [D, 2];", "found the string const 'D' (\"a.csv\")"},
        {"const K = D * 2;", "'*' works on numbers and tensors, not on the string const 'D' (\"a.csv\")"},
        {"z = x + D;", "'+' works on numbers and tensors, not on the string const 'D'"},
        {"train { optimizer = sgd(lr=D); }", "argument 'lr' must be a number, not the string const 'D'"},
        {"train { epochs = D; }", "epochs must be an integer >= 1, not the string const 'D' (\"a.csv\")"},
        {"train { weight_decay = D; }", "weight_decay must be a number >= 0, not the string const 'D'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char src[1024];
        snprintf(src, sizeof src, "model m;\nconst D = \"a.csv\";\ninput x: f32[B, 4];\nlabel t: i32[B];\n"
                 "param W: [4, 3];\ny = x @ W;\nloss = softmax_cross_entropy(y, t);\nminimize loss;\n%s\n",
                 cases[i].line);
        Arena a;
        arena_init(&a);
        Graph g;
        int errors;
        char *diags = lower(&a, &g, src, &errors);
        ck_assert_msg(errors == 1 && strstr(diags, cases[i].want), "for '%s': %d errors, want one saying '%s':\n%s",
                      cases[i].line, errors, cases[i].want, diags);
        free(diags);
        arena_free(&a);
    }
}
END_TEST

/* ---- syntax errors ------------------------------------------------------- */

START_TEST(error_places)
{
    expect_error("model m\nconst H = 10;", 1,
                 "t.nn:1:8: error: ';' expected after declaration\n"
                 "model m\n"
                 "       ^\n");
    expect_error("const H = 10\ninput x: f32[B, 2];", 1,
                 "t.nn:1:13: error: ';' expected after declaration\n");
    expect_error("x = a", 1, "t.nn:1:6: error: ';' expected after declaration\n");
    expect_error("train {\n  epochs = 3\n  batch = 2;\n}", 1,
                 "t.nn:2:13: error: ';' expected after train entry\n");
    expect_error("h = sigmoid(x @ W1 + b1;\n", 1,
                 "t.nn:1:24: error: ')' expected (to close '(' at 1:12)\n"
                 "h = sigmoid(x @ W1 + b1;\n"
                 "                       ^\n");
    expect_error("y = f(a,\n      g(b);\n", 1, "t.nn:2:11: error: ')' expected (to close '(' at 1:6)\n");
    expect_error("x = [1, 2;", 1, "t.nn:1:10: error: ']' expected (to close '[' at 1:5)\n");
    expect_error("y = x[1, 2;", 1, "t.nn:1:11: error: ']' expected (to close '[' at 1:6)\n");
    expect_error("train {\n  epochs = 3;\n", 1, "t.nn:2:14: error: '}' expected (to close '{' at 1:7)\n");
    expect_error("x = f(a]);", 1, "t.nn:1:8: error: ')' expected (to close '(' at 1:6)\n");
    expect_error("x = a);", 1, "t.nn:1:6: error: ')' has no matching '('\n");
    expect_error("}\nx = 1;", 1, "t.nn:1:1: error: '}' has no matching '{'\n");
    expect_error("const input = 3;", 1,
                 "t.nn:1:7: error: 'input' is a keyword and cannot be used as a name\n"
                 "const input = 3;\n"
                 "      ^~~~~\n");
    expect_error("param train: [1];", 1, "t.nn:1:7: error: 'train' is a keyword");
    expect_error("input x;", 1, "t.nn:1:8: error: unexpected ';', expecting ':'\n");
    expect_error("input x: ;", 1, "t.nn:1:10: error: unexpected ';', expecting type\n");
    expect_error("input x: f32;", 1, "t.nn:1:13: error: unexpected ';', expecting '['\n");
    expect_error("x = ;", 1, "t.nn:1:5: error: unexpected ';', expecting expression\n");
    expect_error("x = a b;", 1,
                 "t.nn:1:7: error: unexpected identifier 'b', expecting operator or ';'\n");
    expect_error("x = f(a, );", 1, "t.nn:1:10: error: unexpected ')', expecting expression\n");
    expect_error("x = 3 4;", 1, "t.nn:1:7: error: unexpected number '4', expecting operator or ';'\n");
    expect_error("model 3;", 1, "t.nn:1:7: error: unexpected number '3', expecting identifier\n");
    expect_error("x == 1;", 1, "t.nn:1:4: error: unexpected '=', expecting expression\n");
    expect_error("x = 1;\n\n   ** 2;", 1,
                 "t.nn:3:4: error: unexpected '**', expecting declaration or end of file\n");
    expect_error("train { 3 = 4; }", 1, "t.nn:1:9: error: unexpected number '3', expecting identifier or '}'\n");
}
END_TEST

START_TEST(lexical_errors_in_context)
{
    expect_error("x = a $ b;", 2, "t.nn:1:7: error: stray character '$'\n");
    expect_error("data = idx(images=\"abc);\ny = 2;", 1,
                 "t.nn:1:19: error: unterminated string\n");
    /* after an unterminated string the next declaration still parses */
    Parsed r = parse("a = \"abc;\nb = 2;\nc = 3;");
    ck_assert_int_eq(r.errors, 1);
    ck_assert(strstr(r.dump, "assign c @3:1") != NULL);
    parsed_free(&r);
}
END_TEST

START_TEST(five_errors_all_reported)
{
    const char *src = "model m;\n"
                      "const = 1;\n"           /* 1 */
                      "input x: f32[B, 2];\n"
                      "h = sigmoid(x @ W;\n"   /* 2 */
                      "y = h @ @ W2;\n"        /* 3 */
                      "loss = mse(y, t)\n"     /* 4 */
                      "output y;\n"
                      "train {\n"
                      "  epochs = ;\n"         /* 5 */
                      "  batch = 4;\n"
                      "}\n"
                      "minimize loss;\n";
    Parsed r = parse(src);
    ck_assert_int_eq(r.errors, 5);
    ck_assert_int_eq(count(r.diags, ": error: "), 5);
    ck_assert(strstr(r.diags, "t.nn:2:7: error:") != NULL);
    ck_assert(strstr(r.diags, "t.nn:4:18: error: ')' expected (to close '(' at 4:12)") != NULL);
    ck_assert(strstr(r.diags, "t.nn:5:9: error: unexpected '@', expecting expression") != NULL);
    ck_assert(strstr(r.diags, "t.nn:6:17: error: ';' expected after declaration") != NULL);
    ck_assert(strstr(r.diags, "t.nn:9:12: error: unexpected ';', expecting expression") != NULL);
    /* what was right is kept */
    ck_assert(strstr(r.dump, "output y @7:8\n") != NULL);
    ck_assert(strstr(r.dump, "entry batch @10:3\n") != NULL);
    ck_assert(strstr(r.dump, "minimize loss @12:10\n") != NULL);
    parsed_free(&r);
}
END_TEST

START_TEST(short_declarations_each_missing_semicolon)
{
    /* bison would keep quiet for three tokens after an error */
    Parsed r = parse("model m\noutput y\nminimize loss\nconst input = 1;\nx = a b c;\nz = 1;");
    ck_assert_int_eq(r.errors, 5);
    ck_assert(strstr(r.diags, "t.nn:1:8: error: ';' expected after declaration") != NULL);
    ck_assert(strstr(r.diags, "t.nn:2:9: error: ';' expected after declaration") != NULL);
    ck_assert(strstr(r.diags, "t.nn:3:14: error: ';' expected after declaration") != NULL);
    ck_assert(strstr(r.diags, "t.nn:4:7: error: 'input' is a keyword") != NULL);
    ck_assert(strstr(r.diags, "t.nn:5:7: error: unexpected identifier 'b'") != NULL);
    ck_assert(strstr(r.dump, "assign z @6:1") != NULL);
    parsed_free(&r);
}
END_TEST

START_TEST(at_most_twenty_errors_printed)
{
    char src[30 * 16 + 1] = "";
    for (int i = 0; i < 30; i++)
        strcat(src, "x = );\n");
    Parsed r = parse(src);
    ck_assert_int_eq(r.errors, 30);
    ck_assert_int_eq(count(r.diags, ": error: "), 20);
    ck_assert(strstr(r.diags, "t.nn:20:5: error:") != NULL);
    ck_assert(strstr(r.diags, "t.nn:21:5: error:") == NULL);
    ck_assert(strstr(r.diags, "t.nn: 10 more errors not shown\n") != NULL);
    parsed_free(&r);
}
END_TEST

/* ---- hostile input --------------------------------------------------------- */

/* "x = " + n copies of open + "a" + n copies of close + ";" */
static char *nested(const char *open, const char *mid, const char *close, int n)
{
    size_t lo = strlen(open), lc = strlen(close), lm = strlen(mid);
    char *s = malloc(8 + (size_t)n * (lo + lc) + lm);
    char *p = s;
    memcpy(p, "x = ", 4);
    p += 4;
    for (int i = 0; i < n; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lc)
        memcpy(p, close, lc);
    strcpy(p, ";\n");
    return s;
}

static void expect_too_deep(char *src)
{
    Parsed r = parse(src);
    ck_assert_int_ge(r.errors, 1);
    ck_assert_msg(strstr(r.diags, "nested too deeply") != NULL, "%.300s", r.diags);
    parsed_free(&r);
    free(src);
}

START_TEST(deep_nesting)
{
    expect_too_deep(nested("(", "a", ")", 10000));
    expect_too_deep(nested("[", "", "]", 10000));
    expect_too_deep(nested("f(", "", ")", 10000));
    expect_too_deep(nested("-", "a", "", 100000));
    expect_too_deep(nested("a ** ", "a", "", 100000));
    expect_too_deep(nested("", "a", " + a", 100000));
    expect_too_deep(nested("", "a", "[0]", 100000));
    expect_too_deep(nested("", "a", ".T", 100000));
    /* moderate nesting is fine */
    char *src = nested("(", "a", ")", 200);
    expect_ok(src);
    free(src);
    src = nested("", "a", " + a", 200);
    expect_ok(src);
    free(src);
}
END_TEST

START_TEST(too_deep_costs_one_declaration)
{
    char *deep = nested("", "a", " + a", 100000);
    size_t n = strlen(deep);
    char *src = malloc(n + 32);
    memcpy(src, deep, n);
    strcpy(src + n, "z = 1;\n");
    Parsed r = parse(src);
    ck_assert_int_eq(r.errors, 1);
    ck_assert_str_eq(r.dump, "assign z @2:1\n  num 1 @2:5\n");
    parsed_free(&r);
    free(src);
    free(deep);
}
END_TEST

START_TEST(long_dotted_name)
{
    char *src = nested("", "a", ".b", 100000);
    Parsed r = parse(src);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(strstr(r.diags, "dotted name longer than") != NULL);
    parsed_free(&r);
    free(src);
}
END_TEST

START_TEST(nul_bytes_and_no_newline)
{
    const char src[] = "model m;\0\nx = 1;";
    Parsed r = parse_bytes(src, sizeof src - 1);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(strstr(r.diags, "t.nn:1:9: error: stray character '\\x00'") != NULL);
    ck_assert_str_eq(r.dump, "model m @1:7\nassign x @2:1\n  num 1 @2:5\n");
    parsed_free(&r);
    r = parse_bytes(NULL, 0);
    ck_assert_int_eq(r.errors, 0);
    ck_assert_str_eq(r.dump, "");
    parsed_free(&r);
}
END_TEST

/* prefix, n bytes of fill, suffix: one long line */
static char *long_line(const char *prefix, char fill, size_t n, const char *suffix, size_t *len)
{
    size_t lp = strlen(prefix), ls = strlen(suffix);
    char *s = malloc(lp + n + ls + 1);
    memcpy(s, prefix, lp);
    memset(s + lp, fill, n);
    memcpy(s + lp + n, suffix, ls + 1);
    *len = lp + n + ls;
    return s;
}

START_TEST(ten_megabyte_line)
{
    size_t n = 10 * 1000 * 1000, len;
    char *src = long_line("x = ", ' ', n, "1;", &len);
    Parsed r = parse_bytes(src, len);
    ck_assert_int_eq(r.errors, 0);
    ck_assert(strstr(r.dump, "num 1 @1:10000005\n") != NULL);
    parsed_free(&r);
    free(src);
    /* an error at the far end: the place is right and the quote is cut */
    src = long_line("x = ", ' ', n, ");", &len);
    r = parse_bytes(src, len);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(strncmp(r.diags, "t.nn:1:10000005: error: ')' has no matching '('", 47) == 0);
    ck_assert(strlen(r.diags) < 600);
    parsed_free(&r);
    free(src);
    /* a 10 MB string, a 10 MB name */
    src = long_line("s = \"", 'a', n, "\"; t = 1;", &len);
    r = parse_bytes(src, len);
    ck_assert_int_eq(r.errors, 0);
    ck_assert(strstr(r.dump, "assign t @1:10000009\n") != NULL);
    parsed_free(&r);
    free(src);
    src = long_line("s = ", 'a', n, ";", &len);
    r = parse_bytes(src, len);
    ck_assert_int_eq(r.errors, 0);
    parsed_free(&r);
    free(src);
}
END_TEST

START_TEST(long_list)
{
    /* x = [1, 1, 1, ...]; a megabyte on one line */
    size_t n = 1000 * 1000, len = 6;
    char *src = malloc(n + 8);
    memcpy(src, "x = [1", 6);
    while (len + 3 < n) {
        memcpy(src + len, ", 1", 3);
        len += 3;
    }
    memcpy(src + len, "];", 2);
    len += 2;
    Parsed r = parse_bytes(src, len);
    ck_assert_int_eq(r.errors, 0);
    ck_assert_int_eq(count(r.dump, "num 1 @"), (int)(len - 8) / 3 + 1);
    parsed_free(&r);
    free(src);
}
END_TEST

START_TEST(many_parses_in_one_process)
{
    Arena a;
    arena_init(&a);
    size_t len;
    char *src = slurp(&a, "models/twolayer.nn", &len);
    Parsed first = parse_bytes(src, len);
    for (int i = 0; i < 300; i++) {
        /* an erroneous parse between good ones leaves nothing behind */
        Parsed bad = parse("x = f(a, ;\ntrain { epochs = ");
        ck_assert_int_ge(bad.errors, 1);
        parsed_free(&bad);
        Parsed again = parse_bytes(src, len);
        ck_assert_int_eq(again.errors, 0);
        ck_assert_str_eq(again.dump, first.dump);
        parsed_free(&again);
    }
    parsed_free(&first);
    arena_free(&a);
}
END_TEST

static Suite *parser_suite(void)
{
    Suite *s = suite_create("parser");
    TCase *lang = tcase_create("language");
    tcase_add_test(lang, language_examples);
    tcase_add_test(lang, every_model_parses);
    tcase_add_test(lang, twolayer_golden);
    suite_add_tcase(s, lang);

    TCase *tree = tcase_create("tree");
    tcase_add_test(tree, precedence);
    tcase_add_test(tree, associativity);
    tcase_add_test(tree, dotted_names);
    tcase_add_test(tree, dotted_name_place_spans_it);
    tcase_add_test(tree, calls_and_arguments);
    tcase_add_test(tree, lists_and_indexing);
    tcase_add_test(tree, literals);
    tcase_add_test(tree, declarations);
    tcase_add_test(tree, string_const);
    suite_add_tcase(s, tree);

    TCase *sema = tcase_create("sema");
    tcase_add_test(sema, string_consts_are_paths);
    tcase_add_test(sema, string_const_for_a_number);
    suite_add_tcase(s, sema);

    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, error_places);
    tcase_add_test(errors, lexical_errors_in_context);
    tcase_add_test(errors, five_errors_all_reported);
    tcase_add_test(errors, short_declarations_each_missing_semicolon);
    tcase_add_test(errors, at_most_twenty_errors_printed);
    suite_add_tcase(s, errors);

    TCase *hostile = tcase_create("hostile");
    tcase_add_test(hostile, deep_nesting);
    tcase_add_test(hostile, too_deep_costs_one_declaration);
    tcase_add_test(hostile, long_dotted_name);
    tcase_add_test(hostile, nul_bytes_and_no_newline);
    tcase_add_test(hostile, ten_megabyte_line);
    tcase_add_test(hostile, long_list);
    tcase_add_test(hostile, many_parses_in_one_process);
    tcase_set_timeout(hostile, 60);
    suite_add_tcase(s, hostile);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(parser_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
