/* runone.c: runs one command and writes its wall time and peak RSS, as
 * `/usr/bin/time -f "%e %M"` would, but with a nanosecond clock (GNU time
 * prints hundredths) and from a launcher whose own memory stays out of the
 * figure (a child forked or vforked from a big parent, such as a Python
 * harness, inherits the parent's RSS high-water mark).
 *
 *   runone OUT COMMAND [ARGS...]
 *
 * OUT gets one line: "WALL_SECONDS PEAK_RSS_KB".  The command's stdout and
 * stderr are runone's; its exit status is runone's (128+N after signal N,
 * 127 when it cannot be started).
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: runone OUT COMMAND [ARGS...]\n");
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 2;
    }
    double t0 = now();
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        perror("runone");
        return 2;
    }
    double wall = now() - t0;
    struct rusage ru; /* of the one child waited for: its own high-water mark */
    getrusage(RUSAGE_CHILDREN, &ru);
    fprintf(out, "%.6f %ld\n", wall, ru.ru_maxrss);
    if (fclose(out) != 0) {
        perror(argv[1]);
        return 2;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
