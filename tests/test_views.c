/* test_views.c: the graph's views for people, through the nnc driver.
 *
 *   - `nnc -dG models/twolayer.nn` matches tests/golden/twolayer.dG and
 *     `nnc --explain models/twolayer.nn` matches tests/golden/twolayer.explain,
 *     byte for byte (NNC_UPDATE_GOLDEN=1 rewrites them; read the diff);
 *   - `nnc --dot F.dot M.nn` for every model in models/ gives a file that
 *     `dot -Tsvg` renders with nothing on stderr;
 *   - -dG and --explain work on every model, and --explain keeps its rule
 *     column aligned by display width (ᵀ, Σ, σ are several bytes, one
 *     column);
 *   - --explain gives what docs/design.md describes: the seed, the MatMul
 *     and Repeat ↔ Sum rules, branch gradients of a shared param, the
 *     update rule with clipping and weight decay.
 * Run from the repository root (build/nnc, models/, tests/golden/).
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NNC "build/nnc"

/* ---- running commands ------------------------------------------------------- */
typedef struct Run {
    char *out; /* stdout */
    size_t len;
    int status; /* exit status, or -1 */
} Run;

static Run run(const char *cmd)
{
    Run r = {NULL, 0, -1};
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "cannot run %s", cmd);
    FILE *buf = open_memstream(&r.out, &r.len);
    ck_assert(buf != NULL);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        fwrite(chunk, 1, n, buf);
    fclose(buf);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = NULL;
    FILE *buf = open_memstream(&s, len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, buf);
    fclose(buf);
    fclose(f);
    return s;
}

static void spit(const char *path, const char *s, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fwrite(s, 1, len, f);
    fclose(f);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The models in models/, sorted by name (free each); returns the count. */
static int model_paths(char **paths, int cap)
{
    DIR *dir = opendir("models");
    ck_assert_msg(dir != NULL, "run the tests from the repository root (models/ not found)");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir)) && n < cap) {
        size_t len = strlen(e->d_name);
        if (len > 3 && strcmp(e->d_name + len - 3, ".nn") == 0) {
            paths[n] = malloc(len + 8);
            ck_assert(paths[n] != NULL);
            memcpy(paths[n], "models/", 7);
            memcpy(paths[n++] + 7, e->d_name, len + 1);
        }
    }
    closedir(dir);
    qsort(paths, (size_t)n, sizeof *paths, by_name);
    ck_assert_msg(n > 0, "no models in models/");
    return n;
}

/* ---- goldens -------------------------------------------------------------------- */
static void check_golden(const char *cmd, const char *golden)
{
    Run r = run(cmd);
    ck_assert_msg(r.status == 0, "%s: exit %d", cmd, r.status);
    if (getenv("NNC_UPDATE_GOLDEN")) {
        spit(golden, r.out, r.len);
        free(r.out);
        return;
    }
    size_t len;
    char *want = slurp(golden, &len);
    ck_assert_msg(want != NULL, "%s is missing (NNC_UPDATE_GOLDEN=1 writes it)", golden);
    int same = len == r.len && memcmp(want, r.out, len) == 0;
    if (!same) {
        char tmp[] = "/tmp/nnc_view_XXXXXX";
        int fd = mkstemp(tmp);
        ck_assert(fd >= 0);
        close(fd);
        spit(tmp, r.out, r.len);
        char diff[512];
        snprintf(diff, sizeof diff, "diff -u %s %s >&2", golden, tmp);
        if (system(diff) < 0)
            perror("diff");
        unlink(tmp);
    }
    free(want);
    free(r.out);
    ck_assert_msg(same, "%s differs from %s (diff above; NNC_UPDATE_GOLDEN=1 rewrites it)", cmd, golden);
}

START_TEST(dG_twolayer_golden)
{
    check_golden(NNC " -dG models/twolayer.nn", "tests/golden/twolayer.dG");
}
END_TEST

START_TEST(explain_twolayer_golden)
{
    check_golden(NNC " --explain models/twolayer.nn", "tests/golden/twolayer.explain");
}
END_TEST

/* ---- --dot ---------------------------------------------------------------------- */
START_TEST(dot_every_model_renders)
{
    Run have = run("command -v dot");
    ck_assert_msg(have.status == 0, "graphviz's dot is not installed (apt-get install graphviz)");
    free(have.out);
    char *paths[64];
    int n = model_paths(paths, 64);
    char dotf[] = "/tmp/nnc_dot_XXXXXX", errf[] = "/tmp/nnc_doterr_XXXXXX";
    int fd1 = mkstemp(dotf), fd2 = mkstemp(errf);
    ck_assert(fd1 >= 0 && fd2 >= 0);
    close(fd1);
    close(fd2);
    for (int i = 0; i < n; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, NNC " --dot %s %s", dotf, paths[i]);
        Run r = run(cmd);
        ck_assert_msg(r.status == 0, "%s: exit %d", cmd, r.status);
        free(r.out);
        size_t len;
        char *dot = slurp(dotf, &len);
        ck_assert_msg(dot && strstr(dot, "cluster_forward") && strstr(dot, "cluster_backward") &&
                          strstr(dot, "cluster_update"),
                      "%s: the DOT file lacks the forward, backward or update cluster", paths[i]);
        free(dot);
        snprintf(cmd, sizeof cmd, "dot -Tsvg %s -o /dev/null 2>%s", dotf, errf);
        r = run(cmd);
        char *err = slurp(errf, &len);
        ck_assert_msg(r.status == 0 && len == 0, "dot -Tsvg of %s: exit %d, stderr:\n%s", paths[i], r.status,
                      err ? err : "");
        free(err);
        free(r.out);
        free(paths[i]);
    }
    unlink(dotf);
    unlink(errf);
}
END_TEST

