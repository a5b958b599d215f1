/*
 * test_faults.c -- fault injection inside the record library, against a
 * real MariaDB (tests/run.sh starts one, as for tests/integration).
 *
 * For each operation of lib/ that writes or reads (an autocommit insert, a
 * read, a versioned write, a transaction that writes then reads back, an
 * autocommit body, a held transaction committed by its caller, a chat
 * append of two messages and of one (a CALL), a tenant's creation) and for each
 * way a call can fail (faultsim.h: the connection breaks before the call
 * reaches the server, or after the server ran it), the Nth call into
 * libmysqlclient fails, for N = 1, 2, ... until the operation completes without
 * reaching call N, as SQLite's fault simulator does with malloc. After each
 * run, read back on a second connection:
 *   - the status is the right one: REC_OK only if the effect is there,
 *     whole and once, and what the operation read back is what was
 *     committed; else REC_UNAVAILABLE (503: the client may retry);
 *     never REC_ERROR (500) or a conflict for a lost connection;
 *   - nothing was written twice, and a transaction is all or nothing;
 *   - the handle recovers: the next statement on it succeeds and no
 *     transaction is left held.
 * Leaks and memory errors: under ASan (`make faults`, `make asan`).
 *
 * FAULTS_VERBOSE=1 prints every injected fault and its outcome.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "chat.h"
#include "rec.h"
#include "../integration/itest.h"
#include "faultsim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static rec_config cfg;
static rec_db *chk; /* the checker's connection: never armed */
static int verbose;
static unsigned long injected_total;

/* One run's fixture: a fresh row, a fresh tag, what the op saw. */
typedef struct fx {
    uint64_t id; /* ftest_rows row */
    int64_t old_val;
    uint32_t old_version;
    uint64_t report; /* reports row, for chat */
    uint64_t tenant;
    char tag[64];     /* unique per run: ftest_log.tag, chat ids, names */
    int64_t read_val; /* what the op read back, -1 if nothing */
    uint32_t cur;     /* versioned write: the version it says */
    chat_result chat;
    unsigned seq;
} fx;

typedef struct op {
    const char *name;
    rec_status (*run)(fx *f, rec_db *db, rec_err *err);
    /* Returns NULL if (st, database) is right, else what is wrong. */
    const char *(*verify)(fx *f, rec_status st);
} op;

static const char SQL_ROW_INS[] =
    "INSERT INTO ftest_rows (tenant_id, val) VALUES (7, ?)";
static const char SQL_ROW_GET[] =
    "SELECT val, version FROM ftest_rows WHERE id = ?";
static const char SQL_ROW_SET[] =
    "UPDATE ftest_rows SET val = ?, version = version + 1 "
    "WHERE id = ? AND tenant_id = ? AND version = COALESCE(?, version)";
static const char SQL_ROW_VER[] =
    "SELECT version FROM ftest_rows WHERE id = ? AND tenant_id = ?";
static const char SQL_ROW_INC[] =
    "UPDATE ftest_rows SET val = val + 1, version = version + 1 WHERE id = ?";
static const char SQL_ROW_VAL[] = "SELECT val FROM ftest_rows WHERE id = ?";
static const char SQL_LOG_INS[] = "INSERT INTO ftest_log (tag) VALUES (?)";
static const char SQL_LOG_COUNT[] =
    "SELECT COUNT(*) FROM ftest_log WHERE tag = ?";

/* -- the checker's reads (never armed) ---------------------------------- */

static void must(rec_status st, const rec_err *err, const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

static uint64_t q_u64(const char *sql, const rec_param *p, size_t n)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    must(rec_exec(chk, sql, p, n, &rows, NULL, NULL, &err), &err, sql);
    uint64_t v = rec_rows_count(rows) ? rec_rows_u64(rows, 0, 0) : 0;
    rec_rows_free(rows);
    return v;
}

static uint64_t log_count(const char *tag)
{
    rec_param p[1] = {REC_CSTR(tag)};
    return q_u64(SQL_LOG_COUNT, p, 1);
}

