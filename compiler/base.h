/* base.h: what every pass of nnc shares.
 *
 *   Loc    a place in the model source (file, line, column, length), carried
 *          by every token, AST node and graph node, so that any pass can
 *          point back at the line that produced a value.
 *   Arena  the compiler's allocator: everything a compilation allocates comes
 *          from one arena and is freed by one arena_free().
 *   Diag   the diagnostic sink: "FILE:LINE:COL: error: MESSAGE", the source
 *          line, and a caret (or ^~~~ under the whole token).  It counts the
 *          errors and stops printing after NNC_MAX_ERRORS.
 *
 * Three failure paths: user errors go through error_at(); I/O
 * failures through the checked wrappers (xfopen, read_file) that name the
 * file; broken invariants through NNC_ASSERT, which says what went wrong.
 */
#ifndef NNC_BASE_H
#define NNC_BASE_H

#include <stddef.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>

#define NNC_VERSION "0.1.0"
#define NNC_MAX_ERRORS 20

typedef struct Loc {
    const char *file;
    int line, col; /* 1-based */
    int len;       /* length of the token underlined, >= 1 */
} Loc;

/* ---- arena ---------------------------------------------------------- */
typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
    ArenaBlock *head;
} Arena;

void arena_init(Arena *a);
void arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size);              /* zeroed */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A growable array of pointers (AST lists, node users, ...). */
typedef struct PtrVec {
    void **items;
    int len, cap;
} PtrVec;
void ptrvec_push(Arena *a, PtrVec *v, void *item);

/* ---- diagnostics ---------------------------------------------------- */
typedef struct Diag {
    FILE *out;         /* where messages go (stderr, or a memstream in tests) */
    const char *file;  /* name printed in messages */
    const char *src;   /* the whole source text, for quoting lines */
    size_t src_len;
    int errors, warnings;
    int suppressed;    /* errors not printed past NNC_MAX_ERRORS */
} Diag;

void diag_init(Diag *d, FILE *out, const char *file, const char *src, size_t len);
void error_at(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void warn_at(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void note_at(Diag *d, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vdiag_at(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap);
/* Finish: prints "N errors generated" style summary line when errors > 0. */
void diag_summary(Diag *d);

/* ---- checked system calls -------------------------------------------- */
/* Reads a whole file; on failure prints "nnc: cannot read PATH: REASON" and
 * returns NULL.  Rejects directories. *len receives the byte count. */
char *read_file(Arena *a, const char *path, size_t *len);
FILE *xfopen(const char *path, const char *mode); /* NULL + message on failure */

/* An output written whole or not at all.  out_open makes a temporary file
 * beside PATH (PATH.XXXXXX, mkstemp); out_close checks every write (the
 * error flag is sticky) and the close; out_rename puts the temporary in
 * PATH's place.  On failure out_discard removes the temporary, so PATH is
 * either the complete new file or what it was before.  PATH "-" is stdout,
 * checked the same way and never closed.  Each failing call prints
 * "nnc: cannot write PATH: REASON" and returns -1. */
typedef struct OutFile {
    FILE *f;
    const char *path;  /* the name the user gave */
    char tmp[4096];    /* the temporary, "" for stdout or once renamed */
} OutFile;
int out_open(OutFile *o, const char *path);
int out_close(OutFile *o);
int out_rename(OutFile *o);
int out_commit(OutFile *o);   /* out_close, then out_rename; discards on failure */
void out_discard(OutFile *o); /* closes and removes the temporary, if any */
/* Standard output after everything was printed: flushed and checked. */
int out_check_stdout(void);

/* Edit distance for "did you mean" hints; returns the best candidate of
 * cands[0..n) within distance 2 of s, or NULL. */
const char *closest_name(const char *s, const char *const *cands, int n);

#define NNC_ASSERT(cond, msg)                                                \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "nnc: internal error at %s:%d: %s (%s)\n",       \
                    __FILE__, __LINE__, msg, #cond);                         \
            abort();                                                         \
        }                                                                    \
    } while (0)

#endif
