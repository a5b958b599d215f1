/*
 * test_watch.c -- fcgi/hub/watch.c: the hub's watch bookkeeping. One
 * watch per (resource, tenant, key); a worker's notify marks the watch it
 * names and those of the resources its descriptor says change with it
 * (keyed by the tenant when per_tenant), never another tenant's; a
 * closing connection leaves its watch; the watches nobody follows are
 * freed, the followed ones kept; a dropped descriptor reads as no feed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "resource.h"
#include "watch.h"

static const char *const item_and_log[] = {"wlog", NULL};
static const struct resource items = {.name = "witems",
                                      .table = "witems",
                                      .id_col = "id",
                                      .tenant_col = "tenant_id",
                                      .feed = RES_FEED_RECORD,
                                      .also = item_and_log};
static const struct resource wlog = {.name = "wlog",
                                     .table = "wlog",
                                     .tenant_col = "tenant_id",
                                     .per_tenant = 1,
                                     .feed = RES_FEED_OUTBOX,
                                     .poll_sql =
                                         "SELECT 1 FROM wlog WHERE "
                                         "tenant_id IN " RESOURCE_IN_LIST};
static int rid_items, rid_log;

static int setup(void **state)
{
    (void)state;
    rid_items = resource_register(&items);
    rid_log = resource_register(&wlog);
    return rid_items > 0 && rid_log > 0 ? 0 : -1;
}

static int count(void)
{
    int n = 0;
    for (struct watch *w = watch_list(); w; w = w->next)
        n++;
    return n;
}

/* A connection that follows nothing yet (only the fields watch.c uses). */
static struct conn *fake_conn(void)
{
    struct conn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->fd = -1;
    return c;
}

static void test_one_watch_per_row(void **state)
{
    (void)state;
    struct watch *a = watch_get(rid_items, 1, 10);
    assert_ptr_equal(watch_get(rid_items, 1, 10), a);
    assert_ptr_equal(watch_find(rid_items, 1, 10), a);
    assert_ptr_not_equal(watch_get(rid_items, 2, 10), a); /* a tenant */
    assert_ptr_not_equal(watch_get(rid_items, 1, 11), a); /* a row */
    assert_ptr_not_equal(watch_get(rid_log, 1, 10), a);   /* a resource */
    assert_int_equal(count(), 4);
    assert_null(watch_find(rid_items, 3, 10));
    watch_gc(); /* nobody follows any of them */
    assert_int_equal(count(), 0);
}

static void test_notify_marks_its_row_and_what_changes_with_it(void **state)
{
    (void)state;
    struct watch *row = watch_get(rid_items, 1, 10);
    struct watch *other_row = watch_get(rid_items, 1, 11);
    struct watch *other_tenant = watch_get(rid_items, 2, 10);
    struct watch *log1 = watch_get(rid_log, 1, 1); /* keyed by tenant */
    struct watch *log2 = watch_get(rid_log, 2, 2);

    watch_mark_dirty(rid_items, 1, 10);
    assert_true(row->dirty);
    assert_false(other_row->dirty);
    assert_false(other_tenant->dirty);
    assert_true(log1->dirty); /* `also`, by the tenant */
    assert_false(log2->dirty);

    /* The log names nothing else: only its own watch. */
    log1->dirty = row->dirty = 0;
    watch_mark_dirty(rid_log, 2, 2);
    assert_true(log2->dirty);
    assert_false(row->dirty || other_row->dirty || other_tenant->dirty ||
                 log1->dirty);
    /* An unknown resource marks nothing. */
    log2->dirty = 0;
    watch_mark_dirty(0, 1, 10);
    watch_mark_dirty(250, 1, 10);
    for (struct watch *w = watch_list(); w; w = w->next)
        assert_false(w->dirty);
    watch_gc();
    assert_int_equal(count(), 0);
}

static int drained;
static void on_drained(struct conn *c)
{
    (void)c;
    drained++;
}

static void test_followed_watches_survive_gc(void **state)
{
    (void)state;
    struct watch *w = watch_get(rid_items, 1, 10);
    struct watch *idle = watch_get(rid_items, 1, 12);
    (void)idle;
    struct conn *c1 = fake_conn(), *c2 = fake_conn();
    watch_attach(w, c1, on_drained);
    watch_attach(w, c2, on_drained);
    assert_ptr_equal(c1->w, w);
    assert_ptr_equal(w->conns, c2);
    assert_ptr_equal(c2->next, c1);
    assert_ptr_equal(c1->drained, on_drained);
    watch_gc();
    assert_int_equal(count(), 1);
    assert_ptr_equal(watch_list(), w);

    /* A closing connection leaves (its detach hook, as conn_close runs
     * it); the last one to leave lets the watch go. */
    c2->detach(c2);
    assert_ptr_equal(w->conns, c1);
    assert_null(c2->w);
    watch_gc();
    assert_int_equal(count(), 1);
    c1->detach(c1);
    assert_null(w->conns);
    watch_gc();
    assert_int_equal(count(), 0);
    free(c1);
    free(c2);
}

static void test_a_dropped_resource_has_no_feed(void **state)
{
    (void)state;
    struct resource decl = {.name = "wdecl",
                            .table = "wdecl",
                            .id_col = "id",
                            .tenant_col = "tenant_id",
                            .feed = RES_FEED_RECORD};
    const struct resource *set[] = {&decl};
    char why[128];
    assert_int_equal(resource_set_runtime(set, 1, why, sizeof why), 0);
    struct watch *w = watch_get(resource_id("wdecl"), 1, 5);
    assert_int_equal(watch_feed(w), RES_FEED_RECORD);
    /* A reload without it: the watch stays, its feed is gone. */
    assert_int_equal(resource_set_runtime(NULL, 0, why, sizeof why), 0);
    assert_int_equal(watch_feed(w), RES_FEED_NONE);
    /* Back under the same id: the same watch follows it again. */
    assert_int_equal(resource_set_runtime(set, 1, why, sizeof why), 0);
    assert_ptr_equal(watch_find(resource_id("wdecl"), 1, 5), w);
    assert_int_equal(watch_feed(w), RES_FEED_RECORD);
    watch_gc();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_watch_per_row),
        cmocka_unit_test(test_notify_marks_its_row_and_what_changes_with_it),
        cmocka_unit_test(test_followed_watches_survive_gc),
        cmocka_unit_test(test_a_dropped_resource_has_no_feed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