static void row_now(uint64_t id, int64_t *val, uint32_t *version)
{
    rec_err err = {0};
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(id)};
    must(rec_exec(chk, SQL_ROW_GET, p, 1, &rows, NULL, NULL, &err), &err,
         "row");
    assert_int_equal(rec_rows_count(rows), 1);
    *val = strtoll(rec_rows_get(rows, 0, 0), NULL, 10);
    *version = (uint32_t)rec_rows_u64(rows, 0, 1);
    rec_rows_free(rows);
}

static void prepare(fx *f)
{
    static unsigned n;
    rec_err err = {0};
    memset(f, 0, sizeof *f);
    f->seq = ++n;
    snprintf(f->tag, sizeof f->tag, "ft%u-%u", (unsigned)getpid(), f->seq);
    f->old_val = 100;
    f->old_version = 1;
    f->read_val = -1;
    rec_param p[1] = {REC_I(f->old_val)};
    must(rec_exec(chk, SQL_ROW_INS, p, 1, NULL, NULL, &f->id, &err), &err,
         "insert row");
    static const char rep[] =
        "INSERT INTO reports (tenant_id, title, chat_length, "
        "created_at, updated_at) VALUES (7, 'f', 0, UTC_TIMESTAMP(3), "
        "UTC_TIMESTAMP(3))";
    must(rec_exec(chk, rep, NULL, 0, NULL, NULL, &f->report, &err), &err,
         "insert report");
}

/* The row moved by one step, or not at all: which. -1 if neither. */
static int row_step(const fx *f, int64_t new_val)
{
    int64_t v;
    uint32_t ver;
    row_now(f->id, &v, &ver);
    if (v == f->old_val && ver == f->old_version)
        return 0;
    if (v == new_val && ver == f->old_version + 1)
        return 1;
    return -1;
}

/* -- the operations -------------------------------------------------------- */

static rec_status run_insert(fx *f, rec_db *db, rec_err *err)
{
    rec_param p[1] = {REC_CSTR(f->tag)};
    return rec_exec(db, SQL_LOG_INS, p, 1, NULL, NULL, NULL, err);
}

static const char *verify_insert(fx *f, rec_status st)
{
    uint64_t n = log_count(f->tag);
    if (n > 1)
        return "the insert was written twice";
    if (st == REC_OK && n != 1)
        return "REC_OK but the row is not there";
    return NULL;
}

static rec_status run_read(fx *f, rec_db *db, rec_err *err)
{
    rec_rows *rows = NULL;
    rec_param p[1] = {REC_U(f->id)};
    rec_status st = rec_exec(db, SQL_ROW_GET, p, 1, &rows, NULL, NULL, err);
    if (st == REC_OK) {
        if (rec_rows_count(rows) == 1)
            f->read_val = strtoll(rec_rows_get(rows, 0, 0), NULL, 10);
        rec_rows_free(rows);
    }
    return st;
}

static const char *verify_read(fx *f, rec_status st)
{
    if (st == REC_OK && f->read_val != f->old_val)
        return "REC_OK but the value read is wrong";
    return NULL;
}

static rec_status run_vwrite(fx *f, rec_db *db, rec_err *err)
{
    rec_param p[1] = {REC_I(f->old_val + 5)};
    rec_expect ex = {.version = f->old_version};
    return rec_versioned_write(db, SQL_ROW_SET, p, 1, SQL_ROW_VER, f->id, 7, ex,
                               &f->cur, err);
}

static const char *verify_vwrite(fx *f, rec_status st)
{
    int step = row_step(f, f->old_val + 5);
    if (step < 0)
        return "the row is neither before nor one step after";
    if (st == REC_OK && (step != 1 || f->cur != f->old_version + 1))
        return "REC_OK but the write is not there at version + 1";
    return NULL;
}

