/*
 * test_hubloop.c -- fcgi/hub/loop.c: the hub's event loop. Each
 * descriptor gets its own callback with its own context and the events
 * that fired; a descriptor removed by an earlier callback of the same
 * batch gets no callback; the table refuses what it cannot hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"

struct seen {
    int calls;
    int fd;
    uint32_t events;
    loop *l;
    int del_fd; /* removed by this callback, when >= 0 */
};

static void record(void *ctx, int fd, uint32_t events)
{
    struct seen *s = ctx;
    s->calls++;
    s->fd = fd;
    s->events = events;
    if (s->del_fd >= 0)
        loop_del(s->l, s->del_fd);
}

static void test_each_descriptor_its_callback(void **state)
{
    (void)state;
    loop l;
    assert_int_equal(loop_init(&l, 1024), 0);
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    struct seen sa = {.del_fd = -1}, sb = {.del_fd = -1};
    assert_int_equal(loop_add(&l, a[0], EPOLLIN, record, &sa), 0);
    assert_int_equal(loop_add(&l, b[0], EPOLLIN, record, &sb), 0);

    /* Nothing ready: nothing runs, within the time-out. */
    assert_int_equal(loop_wait(&l, 0), 0);
    assert_int_equal(sa.calls + sb.calls, 0);

    assert_int_equal(write(b[1], "x", 1), 1);
    assert_int_equal(loop_wait(&l, 1000), 1);
    assert_int_equal(sa.calls, 0);
    assert_int_equal(sb.calls, 1);
    assert_int_equal(sb.fd, b[0]);
    assert_true(sb.events & EPOLLIN);

    /* Level-triggered: still readable, called again. */
    assert_int_equal(loop_wait(&l, 1000), 1);
    assert_int_equal(sb.calls, 2);

    /* Registered twice: refused. */
    assert_int_equal(loop_add(&l, a[0], EPOLLIN, record, &sa), -1);
    assert_int_equal(errno, EEXIST);
    loop_close(&l);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

static void test_mod_switches_events(void **state)
{
    (void)state;
    loop l;
    assert_int_equal(loop_init(&l, 1024), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct seen s = {.del_fd = -1};
    /* The write end waits for nothing at first, then for room. */
    assert_int_equal(loop_add(&l, p[1], 0, record, &s), 0);
    assert_int_equal(loop_wait(&l, 0), 0);
    assert_int_equal(loop_mod(&l, p[1], EPOLLOUT), 0);
    assert_int_equal(loop_wait(&l, 1000), 1);
    assert_true(s.events & EPOLLOUT);
    /* Removed: no more callbacks, and it may be added again. */
    loop_del(&l, p[1]);
    assert_int_equal(loop_wait(&l, 0), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(loop_mod(&l, p[1], EPOLLOUT), -1);
    assert_int_equal(loop_add(&l, p[1], EPOLLOUT, record, &s), 0);
    assert_int_equal(loop_wait(&l, 1000), 1);
    assert_int_equal(s.calls, 2);
    loop_close(&l);
    close(p[0]);
    close(p[1]);
}

/* Two ready descriptors; whichever runs first removes the other (as a
 * run's end closes its client's connection): the other is not called. */
static void test_removed_in_the_batch_is_not_called(void **state)
{
    (void)state;
    loop l;
    assert_int_equal(loop_init(&l, 1024), 0);
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    struct seen sa = {.l = &l, .del_fd = b[0]}, sb = {.l = &l, .del_fd = a[0]};
    assert_int_equal(loop_add(&l, a[0], EPOLLIN, record, &sa), 0);
    assert_int_equal(loop_add(&l, b[0], EPOLLIN, record, &sb), 0);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "x", 1), 1);
    /* Both are ready before the wait: one batch holds both. */
    assert_int_equal(loop_wait(&l, 1000), 1);
    assert_int_equal(sa.calls + sb.calls, 1);
    /* The one that ran is still readable and runs again; the one it
     * removed never does. */
    struct seen *ran = sa.calls ? &sa : &sb, *gone = sa.calls ? &sb : &sa;
    ran->del_fd = -1;
    assert_int_equal(loop_wait(&l, 0), 1);
    assert_int_equal(ran->calls, 2);
    assert_int_equal(gone->calls, 0);
    loop_close(&l);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

/* The first callback closes the other ready descriptor and registers a
 * new one under its number (a socket closed, its number taken by a new
 * pipe): the old descriptor's event of this batch must not reach the new
 * one's callback; the next batch does, once it is really ready. */
struct reuse {
    loop *l;
    int victim;  /* the number to close and take again */
    int fresh_w; /* the new pipe's write end */
    struct seen *fresh;
    int calls;
};

static void close_and_reuse(void *ctx, int fd, uint32_t events)
{
    struct reuse *r = ctx;
    (void)events;
    r->calls++;
    if (r->victim < 0)
        return;
    loop_del(r->l, r->victim);
    close(r->victim);
    int p[2];
    assert_int_equal(pipe(p), 0);
    if (p[0] != r->victim) {
        assert_int_equal(dup2(p[0], r->victim), r->victim);
        close(p[0]);
    }
    r->fresh_w = p[1];
    assert_int_equal(loop_add(r->l, r->victim, EPOLLIN, record, r->fresh), 0);
    r->victim = -1;
    (void)fd;
}

static void test_a_number_taken_again_gets_no_old_event(void **state)
{
    (void)state;
    loop l;
    assert_int_equal(loop_init(&l, 1024), 0);
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    struct seen fresh = {.del_fd = -1};
    struct reuse ra = {.l = &l, .victim = b[0], .fresh = &fresh};
    struct reuse rb = {.l = &l, .victim = a[0], .fresh = &fresh};
    assert_int_equal(loop_add(&l, a[0], EPOLLIN, close_and_reuse, &ra), 0);
    assert_int_equal(loop_add(&l, b[0], EPOLLIN, close_and_reuse, &rb), 0);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "x", 1), 1);
    /* Whichever runs first takes the other's number. */
    assert_int_equal(loop_wait(&l, 1000), 1);
    assert_int_equal(ra.calls + rb.calls, 1);
    assert_int_equal(fresh.calls, 0);
    struct reuse *first = ra.calls ? &ra : &rb;
    int fresh_w = first->fresh_w;
    /* Not ready: still nothing for it; then ready: its callback. */
    first->victim = -1;
    (void)loop_wait(&l, 0);
    assert_int_equal(fresh.calls, 0);
    assert_int_equal(write(fresh_w, "y", 1), 1);
    (void)loop_wait(&l, 1000);
    assert_int_equal(fresh.calls, 1);
    loop_close(&l);
    close(fresh_w);
    close(a[0]);
    close(b[0]);
    close(a[1]);
    close(b[1]);
}

static void test_out_of_range_is_refused(void **state)
{
    (void)state;
    loop l;
    assert_int_equal(loop_init(&l, 8), 0);
    struct seen s = {.del_fd = -1};
    int p[2];
    assert_int_equal(pipe(p), 0);
    int high = dup2(p[0], 100);
    assert_int_equal(high, 100);
    assert_int_equal(loop_add(&l, high, EPOLLIN, record, &s), -1);
    assert_int_equal(loop_add(&l, -1, EPOLLIN, record, &s), -1);
    loop_del(&l, high); /* not there: nothing happens */
    loop_close(&l);
    assert_int_equal(loop_init(&l, 0), -1);
    close(high);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_descriptor_its_callback),
        cmocka_unit_test(test_mod_switches_events),
        cmocka_unit_test(test_removed_in_the_batch_is_not_called),
        cmocka_unit_test(test_a_number_taken_again_gets_no_old_event),
        cmocka_unit_test(test_out_of_range_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
