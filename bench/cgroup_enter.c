/* Probe: what it costs to start a child inside a cgroup2 cgroup, three ways.
 *   fork      plain fork + _exit (the baseline)
 *   write     fork, the child writes "0" to cgroup.procs (what the guardian does now)
 *   clone3    clone3(CLONE_INTO_CGROUP): the child is born in the cgroup (Linux 5.7)
 * Each sample is fork -> the parent's waitpid returning. Usage: cgroup_enter DIR N [GAP_MS]
 * (GAP_MS: pause between samples, as between restarts; default 0)
 * (DIR: an empty cgroup2 directory this probe may use; it is left as it was). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, long long *s, int n) {
    qsort(s, n, sizeof *s, cmp);
    printf("%-7s median %8.3f ms  min %8.3f ms  max %8.3f ms\n", name, s[n / 2] / 1e6, s[0] / 1e6, s[n - 1] / 1e6);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) { fprintf(stderr, "usage: cgroup_enter DIR N [GAP_MS]\n"); return 2; }
    int gap_ms = argc == 4 ? atoi(argv[3]) : 0;
    int n = atoi(argv[2]);
    long long *s = calloc(n, sizeof *s);
    char procs[4200];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", argv[1]);
    int procs_fd = open(procs, O_WRONLY | O_CLOEXEC);
    int dir_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procs_fd < 0 || dir_fd < 0) { perror(argv[1]); return 1; }
    for (int mode = 0; mode < 3; mode++) {
        for (int i = 0; i < n; i++) {
            if (gap_ms) usleep(gap_ms * 1000);
            long long t0 = now_ns();
            pid_t pid;
            if (mode == 2) {
                struct clone_args ca;
                memset(&ca, 0, sizeof ca);
                ca.flags = CLONE_INTO_CGROUP;
                ca.exit_signal = SIGCHLD;
                ca.cgroup = (uint64_t)dir_fd;
                pid = syscall(SYS_clone3, &ca, sizeof ca);
            } else {
                pid = fork();
            }
            if (pid < 0) { perror("fork"); return 1; }
            if (pid == 0) {
                if (mode == 1 && write(procs_fd, "0", 1) != 1) _exit(1);
                _exit(0);
            }
            int st;
            waitpid(pid, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "child failed\n"); return 1; }
            s[i] = now_ns() - t0;
        }
        report(mode == 0 ? "fork" : mode == 1 ? "write" : "clone3", s, n);
    }
    return 0;
}