/* A transaction: increment, log, read back. */
static rec_status txn_body(rec_db *db, void *ctx, rec_err *err)
{
    fx *f = ctx;
    rec_param id[1] = {REC_U(f->id)};
    rec_param tag[1] = {REC_CSTR(f->tag)};
    rec_rows *rows = NULL;
    rec_status st = rec_exec(db, SQL_ROW_INC, id, 1, NULL, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    st = rec_exec(db, SQL_LOG_INS, tag, 1, NULL, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    st = rec_exec(db, SQL_ROW_VAL, id, 1, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    f->read_val = rec_rows_count(rows) == 1
                      ? strtoll(rec_rows_get(rows, 0, 0), NULL, 10)
                      : -1;
    rec_rows_free(rows);
    return REC_OK;
}

static rec_status run_txn(fx *f, rec_db *db, rec_err *err)
{
    return rec_txn(db, txn_body, f, err);
}

/* All or nothing, and REC_OK only with all of it and its read-back. */
static const char *verify_atomic(fx *f, rec_status st)
{
    int step = row_step(f, f->old_val + 1);
    uint64_t n = log_count(f->tag);
    if (step < 0 || n > 1)
        return "written twice";
    if ((uint64_t)step != n)
        return "half a transaction committed";
    if (st == REC_OK && step != 1)
        return "REC_OK but the transaction is not committed";
    if (st == REC_OK && f->read_val >= 0 && f->read_val != f->old_val + 1)
        return "REC_OK but what it read back is not what it committed";
    return NULL;
}

/* rec_autocommit: a versioned write and a read back, no transaction. */
static rec_status ac_body(rec_db *db, void *ctx, rec_err *err)
{
    fx *f = ctx;
    rec_status st = run_vwrite(f, db, err);
    if (st != REC_OK)
        return st;
    rec_param id[1] = {REC_U(f->id)};
    rec_rows *rows = NULL;
    st = rec_exec(db, SQL_ROW_VAL, id, 1, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    f->read_val = rec_rows_count(rows) == 1
                      ? strtoll(rec_rows_get(rows, 0, 0), NULL, 10)
                      : -1;
    rec_rows_free(rows);
    return REC_OK;
}

static rec_status run_autocommit(fx *f, rec_db *db, rec_err *err)
{
    return rec_autocommit(db, ac_body, f, err);
}

static const char *verify_autocommit(fx *f, rec_status st)
{
    const char *why = verify_vwrite(f, st);
    if (why == NULL && st == REC_OK && f->read_val != f->old_val + 5)
        return "REC_OK but the read back is not the write";
    return why;
}

/* A held transaction (what an Idempotency-Key request does): the route's
 * write, then the caller's last statement and COMMIT. */
static rec_status inc_only(rec_db *db, void *ctx, rec_err *err)
{
    fx *f = ctx;
    rec_param id[1] = {REC_U(f->id)};
    return rec_exec(db, SQL_ROW_INC, id, 1, NULL, NULL, NULL, err);
}

static rec_status log_only(rec_db *db, void *ctx, rec_err *err)
{
    fx *f = ctx;
    rec_param tag[1] = {REC_CSTR(f->tag)};
    return rec_exec(db, SQL_LOG_INS, tag, 1, NULL, NULL, NULL, err);
}

static rec_status run_held(fx *f, rec_db *db, rec_err *err)
{
    rec_txn_hold(db, 1);
    rec_status st = rec_txn(db, inc_only, f, err);
    rec_txn_hold(db, 0);
    if (st != REC_OK)
        return st;
    if (rec_txn_held(db) != REC_HOLD_OPEN) {
        snprintf(err->msg, sizeof err->msg, "REC_OK but nothing held");
        return REC_ERROR;
    }
    return rec_txn_commit_held(db, log_only, f, err);
}

static rec_status run_chat(fx *f, rec_db *db, rec_err *err)
{
    char a[80], b[80];
    snprintf(a, sizeof a, "%s-a", f->tag);
    snprintf(b, sizeof b, "%s-b", f->tag);
    chat_msg m[2] = {
        {.id = a,
         .id_len = strlen(a),
         .role = "user",
         .role_len = 4,
         .content = "hello",
         .content_len = 5},
        {.id = b,
         .id_len = strlen(b),
         .role = "user",
         .role_len = 4,
         .content = "again",
         .content_len = 5},
    };
    return chat_append(db, f->report, 7, m, 2, &f->chat, err);
}

static const char *verify_chat(fx *f, rec_status st)
{
    rec_param r[1] = {REC_U(f->report)};
    uint64_t ids = q_u64("SELECT COUNT(*) FROM report_chat_ids "
                         "WHERE report_id = ?",
                         r, 1);
    uint64_t len = q_u64("SELECT chat_length FROM reports WHERE id = ?", r, 1);
    /* The history's segments (sql/0008): their messages, all together. */
    uint64_t arr = q_u64("SELECT COALESCE(SUM(JSON_LENGTH(msgs)), 0) FROM "
                         "report_chat_segments WHERE report_id = ?",
                         r, 1);
    if (ids != len || len != arr)
        return "chat_length, the ids and the array disagree";
    if (len != 0 && len != 2)
        return "half an append committed, or twice";
    if (st == REC_OK && (len != 2 || f->chat.appended != 2))
        return "REC_OK but the messages are not there";
    return NULL;
}

/* One message: one CALL of the procedure chat_append_one (sql/0013),
 * which commits in the server. */
static rec_status run_chat_one(fx *f, rec_db *db, rec_err *err)
{
    char a[80];
    snprintf(a, sizeof a, "%s-one", f->tag);
    chat_msg m = {.id = a,
                  .id_len = strlen(a),
                  .role = "user",
                  .role_len = 4,
                  .content = "hello",
                  .content_len = 5};
    return chat_append(db, f->report, 7, &m, 1, &f->chat, err);
}

static const char *verify_chat_one(fx *f, rec_status st)
{
    rec_param r[1] = {REC_U(f->report)};
    uint64_t ids = q_u64("SELECT COUNT(*) FROM report_chat_ids "
                         "WHERE report_id = ?",
                         r, 1);
    uint64_t len = q_u64("SELECT chat_length FROM reports WHERE id = ?", r, 1);
    uint64_t arr = q_u64("SELECT COALESCE(SUM(JSON_LENGTH(msgs)), 0) FROM "
                         "report_chat_segments WHERE report_id = ?",
                         r, 1);
    if (ids != len || len != arr)
        return "chat_length, the ids and the array disagree";
    if (len > 1)
        return "the message was appended twice";
    if (st == REC_OK && (len != 1 || f->chat.appended != 1))
        return "REC_OK but the message is not there";
    return NULL;
}

static rec_status run_tenant(fx *f, rec_db *db, rec_err *err)
{
    char token[REC_TOKEN_MAX];
    return rec_tenant_create(db, f->tag, &f->tenant, token, err);
}

static const char *verify_tenant(fx *f, rec_status st)
{
    rec_param p[1] = {REC_CSTR(f->tag)};
    uint64_t n = q_u64("SELECT COUNT(*) FROM tenants WHERE name = ?", p, 1);
    uint64_t t = q_u64("SELECT COUNT(*) FROM api_tokens k JOIN tenants t "
                       "ON t.id = k.tenant_id WHERE t.name = ?",
                       p, 1);
    uint64_t d = q_u64("SELECT COUNT(*) FROM storefront_drafts s JOIN "
                       "tenants t ON t.id = s.tenant_id WHERE t.name = ?",
                       p, 1);
    if (n > 1)
        return "the tenant was created twice";
    if (t != n || d != n)
        return "half a tenant committed";
    if (st == REC_OK && n != 1)
        return "REC_OK but the tenant is not there";
    return NULL;
}

/* -- the sweep ------------------------------------------------------------- */

static int sweep(const op *o, fs_mode mode, rec_db *db)
{
    int bad = 0;
    unsigned long fired = 0;
    unsigned long by_status[REC_ERROR + 1] = {0};
    long n;
    for (n = 1; n < 500; n++) {
        fx f;
        rec_err err = {0};
        prepare(&f);
        faultsim_arm(n, mode);
        rec_status st = o->run(&f, db, &err);
        int hit = faultsim_fired();
        const char *site = faultsim_site();
        faultsim_arm(0, FS_BEFORE);
        const char *why = o->verify(&f, st);
        if (why == NULL && hit && st != REC_OK && st != REC_UNAVAILABLE)
            why = "a lost connection must be REC_UNAVAILABLE (503)";
        if (why == NULL && !hit && st != REC_OK)
            why = "no fault, and yet not REC_OK";
        if (why == NULL && rec_txn_held(db) == REC_HOLD_OPEN)
            why = "a transaction is still held";
        /* The handle recovers by itself. */
        rec_err e2 = {0};
        rec_rows *rows = NULL;
        if (why == NULL &&
            rec_exec(db, "SELECT 1", NULL, 0, &rows, NULL, NULL, &e2) != REC_OK)
            why = "the handle did not recover";
        rec_rows_free(rows);
        if (hit) {
            fired++;
            by_status[st]++;
        }
        if (why != NULL || verbose)
            printf("%s %s/%s call %ld (%s): %s%s%s [%u %s]\n",
                   why ? "VIOLATION" : "fault", o->name,
                   mode == FS_BEFORE ? "before" : "after", n,
                   hit ? site : "none", rec_status_name(st), why ? ": " : "",
                   why ? why : "", err.code, err.msg);
        if (why != NULL)
            bad++;
        if (!hit)
            break; /* the operation needs fewer than n calls: done */
    }
    injected_total += fired;
    printf("%-10s %-6s %3lu faults: ok %lu, unavailable %lu, other %lu%s\n",
           o->name, mode == FS_BEFORE ? "before" : "after", fired,
           by_status[REC_OK], by_status[REC_UNAVAILABLE],
           fired - by_status[REC_OK] - by_status[REC_UNAVAILABLE],
           bad ? "  <- violations" : "");
    return bad;
}

static void run_op(const op *o)
{
    rec_db *db = rec_db_new(&cfg);
    int bad = sweep(o, FS_BEFORE, db) + sweep(o, FS_AFTER, db);
    rec_db_close(db);
    if (bad)
        fail_msg("%s: %d violation(s), see above", o->name, bad);
}

#define OP_TEST(nm, runf, verf)                                                \
    static void test_##nm(void **state)                                        \
    {                                                                          \
        (void)state;                                                           \
        static const op o = {#nm, runf, verf};                                 \
        run_op(&o);                                                            \
    }

OP_TEST(insert, run_insert, verify_insert)
OP_TEST(read, run_read, verify_read)
OP_TEST(vwrite, run_vwrite, verify_vwrite)
OP_TEST(txn, run_txn, verify_atomic)
OP_TEST(autocommit, run_autocommit, verify_autocommit)
OP_TEST(held, run_held, verify_atomic)
OP_TEST(chat, run_chat, verify_chat)
OP_TEST(chat_one, run_chat_one, verify_chat_one)
OP_TEST(tenant, run_tenant, verify_tenant)

static int setup(void **state)
{
    (void)state;
    rec_err err = {0};
    chk = rec_db_new(&cfg);
    static const char t1[] =
        "CREATE TABLE IF NOT EXISTS ftest_rows ("
        " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " tenant_id BIGINT UNSIGNED NOT NULL,"
        " version INT UNSIGNED NOT NULL DEFAULT 1,"
        " val BIGINT NOT NULL) ENGINE=InnoDB";
    static const char t2[] =
        "CREATE TABLE IF NOT EXISTS ftest_log ("
        " id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " tag VARCHAR(64) NOT NULL, KEY (tag)) ENGINE=InnoDB";
    must(rec_exec_text(chk, t1, sizeof t1 - 1, &err), &err, "create rows");
    must(rec_exec_text(chk, t2, sizeof t2 - 1, &err), &err, "create log");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rec_db_close(chk);
    printf("faults injected: %lu\n", injected_total);
    return 0;
}

int main(void)
{
    if (itest_config(&cfg) != 0)
        return 1;
    verbose = getenv("FAULTS_VERBOSE") != NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert),     cmocka_unit_test(test_read),
        cmocka_unit_test(test_vwrite),     cmocka_unit_test(test_txn),
        cmocka_unit_test(test_autocommit), cmocka_unit_test(test_held),
        cmocka_unit_test(test_chat),       cmocka_unit_test(test_chat_one),
        cmocka_unit_test(test_tenant),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
