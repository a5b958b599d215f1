/*
 * test_followed.c -- the counting filter of followed rows (followed.h):
 * a worker sends a notify only for a row the hub counts, the counts are
 * shared across fork, and a remove never takes a counter below zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "followed.h"

/* Before followed_init (or when it failed): every change may be
 * followed, so every change is sent. Runs first. */
static void test_unshared_means_always(void **state)
{
    (void)state;
    assert_true(followed_maybe("bids", 1, 7));
    size_t slot = followed_add("bids", 1, 7); /* counts nothing */
    followed_remove(slot);
    assert_true(followed_maybe("bids", 1, 8));
}

static void test_counts_rows_by_resource_tenant_and_key(void **state)
{
    (void)state;
    assert_int_equal(followed_init(), 0);
    assert_false(followed_maybe("bids", 1, 7));
    size_t a = followed_add("bids", 1, 7);
    assert_true(followed_maybe("bids", 1, 7));
    /* Another row, tenant or resource: another counter (these three do
     * not collide; a collision would only send an extra notify). */
    size_t b = followed_add("bids", 1, 8);
    assert_int_not_equal(a, b);
    assert_false(followed_maybe("bids", 2, 7) &&
                 followed_maybe("sessions", 1, 7) &&
                 followed_maybe("bids", 1, 9));
    /* Two watches of one row: it stays followed until both go. */
    size_t a2 = followed_add("bids", 1, 7);
    assert_int_equal(a, a2);
    followed_remove(a);
    assert_true(followed_maybe("bids", 1, 7));
    followed_remove(a2);
    assert_false(followed_maybe("bids", 1, 7));
    /* Never below zero: one remove too many, then one add. */
    followed_remove(a);
    followed_add("bids", 1, 7);
    assert_true(followed_maybe("bids", 1, 7));
    followed_remove(a);
    assert_false(followed_maybe("bids", 1, 7));
    followed_remove(b);
    followed_remove(FOLLOWED_SLOTS); /* out of range: ignored */
}

/* The hub counts, a worker reads: one mapping across fork. */
static void test_shared_across_fork(void **state)
{
    (void)state;
    assert_false(followed_maybe("chat", 3, 11));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        followed_add("chat", 3, 11);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(followed_maybe("chat", 3, 11));
    /* A new hub starts from nothing: a dead one's counts are gone. */
    followed_reset();
    assert_false(followed_maybe("chat", 3, 11));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unshared_means_always),
        cmocka_unit_test(test_counts_rows_by_resource_tenant_and_key),
        cmocka_unit_test(test_shared_across_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
