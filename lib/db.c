/*
 * db.c -- the connection: settings from the environment, connect, notice a
 * server that went away, classify errors, and run transactions with retry.
 *
 * The reconnect rule: a connection the server closed while the worker was
 * idle is noticed before anything is sent (a zero-timeout poll on the
 * socket, no round trip) and made again. A connection lost while a
 * statement was in flight is dropped; the statement is sent again only if
 * it cannot have changed anything (see stmt.c), and a COMMIT whose fate is
 * unknown is never sent again: the caller answers 503.
 */
#include "db_internal.h"

#include <errno.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#ifndef ER_CONNECTION_KILLED
#define ER_CONNECTION_KILLED 1927
#endif

rec_db *rec_db_new(const rec_config *cfg)
{
    rec_db *db = calloc(1, sizeof *db);
    if (db == NULL)
        abort(); /* out of memory in a worker: the master replaces it */
    db->cfg = *cfg;
    if (db->cfg.user == NULL) {
        struct passwd *pw = getpwuid(geteuid());
        snprintf(db->user, sizeof db->user, "%s", pw ? pw->pw_name : "root");
        db->cfg.user = db->user;
    }
    if (db->cfg.connect_timeout == 0)
        db->cfg.connect_timeout = 3;
    return db;
}

void db_drop(rec_db *db)
{
    for (size_t i = 0; i < STMT_CACHE_SIZE; i++) {
        if (db->cache[i].stmt != NULL)
            mysql_stmt_close(db->cache[i].stmt);
        db->cache[i].stmt = NULL;
        db->cache[i].sql = NULL;
    }
    if (db->conn != NULL)
        mysql_close(db->conn);
    db->conn = NULL;
    db->in_txn = 0;
    if (db->held) {
        /* The server rolls back what the lost connection held open. */
        db->held = 0;
        db->hold_broken = 1;
    }
}

void rec_db_close(rec_db *db)
{
    if (db == NULL)
        return;
    db_drop(db);
    free(db);
}

void rec_db_stats(const rec_db *db, rec_stats *out)
{
    *out = db->stats;
}

/* 1 for the client error numbers that mean the connection is lost. */
static int db_is_gone(unsigned code)
{
    return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
           code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR ||
           code == CR_SERVER_LOST_EXTENDED || code == ER_CONNECTION_KILLED ||
           code == ER_SERVER_SHUTDOWN || code == 4031 /* idle timeout */;
}

static rec_status classify(rec_db *db, unsigned code)
{
    db->stats.errors++;
    if (db_is_gone(code)) {
        db_drop(db);
        return REC_UNAVAILABLE;
    }
    switch (code) {
    case ER_LOCK_DEADLOCK:      /* 1213; also Galera certification */
    case ER_LOCK_WAIT_TIMEOUT:  /* 1205 */
        return REC_RETRY;
    case ER_DUP_ENTRY:          /* 1062 */
        return REC_DUPLICATE;
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: /* 1366 */
    case ER_DATA_TOO_LONG:      /* 1406 */
    case ER_WARN_DATA_OUT_OF_RANGE: /* 1264 */
    case ER_CONSTRAINT_FAILED:  /* 4025: CHECK (JSON_VALID) */
        return REC_INVALID;
    default:
        /* MariaDB's JSON function errors (4037..4048) and MySQL's
         * (3140..3160) are about the caller's document or path. */
        if ((code >= 4037 && code <= 4048) || (code >= 3140 && code <= 3160))
            return REC_INVALID;
        return REC_ERROR;
    }
}

static rec_status db_fail_conn(rec_db *db, rec_err *err)
{
    unsigned code = db->conn ? mysql_errno(db->conn) : CR_SERVER_GONE_ERROR;
    err->code = code;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s",
             db->conn ? mysql_sqlstate(db->conn) : "HY000");
    snprintf(err->msg, sizeof err->msg, "%s",
             db->conn ? mysql_error(db->conn) : "not connected");
    return classify(db, code);
}

rec_status db_fail_stmt(rec_db *db, MYSQL_STMT *stmt, rec_err *err)
{
    unsigned code = mysql_stmt_errno(stmt);
    err->code = code;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s",
             mysql_stmt_sqlstate(stmt));
    snprintf(err->msg, sizeof err->msg, "%s", mysql_stmt_error(stmt));
    return classify(db, code);
}

