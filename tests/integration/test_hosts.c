/*
 * test_hosts.c -- the host list and the cluster rules of lib/ (db.c,
 * cluster.c) on a plain MariaDB, where the Galera checks must change
 * nothing (tests/run.sh starts the server and sets OPTIMIST_DB_SOCKET).
 * The Galera side itself is tested by tests/cluster/ (make test-cluster).
 *
 * OPTIMIST_DB_HOSTS parsing; a dead first host is skipped; a plain server
 * reports no wsrep and is usable; a malformed list fails to connect with
 * REC_ERROR; with a host list, a connection lost inside rec_txn before
 * COMMIT runs the body again on a new connection (nothing of the first
 * run committed), and no statement of the lost transaction runs outside
 * of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "db_internal.h"
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rec_config cfg;

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

static void test_parse_hosts(void **state)
{
    (void)state;
    struct db_endpoint e[DB_MAX_HOSTS];
    assert_int_equal(
        cluster_parse_hosts("db1:3307, db2 ,/run/m.sock", e, DB_MAX_HOSTS), 3);
    assert_string_equal(e[0].host, "db1");
    assert_int_equal(e[0].port, 3307);
    assert_string_equal(e[0].name, "db1:3307");
    assert_string_equal(e[1].host, "db2");
    assert_int_equal(e[1].port, 3306);
    assert_int_equal(e[2].is_socket, 1);
    assert_string_equal(e[2].name, "/run/m.sock");
    assert_int_equal(cluster_parse_hosts(",,", e, DB_MAX_HOSTS), 0);
    assert_int_equal(cluster_parse_hosts("db:0", e, DB_MAX_HOSTS), -1);
    assert_int_equal(cluster_parse_hosts("db:x", e, DB_MAX_HOSTS), -1);
    assert_int_equal(cluster_parse_hosts(":3306", e, DB_MAX_HOSTS), -1);
    assert_int_equal(cluster_parse_hosts("a,b,c", e, 2), -1);
}

static void test_dead_first_host_is_skipped(void **state)
{
    (void)state;
    char list[600];
    snprintf(list, sizeof list, "/nonexistent-optimist/none.sock,%s",
             cfg.socket);
    rec_config c = cfg;
    c.hosts = list;
    rec_db *db = rec_db_new(&c);
    rec_err err = {0};
    rec_cluster_state cs;
    must(rec_cluster_state_get(db, &cs, &err), &err, "state");
    assert_int_equal(cs.wsrep, 0);
    assert_int_equal(cs.usable, 1);
    assert_int_equal(cs.node_index, 1);
    assert_string_equal(cs.node, cfg.socket);
    rec_rows *rows = NULL;
    static const char one[] = "SELECT 1";
    must(rec_exec(db, one, NULL, 0, &rows, NULL, NULL, &err), &err, "select");
    assert_int_equal(rec_rows_u64(rows, 0, 0), 1);
    rec_rows_free(rows);
    /* A plain server: no more retries than configured. */
    assert_int_equal(rec_retry_limit(db), c.retries);
    rec_db_close(db);
}

static void test_malformed_list_is_an_error(void **state)
{
    (void)state;
    rec_config c = cfg;
    c.hosts = "db:notaport";
    rec_db *db = rec_db_new(&c);
    rec_err err = {0};
    assert_int_equal(rec_db_connect(db, &err), REC_ERROR);
    assert_non_null(strstr(err.msg, "OPTIMIST_DB_HOSTS"));
    rec_db_close(db);
}

/* The body of the lost transaction: on its first run it has its own
 * connection killed, then tries a read and a write (both must fail: the
 * transaction is gone); on later runs it writes one row. */
struct lost_ctx {
    rec_db *admin;
    int runs;
    rec_status after_loss_read, after_loss_write;
};

static const char SQL_INS[] = "INSERT INTO itest_hosts (tag) VALUES ('x')";
static const char SQL_COUNT[] = "SELECT COUNT(*) FROM itest_hosts";

static rec_status lost_body(rec_db *db, void *vctx, rec_err *err)
{
    struct lost_ctx *c = vctx;
    rec_rows *rows = NULL;
    c->runs++;
    if (c->runs == 1) {
        static const char cid[] = "SELECT CONNECTION_ID()";
        rec_status st = rec_exec(db, cid, NULL, 0, &rows, NULL, NULL, err);
        if (st != REC_OK)
            return st;
        uint64_t id = rec_rows_u64(rows, 0, 0);
        rec_rows_free(rows);
        rows = NULL;
        st = rec_exec(db, SQL_INS, NULL, 0, NULL, NULL, NULL, err);
        if (st != REC_OK)
            return st;
        static const char kill[] = "KILL CONNECTION ?";
        rec_param p[1] = {REC_U(id)};
        rec_err e2 = {0};
        must(rec_exec(c->admin, kill, p, 1, NULL, NULL, NULL, &e2), &e2,
             "kill");
        /* The loss is seen by the next statement; the ones after it must
         * not run on a new connection outside the transaction. */
        c->after_loss_read =
            rec_exec(db, SQL_COUNT, NULL, 0, &rows, NULL, NULL, err);
        rec_rows_free(rows);
        c->after_loss_write =
            rec_exec(db, SQL_INS, NULL, 0, NULL, NULL, NULL, err);
        return REC_OK; /* a careless body: rec_txn must notice anyway */
    }
    return rec_exec(db, SQL_INS, NULL, 0, NULL, NULL, NULL, err);
}

