/* The benchmark's child: the same tiny program under every guardian.
 *
 * Its first act is to read CLOCK_MONOTONIC, so "the child's first instruction" is as
 * close to exec as a C program gets (static, no dynamic loader). Every event is one
 * line "KIND PID NANOSECONDS" appended with a single write(2) to the log file:
 *   S  started          X  a daemonizing process is about to exit 0
 *   D  the daemonized successor is ready (its USR1 handler is installed)
 *   E  (--stamp) the guardian is about to be exec'd
 *
 *   child MODE LOG           MODE: sleep | crash | daemon
 *   child                    as ./run under runsv, supervise, s6-supervise: reads
 *                            "MODE LOG" from ./child.conf (they start ./run with no args)
 *   child --stamp LOG PROG [ARGS...]   logs E, then execs PROG (measures first start)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_path;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void log_event(char kind, long long t) {
    char line[80];
    int n = snprintf(line, sizeof line, "%c %d %lld\n", kind, (int)getpid(), t);
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) _exit(111);
    if (write(fd, line, n) != n) _exit(111);
    close(fd);
}

static volatile sig_atomic_t usr1_seen;
static void on_usr1(int sig) { (void)sig; usr1_seen = 1; }

/* Fork; the parent logs X and exits 0 (a clean exit: a handover, not a failure), the
 * child becomes the new main process and waits for USR1 to do it again. */
static void daemonize_forever(void) {
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &old);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    for (;;) {
        pid_t pid = fork();
        if (pid < 0) _exit(112);
        if (pid > 0) {
            log_event('X', now_ns());
            _exit(0);
        }
        setsid();
        usr1_seen = 0;
        log_event('D', now_ns());
        while (!usr1_seen) sigsuspend(&old);
    }
}

int main(int argc, char **argv) {
    long long t0 = now_ns();
    static char conf[4200], mode[64], path[4096];
    if (argc >= 4 && strcmp(argv[1], "--stamp") == 0) {
        log_path = argv[2];
        log_event('E', now_ns());
        execv(argv[3], argv + 3);
        _exit(127);
    }
    if (argc >= 3) {
        snprintf(mode, sizeof mode, "%s", argv[1]);
        log_path = argv[2];
    } else {
        int fd = open("child.conf", O_RDONLY | O_CLOEXEC);
        if (fd < 0) _exit(110);
        ssize_t n = read(fd, conf, sizeof conf - 1);
        close(fd);
        if (n <= 0 || sscanf(conf, "%63s %4095s", mode, path) != 2) _exit(110);
        log_path = path;
    }
    log_event('S', t0);
    if (strcmp(mode, "crash") == 0) return 1;
    if (strcmp(mode, "daemon") == 0) daemonize_forever();
    for (;;) pause();
}