/* ---- -dG and --explain on every model ------------------------------------------------ */

/* Columns up to byte `end` of a line (UTF-8 continuation bytes take none). */
static int columns(const char *s, const char *end)
{
    int w = 0;
    for (; s < end; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Every equation line whose formula fits the column has its rule at the
 * same column; a longer formula pushes its own rule only. */
static void check_aligned(const char *what, char *text)
{
    int col = -1;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *rule = strstr(line, "  (");
        if (strncmp(line, "  ", 2) != 0 || !rule)
            continue;
        while (rule > line + 2 && rule[-1] == ' ')
            rule--;
        int formula = columns(line + 2, rule), at = columns(line, strstr(rule, "("));
        if (formula > 44)
            continue;
        if (col < 0)
            col = at;
        ck_assert_msg(at == col, "%s: the rule of \"%s\" starts at column %d, the others at %d", what, line, at, col);
    }
    ck_assert_msg(col > 0, "%s: no equation with a rule", what);
}

START_TEST(views_work_on_every_model)
{
    char *paths[64];
    int n = model_paths(paths, 64);
    for (int i = 0; i < n; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, NNC " -dG %s", paths[i]);
        Run r = run(cmd);
        ck_assert_msg(r.status == 0 && strstr(r.out, "# backward") && strstr(r.out, "# update"), "%s: exit %d\n%s", cmd,
                      r.status, r.out);
        free(r.out);
        snprintf(cmd, sizeof cmd, NNC " --explain %s", paths[i]);
        r = run(cmd);
        ck_assert_msg(r.status == 0 && strstr(r.out, "the update, after the backward pass"), "%s: exit %d\n%s", cmd,
                      r.status, r.out);
        ck_assert_msg(!strstr(r.out, "t?"), "%s: an unnamed value reads t?", cmd);
        check_aligned(paths[i], r.out);
        free(r.out);
        free(paths[i]);
    }
}
END_TEST

/* --explain of a model written to a temporary file. */
static char *explain_of(const char *src)
{
    char path[] = "/tmp/nnc_explain_XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    spit(path, src, strlen(src));
    char cmd[512];
    snprintf(cmd, sizeof cmd, NNC " --explain %s", path);
    Run r = run(cmd);
    unlink(path);
    ck_assert_msg(r.status == 0, "%s: exit %d", cmd, r.status);
    return r.out;
}

static void has(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want) != NULL, "--explain lacks \"%s\":\n%s", want, text);
}

START_TEST(explain_reads_like_the_math)
{
    Run r = run(NNC " --explain models/twolayer.nn");
    ck_assert_int_eq(r.status, 0);
    has(r.out, "  dloss = 1 ");
    has(r.out, "  dy = (softmax(y) - onehot(t)) / n ");
    has(r.out, "  dW2 = hᵀ · dy ");
    has(r.out, "  dh = dy · W2ᵀ ");
    has(r.out, "(MatMul: transpose the other operand)");
    has(r.out, "  db1 = Σ_rows dh_add ");
    has(r.out, "(b1 was repeated over the B rows: Repeat ↔ Sum)");
    has(r.out, "line 15:  h_matmul = x · W1;  h_add = h_matmul + b1;  h = σ(h_add)\n");
    has(r.out, "  W1 -= lr · dW1 ");
    has(r.out, "(SGD: a step against the gradient)");
    free(r.out);

    char *e = explain_of("model share;\ninput x: f32[B, 3];\nlabel t: i32[B];\nparam W: [3, 3];\n"
                         "h = sigmoid(x @ W);\ny = h @ W;\nloss = softmax_cross_entropy(y, t);\nminimize loss;\n"
                         "train { optimizer = adam(lr=0.01); clip_grad = 5; weight_decay = 0.001; }\n");
    has(e, "  dW_1 = hᵀ · dy ");
    has(e, "  dW_2 = xᵀ · dh_matmul ");
    has(e, "  dW = dW_1 + dW_2 ");
    has(e, "(W is used twice: branch gradients add)");
    has(e, "the update, after the backward pass: adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08), clip_grad=5, "
           "weight_decay=0.001\n");
    has(e, "  grad_norm = √(Σ g²), g in dW ");
    has(e, "(clip_grad = 5: when grad_norm > 5, every gradient is scaled by s = 5/(grad_norm + 1e-6))");
    has(e, "g = (s·dW + 0.001·W)");
    has(e, "(Adam: ");
    free(e);

    e = explain_of("model rep;\nparam P: [3, 1];\nparam Q: [1, 4];\ninput R: f32[B, 3, 4];\n"
                   "loss = sum((P + Q) * R);\nminimize loss;\n");
    has(e, "(loss_add was repeated over the B rows: Repeat ↔ Sum)");
    has(e, "  dP = sum_to(dloss_add, [3, 1]) ");
    has(e, "(P was repeated over axis 1: Repeat ↔ Sum)");
    has(e, "(Q was repeated over axis 0: Repeat ↔ Sum)");
    free(e);

    e = explain_of("model rep;\ninput X: f32[B, 3];\nparam P: [1];\nloss = sum((X + P) * X);\nminimize loss;\n");
    has(e, "(P was repeated over the B rows and axis 1: Repeat ↔ Sum)");
    free(e);
}
END_TEST

static Suite *views_suite(void)
{
    Suite *s = suite_create("views");
    TCase *tc = tcase_create("views");
    tcase_add_test(tc, dG_twolayer_golden);
    tcase_add_test(tc, explain_twolayer_golden);
    tcase_add_test(tc, dot_every_model_renders);
    tcase_add_test(tc, views_work_on_every_model);
    tcase_add_test(tc, explain_reads_like_the_math);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(views_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
