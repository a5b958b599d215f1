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
#include "xalloc.h"

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

static long long mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

/* The host list: OPTIMIST_DB_HOSTS, or the one socket or host:port. */
static void set_hosts(rec_db *db)
{
    const rec_config *c = &db->cfg;
    if (c->hosts != NULL && c->hosts[0] != '\0') {
        int n = cluster_parse_hosts(c->hosts, db->hosts, DB_MAX_HOSTS);
        db->nhosts = n > 0 ? (unsigned)n : 0; /* 0: connect says why */
        return;
    }
    struct db_endpoint *e = &db->hosts[0];
    memset(e, 0, sizeof *e);
    if (c->socket != NULL) {
        e->is_socket = 1;
        snprintf(e->name, sizeof e->name, "%s", c->socket);
    } else {
        snprintf(e->host, sizeof e->host, "%s",
                 c->host ? c->host : "localhost");
        e->port = c->port;
        snprintf(e->name, sizeof e->name, "%s:%u", e->host, e->port);
    }
    db->nhosts = 1;
}

rec_db *rec_db_new(const rec_config *cfg)
{
    rec_db *db = xcalloc(1, sizeof *db);
    db->cfg = *cfg;
    if (db->cfg.user == NULL) {
        struct passwd *pw = getpwuid(geteuid());
        snprintf(db->user, sizeof db->user, "%s", pw ? pw->pw_name : "root");
        db->cfg.user = db->user;
    }
    if (db->cfg.connect_timeout == 0)
        db->cfg.connect_timeout = 3;
    if (db->cfg.failback_secs == 0)
        db->cfg.failback_secs = 30;
    set_hosts(db);
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
    db->nonblock = 0;
    if (db->in_txn)
        db->txn_lost = 1; /* until rec_txn starts a new one */
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
    db->refused = 0;
    if (db_is_gone(code)) {
        db_drop(db);
        return REC_UNAVAILABLE;
    }
    if (db->wsrep &&
        (db_is_refusal(code) ||
         (code == ER_LOCK_WAIT_TIMEOUT && cluster_node_refuses(db->conn)))) {
        /* This node left the Primary component (or is not ready): the
         * next connection goes to one that can serve. */
        db_drop(db);
        db->refused = 1;
        return REC_UNAVAILABLE;
    }
    switch (code) {
    case ER_LOCK_DEADLOCK:     /* 1213; also Galera certification */
    case ER_LOCK_WAIT_TIMEOUT: /* 1205 */
        return REC_RETRY;
    case ER_DUP_ENTRY: /* 1062 */
        return REC_DUPLICATE;
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: /* 1366 */
    case ER_DATA_TOO_LONG:                   /* 1406 */
    case ER_WARN_DATA_OUT_OF_RANGE:          /* 1264 */
    case ER_CONSTRAINT_FAILED:               /* 4025: CHECK (JSON_VALID) */
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

/* Connects to one entry of the host list; on a Galera node, checks that
 * it can serve and sets the session up (cluster.c). */
static rec_status connect_one(rec_db *db, const struct db_endpoint *e,
                              rec_err *err)
{
    MYSQL *m = xnonnull(mysql_init(NULL), "mysql_init");
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
        /* With a waiter: the non-blocking API (dbwait.c). */
        (db->waiter != NULL &&
         mysql_optionsv(m, MYSQL_OPT_NONBLOCK, (void *)NULL)) ||
        /* UTC everywhere: NOW(3) and DATETIME columns are UTC. READ
         * COMMITTED: every statement sees the latest committed row, and
         * fewer gap locks mean fewer deadlocks. */
        mysql_optionsv(
            m, MYSQL_INIT_COMMAND,
            "SET time_zone = '+00:00', innodb_lock_wait_timeout = 5") ||
        mysql_optionsv(
            m, MYSQL_INIT_COMMAND,
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")) {
        snprintf(err->msg, sizeof err->msg, "mysql_options failed");
        err->code = 0;
        mysql_close(m);
        return REC_ERROR;
    }
    /* No CLIENT_FOUND_ROWS: affected rows count changed rows, and every
     * versioned write changes `version`, so the count is 1 either way. */
    if (mysql_real_connect(m, e->is_socket ? NULL : e->host, db->cfg.user,
                           db->cfg.password, db->cfg.database,
                           e->is_socket ? 0 : e->port,
                           e->is_socket ? e->name : NULL, 0) == NULL) {
        err->code = mysql_errno(m);
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", mysql_sqlstate(m));
        snprintf(err->msg, sizeof err->msg, "connect %s: %s", e->name,
                 mysql_error(m));
        mysql_close(m);
        db->stats.errors++;
        return REC_UNAVAILABLE;
    }
    rec_cluster_state cs;
    rec_status st = cluster_node_state(m, 0, 0, &cs, err);
    if (st == REC_OK && cs.wsrep && !cs.usable) {
        snprintf(err->msg, sizeof err->msg,
                 "%s cannot serve: wsrep_ready=%s, %s, %s", e->name, cs.ready,
                 cs.status, cs.state_comment);
        err->code = 0;
        st = REC_UNAVAILABLE;
    }
    if (st == REC_OK && cs.wsrep)
        st = cluster_session(m, err);
    if (st != REC_OK) {
        mysql_close(m);
        db->stats.errors++;
        return st;
    }
    db->conn = m;
    db->nonblock = db->waiter != NULL;
    db->wsrep = cs.wsrep;
    return REC_OK;
}

rec_status rec_db_connect(rec_db *db, rec_err *err)
{
    if (db->conn != NULL)
        return REC_OK;
    if (db->nhosts == 0) {
        snprintf(err->msg, sizeof err->msg,
                 "OPTIMIST_DB_HOSTS is malformed or has more than %d entries",
                 DB_MAX_HOSTS);
        err->code = 0;
        return REC_ERROR;
    }
    /* In order, every time: the first entry that can serve wins, so a
     * pool goes back to its own node as soon as it serves again. */
    rec_status st = REC_UNAVAILABLE;
    for (unsigned i = 0; i < db->nhosts; i++) {
        st = connect_one(db, &db->hosts[i], err);
        if (st == REC_OK) {
            db->host_idx = i;
            db->connected_at = mono_s();
            if (db->connects++ > 0)
                db->stats.reconnects++;
            return REC_OK;
        }
        if (st == REC_ERROR)
            return st;
    }
    return st;
}

/* Here rather than in cluster.c: it reconnects (db_ensure, db_drop), and
 * cluster.c stays below db.c, on one MYSQL handle. */
rec_status rec_cluster_state_get(rec_db *db, rec_cluster_state *out,
                                 rec_err *err)
{
    for (unsigned attempt = 0; attempt < 2; attempt++) {
        rec_status st = db_ensure(db, err);
        if (st != REC_OK)
            return st;
        st = cluster_node_state(db->conn, 1, db->wsrep, out, err);
        if (st != REC_OK) {
            db_drop(db);
            continue; /* gone meanwhile: once more, on whichever serves */
        }
        snprintf(out->node, sizeof out->node, "%s",
                 db->hosts[db->host_idx].name);
        out->node_index = db->host_idx;
        if (out->usable)
            return REC_OK;
        /* This node stopped serving since we connected: move to one
         * that does (rec_db_connect tries the list in order). */
        db_drop(db);
    }
    snprintf(err->msg, sizeof err->msg, "no database node can serve");
    err->code = 0;
    return REC_UNAVAILABLE;
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
    if (db->conn != NULL && db->host_idx > 0 && !db->in_txn && !db->held &&
        mono_s() - db->connected_at >= (long long)db->cfg.failback_secs) {
        /* On a later entry of the list: see whether an earlier one serves
         * again (a new connection costs little next to a pool sending
         * all its traffic to another host for good). */
        db_drop(db);
    }
    return rec_db_connect(db, err);
}

unsigned rec_retry_limit(const rec_db *db)
{
    /* Across nodes a conflict is found only at COMMIT (certification),
     * after the whole transaction ran: hot rows need more attempts. */
    return db->wsrep ? db->cfg.retries * 2 + 2 : db->cfg.retries;
}

void rec_backoff(const rec_db *db, unsigned attempt)
{
    /* Jittered exponential back-off: 2, 4, 8 ... ms, capped at 200 ms,
     * each multiplied by a random factor in [0.5, 1.5) so that the two
     * parties of a deadlock do not collide again in step. On Galera 4,
     * 8, 16 ... capped at 500 ms: a write set takes a replication round
     * trip to be certified, and the rivals are on other hosts. */
    unsigned cap = db->wsrep ? 500000u : 200000u;
    unsigned base_us = (db->wsrep ? 4000u : 2000u)
                       << (attempt < 7 ? attempt : 7);
    if (base_us > cap)
        base_us = cap;
    unsigned r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (unsigned)getpid() * 2654435761u + attempt;
    unsigned us = base_us / 2 + r % base_us;
    if (db->waiter != NULL) {
        db->waiter->sleep(db->waiter->ctx, us);
        return;
    }
    struct timespec ts = {.tv_sec = us / 1000000u,
                          .tv_nsec = (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static rec_status text(rec_db *db, const char *sql, rec_err *err)
{
    if (dbw_real_query(db, sql, strlen(sql)) != 0)
        return db_fail_conn(db, err);
    return REC_OK;
}

rec_status rec_exec_text(rec_db *db, const char *sql, size_t len, rec_err *err)
{
    rec_status st = db_ensure(db, err);
    if (st != REC_OK)
        return st;
    if (dbw_real_query(db, sql, len) != 0)
        return db_fail_conn(db, err);
    /* Drain any result so the connection stays usable. */
    do {
        MYSQL_RES *res = dbw_store_result(db);
        if (res != NULL)
            mysql_free_result(res);
    } while (dbw_next_result(db) == 0);
    if (mysql_errno(db->conn) != 0)
        return db_fail_conn(db, err);
    return REC_OK;
}

/* Runs fn inside the transaction that rec_txn_hold() keeps open. Nothing
 * can be re-run here (what came before is not ours to repeat), so any
 * failure rolls the whole transaction back and marks the hold broken; a
 * conflict or a refusing node marks it retryable: the caller may run the
 * whole unit of work again (rec_txn_hold_retryable). */
static rec_status join_held(rec_db *db, rec_txn_fn fn, void *ctx, rec_err *err)
{
    db->refused = 0;
    rec_status st = fn(db, ctx, err);
    if (st == REC_OK && db->conn != NULL && !db->txn_lost)
        return REC_OK;
    db->hold_retry = st == REC_RETRY || db->refused;
    if (db->conn != NULL) {
        rec_err ignored;
        (void)text(db, "ROLLBACK", &ignored);
    }
    db->held = 0;
    db->in_txn = 0;
    db->hold_broken = 1;
    return st == REC_OK ? REC_UNAVAILABLE : st;
}

static rec_status txn_run(rec_db *db, rec_txn_fn fn, void *ctx, rec_err *err);

rec_status rec_txn(rec_db *db, rec_txn_fn fn, void *ctx, rec_err *err)
{
    rec_status st = txn_run(db, fn, ctx, err);
    /* A loss inside the transaction bars statements only until it is
     * over: here, or for a held one when the hold ends. */
    if (!db->held && !db->hold)
        db->txn_lost = 0;
    return st;
}

static rec_status txn_run(rec_db *db, rec_txn_fn fn, void *ctx, rec_err *err)
{
    rec_status st = REC_ERROR;
    unsigned conflicts = 0, refusals = 0;
    if (db->held)
        return join_held(db, fn, ctx, err);
    for (;;) {
        st = db_ensure(db, err);
        if (st != REC_OK)
            return st;
        db->txn_lost = 0;
        db->refused = 0;
        st = text(db, "START TRANSACTION", err);
        if (st != REC_OK) {
            /* Nothing ran yet. A node that refuses (not Primary): the
             * next connection goes to one that serves. */
            if (db->refused && refusals++ < db->nhosts)
                continue;
            return st;
        }
        db->in_txn = 1;
        st = fn(db, ctx, err);
        if (db->conn == NULL || db->txn_lost) {
            /* Lost mid-transaction, before COMMIT: the server rolled it
             * back when the connection died (or, when a node refused a
             * statement, we dropped it). Known not committed. */
            db->in_txn = 0;
            db->txn_lost = 0;
            if (db->conn != NULL)
                db_drop(db); /* fn went on after the loss: start clean */
            if (st == REC_OK)
                st = REC_UNAVAILABLE;
            /* Nothing of it committed, and fn may run again: on a node
             * that serves, when this one refused, or when there is a list
             * of hosts to go to (a node that died). With one host, a lost
             * connection stays a 503: the server is restarting, or an
             * operator killed the connection. */
            if (st == REC_UNAVAILABLE && (db->refused || db->nhosts > 1) &&
                refusals++ < db->nhosts)
                continue;
            if (st != REC_RETRY)
                return st;
            /* The server ended the transaction under us (stmt.c): a
             * conflict like any other, below. */
        } else if (st == REC_OK && db->hold) {
            /* The caller commits, with its own last statement
             * (rec_txn_commit_held): in_txn stays set, so nothing is
             * sent again on a reconnect meanwhile. */
            db->held = 1;
            return REC_OK;
        } else if (st == REC_OK) {
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
        } else {
            rec_err ignored;
            (void)text(db, "ROLLBACK", &ignored);
            db->in_txn = 0;
            if (st != REC_RETRY)
                return st;
        }
        if (conflicts >= rec_retry_limit(db))
            return st; /* retries exhausted: REC_RETRY */
        db->stats.retries++;
        rec_backoff(db, conflicts++);
    }
}

rec_status rec_autocommit(rec_db *db, rec_txn_fn fn, void *ctx, rec_err *err)
{
    if (db->hold || db->held || db->in_txn)
        return rec_txn(db, fn, ctx, err);
    rec_status st = REC_ERROR;
    for (unsigned attempt = 0; attempt <= rec_retry_limit(db); attempt++) {
        if (attempt > 0) {
            db->stats.retries++;
            rec_backoff(db, attempt - 1);
        }
        st = fn(db, ctx, err);
        if (st != REC_RETRY)
            return st;
    }
    return st; /* retries exhausted: REC_RETRY */
}

int rec_in_txn(const rec_db *db)
{
    return db->in_txn || db->held;
}

void rec_txn_hold(rec_db *db, int on)
{
    db->hold = on ? 1 : 0;
    db->txn_lost = 0; /* what the loss concerned is over either way */
    if (on) {
        db->hold_broken = 0;
        db->hold_retry = 0;
    }
}

int rec_txn_hold_retryable(const rec_db *db)
{
    return db->hold_retry;
}

rec_hold rec_txn_held(const rec_db *db)
{
    if (db->held)
        return REC_HOLD_OPEN;
    return db->hold_broken ? REC_HOLD_BROKEN : REC_HOLD_NONE;
}

static rec_status commit_held(rec_db *db, rec_txn_fn last, void *ctx,
                              rec_err *err);

rec_status rec_txn_commit_held(rec_db *db, rec_txn_fn last, void *ctx,
                               rec_err *err)
{
    rec_status st = commit_held(db, last, ctx, err);
    db->txn_lost = 0; /* the transaction is over, whatever its fate */
    return st;
}

static rec_status commit_held(rec_db *db, rec_txn_fn last, void *ctx,
                              rec_err *err)
{
    rec_status st = REC_OK;
    if (!db->held) {
        snprintf(err->msg, sizeof err->msg, "no transaction is held");
        err->code = 0;
        return REC_ERROR;
    }
    db->refused = 0;
    if (last != NULL)
        st = last(db, ctx, err);
    if (db->conn == NULL || db->txn_lost) {
        /* Lost before COMMIT: known not committed (db_drop noted it). */
        db->hold_retry = db->refused;
        if (db->conn != NULL)
            rec_txn_rollback_held(db);
        return st == REC_OK ? REC_UNAVAILABLE : st;
    }
    db->held = 0;
    if (st != REC_OK) {
        db->hold_retry = st == REC_RETRY;
        rec_err ignored;
        (void)text(db, "ROLLBACK", &ignored);
        db->in_txn = 0;
        return st;
    }
    st = text(db, "COMMIT", err);
    db->in_txn = 0;
    if (st == REC_RETRY && db->conn != NULL) {
        /* A certification failure at COMMIT rolled it back; it cannot be
         * run again here (the route has answered): the caller may run the
         * whole request again (rec_txn_hold_retryable), or say 503. */
        rec_err ignored;
        (void)text(db, "ROLLBACK", &ignored);
    }
    db->hold_retry = st == REC_RETRY;
    return st; /* REC_UNAVAILABLE here: fate unknown */
}

void rec_txn_rollback_held(rec_db *db)
{
    db->txn_lost = 0;
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
        "ok",    "not_found",   "conflict", "invalid_state", "duplicate",
        "retry", "unavailable", "invalid",  "constraint",    "error"};
    if ((unsigned)st < sizeof names / sizeof names[0])
        return names[st];
    return "unknown";
}
