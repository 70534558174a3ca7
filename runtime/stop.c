/* stop.c: stopping a run safely and saying how to go on.
 *
 *   nnrt_stop_catch / nnrt_stop_release   SIGINT and SIGTERM set a flag
 *                                         while the loop runs
 *   nnrt_stop_signal                      the signal that came, or 0
 *   nnrt_stop_path                        where an interrupt saves
 *   nnrt_stop_nothing_left                a --load already at --epochs
 *
 * Both drivers (train.c and the CUDA driver) use these, so an interrupt
 * looks the same from either.
 */
#include "nnrt.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The signal asking the run to stop, or 0.  The handler does nothing else:
 * the loop reads it between steps. */
static volatile sig_atomic_t nnrt_stop_sig;
static struct sigaction nnrt_stop_old[2];
static int nnrt_stop_caught[2];
static const int nnrt_stop_sigs[2] = { SIGINT, SIGTERM };

static void nnrt_stop_handler(int sig)
{
    nnrt_stop_sig = sig;
}

void nnrt_stop_catch(void)
{
    nnrt_stop_sig = 0;
    for (int i = 0; i < 2; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sigemptyset(&sa.sa_mask);
        sa.sa_handler = nnrt_stop_handler;
        sa.sa_flags = SA_RESETHAND; /* a second signal: the default action, at once */
        nnrt_stop_caught[i] = sigaction(nnrt_stop_sigs[i], NULL, &nnrt_stop_old[i]) == 0 &&
                              nnrt_stop_old[i].sa_handler != SIG_IGN &&
                              sigaction(nnrt_stop_sigs[i], &sa, NULL) == 0;
    }
}

void nnrt_stop_release(void)
{
    for (int i = 0; i < 2; i++)
        if (nnrt_stop_caught[i])
            sigaction(nnrt_stop_sigs[i], &nnrt_stop_old[i], NULL);
    nnrt_stop_caught[0] = nnrt_stop_caught[1] = 0;
}

int nnrt_stop_signal(void)
{
    return (int)nnrt_stop_sig;
}

const char *nnrt_stop_signame(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

char *nnrt_stop_path(const char *save, const char *model)
{
    static const char tail[] = ".interrupted.safetensors";
    const char *head = save ? save : model;
    size_t n = strlen(head);
    char *p = malloc(n + sizeof tail);
    if (!p)
        return NULL;
    memcpy(p, head, n + 1);
    if (!save)
        memcpy(p + n, tail, sizeof tail);
    return p;
}

void nnrt_stop_nothing_left(FILE *out, const char *path, int epoch, int epochs)
{
    fprintf(out, "nothing left to train: %s is at epoch %d and the run is %d epoch%s long; "
            "to train more, give --epochs M with M > %d\n", path, epoch, epochs,
            epochs == 1 ? "" : "s", epoch);
}
