/* fuzz_frontend.c: libFuzzer harness for the whole compiler, in-process.
 *
 * One input is one .nn source.  It goes through the passes in the order
 * compiler/main.c runs them, with every view that main.c can print turned
 * on, and every emission written:
 *
 *   parse -> -dA -> sema -> -dS -> optimize, autodiff, optimize -> -dG,
 *   --explain, --dot -> plan -> -dP, --report -> storage_check ->
 *   emit_check + emit_c (program) -> emit_check + emit_c (library) +
 *   emit_h -> emit_cuda
 *
 * All of it goes to one sink, /dev/null opened once: the text is still
 * formatted (every printf runs), only not kept.  Each input gets its own
 * arena, freed at the end, so a leak or a pointer kept across inputs shows.
 *
 * The options main.c takes from the command line come from a hash of the
 * input, so that one corpus covers them: --planner naive or greedy, --blas
 * cblas or none, and now and then --batch N.  The input is copied into a
 * NUL-terminated arena buffer, as read_file() gives it to the parser.
 *
 *   clang -fsanitize=fuzzer,address,undefined ...  (make fuzz builds it)
 *   build/fuzz/fuzz_frontend [libFuzzer flags] [CORPUS_DIR | FILE]...
 */
#include "base.h"
#include "ast.h"
#include "graph.h"
#include "plan.h"
#include "emit.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sink = fopen("/dev/null", "w");
    if (!sink) {
        perror("fuzz_frontend: /dev/null");
        abort();
    }
    return 0;
}

/* FNV-1a: the options an input runs with. */
static uint32_t fnv1a(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* main.c's emission for one EmitOptions: emit_check, then the writer. */
static void emit_all(const Graph *g, const Plan *p, EmitOptions eo)
{
    static char arg0[] = "nnc", arg1[] = "fuzz.nn";
    char *argv[] = { arg0, arg1, NULL };
    char hname[512];
    snprintf(hname, sizeof hname, "%s.h", g->model);
    eo.header = hname;

    /* nnc M.nn -o m.c */
    eo.library = 0;
    eo.cuda = 0;
    if (emit_check(g, &eo, sink))
        emit_c(sink, g, p, &eo, 2, argv);

    /* nnc --emit library M.nn -o m.c: m.h, then m.c (library implies --blas none) */
    EmitOptions lib = eo;
    lib.library = 1;
    lib.blas = 0;
    if (emit_check(g, &lib, sink)) {
        emit_h(sink, g, p, &lib);
        emit_c(sink, g, p, &lib, 2, argv);
    }

    /* nnc --target cuda M.nn -o m.cu */
    eo.cuda = 1;
    if (emit_check(g, &eo, sink))
        emit_cuda(sink, g, p, &eo, 2, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t h = fnv1a(data, size);
    int naive = h & 1, batch = (h >> 2 & 7) == 0 ? (int)(h >> 5 & 63) + 1 : 0;
    EmitOptions eo = { 0 };
    eo.blas = (h >> 1 & 1) == 0;

    Arena a;
    arena_init(&a);
    char *src = arena_alloc(&a, size + 1); /* zeroed: src[size] == '\0' */
    if (size)
        memcpy(src, data, size);

    Diag d;
    diag_init(&d, sink, "fuzz.nn", src, size);
    Program *prog = parse_program(&a, &d, "fuzz.nn", src, size);
    ast_dump(sink, prog);
    Graph g;
    graph_init(&g, &a);
    if (d.errors == 0)
        sema_lower(&g, &d, prog, batch);
    if (d.errors == 0)
        sema_dump(sink, &g);
    diag_summary(&d);
    if (d.errors == 0) {
        optimize(&g);
        autodiff(&g);
        optimize(&g);
        graph_dump(sink, &g);
        graph_explain(sink, &g);
        graph_dot(sink, &g);
        Plan plan;
        plan_build(&plan, &g, &a, naive);
        plan_dump(sink, &plan);
        plan_report(sink, &plan);
        if (storage_check(&g, &plan, &d)) { /* main.c stops here when the arena made it too big */
            eo.src = src;
            eo.src_len = size;
            eo.path = "fuzz.nn";
            emit_all(&g, &plan, eo);
        }
    }
    arena_free(&a);
    return 0;
}
