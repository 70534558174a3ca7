/* parse_main.c: the front end alone, for the sanitizer run (run_fuzz.sh).
 *
 *   parse_main FILE     parse FILE, dump the tree to /dev/null (or to
 *                       stdout with -d), print diagnostics to stderr;
 *                       exit 1 on errors, 0 otherwise.
 */
#include "ast.h"

#include <string.h>

int main(int argc, char **argv)
{
    int dump = argc == 3 && strcmp(argv[1], "-d") == 0;
    if (argc != 2 + dump) {
        fprintf(stderr, "usage: parse_main [-d] FILE\n");
        return 2;
    }
    const char *path = argv[1 + dump];
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
    FILE *out = dump ? stdout : fopen("/dev/null", "w");
    if (out) {
        ast_dump(out, p);
        if (!dump)
            fclose(out);
    }
    diag_summary(&d);
    int status = d.errors > 0;
    arena_free(&a);
    return status;
}
