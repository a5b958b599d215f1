/*
 * test_sandbox.c -- sandbox_kill_group as a spawner of several evaluators
 * at once (the streams hub) would use it: after one run ends, its group
 * and what escaped it (setsid, grandchildren of escapees) are killed and
 * reaped, while the leader of another run, passed in `keep`, lives on.
 * And sandbox_prepare/cleanup: a fresh 0700 folder, gone afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp != NULL && rp[2] != 'Z';
}

/* A run's leader: its own group, a child that calls setsid and starts a
 * grandchild of its own, a child that stays in the group; reports the
 * pids on fd `w`, then exits (its escapees become our children). */
static pid_t spawn_run(int w)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        pid_t pids[3];
        int p[2];
        if (pipe(p) != 0)
            _exit(1);
        pid_t esc = fork();
        if (esc == 0) {
            setsid();
            pid_t g = fork();
            if (g == 0) {
                pause();
                _exit(0);
            }
            if (write(p[1], &g, sizeof g) != (ssize_t)sizeof g)
                _exit(1);
            pause();
            _exit(0);
        }
        pid_t stay = fork();
        if (stay == 0) {
            pause();
            _exit(0);
        }
        pids[0] = esc;
        pids[2] = stay;
        if (read(p[0], &pids[1], sizeof pids[1]) != (ssize_t)sizeof pids[1])
            _exit(1);
        if (write(w, pids, sizeof pids) != (ssize_t)sizeof pids)
            _exit(1);
        _exit(0);
    }
    setpgid(pid, pid);
    return pid;
}

static void test_kill_group_gets_escapees_and_keeps_other_runs(void **state)
{
    (void)state;
    struct sandbox_conf sb;
    memset(&sb, 0, sizeof sb);
    char why[256];
    assert_int_equal(sandbox_prepare(&sb, why, sizeof why), 0); /* subreaper */
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t other = spawn_run(p[1]);
    pid_t other_pids[3];
    assert_int_equal(read(p[0], other_pids, sizeof other_pids),
                     (ssize_t)sizeof other_pids);
    pid_t run = spawn_run(p[1]);
    pid_t pids[3];
    assert_int_equal(read(p[0], pids, sizeof pids), (ssize_t)sizeof pids);
    /* The leader exited: wait for it without reaping it (as ev_run). */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    assert_int_equal(waitid(P_PID, (id_t)run, &si, WEXITED | WNOWAIT), 0);
    for (int i = 0; i < 3; i++)
        assert_true(alive(pids[i]));

    /* `other`'s leader has exited too, but its run is not over: naming
     * its leader keeps it and its group (the child that stayed). Its
     * escapee cannot be told from ours: kept only by naming it. */
    pid_t keep[2] = {other, other_pids[0]};
    int escaped = sandbox_kill_group(run, keep, 2);
    assert_true(escaped >= 2); /* the setsid child and its child */
    int st;
    assert_int_equal(waitpid(run, &st, 0), run);
    for (int i = 0; i < 3; i++)
        if (alive(pids[i]))
            fail_msg("pid %d of the run survived", (int)pids[i]);
    assert_true(alive(other_pids[2])); /* in the other run's group */
    assert_true(alive(other_pids[0]));

    /* Now that run ends too. */
    assert_int_equal(waitid(P_PID, (id_t)other, &si, WEXITED | WNOWAIT), 0);
    (void)sandbox_kill_group(other, NULL, 0);
    assert_int_equal(waitpid(other, &st, 0), other);
    for (int i = 0; i < 3; i++)
        if (alive(other_pids[i]))
            fail_msg("pid %d of the other run survived", (int)other_pids[i]);
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    close(p[0]);
    close(p[1]);
    sandbox_cleanup(&sb);
}

static void test_workdir_is_fresh_private_and_removed(void **state)
{
    (void)state;
    struct sandbox_conf a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    char why[256];
    assert_int_equal(sandbox_prepare(&a, why, sizeof why), 0);
    assert_int_equal(sandbox_prepare(&b, why, sizeof why), 0);
    assert_string_not_equal(a.workdir, b.workdir);
    struct stat st;
    assert_int_equal(stat(a.workdir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    char path[400];
    snprintf(path, sizeof path, "%s/sub", a.workdir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/sub/f", a.workdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    char keep[320];
    snprintf(keep, sizeof keep, "%s", a.workdir);
    sandbox_cleanup(&a);
    sandbox_cleanup(&b);
    assert_int_equal(stat(keep, &st), -1);
    assert_int_equal(a.workdir[0], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_group_gets_escapees_and_keeps_other_runs),
        cmocka_unit_test(test_workdir_is_fresh_private_and_removed),
    };
    return cmocka_run_group_tests_name("sandbox", tests, NULL, NULL);
}
