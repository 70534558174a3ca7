/* threads.c: nnc's own threads (nnrt.h: nnrt_threads_start, nnrt_parallel).
 *
 * Kept apart from gemm.c so that a program that never multiplies through
 * BLAS (the CUDA runtime, the summary's thread count) links no BLAS.
 */
#include "nnrt.h"

/* Workers 1..n-1 wait for a job (spinning a while, then on a condition
 * variable); nnrt_parallel runs part 0 on the caller and returns when every
 * part is done.  A job's parts are fixed by (part, parts) alone, never by
 * which thread is faster, so a run's bits depend on the thread count only. */
#if defined(__GNUC__) && !defined(NNRT_NO_THREADS)
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#define NNRT_SPINS 20000 /* pauses (about 0.5 ms) before a worker sleeps, or the caller yields */

static struct {
    int n;                              /* threads, the caller included */
    void (*fn)(void *ctx, int part, int parts);
    void *ctx;
    unsigned gen;                       /* bumped once a job (atomic) */
    int pending;                        /* workers still on the job (atomic) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} nnrt_pool = {1, NULL, NULL, 0, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void nnrt_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits until the job count passes seen; returns the new count. */
static unsigned nnrt_pool_wait(unsigned seen)
{
    unsigned g;
    for (long i = 0; i < NNRT_SPINS; i++) {
        if ((g = __atomic_load_n(&nnrt_pool.gen, __ATOMIC_ACQUIRE)) != seen)
            return g;
        nnrt_relax();
    }
    pthread_mutex_lock(&nnrt_pool.mu);
    while ((g = __atomic_load_n(&nnrt_pool.gen, __ATOMIC_ACQUIRE)) == seen)
        pthread_cond_wait(&nnrt_pool.cv, &nnrt_pool.mu);
    pthread_mutex_unlock(&nnrt_pool.mu);
    return g;
}

static void *nnrt_worker(void *arg)
{
    int part = (int)(intptr_t)arg;
    unsigned seen = 0;
    for (;;) {
        seen = nnrt_pool_wait(seen);
        nnrt_pool.fn(nnrt_pool.ctx, part, nnrt_pool.n);
        __atomic_sub_fetch(&nnrt_pool.pending, 1, __ATOMIC_ACQ_REL);
    }
    return NULL;
}

int nnrt_threads_start(int n)
{
    if (nnrt_pool.n > 1 || n <= 1)
        return nnrt_pool.n;
    sigset_t all, old;
    sigfillset(&all); /* signals (^C) go to the main thread */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int started = 1;
    for (; started < n; started++) {
        pthread_t t;
        if (pthread_create(&t, NULL, nnrt_worker, (void *)(intptr_t)started) != 0)
            break;
        pthread_detach(t);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    nnrt_pool.n = started;
    return started;
}

int nnrt_threads(void) { return nnrt_pool.n; }

void nnrt_parallel(void (*fn)(void *ctx, int part, int parts), void *ctx)
{
    if (nnrt_pool.n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    nnrt_pool.fn = fn;
    nnrt_pool.ctx = ctx;
    __atomic_store_n(&nnrt_pool.pending, nnrt_pool.n - 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&nnrt_pool.mu);
    __atomic_add_fetch(&nnrt_pool.gen, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&nnrt_pool.cv);
    pthread_mutex_unlock(&nnrt_pool.mu);
    fn(ctx, 0, nnrt_pool.n);
    for (long i = 0; __atomic_load_n(&nnrt_pool.pending, __ATOMIC_ACQUIRE) > 0; i++) {
        if (i < NNRT_SPINS)
            nnrt_relax();
        else
            sched_yield(); /* a worker is off its core: let it have ours */
    }
}
#else
int nnrt_threads_start(int n) { (void)n; return 1; }
int nnrt_threads(void) { return 1; }
void nnrt_parallel(void (*fn)(void *ctx, int part, int parts), void *ctx) { fn(ctx, 0, 1); }
#endif