rec_status rec_db_connect(rec_db *db, rec_err *err)
{
    if (db->conn != NULL)
        return REC_OK;
    MYSQL *m = mysql_init(NULL);
    if (m == NULL)
        abort();
    my_bool off = 0;
    unsigned timeout = db->cfg.connect_timeout;
    unsigned io_timeout = 60; /* a hung server must not hang a worker */
    /* Auto-reconnect would silently re-send a statement whose outcome is
     * unknown; we reconnect ourselves, only when it is safe. */
    if (mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off) ||
        mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout) ||
        mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout) ||
        mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout) ||
        mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4") ||
        /* UTC everywhere: NOW(3) and DATETIME columns are UTC. READ
         * COMMITTED: every statement sees the latest committed row, and
         * fewer gap locks mean fewer deadlocks. */
        mysql_optionsv(m, MYSQL_INIT_COMMAND,
                       "SET time_zone = '+00:00', innodb_lock_wait_timeout = 5") ||
        mysql_optionsv(m, MYSQL_INIT_COMMAND,
                       "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")) {
        snprintf(err->msg, sizeof err->msg, "mysql_options failed");
        err->code = 0;
        mysql_close(m);
        return REC_ERROR;
    }
    /* No CLIENT_FOUND_ROWS: affected rows count changed rows, and every
     * versioned write changes `version`, so the count is 1 either way. */
    if (mysql_real_connect(m, db->cfg.socket ? NULL : db->cfg.host,
                           db->cfg.user, db->cfg.password, db->cfg.database,
                           db->cfg.port, db->cfg.socket, 0) == NULL) {
        err->code = mysql_errno(m);
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", mysql_sqlstate(m));
        snprintf(err->msg, sizeof err->msg, "connect: %s", mysql_error(m));
        mysql_close(m);
        db->stats.errors++;
        return REC_UNAVAILABLE;
    }
    db->conn = m;
    if (db->connects++ > 0)
        db->stats.reconnects++;
    return REC_OK;
}

rec_status db_ensure(rec_db *db, rec_err *err)
{
    if (db->conn != NULL && !db->in_txn) {
        /* Between requests the server has nothing to say: a readable
         * socket means it closed the connection (restart, wait_timeout,
         * KILL) or sent an error packet before doing so. */
        struct pollfd p = {.fd = mysql_get_socket(db->conn),
                           .events = POLLIN | POLLRDHUP};
        int n = poll(&p, 1, 0);
        if (n != 0)
            db_drop(db);
    }
    return rec_db_connect(db, err);
}