static void test_loss_before_commit_runs_again(void **state)
{
    (void)state;
    rec_err err = {0};
    rec_db *admin = rec_db_new(&cfg);
    static const char t[] =
        "CREATE TABLE IF NOT EXISTS itest_hosts ("
        " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " tag VARCHAR(8) NOT NULL) ENGINE=InnoDB";
    static const char del[] = "DELETE FROM itest_hosts";
    must(rec_exec_text(admin, t, sizeof t - 1, &err), &err, "create");
    must(rec_exec_text(admin, del, sizeof del - 1, &err), &err, "delete");

    /* Two entries (the same server twice): with a list there is
     * somewhere to go, and a loss before COMMIT runs the body again. */
    char list[600];
    snprintf(list, sizeof list, "%s,%s", cfg.socket, cfg.socket);
    rec_config c2 = cfg;
    c2.hosts = list;
    rec_db *db = rec_db_new(&c2);
    struct lost_ctx c = {.admin = admin};
    must(rec_txn(db, lost_body, &c, &err), &err, "txn");
    assert_int_equal(c.runs, 2);
    assert_int_equal(c.after_loss_read, REC_UNAVAILABLE);
    assert_int_equal(c.after_loss_write, REC_UNAVAILABLE);
    rec_rows *rows = NULL;
    must(rec_exec(admin, SQL_COUNT, NULL, 0, &rows, NULL, NULL, &err), &err,
         "count");
    assert_int_equal(rec_rows_u64(rows, 0, 0), 1); /* the second run's */
    rec_rows_free(rows);
    /* And the handle serves statements again afterwards. */
    must(rec_exec(db, SQL_COUNT, NULL, 0, &rows, NULL, NULL, &err), &err,
         "after");
    rec_rows_free(rows);
    rec_db_close(db);
    rec_db_close(admin);
}

/* A statement after which the server says no transaction is open (here a
 * DDL's implicit commit; on Galera, a transaction the server aborted and
 * a statement that then ran on its own) is REC_RETRY, and the statements
 * after it do not run: the body runs again. */
static rec_status ended_body(rec_db *db, void *vctx, rec_err *err)
{
    int *runs = vctx;
    static const char ddl[] =
        "CREATE TABLE IF NOT EXISTS itest_hosts_ddl (id INT PRIMARY KEY)";
    (*runs)++;
    if (*runs == 1) {
        rec_status st = rec_exec(db, ddl, NULL, 0, NULL, NULL, NULL, err);
        if (st != REC_RETRY)
            fail_msg("after an implicit commit: %s", rec_status_name(st));
        if (rec_exec(db, SQL_INS, NULL, 0, NULL, NULL, NULL, err) !=
            REC_UNAVAILABLE)
            fail_msg("a statement ran after the transaction ended");
        return st;
    }
    return rec_exec(db, SQL_INS, NULL, 0, NULL, NULL, NULL, err);
}

static void test_transaction_ended_by_the_server_runs_again(void **state)
{
    (void)state;
    rec_err err = {0};
    rec_db *db = rec_db_new(&cfg);
    static const char t[] =
        "CREATE TABLE IF NOT EXISTS itest_hosts ("
        " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " tag VARCHAR(8) NOT NULL) ENGINE=InnoDB";
    static const char del[] = "DELETE FROM itest_hosts";
    must(rec_exec_text(db, t, sizeof t - 1, &err), &err, "create");
    must(rec_exec_text(db, del, sizeof del - 1, &err), &err, "delete");
    int runs = 0;
    must(rec_txn(db, ended_body, &runs, &err), &err, "txn");
    assert_int_equal(runs, 2);
    rec_rows *rows = NULL;
    must(rec_exec(db, SQL_COUNT, NULL, 0, &rows, NULL, NULL, &err), &err,
         "count");
    assert_int_equal(rec_rows_u64(rows, 0, 0), 1);
    rec_rows_free(rows);
    rec_db_close(db);
}

int main(void)
{
    if (itest_config(&cfg) != 0 || cfg.socket == NULL)
        return 1;
    cfg.hosts = NULL; /* each test sets its own list */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_hosts),
        cmocka_unit_test(test_dead_first_host_is_skipped),
        cmocka_unit_test(test_malformed_list_is_an_error),
        cmocka_unit_test(test_loss_before_commit_runs_again),
        cmocka_unit_test(test_transaction_ended_by_the_server_runs_again),
    };
    return cmocka_run_group_tests_name("integration_hosts", tests, NULL, NULL);
}
