/* main.c: the nnc driver.  main() is the pipeline, one call per pass:
 *
 *   read -> parse -> sema/lower -> autodiff -> optimize -> plan -> emit
 *
 * and each pass can print its result (-dA AST, -dS named values and shapes,
 * -dG graph, -dP plan totals, --report, --dot, --explain).  Exit status: 0
 * ok, 1 errors in the model (or a file that cannot be read or written), 2
 * bad usage.  Every file is written whole or not at all (OutFile in base.h):
 * a full disk leaves the previous file and no temporary behind.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "base.h"
#include "ast.h"
#include "graph.h"
#include "plan.h"
#include "emit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NNC_PREFIX
#define NNC_PREFIX "/usr/local"
#endif
#ifndef NNC_BLAS_LIBS
#define NNC_BLAS_LIBS "-lopenblas"
#endif

typedef struct Options {
    const char *input, *output, *dot;
    int dump_ast, dump_sema, dump_graph, dump_plan, report, explain, check, verbose;
    int batch;      /* --batch N: binds B instead of train.batch */
    int naive;      /* --planner=naive */
    int flags;      /* --cflags (1) or --libs (2), printed after every option is read */
    EmitOptions emit;
} Options;

static const char usage[] =
    "usage: nnc [options] MODEL.nn\n"
    "Compiles a .nn model into a standalone C program that trains it.\n"
    "\n"
    "  -o FILE            write the program: FILE.c is C source, '-' is stdout;\n"
    "                     any other name NAME writes the source NAME.c and builds\n"
    "                     it into the executable NAME with $CC (default cc), the\n"
    "                     runtime and BLAS; NAME.c stays beside NAME, to be read\n"
    "  --target c|cuda    C for the CPU (default), or CUDA for an NVIDIA GPU: -o FILE.cu\n"
    "                     writes CUDA source (a .cu name implies --target cuda); any\n"
    "                     other name NAME writes NAME.cu and builds NAME with nvcc\n"
    "                     ($NVCC, nvcc on PATH or /usr/local/cuda/bin/nvcc; -arch\n"
    "                     from $NNC_CUDA_ARCH, default sm_90), libnnrt_cuda.a,\n"
    "                     libnnrt.a and cuBLAS\n"
    "  --check            check the model only (parse and sema)\n"
    "  --emit program     a program with main (default)\n"
    "  --emit library     only the model functions over static storage: no main,\n"
    "                     no stdio, no malloc (implies --blas none)\n"
    "  --blas cblas|none  GEMM through cblas_sgemm (default) or portable loops\n"
    "  --batch N          bind B to N instead of train.batch\n"
    "  --planner greedy|naive  arena offsets: packed (default) or one buffer each\n"
    "  --report           print the memory plan: every buffer and the totals\n"
    "  --explain          print the backward pass as equations, with their rules\n"
    "  --dot FILE         write forward and backward graphs as Graphviz DOT\n"
    "  -dA -dS -dG -dP    dump the AST, the named values with shapes, the graph,\n"
    "                     the plan's totals\n"
    "  -v                 print the compiler command run for -o\n"
    "  --cflags, --libs   print the flags to build an emitted program yourself,\n"
    "                     as bare words for cc M.c $(nnc --cflags) $(nnc --libs)\n"
    "                     (with --target cuda: for nvcc and a .cu); exit 1 when a\n"
    "                     path in them holds a blank or * ? [, which $(...) would\n"
    "                     split or expand\n"
    "  --version, --help\n";

/* "nnc: <before><arg><after>" and a hint; exit status 2. */
static int usage_error(const char *before, const char *arg, const char *after)
{
    fprintf(stderr, "nnc: %s%s%s\ntry 'nnc --help'\n", before, arg, after);
    return 2;
}

/* ---- where the runtime is: beside an nnc in build/, or under PREFIX ---- */

/* dir/rel with "." and ".." resolved when it exists (build/../runtime
 * prints as runtime), else as written. */
