/*
 * test_xalloc.c -- lib/xalloc.c: the allocators hand back usable memory,
 * and a failure is one log line on stderr, then SIGABRT (checked in a
 * child process, through xnonnull(NULL), the path every allocator takes
 * when it gets NULL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xalloc.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_allocators_give_usable_memory(void **state)
{
    (void)state;
    char *p = xmalloc(16);
    memset(p, 'x', 16);
    p = xrealloc(p, 4096);
    assert_int_equal(p[15], 'x');
    free(p);
    unsigned char *z = xcalloc(8, 8);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(z[i], 0);
    free(z);
    char *s = xstrdup("title");
    assert_string_equal(s, "title");
    free(s);
    int x = 0;
    assert_ptr_equal(xnonnull(&x, "x"), &x);
    xok(0, "nothing failed");
}

static void test_a_failure_logs_one_line_and_aborts(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        signal(SIGABRT, SIG_DFL);
        xnonnull(NULL, "json_tokener_new_ex");
        _exit(0); /* not reached */
    }
    close(fds[1]);
    char buf[512] = {0};
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 &&
           (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(buf, "out of memory: json_tokener_new_ex"));
    assert_non_null(strchr(buf, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocators_give_usable_memory),
        cmocka_unit_test(test_a_failure_logs_one_line_and_aborts),
    };
    return cmocka_run_group_tests_name("xalloc", tests, NULL, NULL);
}
