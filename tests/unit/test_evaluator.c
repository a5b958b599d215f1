/*
 * test_evaluator.c -- fcgi/hub/evaluator.c, evchild.c: the line protocol, and
 * real child processes (the built-in demo, and small /bin/sh scripts written to
 * a temporary folder): results, failures, the time limit, a hook that stops the
 * run, and that nothing is left behind -- no zombie, no grandchild, no
 * descriptor of ours in the child.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evaluator.h"

static char dir[] = "/tmp/optimist-evtest.XXXXXX";

/* ---- the protocol, line by line --------------------------------------- */

static ev_line classify(const char *line, jbuf *res)
{
    char why[256] = "";
    ev_line k = ev_classify(line, strlen(line), res, why, sizeof why);
    if (k == EVL_BAD)
        assert_true(why[0] != '\0');
    return k;
}

static void test_classify(void **state)
{
    (void)state;
    jbuf res;
    jb_init(&res);
    assert_int_equal(classify("", &res), EVL_BLANK);
    assert_int_equal(classify("  \r", &res), EVL_BLANK);
    assert_int_equal(classify("{\"progress\": 1}", &res), EVL_PROGRESS);
    assert_int_equal(classify("{\"progress\": {\"a\": [1]}}\r", &res),
                     EVL_PROGRESS);
    assert_int_equal(classify("{\"result\": {\"s\": \"a/b\"}}", &res),
                     EVL_RESULT);
    assert_string_equal(res.p, "{\"s\":\"a/b\"}");
    /* A result nested 31 levels is stored; 32 is more than MariaDB takes. */
    char deep[256];
    for (int levels = 31; levels <= 32; levels++) {
        int n = 0;
        n += snprintf(deep + n, sizeof deep - (size_t)n, "{\"result\": ");
        for (int i = 0; i < levels; i++)
            n += snprintf(deep + n, sizeof deep - (size_t)n, "{\"a\":");
        n += snprintf(deep + n, sizeof deep - (size_t)n, "1");
        for (int i = 0; i < levels + 1; i++)
            n += snprintf(deep + n, sizeof deep - (size_t)n, "}");
        assert_int_equal(classify(deep, &res),
                         levels == 31 ? EVL_RESULT : EVL_BAD);
    }
    static const char *const bad[] = {"nope",
                                      "{\"progress\": 1",
                                      "[1]",
                                      "5",
                                      "{}",
                                      "{\"other\": 1}",
                                      "{\"result\": 5}",
                                      "{\"result\": [1]}",
                                      "{\"result\": null}",
                                      "{\"progress\": NaN}",
                                      "{\"progress\": 1} trailing",
                                      "{\"progress\": \"\xff\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (classify(bad[i], &res) != EVL_BAD)
            fail_msg("accepted %s", bad[i]);
    jb_free(&res);
}

/* ---- runs ------------------------------------------------------------------
 */

struct seen {
    int progress; /* progress lines received */
    int ticks;
    int stop_after; /* stop at this progress line (0: never) */
    char last[128];
};

static int on_progress(void *ctx, const char *line, size_t len)
{
    struct seen *s = ctx;
    s->progress++;
    snprintf(s->last, sizeof s->last, "%.*s", (int)len, line);
    return s->stop_after > 0 && s->progress >= s->stop_after ? -1 : 0;
}

static int on_tick(void *ctx)
{
    ((struct seen *)ctx)->ticks++;
    return 0;
}

static char *script(const char *name, const char *body)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s.sh", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

static ev_status run(const char *program, int timeout_ms, const char *input,
                     struct seen *s, jbuf *res, char *why, size_t whylen)
{
    ev_spec spec = {.program = program,
                    .timeout_ms = timeout_ms,
                    .demo_steps = 3,
                    .demo_delay_ms = 20,
                    .kind = "full",
                    .evaluation_id = 42,
                    .bid_id = 7};
    ev_hooks hooks = {
        .ctx = s, .progress = on_progress, .tick = on_tick, .tick_ms = 50};
    return ev_run(&spec, input, strlen(input), &hooks, res, why, whylen);
}

/* Every child was reaped: none is left, zombie or not. */
static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_demo(void **state)
{
    (void)state;
    struct seen s = {0};
    jbuf res;
    char why[256];
    jb_init(&res);
    assert_int_equal(run(NULL, 5000, "{\"id\":7}", &s, &res, why, sizeof why),
                     EV_OK);
    assert_int_equal(s.progress, 3);
    assert_string_equal(s.last, "{\"progress\":{\"step\":3,\"of\":3}}");
    assert_non_null(strstr(res.p, "\"evaluator\":\"demo\""));
    assert_non_null(strstr(res.p, "\"input_bytes\":8"));
    assert_no_children();
    jb_free(&res);
}

static void test_program_gets_input_and_environment(void **state)
{
    (void)state;
    const char *p = script(
        "good",
        "bid=$(cat)\n"
        "echo '{\"progress\": \"read\"}'\n"
        "echo \"{\\\"result\\\": {\\\"kind\\\": \\\"$OPTIMIST_EVAL_KIND\\\","
        " \\\"id\\\": $OPTIMIST_EVALUATION_ID, \\\"bid\\\": "
        "$OPTIMIST_BID_ID, \\\"in\\\": \\\"$bid\\\"}}\"\n");
    struct seen s = {0};
    jbuf res;
    char why[256];
    jb_init(&res);
    assert_int_equal(run(p, 5000, "hello", &s, &res, why, sizeof why), EV_OK);
    assert_int_equal(s.progress, 1);
    assert_string_equal(
        res.p, "{\"kind\":\"full\",\"id\":42,\"bid\":7,\"in\":\"hello\"}");
    assert_no_children();
    jb_free(&res);
}

static void expect_failure(const char *name, const char *body, ev_status want,
                           int timeout_ms, const char *why_has)
{
    const char *p = script(name, body);
    struct seen s = {0};
    jbuf res;
    char why[256] = "";
    jb_init(&res);
    double t0 = now_s();
    ev_status st = run(p, timeout_ms, "{}", &s, &res, why, sizeof why);
    double took = now_s() - t0;
    if (st != want || strstr(why, why_has) == NULL)
        fail_msg("%s: status %d (want %d), why \"%s\" (want \"%s\")", name,
                 (int)st, (int)want, why, why_has);
    assert_true(took < 5.0); /* killed, never waited out */
    assert_no_children();
    jb_free(&res);
}

static void test_failures(void **state)
{
    (void)state;
    expect_failure("exit1", "echo '{\"result\": {}}'\nexit 1\n", EV_FAILED,
                   5000, "status 1");
    expect_failure("garbage", "echo '{\"progress\": 1}'\necho oops\nsleep 30\n",
                   EV_FAILED, 20000, "not JSON");
    expect_failure("noresult", "echo '{\"progress\": 1}'\n", EV_FAILED, 5000,
                   "without a result");
    expect_failure("twice",
                   "echo '{\"result\": {}}'\necho '{\"result\": {}}'\n",
                   EV_FAILED, 5000, "after its result");
    expect_failure("after",
                   "echo '{\"result\": {}}'\necho '{\"progress\": 1}'\n",
                   EV_FAILED, 5000, "after its result");
    expect_failure("killed", "kill -9 $$\n", EV_FAILED, 5000, "signal 9");
    expect_failure("hang", "echo '{\"progress\": 1}'\nsleep 30\n", EV_TIMEOUT,
                   300, "longer than");
    /* Closes its output but lives on: still the time limit. */
    expect_failure("mute", "exec >&-\nsleep 30\n", EV_TIMEOUT, 300,
                   "longer than");
    expect_failure("long", "head -c 1100000 /dev/zero | tr '\\0' x\n",
                   EV_FAILED, 5000, "longer than 1048576 bytes");

    struct seen s = {0};
    jbuf res;
    char why[256];
    jb_init(&res);
    assert_int_equal(
        run("/nonexistent/evaluator", 5000, "{}", &s, &res, why, sizeof why),
        EV_FAILED);
    assert_non_null(strstr(why, "status 127"));
    assert_no_children();
    jb_free(&res);
}

/* The child's children die with it on a time-out (its process group). */
static void test_timeout_kills_the_whole_group(void **state)
{
    (void)state;
    char pidfile[300], body[600];
    snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", dir);
    snprintf(body, sizeof body, "sleep 30 &\necho $! > %s\nwait\n", pidfile);
    const char *p = script("group", body);
    struct seen s = {0};
    jbuf res;
    char why[256];
    jb_init(&res);
    assert_int_equal(run(p, 500, "", &s, &res, why, sizeof why), EV_TIMEOUT);
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int gc = 0;
    assert_int_equal(fscanf(f, "%d", &gc), 1);
    fclose(f);
    /* Gone, or a zombie waiting for init: either way not running. */
    for (int i = 0; i < 100; i++) {
        char path[64], st = 'Z';
        snprintf(path, sizeof path, "/proc/%d/stat", gc);
        FILE *sf = fopen(path, "r");
        if (sf == NULL)
            break;
        int n = fscanf(sf, "%*d (%*[^)]) %c", &st);
        fclose(sf);
        if (n == 1 && st == 'Z')
            break;
        if (i == 99)
            fail_msg("grandchild %d still runs", gc);
        usleep(10000);
    }
    assert_no_children();
    jb_free(&res);
}

static void test_hook_stops_the_run(void **state)
{
    (void)state;
    const char *p = script("chatty", "while :; do echo '{\"progress\": 1}'; "
                                     "sleep 0.01; done\n");
    struct seen s = {.stop_after = 3};
    jbuf res;
    char why[256];
    jb_init(&res);
    assert_int_equal(run(p, 5000, "", &s, &res, why, sizeof why), EV_STOPPED);
    assert_int_equal(s.progress, 3);
    assert_no_children();
    jb_free(&res);
}

static void test_ticks_and_big_unread_input(void **state)
{
    (void)state;
    /* Never reads its input: a 2 MiB write must not block the run. */
    const char *p = script("ignore", "sleep 0.3\necho '{\"result\": {}}'\n");
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    struct seen s = {0};
    jbuf res;
    char why[256];
    jb_init(&res);
    assert_int_equal(run(p, 5000, big, &s, &res, why, sizeof why), EV_OK);
    assert_true(s.ticks >= 3); /* every 50 ms of a 300 ms run */
    assert_string_equal(res.p, "{}");
    assert_no_children();
    free(big);
    jb_free(&res);
}

static void test_no_descriptor_leaks_into_the_child(void **state)
{
    (void)state;
    int fd = open("/dev/null", O_RDONLY); /* not close-on-exec */
    assert_true(fd > 2);
    char body[300];
    snprintf(body, sizeof body,
             "cat >/dev/null\n"
             "if [ -e /proc/$$/fd/%d ]; then echo '{\"result\": {\"leak\": "
             "true}}'; else echo '{\"result\": {\"leak\": false}}'; fi\n",
             fd);
    const char *p = script("fds", body);
    struct seen s = {0};
    jbuf res;
    char why[256];
    jb_init(&res);
    assert_int_equal(run(p, 5000, "{}", &s, &res, why, sizeof why), EV_OK);
    assert_string_equal(res.p, "{\"leak\":false}");
    close(fd);
    jb_free(&res);
}

static int setup(void **state)
{
    (void)state;
    /* The worker ignores SIGPIPE; so do we, as the runs expect. */
    signal(SIGPIPE, SIG_IGN);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_demo),
        cmocka_unit_test(test_program_gets_input_and_environment),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_timeout_kills_the_whole_group),
        cmocka_unit_test(test_hook_stops_the_run),
        cmocka_unit_test(test_ticks_and_big_unread_input),
        cmocka_unit_test(test_no_descriptor_leaks_into_the_child),
    };
    return cmocka_run_group_tests_name("evaluator", tests, setup, teardown);
}
