/*
 * test_streams.c -- fcgi/core/streams.c: the cap on evaluations that run at
 * once, and slots that a dead worker cannot keep (the master forgets its
 * pid), across a real fork on the shared mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <unistd.h>

#include "streams.h"

static void test_cap(void **state)
{
    (void)state;
    /* Runs do not hold workers: the worker count plays no part. */
    assert_int_equal(streams_cap(1, 0), STREAMS_DEFAULT_CAP);
    assert_true(STREAMS_DEFAULT_CAP >= 32);
    assert_int_equal(streams_cap(4, 3), 3);
    assert_int_equal(streams_cap(4, 100), 100);
    assert_int_equal(streams_cap(4, 1000), STREAMS_MAX);
    assert_int_equal(streams_tenant_cap(64, 0), 32);
    assert_int_equal(streams_tenant_cap(1, 0), 1);
    assert_int_equal(streams_tenant_cap(8, 3), 3);
    assert_int_equal(streams_tenant_cap(8, 30), 8);
}

static void test_a_tenant_gets_its_share_only(void **state)
{
    (void)state;
    int a = streams_acquire_tenant(4, 7, 2),
        b = streams_acquire_tenant(4, 7, 2);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(streams_acquire_tenant(4, 7, 2), -2); /* over its share */
    int c = streams_acquire_tenant(4, 8, 2);               /* another tenant */
    assert_true(c >= 0);
    assert_int_equal(streams_running(), 3);
    streams_release(a);
    streams_release(b);
    streams_release(c);
    assert_int_equal(streams_running(), 0);
}

static void test_acquire_up_to_cap_and_release(void **state)
{
    (void)state;
    int a = streams_acquire(2), b = streams_acquire(2);
    assert_true(a >= 0 && b >= 0 && a != b);
    assert_int_equal(streams_acquire(2), -1);
    assert_int_equal(streams_running(), 2);
    streams_release(a);
    assert_int_equal(streams_running(), 1);
    int c = streams_acquire(2);
    assert_int_equal(c, a);
    streams_release(b);
    streams_release(c);
    streams_release(-1); /* no-op */
    assert_int_equal(streams_running(), 0);
}

static void test_dead_workers_slot_is_forgotten(void **state)
{
    (void)state;
    assert_int_equal(streams_init(), 0);
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char ch = streams_acquire(1) >= 0 ? 'y' : 'n';
        (void)!write(done[1], &ch, 1);
        (void)!read(go[0], &ch, 1);
        _exit(0); /* dies holding its slot */
    }
    char ch = 0;
    assert_int_equal(read(done[0], &ch, 1), 1);
    assert_int_equal(ch, 'y');
    assert_int_equal(streams_running(), 1);   /* seen through the mapping */
    assert_int_equal(streams_acquire(1), -1); /* the cap is taken */
    streams_release(0);                       /* not ours: no effect */
    assert_int_equal(streams_running(), 1);
    (void)!write(go[1], "x", 1);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    streams_forget(pid); /* what the master does */
    assert_int_equal(streams_running(), 0);
    int s = streams_acquire(1);
    assert_int_equal(s, 0);
    streams_release(s);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
}

/* A hub that dies running a run leaves it to the next hub, once. */
static void test_a_dead_hubs_run_is_an_orphan_for_the_next(void **state)
{
    (void)state;
    assert_int_equal(streams_init(), 0);
    int done[2];
    assert_int_equal(pipe(done), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int slot = streams_acquire(1);
        streams_adopt(slot, 42); /* the hub's run 42 */
        char ch = slot >= 0 ? 'y' : 'n';
        (void)!write(done[1], &ch, 1);
        _exit(0); /* killed mid-run */
    }
    char ch = 0;
    assert_int_equal(read(done[0], &ch, 1), 1);
    assert_int_equal(ch, 'y');
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    uint64_t ids[4] = {0};
    assert_int_equal(streams_take_orphans(ids, 4), 0); /* not forgotten yet */
    streams_forget(pid);
    assert_int_equal(streams_running(), 0);
    assert_int_equal(streams_take_orphans(ids, 4), 1);
    assert_int_equal(ids[0], 42);
    assert_int_equal(streams_take_orphans(ids, 4), 0); /* taken once */
    /* A run that ended normally leaves no orphan. */
    int slot = streams_acquire(1);
    streams_adopt(slot, 43);
    streams_release(slot);
    streams_forget(getpid());
    assert_int_equal(streams_take_orphans(ids, 4), 0);
    close(done[0]);
    close(done[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_acquire_up_to_cap_and_release),
        cmocka_unit_test(test_a_tenant_gets_its_share_only),
        cmocka_unit_test(test_dead_workers_slot_is_forgotten),
        cmocka_unit_test(test_a_dead_hubs_run_is_an_orphan_for_the_next),
    };
    return cmocka_run_group_tests_name("streams", tests, NULL, NULL);
}
