/* mutate.c: deterministic hostile inputs for the front end (run_fuzz.sh).
 *
 *   mutate OUTDIR COUNT SEED_FILE...
 *
 * Writes OUTDIR/mut_NNNN.nn: COUNT mutations of the seed files, each made
 * by one to four edits drawn from a fixed-seed PRNG (byte flips,
 * deletions, insertions of tokens, truncations, duplicated lines, binary
 * junk), then OUTDIR/edge_*.nn: the cases a fuzzer is unlikely to find
 * (10 MB lines, 10,000 nested parentheses, deep brackets, overlong
 * numbers, unterminated strings and comments, NUL bytes, a megabyte of
 * random tokens).  The same
 * arguments always give the same files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable byte buffer ------------------------------------------- */
typedef struct Buf {
    char *p;
    size_t len, cap;
} Buf;

static void buf_reserve(Buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) {
        fprintf(stderr, "mutate: out of memory\n");
        exit(1);
    }
    b->cap = cap;
}

static void buf_insert(Buf *b, size_t at, const char *s, size_t n)
{
    if (n == 0)
        return;
    buf_reserve(b, n);
    memmove(b->p + at + n, b->p + at, b->len - at);
    memcpy(b->p + at, s, n);
    b->len += n;
}

static void buf_add(Buf *b, const char *s) { buf_insert(b, b->len, s, strlen(s)); }

static void buf_repeat(Buf *b, const char *s, size_t times)
{
    for (size_t i = 0; i < times; i++)
        buf_add(b, s);
}

static void buf_delete(Buf *b, size_t at, size_t n)
{
    memmove(b->p + at, b->p + at + n, b->len - at - n);
    b->len -= n;
}

/* ---- a seeded PRNG (splitmix64) ------------------------------------- */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* A number in [0, n), n > 0. */
static size_t rng_below(uint64_t *s, size_t n) { return (size_t)(rng_next(s) % n); }

/* ---- the edits -------------------------------------------------------- */
static const char *const tokens[] = {
    "model", "const", "input", "label", "param", "output", "minimize", "train",
    "true", "false", "f32", "f64", "i32", "x", "B", "h.W", ".T", "y.l0.W",
    "sigmoid(", "dense(x, 3)", "mlp(", "spiral(", "[", "]", "(", ")", "{", "}",
    ";", ",", ":", ".", "=", "+", "-", "*", "/", "@", "**", "\"", "\"path\"",
    "#", "\n", "0", "1e-3", ".5", "2.", "1e999", "99999999999999999999", "1e",
    "act=", "=", "label=", "::", "[:, 1]", "\\", "$", "\t",
};

static void flip_bytes(Buf *b, uint64_t *s)
{
    for (size_t n = 1 + rng_below(s, 4); n > 0 && b->len > 0; n--)
        b->p[rng_below(s, b->len)] ^= (char)(1 + rng_below(s, 255));
}

static void delete_span(Buf *b, uint64_t *s)
{
    if (b->len == 0)
        return;
    size_t at = rng_below(s, b->len);
    size_t n = 1 + rng_below(s, b->len - at < 40 ? b->len - at : 40);
    buf_delete(b, at, n);
}

static void insert_tokens(Buf *b, uint64_t *s)
{
    for (size_t n = 1 + rng_below(s, 3); n > 0; n--) {
        const char *t = tokens[rng_below(s, sizeof tokens / sizeof *tokens)];
        buf_insert(b, rng_below(s, b->len + 1), t, strlen(t));
    }
}

static void truncate_at(Buf *b, uint64_t *s)
{
    if (b->len > 0)
        b->len = rng_below(s, b->len);
}

/* Copies one line (from a random byte to the next newline) n times. */
static void duplicate_line(Buf *b, uint64_t *s)
{
    if (b->len == 0)
        return;
    size_t start = rng_below(s, b->len), end = start;
    while (start > 0 && b->p[start - 1] != '\n')
        start--;
    while (end < b->len && b->p[end] != '\n')
        end++;
    size_t n = end - start + (end < b->len);
    char *line = malloc(n + 1);
    memcpy(line, b->p + start, n);
    for (size_t k = 1 + rng_below(s, 3); k > 0; k--)
        buf_insert(b, start, line, n);
    free(line);
}

static void insert_junk(Buf *b, uint64_t *s)
{
    char junk[64];
    size_t n = 1 + rng_below(s, sizeof junk);
    for (size_t i = 0; i < n; i++)
        junk[i] = (char)rng_below(s, 256);
    buf_insert(b, rng_below(s, b->len + 1), junk, n);
}

static void mutate_once(Buf *b, uint64_t *s)
{
    switch (rng_below(s, 6)) {
    case 0: flip_bytes(b, s); break;
    case 1: delete_span(b, s); break;
    case 2: insert_tokens(b, s); break;
    case 3: truncate_at(b, s); break;
    case 4: duplicate_line(b, s); break;
    default: insert_junk(b, s); break;
    }
}

/* ---- files ---------------------------------------------------------- */
static int read_all(const char *path, Buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 0;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_insert(b, b->len, chunk, n);
    fclose(f);
    return 1;
}

static int write_file(const char *dir, const char *name, const Buf *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (b->len && fwrite(b->p, 1, b->len, f) != b->len) || fclose(f) != 0) {
        perror(path);
        return 0;
    }
    return 1;
}

/* ---- edge cases ----------------------------------------------------- */
/* 10 MB lines: a sum of 100-character names (too deep long before its
 * end), a comment, a string. */
static void edge_long_sum(Buf *b)
{
    char name[101];
    memset(name, 'w', 100);
    name[100] = '\0';
    buf_add(b, "model m;\nx = a");
    for (int i = 0; i < 97 * 1000; i++) {
        buf_add(b, " + ");
        buf_add(b, name);
    }
    buf_add(b, ";\ny = 1;\n");
}

