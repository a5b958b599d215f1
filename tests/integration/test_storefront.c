/*
 * test_storefront.c -- lib/storefront.c and rec_versioned_write_by_tenant
 * against a real MariaDB (tests/run.sh starts one and migrates it): the
 * draft a tenant is created with, the history and its pruning, the
 * per-tenant versioned write, the publish statement's affected rows, and
 * sql/0002_storefront.sql applied a second time over live data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rec.h"
#include "storefront.h"
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rec_config cfg;

/* The statements of fcgi/routes/routes_storefront.c that these tests exercise.
 */
static const char SQL_VERSION[] =
    "SELECT version FROM storefront_drafts WHERE tenant_id = ?";
static const char SQL_SET_CONFIG[] =
    "UPDATE storefront_drafts SET config = ?, version = version + 1, "
    "updated_at = UTC_TIMESTAMP(3) "
    "WHERE tenant_id = ? AND version = COALESCE(?, version)";
static const char SQL_PUBLISH[] =
    "REPLACE INTO storefront_published "
    "(tenant_id, draft_version, config, published_at) "
    "SELECT tenant_id, version, config, UTC_TIMESTAMP(3) "
    "FROM storefront_drafts "
    "WHERE tenant_id = ? AND version = COALESCE(?, version)";

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

/* The first column of the first row of a query taking the tenant id, as
 * text in buf ("" for no row, "NULL" for NULL). */
static const char *query1(rec_db *db, const char *sql, uint64_t tenant,
                          char *buf, size_t len)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(tenant)};
    must(rec_exec(db, sql, p, 1, &rows, NULL, NULL, &err), &err, sql);
    const char *v = rec_rows_count(rows) ? rec_rows_get(rows, 0, 0) : "";
    snprintf(buf, len, "%s", v ? v : "NULL");
    rec_rows_free(rows);
    return buf;
}

static const char SQL_DRAFT_CONFIG[] =
    "SELECT CONCAT(version, ' ', config) FROM storefront_drafts "
    "WHERE tenant_id = ?";
static const char SQL_HISTORY[] =
    "SELECT CONCAT(COUNT(*), ' ', COALESCE(MIN(version), 0), ' ', "
    "COALESCE(MAX(version), 0)) FROM storefront_versions WHERE tenant_id = ?";
static const char SQL_PUBLISHED[] =
    "SELECT CONCAT(draft_version, ' ', config) FROM storefront_published "
    "WHERE tenant_id = ?";

static uint64_t new_tenant(rec_db *db)
{
    rec_err err = {0};
    uint64_t tenant = 0;
    char token[REC_TOKEN_MAX];
    must(rec_tenant_create(db, "itest-storefront", &tenant, token, &err), &err,
         "tenant create");
    return tenant;
}

/* One write of the draft the way the routes make it: the versioned
 * UPDATE, then the history, in one transaction. */
struct write_ctx {
    uint64_t tenant;
    rec_expect expect;
    const char *config;
    uint32_t current;
};

static rec_status write_body(rec_db *db, void *vctx, rec_err *err)
{
    struct write_ctx *c = vctx;
    rec_param p[1] = {REC_CSTR(c->config)};
    rec_status st =
        rec_versioned_write_by_tenant(db, SQL_SET_CONFIG, p, 1, SQL_VERSION,
                                      c->tenant, c->expect, &c->current, err);
    if (st != REC_OK)
        return st;
    return storefront_record(db, c->tenant, err);
}

static rec_status write_draft(rec_db *db, uint64_t tenant, rec_expect ex,
                              const char *config, uint32_t *current)
{
    rec_err err = {0};
    struct write_ctx c = {.tenant = tenant, .expect = ex, .config = config};
    rec_status st = rec_txn(db, write_body, &c, &err);
    *current = c.current;
    return st;
}

static int setup(void **state)
{
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    must(rec_db_connect(db, &err), &err, "connect");
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    rec_db_close(*state);
    return 0;
}

static void test_new_tenant_has_draft_version_1_and_its_history(void **state)
{
    rec_db *db = *state;
    char buf[128];
    uint64_t t = new_tenant(db);
    assert_string_equal(query1(db, SQL_DRAFT_CONFIG, t, buf, sizeof buf),
                        "1 {}");
    assert_string_equal(query1(db, SQL_HISTORY, t, buf, sizeof buf), "1 1 1");
    assert_string_equal(query1(db, SQL_PUBLISHED, t, buf, sizeof buf), "");
}

static void test_write_by_tenant_checks_the_version(void **state)
{
    rec_db *db = *state;
    char buf[128];
    uint32_t cur = 0;
    uint64_t t = new_tenant(db), other = new_tenant(db);

    assert_int_equal(
        write_draft(db, t, (rec_expect){.version = 1}, "{\"a\":1}", &cur),
        REC_OK);
    assert_int_equal(cur, 2);
    /* Stale, and ahead of the row: both conflicts naming version 2. */
    assert_int_equal(
        write_draft(db, t, (rec_expect){.version = 1}, "{\"b\":1}", &cur),
        REC_CONFLICT);
    assert_int_equal(cur, 2);
    assert_int_equal(
        write_draft(db, t, (rec_expect){.version = 3}, "{\"b\":1}", &cur),
        REC_CONFLICT);
    assert_int_equal(cur, 2);
    assert_string_equal(query1(db, SQL_DRAFT_CONFIG, t, buf, sizeof buf),
                        "2 {\"a\":1}");
    /* Any version: a deliberate overwrite. */
    assert_int_equal(
        write_draft(db, t, (rec_expect){.any = 1}, "{\"c\":1}", &cur), REC_OK);
    assert_string_equal(query1(db, SQL_DRAFT_CONFIG, t, buf, sizeof buf),
                        "3 {\"c\":1}");
    assert_string_equal(query1(db, SQL_HISTORY, t, buf, sizeof buf), "3 1 3");
    /* Nobody else's draft moved; a tenant without a draft is not found. */
    assert_string_equal(query1(db, SQL_DRAFT_CONFIG, other, buf, sizeof buf),
                        "1 {}");
    assert_int_equal(
        write_draft(db, 987654321, (rec_expect){.version = 1}, "{}", &cur),
        REC_NOT_FOUND);
    assert_int_equal(
        write_draft(db, 987654321, (rec_expect){.any = 1}, "{}", &cur),
        REC_NOT_FOUND);
}

