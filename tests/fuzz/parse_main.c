/* parse_main.c: the front end alone, for the sanitizer run (run_fuzz.sh).
 *
 *   parse_main [-d] FILE...
 *
 * Parses each FILE in turn in one process (each with its own arena, so a
 * leak or a stale pointer between parses shows), dumps the tree to
 * /dev/null (to stdout with -d) and prints the diagnostics to stderr.
 * Exit 1 if any file had errors or could not be read, 0 otherwise.
 */
#include "ast.h"

#include <string.h>

static int parse_one(const char *path, FILE *dump)
{
    Arena a;
    arena_init(&a);
    size_t len;
    char *src = read_file(&a, path, &len);
    if (!src) {
        arena_free(&a);
        return 1;
    }
    Diag d;
    diag_init(&d, stderr, path, src, len);
    Program *p = parse_program(&a, &d, path, src, len);
    if (dump)
        ast_dump(dump, p);
    diag_summary(&d);
    arena_free(&a);
    return d.errors > 0;
}

int main(int argc, char **argv)
{
    int first = argc > 1 && strcmp(argv[1], "-d") == 0 ? 2 : 1;
    if (first >= argc) {
        fprintf(stderr, "usage: parse_main [-d] FILE...\n");
        return 2;
    }
    FILE *dump = first == 2 ? stdout : fopen("/dev/null", "w");
    int status = 0;
    for (int i = first; i < argc; i++)
        status |= parse_one(argv[i], dump);
    if (dump && dump != stdout)
        fclose(dump);
    return status;
}
