/*
 * test_sandbox.c -- the bwrap command line sandbox_argv builds (every
 * namespace, the read-only binds, the tmpfs, the environment cleared and
 * only what is given set), and, where bwrap works, the end of a run: a
 * program that leaves a double-forked setsid escapee behind, killed through
 * bwrap's outer process, leaves nothing running.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int has(const char **argv, int n, const char *a, const char *b,
               const char *c)
{
    for (int i = 0; i + 2 < n; i++)
        if (strcmp(argv[i], a) == 0 && (!b || strcmp(argv[i + 1], b) == 0) &&
            (!c || strcmp(argv[i + 2], c) == 0))
            return 1;
    return 0;
}

static void test_argv_isolates_everything(void **state)
{
    (void)state;
    struct sandbox_conf sb;
    memset(&sb, 0, sizeof sb);
    snprintf(sb.bwrap, sizeof sb.bwrap, "/usr/bin/bwrap");
    snprintf(sb.bind, sizeof sb.bind, "/opt/rt:relative:/srv/data");
    char *env[] = {"LANG=C.UTF-8", "TZ=UTC", NULL};
    const char *argv[SANDBOX_ARGV_MAX];
    char store[4096];
    int n = sandbox_argv(&sb, "/opt/eval/run", env, argv, store, sizeof store);
    assert_true(n > 10);
    assert_null(argv[n]);
    assert_string_equal(argv[0], "/usr/bin/bwrap");
    static const char *const ns[] = {"--unshare-user", "--unshare-pid",
                                     "--unshare-net", "--unshare-ipc",
                                     "--unshare-uts"};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        assert_true(has(argv, n, ns[i], NULL, NULL));
    assert_true(has(argv, n, "--die-with-parent", NULL, NULL));
    assert_true(has(argv, n, "--new-session", NULL, NULL));
    assert_true(has(argv, n, "--cap-drop", "ALL", NULL));
    assert_true(has(argv, n, "--ro-bind", "/usr", "/usr"));
    assert_true(has(argv, n, "--ro-bind", "/opt/eval/run", "/opt/eval/run"));
    assert_true(has(argv, n, "--ro-bind", "/opt/rt", "/opt/rt"));
    assert_true(has(argv, n, "--ro-bind", "/srv/data", "/srv/data"));
    assert_false(has(argv, n, "--ro-bind", "relative", NULL));
    assert_true(has(argv, n, "--tmpfs", "/tmp", NULL));
    assert_true(has(argv, n, "--proc", "/proc", NULL));
    assert_true(has(argv, n, "--clearenv", NULL, NULL));
    assert_true(has(argv, n, "--setenv", "LANG", "C.UTF-8"));
    assert_true(has(argv, n, "--setenv", "HOME", "/tmp"));
    assert_true(has(argv, n, "--setenv", "PATH", NULL)); /* a default */
    /* Nothing writable but the tmpfs: no --bind, no --dev-bind. */
    for (int i = 0; i < n; i++) {
        assert_string_not_equal(argv[i], "--bind");
        assert_string_not_equal(argv[i], "--dev-bind");
        assert_string_not_equal(argv[i], "--share-net");
    }
    assert_string_equal(argv[n - 2], "--");
    assert_string_equal(argv[n - 1], "/opt/eval/run");
    /* Too small a store: refused, not cut. */
    assert_int_equal(sandbox_argv(&sb, "/opt/eval/run", env, argv, store, 8),
                     -1);
}

/* Processes whose command line holds `mark`, outside this process. */
static int count_marked(const char *mark)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char path[300], buf[512];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[len] = '\0';
        if (strstr(buf, mark) != NULL)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void test_kill_of_bwrap_ends_escapees(void **state)
{
    (void)state;
    if (access("/usr/bin/bwrap", X_OK) != 0) {
        skip();
        return;
    }
    char script[] = "/tmp/optimist-sbtest-XXXXXX";
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    /* The escapees' own command lines hold the mark; the shells that
     * start them do not (the argument comes through $0). */
    char arg[32], mark[64];
    snprintf(arg, sizeof arg, "7%d.5", (int)(getpid() % 1000));
    snprintf(mark, sizeof mark, "sleep %s", arg);
    char body[512];
    int len = snprintf(body, sizeof body,
                       "#!/bin/sh\n"
                       "setsid sh -c 'sleep $0 & sleep $0 &' %s </dev/null "
                       ">/dev/null 2>&1 &\n"
                       "exec sleep %s\n",
                       arg, arg);
    assert_int_equal(write(fd, body, (size_t)len), len);
    close(fd);
    assert_int_equal(chmod(script, 0755), 0);

    struct sandbox_conf sb;
    memset(&sb, 0, sizeof sb);
    snprintf(sb.bwrap, sizeof sb.bwrap, "/usr/bin/bwrap");
    char why[256];
    assert_int_equal(sandbox_prepare(&sb, why, sizeof why), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sandbox_child_exec(&sb, script, "full", 1, 1);
        _exit(127);
    }
    /* Three sleeps: the program's own and two escapees. */
    for (int i = 0; i < 500 && count_marked(mark) < 3; i++)
        usleep(10000);
    int before = count_marked(mark);
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
        unlink(script);
        fail_msg("bwrap exited early (status %d): no user namespaces?", st);
    }
    assert_int_equal(before, 3);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    for (int i = 0; i < 200 && count_marked(mark) > 0; i++)
        usleep(10000);
    unlink(script);
    assert_int_equal(count_marked(mark), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_isolates_everything),
        cmocka_unit_test(test_kill_of_bwrap_ends_escapees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