static void edge_long_comment(Buf *b)
{
    buf_add(b, "model m;\n#");
    buf_repeat(b, "# comment ", 1000 * 1000);
    buf_add(b, "\ny = 1;\n");
}

static void edge_long_string(Buf *b)
{
    buf_add(b, "model m;\ns = \"");
    buf_repeat(b, "path/to/", 1250 * 1000);
    buf_add(b, "\";\nt = \"");
    buf_repeat(b, "never closed ", 800 * 1000);
}

/* A megabyte of random tokens on one line. */
static void edge_junk_line(Buf *b, uint64_t *s)
{
    buf_add(b, "model m;\n");
    while (b->len < 1000 * 1000) {
        const char *t = tokens[rng_below(s, sizeof tokens / sizeof *tokens)];
        if (t[0] != '\n' && t[0] != '#')
            buf_add(b, t);
        buf_add(b, " ");
    }
}

static void edge_parens(Buf *b)
{
    buf_add(b, "x = ");
    buf_repeat(b, "(", 10000);
    buf_add(b, "a");
    buf_repeat(b, ")", 10000);
    buf_add(b, ";\n");
}

static void edge_open_parens(Buf *b) { buf_repeat(b, "(", 10000); }

static void edge_brackets(Buf *b)
{
    buf_add(b, "x = ");
    buf_repeat(b, "[", 10000);
    buf_repeat(b, "]", 10000);
    buf_add(b, ";\n");
}

static void edge_calls(Buf *b)
{
    buf_add(b, "x = ");
    buf_repeat(b, "f(a, ", 3000);
    buf_repeat(b, ")", 3000);
    buf_add(b, ";\n");
}

static void edge_braces(Buf *b)
{
    buf_add(b, "train ");
    buf_repeat(b, "{", 10000);
    buf_repeat(b, "}", 10000);
}

static void edge_unary(Buf *b)
{
    buf_add(b, "x = ");
    buf_repeat(b, "-", 50000);
    buf_add(b, "a ** b;\n");
    buf_add(b, "y = a");
    buf_repeat(b, " ** a", 50000);
    buf_add(b, ";\n");
}

static void edge_numbers(Buf *b)
{
    buf_add(b, "a = ");
    buf_repeat(b, "9", 100000);
    buf_add(b, ";\nb = 0.");
    buf_repeat(b, "1", 100000);
    buf_add(b, ";\nc = 1e99999999999999999999;\nd = 1e-99999;\ne = 1");
    buf_repeat(b, "0", 400);
    buf_add(b, ".5;\n");
}

static void edge_strings(Buf *b)
{
    buf_add(b, "a = \"abc\nb = \"");
    buf_repeat(b, "\\\"", 50000);
    buf_add(b, "\nc = \"\\");
    buf_add(b, "\nd = \"x\\q\";\ne = \"never closed");
}

static void edge_comments(Buf *b)
{
    buf_add(b, "model m; # \"not a string\n#");
    buf_repeat(b, "#", 100000);
    buf_add(b, "\nx = 1; # no newline at the end");
}

static void edge_nul(Buf *b)
{
    static const char src[] = "model m;\0\nx\0= 1;\n\"a\0b\";\0";
    buf_insert(b, 0, src, sizeof src - 1);
}

static void edge_dots(Buf *b)
{
    buf_add(b, "x = a");
    buf_repeat(b, ".b", 100000);
    buf_add(b, ";\ny = a");
    buf_repeat(b, ".T", 100000);
    buf_add(b, ";\n");
}

static void edge_many_errors(Buf *b)
{
    buf_repeat(b, "x = );\nconst input = 3;\ntrain { a = ; }\n}\n", 2000);
}

static int write_edges(const char *dir)
{
    static void (*const edges[])(Buf *) = {
        edge_long_sum, edge_long_comment, edge_long_string, edge_parens, edge_open_parens, edge_brackets, edge_calls,
        edge_braces, edge_unary, edge_numbers, edge_strings, edge_comments, edge_nul,
        edge_dots, edge_many_errors,
    };
    int n = (int)(sizeof edges / sizeof *edges), ok = 1;
    for (int i = 0; i <= n; i++) {
        Buf b = { NULL, 0, 0 };
        uint64_t s = 42;
        if (i < n)
            edges[i](&b);
        else
            edge_junk_line(&b, &s);
        char name[64];
        snprintf(name, sizeof name, "edge_%02d.nn", i);
        ok &= write_file(dir, name, &b);
        free(b.p);
    }
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: mutate OUTDIR COUNT SEED_FILE...\n");
        return 2;
    }
    const char *dir = argv[1];
    int count = atoi(argv[2]), nseeds = argc - 3;
    Buf *seeds = calloc((size_t)nseeds, sizeof *seeds);
    for (int i = 0; i < nseeds; i++)
        if (!read_all(argv[3 + i], &seeds[i]))
            return 1;
    int ok = 1;
    for (int k = 0; k < count && ok; k++) {
        uint64_t s = 0x6e6e63u + (uint64_t)k; /* "nnc" */
        const Buf *seed = &seeds[k % nseeds];
        Buf b = { NULL, 0, 0 };
        buf_insert(&b, 0, seed->p ? seed->p : "", seed->len);
        for (size_t n = 1 + rng_below(&s, 4); n > 0; n--)
            mutate_once(&b, &s);
        char name[64];
        snprintf(name, sizeof name, "mut_%04d.nn", k);
        ok = write_file(dir, name, &b);
        free(b.p);
    }
    ok = ok && write_edges(dir);
    for (int i = 0; i < nseeds; i++)
        free(seeds[i].p);
    free(seeds);
    return ok ? 0 : 1;
}
