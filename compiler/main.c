/* main.c: the nnc driver.  main() is the pipeline, one call per pass:
 *
 *   read -> parse -> sema/lower -> optimize -> autodiff -> optimize -> plan
 *        -> emit (C or CUDA)
 *
 * and each pass can print its result (-dA AST, -dS named values and shapes,
 * -dG graph, -dP plan totals, --report, --dot, --explain).  -o NAME (not
 * .c, .cu or '-') builds the source into the program NAME, and --cflags /
 * --libs print the flags to build one yourself: build.c.  Exit status: 0
 * ok, 1 errors in the model (or a file that cannot be read or written), 2
 * bad usage.  Every file is written whole or not at all (OutFile in base.h):
 * a full disk leaves the previous file and no temporary behind.
 */
#include "base.h"
#include "ast.h"
#include "graph.h"
#include "plan.h"
#include "emit.h"
#include "build.h"

#include <stdlib.h>
#include <string.h>

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
    "  --mpi              a program trained data parallel over MPI ranks, launched\n"
    "                     as mpirun -np N ./NAME: each rank takes 1/N of every batch\n"
    "                     (N must divide B), one allreduce of the gradients a step,\n"
    "                     rank 0 prints and writes files; built with MPI's flags\n"
    "                     (and NCCL with --target cuda); docs/mpi.md\n"
    "  --emit program     a program with main (default)\n"
    "  --emit library     only the model functions over static storage: no main,\n"
    "                     no stdio, no malloc (implies --blas none)\n"
    "  --blas cblas|none  GEMM through the runtime's BLAS (default: BLIS or OpenBLAS,\n"
    "                     as make chose; nnc --libs names it) or portable loops\n"
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
        else if (strcmp(a, "--mpi") == 0) o->emit.mpi = 1;
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
    if (o->emit.mpi && o->emit.library)
        return usage_error("--mpi builds a program with main", "", "; --emit library has none (drop one of them)");
    if (o->flags)
        return build_print_flags(o->flags == 1, o->emit.cuda, o->emit.mpi);
    if (!o->input)
        return usage_error("", "no model given", "");
    return -1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
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
    return build ? build_cuda(o->output, path, eo->mpi, o->verbose) : 0;
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
    return build ? build_program(o->output, path, eo->mpi, o->verbose) : 0;
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
    /* the C program with BLAS convolves by im2col + GEMM: plan its workspaces */
    plan_build_ws(&plan, &g, a, o->naive, o->emit.blas && !o->emit.library && !o->emit.cuda);
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