static void test_history_keeps_the_last_50(void **state)
{
    rec_db *db = *state;
    char buf[128], config[32];
    uint32_t cur = 0;
    uint64_t t = new_tenant(db);
    for (uint32_t v = 1; v <= 60; v++) {
        snprintf(config, sizeof config, "{\"n\":%u}", v);
        assert_int_equal(
            write_draft(db, t, (rec_expect){.version = v}, config, &cur),
            REC_OK);
        /* After every write: the current version and at most 49 more. */
        char want[64];
        uint32_t newest = v + 1, oldest = newest > 50 ? newest - 49 : 1;
        snprintf(want, sizeof want, "%u %u %u", newest - oldest + 1, oldest,
                 newest);
        assert_string_equal(query1(db, SQL_HISTORY, t, buf, sizeof buf), want);
    }
    assert_string_equal(query1(db, SQL_HISTORY, t, buf, sizeof buf),
                        "50 12 61");
}

static rec_status publish(rec_db *db, uint64_t tenant, rec_expect ex)
{
    rec_err err = {0};
    uint32_t cur = 0;
    return rec_versioned_write_by_tenant(db, SQL_PUBLISH, NULL, 0, SQL_VERSION,
                                         tenant, ex, &cur, &err);
}

static void test_publish_statement_counts_only_a_current_version(void **state)
{
    rec_db *db = *state;
    char buf[128];
    uint32_t cur = 0;
    uint64_t t = new_tenant(db);
    assert_int_equal(
        write_draft(db, t, (rec_expect){.version = 1}, "{\"p\":1}", &cur),
        REC_OK);
    /* First publish inserts, the same version again replaces: both count. */
    assert_int_equal(publish(db, t, (rec_expect){.version = 2}), REC_OK);
    assert_int_equal(publish(db, t, (rec_expect){.version = 2}), REC_OK);
    assert_string_equal(query1(db, SQL_PUBLISHED, t, buf, sizeof buf),
                        "2 {\"p\":1}");
    assert_int_equal(publish(db, t, (rec_expect){.version = 1}), REC_CONFLICT);
    assert_int_equal(publish(db, t, (rec_expect){.version = 3}), REC_CONFLICT);
    assert_int_equal(publish(db, 987654321, (rec_expect){.version = 1}),
                     REC_NOT_FOUND);
    /* Publishing leaves the draft's version alone. */
    assert_string_equal(query1(db, SQL_DRAFT_CONFIG, t, buf, sizeof buf),
                        "2 {\"p\":1}");
}

static void test_migration_runs_again_and_fills_in_missing_drafts(void **state)
{
    rec_db *db = *state;
    rec_err err = {0};
    char buf[128];
    uint32_t cur = 0;
    uint64_t t = new_tenant(db), bare = new_tenant(db);
    assert_int_equal(
        write_draft(db, t, (rec_expect){.version = 1}, "{\"kept\":true}", &cur),
        REC_OK);
    /* A tenant from before the migration: no draft, no history. */
    static const char del_draft[] =
        "DELETE FROM storefront_drafts WHERE tenant_id = ?";
    static const char del_hist[] =
        "DELETE FROM storefront_versions WHERE tenant_id = ?";
    rec_param p[1] = {REC_U(bare)};
    must(rec_exec(db, del_draft, p, 1, NULL, NULL, NULL, &err), &err, "del");
    must(rec_exec(db, del_hist, p, 1, NULL, NULL, NULL, &err), &err, "del");

    static const char forget[] = "DELETE FROM schema_migrations "
                                 "WHERE name = '0002_storefront.sql'";
    must(rec_exec_text(db, forget, sizeof forget - 1, &err), &err, "forget");
    int applied = 0;
    const char *dir = getenv("OPTIMIST_SQL_DIR");
    must(rec_migrate(db, dir ? dir : "sql", &applied, NULL, &err), &err,
         "migrate again");
    assert_int_equal(applied, 1);
    assert_string_equal(query1(db, SQL_DRAFT_CONFIG, bare, buf, sizeof buf),
                        "1 {}");
    assert_string_equal(query1(db, SQL_HISTORY, bare, buf, sizeof buf),
                        "1 1 1");
    /* Existing drafts and their history are left as they were. */
    assert_string_equal(query1(db, SQL_DRAFT_CONFIG, t, buf, sizeof buf),
                        "2 {\"kept\":true}");
    assert_string_equal(query1(db, SQL_HISTORY, t, buf, sizeof buf), "2 1 2");
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_tenant_has_draft_version_1_and_its_history),
        cmocka_unit_test(test_write_by_tenant_checks_the_version),
        cmocka_unit_test(test_history_keeps_the_last_50),
        cmocka_unit_test(test_publish_statement_counts_only_a_current_version),
        cmocka_unit_test(test_migration_runs_again_and_fills_in_missing_drafts),
    };
    return cmocka_run_group_tests_name("integration_storefront", tests, setup,
                                       teardown);
}
