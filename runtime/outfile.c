/* outfile.c: a file that appears whole or not at all.
 *
 *   nnrt_out_open    PATH's contents go to an unnamed file in PATH's
 *                    folder (O_TMPFILE, Linux), or to PATH.tmp where the
 *                    system has no unnamed files
 *   nnrt_out_commit  flush, fsync, name it PATH.tmp, rename to PATH, close
 *   nnrt_out_discard close and remove whatever was written
 *
 * Checkpoints, --plot charts and --predict's --out go through it: a full
 * disk, a crash or a kill -9 at any moment leaves PATH as it was or as it
 * is meant to be, and the name PATH.tmp exists only for the instant
 * between the link and the rename, two system calls apart: a writer
 * killed there leaves a whole PATH.tmp, which the next write replaces;
 * killed anywhere else, it leaves nothing behind.
 * Errors name the temporary when it cannot be made, PATH when a write
 * fails: "cannot write WHAT NAME: reason".
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* O_TMPFILE */
#endif
#include "nnrt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An unnamed file in path's folder, or NULL (no O_TMPFILE, or refused). */
static FILE *nnrt_out_unnamed(const char *path, int *fd)
{
#if defined(__linux__) && defined(O_TMPFILE)
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] != '/')
        n--;
    char *dir = malloc(n + 2);
    if (!dir)
        return NULL;
    if (n == 0)
        memcpy(dir, ".", 2);
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    *fd = open(dir, O_TMPFILE | O_WRONLY, 0666);
    free(dir);
    if (*fd < 0)
        return NULL;
    FILE *f = fdopen(*fd, "wb");
    if (!f)
        close(*fd);
    return f;
#else
    (void)path;
    (void)fd;
    return NULL;
#endif
}

/* The unnamed file fd gets the name tmp (through /proc/self/fd). */
static int nnrt_out_name(int fd, const char *tmp)
{
#if defined(__linux__) && defined(O_TMPFILE)
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    remove(tmp); /* left by a writer killed on a system without O_TMPFILE */
    return linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW);
#else
    (void)fd;
    (void)tmp;
    errno = ENOSYS;
    return -1;
#endif
}

int nnrt_out_open(NnrtOutFile *o, const char *path, const char *what, char *err, size_t errlen)
{
    size_t n = strlen(path);
    memset(o, 0, sizeof *o);
    o->path = path;
    o->what = what;
    o->fd = -1;
    if (!(o->tmp = malloc(n + 5)))
        return nnrt_errf(err, errlen, "cannot write %s %s: out of memory", what, path);
    memcpy(o->tmp, path, n);
    memcpy(o->tmp + n, ".tmp", 5);
    o->f = nnrt_out_unnamed(path, &o->fd);
    o->unnamed = o->f != NULL;
    if (!o->f && !(o->f = fopen(o->tmp, "wb"))) {
        int saved = errno;
        free(o->tmp);
        o->tmp = NULL;
        return nnrt_errf(err, errlen, "cannot write %s %s.tmp: %s", what, path, strerror(saved));
    }
    return 0;
}

int nnrt_out_commit(NnrtOutFile *o, char *err, size_t errlen)
{
    int rc = 0, saved = 0;
    errno = 0;
    if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && o->unnamed && nnrt_out_name(o->fd, o->tmp) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(o->tmp, o->path) != 0) { /* the next call after the link */
        rc = -1;
        saved = errno;
    }
    if (fclose(o->f) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    o->f = NULL;
    if (rc < 0) {
        nnrt_out_discard(o);
        return nnrt_errf(err, errlen, "cannot write %s %s: %s", o->what, o->path,
                         saved ? strerror(saved) : "a write failed (is the disk full?)");
    }
    free(o->tmp);
    o->tmp = NULL;
    return 0;
}

void nnrt_out_discard(NnrtOutFile *o)
{
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        remove(o->tmp); /* named only if the link was made, or without O_TMPFILE */
    free(o->tmp);
    o->f = NULL;
    o->tmp = NULL;
}
