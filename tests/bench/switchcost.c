/*
 * switchcost.c -- what this machine charges for the two things every
 * answer of a proxied service is made of: a system call, and a round trip
 * between two processes (one wakes the other and waits to be woken back).
 * bench.py prints both beside the table, because they set the floor of
 * the pool's CPU per answer: a GET is two such round trips for the pool
 * (nginx <-> pool, pool <-> MariaDB) and about ten system calls, whatever
 * the pool does in between. On bare metal a system call is ~0.1 µs and a
 * round trip a few µs; in a virtual machine that traps each of them to
 * the hypervisor both can cost ten times that.
 *
 * Prints one line: "syscall_us=<f> roundtrip_us=<f>". Exit 1 on a failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYSCALLS   200000
#define ROUNDTRIPS 20000

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(void)
{
    double t0 = now_us();
    for (int i = 0; i < SYSCALLS; i++)
        (void)syscall(SYS_getppid); /* not cached by libc: a real call */
    double syscall_us = (now_us() - t0) / SYSCALLS;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("socketpair");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    char c = 'x';
    if (child == 0) { /* the echo: wakes up, answers, sleeps again */
        close(sv[0]);
        while (read(sv[1], &c, 1) == 1)
            if (write(sv[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(sv[1]);
    t0 = now_us();
    for (int i = 0; i < ROUNDTRIPS; i++)
        if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1) {
            perror("round trip");
            return 1;
        }
    double roundtrip_us = (now_us() - t0) / ROUNDTRIPS;
    close(sv[0]);
    int st;
    if (waitpid(child, &st, 0) != child || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0) {
        fprintf(stderr, "the echo process failed\n");
        return 1;
    }
    printf("syscall_us=%.2f roundtrip_us=%.2f\n", syscall_us, roundtrip_us);
    return 0;
}
