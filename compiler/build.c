/* build.c: the build driver of nnc -o NAME and of --cflags / --libs.
 *
 * Where the runtime is (beside an nnc in build/, or under PREFIX), where
 * nvcc and CUDA's libraries are, the flags of a build as shell words, and
 * the cc or nvcc command that builds an emitted source into a program
 * (build.h).  main.c decides what to build; this file knows how.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NNC_PREFIX
#define NNC_PREFIX "/usr/local"
#endif
#ifndef NNC_BLAS_LIBS
#define NNC_BLAS_LIBS "-lopenblas"
#endif
/* MPI's flags as pkg-config gave them when nnc was built (ompi-c); empty:
 * there was no MPI, and --mpi cannot be built (build_mpi_ready). */
#ifndef NNC_MPI_CFLAGS
#define NNC_MPI_CFLAGS ""
#endif
#ifndef NNC_MPI_LIBS
#define NNC_MPI_LIBS ""
#endif

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
 * libraries beside nvcc.  MPI (--mpi): the MPI runtime's header and
 * libnnrt_mpi.a (on the GPU libnnrt_cuda_mpi.a and NCCL) first, MPI's own
 * flags last. */
static void build_flags(char *out, size_t len, int cflags, int cuda, int mpi, const char *nvcc, int quote)
{
    char inc[4096], lib[4096], cudalib[4200];
    runtime_dirs(inc, lib, sizeof inc);
    out[0] = '\0';
    if (cflags) {
        put_word(out, len, "-I", inc, "", quote);
        if (cuda)
            put_word(out, len, " -I", inc, "/cuda", quote);
        if (mpi)
            put_word(out, len, " -I", inc, "/mpi " NNC_MPI_CFLAGS, quote);
        return;
    }
    if (mpi && cuda)
        put_word(out, len, "", lib, "/libnnrt_cuda_mpi.a ", quote);
    if (mpi)
        put_word(out, len, "", lib, "/libnnrt_mpi.a ", quote);
    if (cuda)
        put_word(out, len, "", lib, "/libnnrt_cuda.a ", quote);
    put_word(out, len, "", lib, "/libnnrt.a " NNC_BLAS_LIBS, quote);
    size_t k = strlen(out);
    snprintf(out + k, len - k, "%s%s -lz -lm%s%s", cuda ? " -lcublas" : "", cuda && mpi ? " -lnccl" : "",
             mpi ? " " : "", mpi ? NNC_MPI_LIBS : "");
    cuda_libdir(cudalib, sizeof cudalib, nvcc);
    if (cuda && cudalib[0])
        put_word(out, len, " -Xlinker -rpath -Xlinker ", cudalib, "", quote);
}

/* --cflags, --libs: bare words for $(nnc --cflags); a path that the shell
 * would split or expand there is an error (exit 1). */
int build_print_flags(int cflags, int cuda, int mpi)
{
    if (mpi && !build_mpi_ready())
        return 1;
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
    build_flags(flags, sizeof flags, cflags, cuda, mpi, nvcc, 0);
    printf("%s\n", flags);
    return 0;
}

/* Runs a build command (shown with -v); 0 or 1. */
static int run_build(const char *output, const char *cmd, int verbose)
{
    if (verbose)
        fprintf(stderr, "%s\n", cmd);
    if (system(cmd) != 0) {
        fprintf(stderr, "nnc: building %s failed (the command was: %s)\n", output, cmd);
        return 1;
    }
    return 0;
}

/* Whether nnc was built with MPI's flags (else one line, and 0). */
int build_mpi_ready(void)
{
    if (NNC_MPI_LIBS[0])
        return 1;
    fprintf(stderr, "nnc: --mpi: this nnc was built without MPI (pkg-config found no ompi-c); install "
                    "libopenmpi-dev and rebuild nnc (make)\n");
    return 0;
}

/* --target cuda -o NAME: the .cu built with nvcc into NAME. */
int build_cuda(const char *output, const char *cusrc, int mpi, int verbose)
{
    char nv[4096], cflags[9000], libs[16384], cmd[40000] = "";
    const char *nvcc = find_nvcc(nv, sizeof nv);
    if (mpi && !build_mpi_ready())
        return 1;
    if (!nvcc) {
        fprintf(stderr, "nnc: nvcc not found (set NVCC, or put CUDA's bin on PATH); -o NAME.cu writes the source "
                        "without building it\n");
        return 1;
    }
    build_flags(cflags, sizeof cflags, 1, 1, mpi, nvcc, 1);
    build_flags(libs, sizeof libs, 0, 1, mpi, nvcc, 1);
    put_word(cmd, sizeof cmd, "", nvcc, " -O2 -std=c++17", 1);
    put_word(cmd, sizeof cmd, " -arch=", cuda_arch(), "", 1);
    put_word(cmd, sizeof cmd, " -o ", output, "", 1);
    put_word(cmd, sizeof cmd, " ", cusrc, " ", 1);
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s %s", cflags, libs);
    return run_build(output, cmd, verbose);
}

/* -o NAME: the C source built with $CC (a command line, so unquoted) into NAME. */
int build_program(const char *output, const char *csrc, int mpi, int verbose)
{
    char cflags[9000], libs[16384], cmd[40000] = "";
    const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
    if (mpi && !build_mpi_ready())
        return 1;
    build_flags(cflags, sizeof cflags, 1, 0, mpi, NULL, 1);
    build_flags(libs, sizeof libs, 0, 0, mpi, NULL, 1);
    snprintf(cmd, sizeof cmd, "%s -std=c99 -O3 -march=native -fno-math-errno -fno-trapping-math", cc);
    put_word(cmd, sizeof cmd, " -o ", output, "", 1);
    put_word(cmd, sizeof cmd, " ", csrc, " ", 1);
    snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s %s", cflags, libs);
    return run_build(output, cmd, verbose);
}