static int join_path(char *out, size_t len, const char *dir, const char *rel)
{
    char joined[8192], *real;
    if (snprintf(joined, sizeof joined, "%s/%s", dir, rel) >= (int)sizeof joined)
        return 0;
    real = realpath(joined, NULL);
    int n = snprintf(out, len, "%s", real ? real : joined);
    free(real);
    return n < (int)len;
}

static void runtime_dirs(char *inc, char *lib, size_t len)
{
    char exe[4096], probe[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
    if (slash) {
        *slash = '\0';
        /* in the build tree: build/nnc beside build/libnnrt.a, runtime/nnrt.h */
        snprintf(probe, sizeof probe, "%s/libnnrt.a", exe);
        if (access(probe, R_OK) == 0 && join_path(lib, len, exe, ".") && join_path(inc, len, exe, "../runtime"))
            return;
        /* installed: PREFIX/bin/nnc, PREFIX/lib/libnnrt.a, PREFIX/include/nnrt.h */
        snprintf(probe, sizeof probe, "%s/../lib/libnnrt.a", exe);
        if (access(probe, R_OK) == 0 && join_path(lib, len, exe, "../lib") && join_path(inc, len, exe, "../include"))
            return;
    }
    snprintf(inc, len, "%s/include", NNC_PREFIX);
    snprintf(lib, len, "%s/lib", NNC_PREFIX);
}

/* ---- the flags as shell words ----
 * For the command nnc runs itself (quote = 1) a path is one word in single
 * quotes (a ' inside written '\''), so any name works.  For --cflags and
 * --libs (quote = 0) the words are printed bare, because the shell does not
 * remove quotes from the output of $(nnc --cflags): it only splits it at
 * blanks and expands * ? [.  A path holding one of those cannot be printed
 * usably; print_flags refuses it. */
static void put_path(char *out, size_t len, const char *path, int quote)
{
    size_t k = strlen(out);
    if (!quote) {
        snprintf(out + k, len - k, "%s", path);
        return;
    }
    if (k + 1 < len)
        out[k++] = '\'', out[k] = '\0';
    for (const char *c = path; *c && k + 5 < len; c++) {
        if (*c == '\'')
            memcpy(out + k, "'\\''", 4), k += 4;
        else
            out[k++] = *c;
    }
    snprintf(out + k, len - k, "'");
}

/* "before<path>after", appended to out. */
static void put_word(char *out, size_t len, const char *before, const char *path, const char *after, int quote)
{
    size_t k = strlen(out);
    snprintf(out + k, len - k, "%s", before);
    put_path(out, len, path, quote);
    k = strlen(out);
    snprintf(out + k, len - k, "%s", after);
}

/* The first character of path that $(...) would split at or expand, or 0. */
static char unsafe_char(const char *path)
{
    const char *c = path + strcspn(path, " \t\n*?[");
    return *c;
}

/* ---- --target cuda: nvcc, its -arch, and the CUDA runtime beside libnnrt ---- */
static const char *cuda_arch(void)
{
    const char *a = getenv("NNC_CUDA_ARCH");
    return a && *a ? a : "sm_90";
}

/* $NVCC, else nvcc on PATH, else /usr/local/cuda/bin/nvcc; NULL if none. */
static const char *find_nvcc(char *buf, size_t len)
{
    const char *env = getenv("NVCC"), *path = getenv("PATH");
    if (env && *env)
        return env;
    for (const char *p = path; p && *p;) {
        const char *colon = strchr(p, ':');
        int n = colon ? (int)(colon - p) : (int)strlen(p);
        if (n > 0 && snprintf(buf, len, "%.*s/nvcc", n, p) < (int)len && access(buf, X_OK) == 0)
            return buf;
        p = colon ? colon + 1 : NULL;
    }
    if (access("/usr/local/cuda/bin/nvcc", X_OK) == 0)
        return "/usr/local/cuda/bin/nvcc";
    return NULL;
}

/* CUDA's libraries: the first lib64 that exists of DIR/lib64 beside the
 * bin/ that holds nvcc (kept as named so that /usr/local/cuda follows its
 * symlink), $CUDA_HOME/lib64 and /usr/local/cuda/lib64 (nvcc may be a
 * wrapper script elsewhere, /usr/local/bin/nvcc say); "" when none does,
 * as where the libraries sit in the linker's own directories. */
static void cuda_libdir(char *out, size_t len, const char *nvcc)
{
    const char *slash = nvcc ? strrchr(nvcc, '/') : NULL;
    const char *home = getenv("CUDA_HOME");
    int n = slash ? (int)(slash - nvcc) : 0;
    out[0] = '\0';
    if (n >= 4 && strncmp(slash - 4, "/bin", 4) == 0)
        snprintf(out, len, "%.*s/lib64", n - 4, nvcc);
    else if (slash)
        snprintf(out, len, "%.*s/../lib64", n, nvcc);
    if (out[0] && access(out, F_OK) == 0)
        return;
    if (home && *home && snprintf(out, len, "%s/lib64", home) < (int)len && access(out, F_OK) == 0)
        return;
    snprintf(out, len, "%s", access("/usr/local/cuda/lib64", F_OK) == 0 ? "/usr/local/cuda/lib64" : "");
}

/* The flags of a build, as shell words (put_path): the headers (cflags),
 * or the libraries.  CPU: libnnrt.a, BLAS, zlib.  CUDA: the headers of both
 * runtimes; libnnrt_cuda.a, libnnrt.a, cuBLAS, with an rpath to CUDA's
 * libraries beside nvcc. */
static void build_flags(char *out, size_t len, int cflags, int cuda, const char *nvcc, int quote)
{
    char inc[4096], lib[4096], cudalib[4200];
    runtime_dirs(inc, lib, sizeof inc);
    out[0] = '\0';
    if (cflags) {
        put_word(out, len, "-I", inc, "", quote);
        if (cuda)
            put_word(out, len, " -I", inc, "/cuda", quote);
        return;
    }
    if (cuda)
        put_word(out, len, "", lib, "/libnnrt_cuda.a ", quote);
    put_word(out, len, "", lib, "/libnnrt.a " NNC_BLAS_LIBS, quote);
    size_t k = strlen(out);
    snprintf(out + k, len - k, "%s -lz -lm", cuda ? " -lcublas" : "");
    cuda_libdir(cudalib, sizeof cudalib, nvcc);
    if (cuda && cudalib[0])
        put_word(out, len, " -Xlinker -rpath -Xlinker ", cudalib, "", quote);
}

/* --cflags, --libs: bare words for $(nnc --cflags); a path that the shell
 * would split or expand there is an error (exit 1). */
static int print_flags(int cflags, int cuda)
{
    char inc[4096], lib[4096], nv[4096], cudalib[4200], flags[16384];
    const char *nvcc = cuda ? find_nvcc(nv, sizeof nv) : NULL;
    runtime_dirs(inc, lib, sizeof inc);
    cuda_libdir(cudalib, sizeof cudalib, nvcc);
    const char *paths[3] = {cflags ? inc : lib, cuda && !cflags ? cudalib : "", ""};
    for (int i = 0; paths[i][0]; i++) {
        char c = unsafe_char(paths[i]);
        if (c) {
            fprintf(stderr, "nnc: %s's path '%s' holds %s, which the shell splits or expands in $(nnc %s); "
                            "install nnc under a path without blanks or * ? [ (make install PREFIX=DIR)\n",
                    i ? "CUDA's libraries" : "the runtime", paths[i],
                    c == ' ' ? "a space" : c == '\t' ? "a tab" : c == '\n' ? "a newline" : c == '*' ? "a '*'" : c == '?' ? "a '?'" : "a '['",
                    cflags ? "--cflags" : "--libs");
            return 1;
        }
    }
    build_flags(flags, sizeof flags, cflags, cuda, nvcc, 0);
    printf("%s\n", flags);
    return 0;
}

static int parse_value(int argc, char **argv, int *i, const char **out)
{
    if (*i + 1 >= argc)
        return 0;
    *out = argv[++*i];
    return 1;
}

/* Returns -1 to go on, or an exit status. */
static int parse_options(int argc, char **argv, Options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { fputs(usage, stdout); return 0; }
        if (strcmp(a, "--version") == 0) { printf("nnc %s\n", NNC_VERSION); return 0; }
        if (strcmp(a, "--cflags") == 0 || strcmp(a, "--libs") == 0) { o->flags = a[2] == 'c' ? 1 : 2; continue; }
        if (strcmp(a, "-dA") == 0) o->dump_ast = 1;
        else if (strcmp(a, "-dS") == 0) o->dump_sema = 1;
        else if (strcmp(a, "-dG") == 0) o->dump_graph = 1;
        else if (strcmp(a, "-dP") == 0) o->dump_plan = 1;
        else if (strcmp(a, "--report") == 0) o->report = 1;
        else if (strcmp(a, "--explain") == 0) o->explain = 1;
        else if (strcmp(a, "--check") == 0) o->check = 1;
        else if (strcmp(a, "-v") == 0) o->verbose = 1;
        else if (strcmp(a, "-o") == 0) {
            if (!parse_value(argc, argv, &i, &o->output)) return usage_error("", a, " needs a file name");
        } else if (strcmp(a, "--dot") == 0) {
            if (!parse_value(argc, argv, &i, &o->dot)) return usage_error("", a, " needs a file name");
        } else if (strcmp(a, "--batch") == 0) {
            char *end;
            if (!parse_value(argc, argv, &i, &v)) return usage_error("", a, " needs a number");
            long b = strtol(v, &end, 10);
            if (*end || b < 1 || b > 1000000) return usage_error("--batch needs a positive integer, not '", v, "'");
            o->batch = (int)b;
        } else if (strcmp(a, "--planner") == 0 || strncmp(a, "--planner=", 10) == 0) {
            if (a[9] == '=') v = a + 10;
            else if (!parse_value(argc, argv, &i, &v)) return usage_error("", a, " needs greedy or naive");
            if (strcmp(v, "naive") && strcmp(v, "greedy")) return usage_error("--planner is greedy or naive, not '", v, "'");
            o->naive = strcmp(v, "naive") == 0;
        } else if (strcmp(a, "--emit") == 0) {
            if (!parse_value(argc, argv, &i, &v)) return usage_error("", a, " needs program or library");
            if (strcmp(v, "program") && strcmp(v, "library")) return usage_error("--emit is program or library, not '", v, "'");
            o->emit.library = strcmp(v, "library") == 0;
            if (o->emit.library)
                o->emit.blas = 0;
        } else if (strcmp(a, "--target") == 0 || strncmp(a, "--target=", 9) == 0) {
            if (a[8] == '=') v = a + 9;
            else if (!parse_value(argc, argv, &i, &v)) return usage_error("", a, " needs c or cuda");
            if (strcmp(v, "c") && strcmp(v, "cuda")) return usage_error("--target is c or cuda, not '", v, "'");
            o->emit.cuda = strcmp(v, "cuda") == 0;
        } else if (strcmp(a, "--blas") == 0) {
            if (!parse_value(argc, argv, &i, &v)) return usage_error("", a, " needs cblas or none");
            if (strcmp(v, "cblas") && strcmp(v, "none")) return usage_error("--blas is cblas or none, not '", v, "'");
            o->emit.blas = strcmp(v, "cblas") == 0;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '", a, "'");
        } else if (o->input) {
            return usage_error("one model at a time; '", a, "' is a second one");
        } else {
            o->input = a;
        }
    }
    if (o->flags)
        return print_flags(o->flags == 1, o->emit.cuda);
    if (!o->input)
        return usage_error("", "no model given", "");
    return -1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Runs a build command (shown with -v); 0 or 1. */
static int run_build(const Options *o, const char *cmd)
{
    if (o->verbose)
        fprintf(stderr, "%s\n", cmd);
    if (system(cmd) != 0) {
        fprintf(stderr, "nnc: building %s failed (the command was: %s)\n", o->output, cmd);
        return 1;
    }
    return 0;
}

/* --target cuda -o NAME: the .cu built with nvcc into NAME. */
static int build_cuda(const Options *o, const char *cusrc)
{
    char nv[4096], cflags[9000], libs[16384], cmd[40000] = "";
    const char *nvcc = find_nvcc(nv, sizeof nv);
    if (!nvcc) {
        fprintf(stderr, "nnc: nvcc not found (set NVCC, or put CUDA's bin on PATH); -o NAME.cu writes the source "
                        "without building it\n");
        return 1;
    }
    build_flags(cflags, sizeof cflags, 1, 1, nvcc, 1);
    build_flags(libs, sizeof libs, 0, 1, nvcc, 1);
    put_word(cmd, sizeof cmd, "", nvcc, " -O2 -std=c++17", 1);
    put_word(cmd, sizeof cmd, " -arch=", cuda_arch(), "", 1);
    put_word(cmd, sizeof cmd, " -o ", o->output, "", 1);
    put_word(cmd, sizeof cmd, " ", cusrc, " ", 1);
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s %s", cflags, libs);
    return run_build(o, cmd);
}

/* -o NAME: the C source built with $CC (a command line, so unquoted) into NAME. */
static int build_program(const Options *o, const char *csrc)
{
    char cflags[9000], libs[16384], cmd[40000] = "";
    const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
    build_flags(cflags, sizeof cflags, 1, 0, NULL, 1);
    build_flags(libs, sizeof libs, 0, 0, NULL, 1);
    snprintf(cmd, sizeof cmd, "%s -std=c99 -O3 -fno-math-errno", cc);
    put_word(cmd, sizeof cmd, " -o ", o->output, "", 1);
    put_word(cmd, sizeof cmd, " ", csrc, " ", 1);
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s %s", cflags, libs);
    return run_build(o, cmd);
}

/* Writes the source (emit_c or emit_cuda) and, in library mode, the header
 * beside it (hpath, else NULL); both are complete or neither replaces
 * what was there. */
static int write_files(const char *path, const char *hpath, int cuda, const EmitOptions *eo, const Graph *g,
                       const Plan *p, int argc, char **argv)
{
    OutFile src, hdr = {0};
    EmitOptions named = *eo; /* the file's own name for its first line (NAME.c, not MODEL.c) */
    const char *slash = strrchr(path, '/');
    named.source = strcmp(path, "-") == 0 ? NULL : slash ? slash + 1 : path;
    eo = &named;
    if (out_open(&src, path) < 0)
        return 1;
    if (hpath && out_open(&hdr, hpath) < 0) {
        out_discard(&src);
        return 1;
    }
    if (hpath)
        emit_h(hdr.f, g, p, eo);
    if (cuda)
        emit_cuda(src.f, g, p, eo, argc, argv);
    else
        emit_c(src.f, g, p, eo, argc, argv);
    if (out_close(&src) < 0 || out_close(&hdr) < 0 || out_rename(&hdr) < 0 || out_rename(&src) < 0) {
        out_discard(&src);
        out_discard(&hdr);
        return 1;
    }
    return 0;
}

/* The source file of -o NAME: NAME itself when it is the source (NAME.c,
 * NAME.cu, '-'), else NAME.c (NAME.cu) kept beside the program NAME, so
 * that what runs can be read.  0 when the name does not fit. */
static int source_path(char *path, size_t len, const char *output, int build, const char *ext)
{
    if (snprintf(path, len, "%s%s", output, build ? ext : "") < (int)len)
        return 1;
    fprintf(stderr, "nnc: -o '%.40s...' is a name of %zu bytes, too long for a file name\n", output, strlen(output));
    return 0;
}

/* --target cuda: NAME.cu or '-' is the source; any other name writes
 * NAME.cu and builds it with nvcc into NAME. */
static int write_cuda(const Options *o, const EmitOptions *eo, const Graph *g, const Plan *p, int argc, char **argv)
{
    int to_stdout = strcmp(o->output, "-") == 0, build = !to_stdout && !ends_with(o->output, ".cu");
    if (eo->library) {
        fprintf(stderr, "nnc: --emit library is C only; --target cuda writes a program\n");
        return 2;
    }
    if (ends_with(o->output, ".c")) {
        fprintf(stderr, "nnc: --target cuda writes CUDA source: give -o NAME.cu (or a program name to build)\n");
        return 2;
    }
    char path[4096];
    if (!source_path(path, sizeof path, o->output, build, ".cu"))
        return 1;
    if (write_files(path, NULL, 1, eo, g, p, argc, argv))
        return 1;
    return build ? build_cuda(o, path) : 0;
}

static int write_output(const Options *o, EmitOptions *eo, const Graph *g, const Plan *p, int argc, char **argv)
{
    int to_stdout = strcmp(o->output, "-") == 0;
    if (ends_with(o->output, ".cu"))
        eo->cuda = 1;
    if (eo->cuda)
        return write_cuda(o, eo, g, p, argc, argv);
    int build = !to_stdout && !ends_with(o->output, ".c");
    if (eo->library && build) {
        fprintf(stderr, "nnc: --emit library writes C source: give -o NAME.c (NAME.h is written beside it)\n");
        return 2;
    }
    char hname[512], hpath[4096];
    const char *base = strrchr(o->output, '/') ? strrchr(o->output, '/') + 1 : o->output;
    if (to_stdout)
        snprintf(hname, sizeof hname, "%s.h", g->model);
    else
        snprintf(hname, sizeof hname, "%.*s.h", (int)strlen(base) - 2, base);
    eo->header = hname;
    /* library mode: M.h beside M.c (not with -o -) */
    snprintf(hpath, sizeof hpath, "%.*s.h", (int)strlen(o->output) - 2, o->output);
    char path[4096];
    if (!source_path(path, sizeof path, o->output, build, ".c"))
        return 1;
    if (write_files(path, eo->library && !to_stdout ? hpath : NULL, 0, eo, g, p, argc, argv))
        return 1;
    return build ? build_program(o, path) : 0;
}

static int compile(const Options *o, Arena *a, int argc, char **argv)
{
    size_t len;
    char *src = read_file(a, o->input, &len);
    if (!src)
        return 1;
    Diag d;
    diag_init(&d, stderr, o->input, src, len);
    Program *prog = parse_program(a, &d, o->input, src, len);
    if (o->dump_ast)
        ast_dump(stdout, prog);
    Graph g;
    graph_init(&g, a);
    if (d.errors == 0)
        sema_lower(&g, &d, prog, o->batch);
    if (o->dump_sema && d.errors == 0)
        sema_dump(stdout, &g);
    diag_summary(&d);
    if (d.errors)
        return 1;
    if (o->check)
        return 0;
    optimize(&g); /* CSE before autodiff: a value written twice is differentiated once */
    autodiff(&g);
    optimize(&g);
    if (o->dump_graph)
        graph_dump(stdout, &g);
    if (o->explain)
        graph_explain(stdout, &g);
    if (o->dot) {
        OutFile dot;
        if (out_open(&dot, o->dot) < 0)
            return 1;
        graph_dot(dot.f, &g);
        if (out_commit(&dot) < 0)
            return 1;
    }
    Plan plan;
    plan_build(&plan, &g, a, o->naive);
    if (o->dump_plan)
        plan_dump(stdout, &plan);
    if (o->report)
        plan_report(stdout, &plan);
    if (!storage_check(&g, &plan, &d))
        return 1; /* the arena made the static storage too big for the target */
    if (!o->output)
        return 0;
    EmitOptions eo = o->emit;
    eo.src = src;
    eo.src_len = len;
    eo.path = o->input;
    if (!emit_check(&g, &eo, stderr))
        return 1;
    return write_output(o, &eo, &g, &plan, argc, argv);
}

int main(int argc, char **argv)
{
    Options o = {0};
    o.emit.blas = 1;
    int rc = parse_options(argc, argv, &o);
    if (rc < 0) {
        Arena a;
        arena_init(&a);
        rc = compile(&o, &a, argc, argv);
        arena_free(&a);
    }
    /* dumps, --help, -o -: a full disk or a closed pipe is an error too */
    if (out_check_stdout() < 0 && rc == 0)
        rc = 1;
    return rc;
}