static void backoff(unsigned attempt)
{
    /* Jittered exponential back-off: 2, 4, 8 ... ms, capped at 200 ms,
     * each multiplied by a random factor in [0.5, 1.5) so that the two
     * parties of a deadlock do not collide again in step. */
    unsigned base_us = 2000u << (attempt < 7 ? attempt : 7);
    if (base_us > 200000u)
        base_us = 200000u;
    unsigned r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (unsigned)getpid() * 2654435761u + attempt;
    unsigned us = base_us / 2 + r % base_us;
    struct timespec ts = {.tv_sec = us / 1000000u,
                          .tv_nsec = (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static rec_status text(rec_db *db, const char *sql, rec_err *err)
{
    if (mysql_real_query(db->conn, sql, strlen(sql)) != 0)
        return db_fail_conn(db, err);
    return REC_OK;
}

rec_status rec_exec_text(rec_db *db, const char *sql, size_t len,
                         rec_err *err)
{
    rec_status st = db_ensure(db, err);
    if (st != REC_OK)
        return st;
    if (mysql_real_query(db->conn, sql, len) != 0)
        return db_fail_conn(db, err);
    /* Drain any result so the connection stays usable. */
    do {
        MYSQL_RES *res = mysql_store_result(db->conn);
        if (res != NULL)
            mysql_free_result(res);
    } while (mysql_next_result(db->conn) == 0);
    if (mysql_errno(db->conn) != 0)
        return db_fail_conn(db, err);
    return REC_OK;
}

/* Runs fn inside the transaction that rec_txn_hold() keeps open. Nothing
 * can be re-run here (what came before is not ours to repeat), so any
 * failure rolls the whole transaction back and marks the hold broken. */
static rec_status join_held(rec_db *db, rec_txn_fn fn, void *ctx,
                            rec_err *err)
{
    rec_status st = fn(db, ctx, err);
    if (st == REC_OK && db->conn != NULL)
        return REC_OK;
    if (db->conn != NULL) {
        rec_err ignored;
        (void)text(db, "ROLLBACK", &ignored);
    }
    db->held = 0;
    db->in_txn = 0;
    db->hold_broken = 1;
    return st == REC_OK ? REC_UNAVAILABLE : st;
}

rec_status rec_txn(rec_db *db, rec_txn_fn fn, void *ctx, rec_err *err)
{
    rec_status st = REC_ERROR;
    if (db->held)
        return join_held(db, fn, ctx, err);
    for (unsigned attempt = 0; attempt <= db->cfg.retries; attempt++) {
        if (attempt > 0) {
            db->stats.retries++;
            backoff(attempt - 1);
        }
        st = db_ensure(db, err);
        if (st != REC_OK)
            return st;
        st = text(db, "START TRANSACTION", err);
        if (st != REC_OK)
            return st; /* nothing ran yet, but the server is gone */
        db->in_txn = 1;
        st = fn(db, ctx, err);
        if (db->conn == NULL) {
            /* Lost mid-transaction, before COMMIT: the server rolled it
             * back when the connection died. Known not committed. */
            db->in_txn = 0;
            if (st == REC_OK)
                st = REC_UNAVAILABLE;
            return st;
        }
        if (st == REC_OK && db->hold) {
            /* The caller commits, with its own last statement
             * (rec_txn_commit_held): in_txn stays set, so nothing is
             * sent again on a reconnect meanwhile. */
            db->held = 1;
            return REC_OK;
        }
        if (st == REC_OK) {
            st = text(db, "COMMIT", err);
            db->in_txn = 0;
            if (st == REC_OK)
                return REC_OK;
            if (st != REC_RETRY)
                return st; /* REC_UNAVAILABLE here: fate unknown */
            /* A deadlock or certification failure at COMMIT rolled the
             * transaction back: safe to run it again. */
            rec_err ignored;
            if (db->conn != NULL)
                (void)text(db, "ROLLBACK", &ignored);
            continue;
        }
        rec_err ignored;
        (void)text(db, "ROLLBACK", &ignored);
        db->in_txn = 0;
        if (st != REC_RETRY)
            return st;
    }
    return st; /* retries exhausted: REC_RETRY */
}

rec_status rec_autocommit(rec_db *db, rec_txn_fn fn, void *ctx,
                          rec_err *err)
{
    if (db->hold || db->held || db->in_txn)
        return rec_txn(db, fn, ctx, err);
    rec_status st = REC_ERROR;
    for (unsigned attempt = 0; attempt <= db->cfg.retries; attempt++) {
        if (attempt > 0) {
            db->stats.retries++;
            backoff(attempt - 1);
        }
        st = fn(db, ctx, err);
        if (st != REC_RETRY)
            return st;
    }
    return st; /* retries exhausted: REC_RETRY */
}

void rec_txn_hold(rec_db *db, int on)
{
    db->hold = on ? 1 : 0;
    if (on)
        db->hold_broken = 0;
}

rec_hold rec_txn_held(const rec_db *db)
{
    if (db->held)
        return REC_HOLD_OPEN;
    return db->hold_broken ? REC_HOLD_BROKEN : REC_HOLD_NONE;
}

rec_status rec_txn_commit_held(rec_db *db, rec_txn_fn last, void *ctx,
                               rec_err *err)
{
    rec_status st = REC_OK;
    if (!db->held) {
        snprintf(err->msg, sizeof err->msg, "no transaction is held");
        err->code = 0;
        return REC_ERROR;
    }
    if (last != NULL)
        st = last(db, ctx, err);
    if (db->conn == NULL) {
        /* Lost before COMMIT: known not committed (db_drop noted it). */
        return st == REC_OK ? REC_UNAVAILABLE : st;
    }
    db->held = 0;
    if (st != REC_OK) {
        rec_err ignored;
        (void)text(db, "ROLLBACK", &ignored);
        db->in_txn = 0;
        return st;
    }
    st = text(db, "COMMIT", err);
    db->in_txn = 0;
    if (st == REC_RETRY && db->conn != NULL) {
        /* A certification failure at COMMIT rolled it back; it cannot be
         * run again here (the route has answered): the caller says 503. */
        rec_err ignored;
        (void)text(db, "ROLLBACK", &ignored);
    }
    return st; /* REC_UNAVAILABLE here: fate unknown */
}

void rec_txn_rollback_held(rec_db *db)
{
    if (!db->held)
        return;
    db->held = 0;
    if (db->conn != NULL) {
        rec_err ignored;
        (void)text(db, "ROLLBACK", &ignored);
    }
    db->in_txn = 0;
}

const char *rec_status_name(rec_status st)
{
    static const char *const names[] = {
        "ok", "not_found", "conflict", "invalid_state", "duplicate",
        "retry", "unavailable", "invalid", "error"};
    if ((unsigned)st < sizeof names / sizeof names[0])
        return names[st];
    return "unknown";
}
