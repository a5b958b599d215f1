/*
 * rec.h -- the record-access library: versioned rows in MariaDB/MySQL.
 *
 * No HTTP in here. A caller opens one rec_db per process (a worker keeps it
 * for its whole life), runs statements by their SQL text (each is prepared
 * once per connection and kept), and groups writes in rec_txn(), which
 * retries deadlocks and Galera certification failures.
 *
 * Every fallible function returns a rec_status and fills a caller-provided
 * rec_err (a fixed buffer: the error path never allocates). The database's
 * own error text goes to rec_err for the log, never to a client.
 *
 * What lives in lib/ and what in a route file (fcgi/routes_*.c):
 *   - lib/ holds the shared primitives (connection, statements,
 *     transactions, the versioned, guarded and checked writes of
 *     versioned.c, idempotency records, tenants, migrations) and every
 *     state machine of more than one statement (the bid's claim, renewal
 *     and finish in bidstate.c; the chat append in chat.c; the
 *     storefront's history in storefront.c). Anything another program
 *     (optimistctl, a test, a benchmark) must be able to call without HTTP
 *     goes here too.
 *   - A route file holds its resource's own single statements (its SELECT,
 *     INSERT, the one UPDATE it hands to vw_run, and the steps vw_run runs
 *     in that write's transaction: a locked read the new value is computed
 *     from, an outbox or history row) and everything HTTP: parsing,
 *     validation, rendering, answers. A sequence of writes whose order
 *     makes a state machine (claim, renew, finish) moves here.
 *   - lib/ never includes anything from fcgi/.
 * Names: this header's functions and types start with rec_; the other
 * modules of lib/ with their own prefix (bid_ for bidstate.c, chat_,
 * storefront_, parse_, utf8_, jb_ for jbuf.c); db_ is db.c's inside lib/.
 */
#ifndef OPTIMIST_REC_H
#define OPTIMIST_REC_H

#include <stddef.h>
#include <stdint.h>

#define REC_MUST_CHECK __attribute__((warn_unused_result))

/* Outcome of a library call. The HTTP layer maps each to one status. */
typedef enum rec_status {
    REC_OK = 0,        /* done */
    REC_NOT_FOUND,     /* no such row for this tenant */
    REC_CONFLICT,      /* the version given is not the current one */
    REC_INVALID_STATE, /* the row's status forbids the change */
    REC_DUPLICATE,     /* a unique key refused the row */
    REC_RETRY,         /* deadlock/lock wait/certification: the
                          transaction was rolled back, safe to run again */
    REC_UNAVAILABLE,   /* the server cannot be reached (or went away
                          during a write whose fate is unknown) */
    REC_INVALID,       /* the server refused the input (bad JSON path,
                          value out of range): the caller's data */
    REC_CONSTRAINT,    /* a declared table's unique key, foreign key or
                          CHECK refused the data (table.h) */
    REC_ERROR          /* anything else: a bug or a schema mismatch */
} rec_status;

/* Details of the last failure. Filled by every call that fails. */
typedef struct rec_err {
    unsigned code;    /* server or client error number, 0 if none */
    char sqlstate[6]; /* "HY000" style, "" if none */
    char msg[256];    /* for the log, never for a client */
} rec_err;

/* Connection settings. Strings are borrowed: they must outlive the rec_db. */
typedef struct rec_config {
    const char *socket;       /* unix socket path, or NULL to use host/port */
    const char *host;         /* default "localhost" */
    unsigned port;            /* default 3306 */
    const char *user;         /* NULL: the OS user's name */
    const char *password;     /* NULL: none */
    const char *database;     /* default "optimist" */
    unsigned connect_timeout; /* seconds, default 3 */
    unsigned retries;         /* rec_txn attempts after the first, default 5;
                                 on a Galera node twice that and 2 more */
    const char *hosts;        /* NULL, or an ordered list that replaces
                                 socket/host/port: "h1:3306,h2:3306" or socket
                                 paths (cluster.c); the first entry that can
                                 serve is used */
    unsigned failback_secs;   /* on a later entry, try the earlier ones
                                 again after this long (default 30) */
} rec_config;

/* A connection and its prepared statements. Opaque. */
typedef struct rec_db rec_db;

/* Creates a handle; the connection is made lazily by the first statement
 * and made again after the server went away. Free with rec_db_close(). */
rec_db *rec_db_new(const rec_config *cfg);

/* Closes the connection and frees the handle. NULL is a no-op. */
void rec_db_close(rec_db *db);

/* How a handle waits for its server. Without a waiter (the default) a
 * statement blocks its thread until the answer comes. With one, the
 * handle's connection is made non-blocking (libmariadb's _start/_cont
 * API) and every wait for the server, and rec_backoff's sleep, go to the
 * waiter, which may run other work meanwhile: fcgi/pool/fiber.c keeps
 * many requests in flight in one worker that way. `wait` returns when fd
 * is ready for `events` (REC_WAIT_READ, REC_WAIT_WRITE) or after
 * timeout_ms (-1: none), with what happened (REC_WAIT_TIMEOUT for the
 * latter). `gen` changes whenever the handle made a new connection, so a
 * waiter that registers descriptors knows a reused fd number for new. */
#define REC_WAIT_READ    1
#define REC_WAIT_WRITE   2
#define REC_WAIT_TIMEOUT 8
typedef struct rec_waiter {
    int (*wait)(void *ctx, int fd, unsigned gen, int events, int timeout_ms);
    void (*sleep)(void *ctx, unsigned usec);
    void *ctx;
} rec_waiter;

/* Sets (or with NULL clears) the waiter; takes effect from the next
 * connection. `w` must outlive the handle. */
void rec_db_set_waiter(rec_db *db, const rec_waiter *w);

/* Connects now if not connected. REC_UNAVAILABLE if it cannot. */
rec_status rec_db_connect(rec_db *db, rec_err *err) REC_MUST_CHECK;

/* The Galera state of the node a handle is connected to (cluster.c). */
typedef struct rec_cluster_state {
    int wsrep;              /* 1: the server runs Galera (wsrep_on) */
    int usable;             /* no Galera, or ready, Primary and Synced */
    char ready[8];          /* wsrep_ready: "ON" or "OFF" */
    char status[24];        /* wsrep_cluster_status: "Primary", ... */
    unsigned local_state;   /* wsrep_local_state: 4 is Synced */
    char state_comment[24]; /* wsrep_local_state_comment */
    unsigned cluster_size;  /* wsrep_cluster_size */
    char node[300];         /* the host list entry in use */
    unsigned node_index;    /* its position in the list, from 0 */
} rec_cluster_state;

/* Connects if needed and reads the node's state. A node that can no
 * longer serve is left for the next one of the list that can (*out then
 * describes that one). REC_UNAVAILABLE when none can. */
rec_status rec_cluster_state_get(rec_db *db, rec_cluster_state *out,
                                 rec_err *err) REC_MUST_CHECK;

/* How many times a conflicting transaction is run again on this
 * connection (more on Galera, where conflicts span nodes), and the
 * jittered back-off before attempt `attempt` (0-based), for a caller that
 * re-runs a whole unit of work itself. */
unsigned rec_retry_limit(const rec_db *db);
void rec_backoff(const rec_db *db, unsigned attempt);

/* Counters since the handle was made (for metrics). */
typedef struct rec_stats {
    uint64_t errors;     /* failed statements of any kind */
    uint64_t retries;    /* rec_txn re-runs */
    uint64_t reconnects; /* connections made after the first */
} rec_stats;
void rec_db_stats(const rec_db *db, rec_stats *out);

/* ---- values in and out ------------------------------------------------ */

typedef enum rec_type {
    REC_T_NULL, /* SQL NULL */
    REC_T_INT,  /* signed 64-bit */
    REC_T_UINT, /* unsigned 64-bit */
    REC_T_TEXT, /* bytes with a length (not NUL-terminated) */
    REC_T_BLOB  /* binary bytes */
} rec_type;

/* One bound parameter. The bytes are borrowed for the call. */
typedef struct rec_param {
    rec_type type;
    int64_t i;
    uint64_t u;
    const char *s;
    size_t len;
} rec_param;

/* Constructors for parameter arrays: rec_param p[] = {REC_U(id), ...}. */
#define REC_NULLP     ((rec_param){.type = REC_T_NULL})
#define REC_I(v)      ((rec_param){.type = REC_T_INT, .i = (int64_t)(v)})
#define REC_U(v)      ((rec_param){.type = REC_T_UINT, .u = (uint64_t)(v)})
#define REC_S(str, n) ((rec_param){.type = REC_T_TEXT, .s = (str), .len = (n)})
#define REC_B(str, n) ((rec_param){.type = REC_T_BLOB, .s = (str), .len = (n)})
rec_param REC_CSTR(const char *s); /* text up to the NUL; NULL -> SQL NULL */

/* The rows of a SELECT, every column as text (the server's own rendering),
 * NUL-terminated. Owned by the caller: free with rec_rows_free(). */
typedef struct rec_rows rec_rows;

size_t rec_rows_count(const rec_rows *r);
/* Column c of row i; NULL for SQL NULL. Valid until rec_rows_free(). */
const char *rec_rows_get(const rec_rows *r, size_t i, size_t c);
size_t rec_rows_len(const rec_rows *r, size_t i, size_t c);
/* Column as an unsigned integer; 0 for NULL or non-numeric. */
uint64_t rec_rows_u64(const rec_rows *r, size_t i, size_t c);
void rec_rows_free(rec_rows *r);

/* ---- statements -------------------------------------------------------- */

/* Runs one statement. `sql` should be a string constant: it is the key of
 * the prepared-statement cache. For a SELECT, *rows receives the result
 * (caller frees); pass rows=NULL for other statements. *affected (may be
 * NULL) receives mysql_stmt_affected_rows, *insert_id (may be NULL) the
 * AUTO_INCREMENT value.
 *
 * A connection that went away is made again and the statement sent again
 * only when the server cannot have run it: outside a transaction and the
 * statement is a read, or it failed before being sent. */
rec_status rec_exec(rec_db *db, const char *sql, const rec_param *params,
                    size_t nparams, rec_rows **rows, uint64_t *affected,
                    uint64_t *insert_id, rec_err *err) REC_MUST_CHECK;

/* rec_exec for a SELECT that finds a row or none (a record by its key and
 * tenant): REC_OK with the row(s) in *rows (caller frees), or
 * REC_NOT_FOUND with *rows NULL when there is none; err is left as it was
 * then, the caller says what was not found. */
rec_status rec_exec_row(rec_db *db, const char *sql, const rec_param *params,
                        size_t nparams, rec_rows **rows,
                        rec_err *err) REC_MUST_CHECK;

/* One row of a SELECT run by rec_each: `row` holds exactly that row (index
 * 0), valid during the call. Return 0 for the next row, 1 to stop (the
 * rest of the result is discarded). The callback must not use the
 * connection: the rows are still arriving on it. */
typedef int (*rec_row_fn)(void *ctx, const rec_rows *row);

/* Runs a SELECT and hands its rows to fn one at a time as they arrive,
 * never holding the result set whole (for pages of large rows). Retried
 * like rec_exec's reads, but only before the first row was handed over. */
rec_status rec_each(rec_db *db, const char *sql, const rec_param *params,
                    size_t nparams, rec_row_fn fn, void *ctx,
                    rec_err *err) REC_MUST_CHECK;

/* Closes the statement prepared for `sql` (by address) on this
 * connection, if there is one: before freeing a statement text made at
 * run time, whose address a later text may reuse (table.c). */
void rec_forget(rec_db *db, const char *sql);

/* Runs a constant statement with no parameters and no result through the
 * text protocol (DDL, migrations). */
rec_status rec_exec_text(rec_db *db, const char *sql, size_t len,
                         rec_err *err) REC_MUST_CHECK;

/* ---- transactions ------------------------------------------------------ */

/* The body of a transaction. It returns REC_OK to commit; anything else
 * rolls back and is returned by rec_txn (REC_RETRY runs it again). It must
 * be safe to run more than once: keep effects outside the database for
 * after the commit. */
typedef rec_status (*rec_txn_fn)(rec_db *db, void *ctx, rec_err *err);

/* BEGIN; fn; COMMIT. Deadlocks (1213, also Galera certification failures
 * reported at COMMIT) and lock-wait time-outs (1205) run it again, up to
 * cfg.retries times, after a jittered back-off. Never re-sends a COMMIT
 * whose outcome is unknown: that is REC_UNAVAILABLE. */
rec_status rec_txn(rec_db *db, rec_txn_fn fn, void *ctx,
                   rec_err *err) REC_MUST_CHECK;

/* fn with no transaction around it: each of its statements commits on its
 * own (autocommit), which saves START TRANSACTION and COMMIT, two round
 * trips. Only for a body that is correct that way: one whose single write
 * checks in its WHERE clause everything it read before (a versioned
 * UPDATE computed from the row at that version), or a CALL of a procedure
 * that makes its own transaction (rec_in_txn). REC_RETRY (a deadlock or
 * lock-wait time-out rolled the statement back) runs fn again, as rec_txn
 * does. While the worker holds a transaction for the request
 * (rec_txn_hold), fn goes through rec_txn instead, so that its write
 * still commits together with the request's answer. */
rec_status rec_autocommit(rec_db *db, rec_txn_fn fn, void *ctx,
                          rec_err *err) REC_MUST_CHECK;

/* 1 while a transaction is open on the connection (fn runs in rec_txn, or
 * one is held), 0 under rec_autocommit. For a stored procedure that makes
 * its own transaction when none is open (chat_append_one): a START
 * TRANSACTION inside an open one would commit it. */
int rec_in_txn(const rec_db *db);

/* ---- holding a transaction open until the answer is known --------------- */

/* While hold is on, a rec_txn whose body succeeds does not COMMIT: the
 * transaction stays open ("held") and rec_txn returns REC_OK, so that the
 * caller can add one last statement that depends on what happened after
 * rec_txn returned (the HTTP answer of an Idempotency-Key request), and
 * commit both together with rec_txn_commit_held(). A rec_txn called while
 * one is held joins it (no retry is possible then: any failure rolls the
 * whole transaction back and the hold reads REC_HOLD_BROKEN). The worker
 * turns hold on for the duration of one request; routes do not see it,
 * except that "after rec_txn returned" no longer means "committed". */
void rec_txn_hold(rec_db *db, int on);

typedef enum rec_hold {
    REC_HOLD_NONE = 0, /* no transaction is held */
    REC_HOLD_OPEN,     /* one is open, awaiting rec_txn_commit_held */
    REC_HOLD_BROKEN    /* one was held and is gone (rolled back, or the
                          connection was lost): nothing of it committed */
} rec_hold;
rec_hold rec_txn_held(const rec_db *db);

/* 1 when the held transaction broke (REC_HOLD_BROKEN, or REC_RETRY from
 * rec_txn_commit_held) on a deadlock, a certification failure or a node
 * that refused a statement: nothing of it committed and the whole unit of
 * work (the request) may run again. Reset by rec_txn_hold(db, 1). */
int rec_txn_hold_retryable(const rec_db *db);

/* Runs `last` (may be NULL) inside the held transaction, then COMMIT.
 * `last` failing rolls everything back and is returned. REC_UNAVAILABLE:
 * the connection was lost (at COMMIT: fate unknown); REC_RETRY: rolled
 * back by a certification failure. REC_ERROR if nothing is held. */
rec_status rec_txn_commit_held(rec_db *db, rec_txn_fn last, void *ctx,
                               rec_err *err) REC_MUST_CHECK;

/* Rolls the held transaction back (nothing held: a no-op). */
void rec_txn_rollback_held(rec_db *db);

/* ---- versioned rows ---------------------------------------------------- */

/* Which version a write expects. */
typedef struct rec_expect {
    int any;          /* 1: any existing version (If-Match: *) */
    uint32_t version; /* else: exactly this one */
} rec_expect;

/* A versioned write on one row of a table with columns id, tenant_id and
 * version. `update_sql` is an UPDATE (or DELETE) whose WHERE clause ends
 * with "id = ? AND tenant_id = ? AND version = COALESCE(?, version)"; the
 * library appends those three parameters after `params`. An UPDATE must set
 * "version = version + 1", which also makes the affected-row count 1 even
 * when every other value is unchanged.
 *
 * `version_sql` is "SELECT version FROM t WHERE id = ? AND tenant_id = ?",
 * run only when no row was affected, to tell REC_CONFLICT (*current gets the
 * row's version) from REC_NOT_FOUND. On REC_OK *current gets the new
 * version when it is known (0 for "any": read the row). */
rec_status rec_versioned_write(rec_db *db, const char *update_sql,
                               const rec_param *params, size_t nparams,
                               const char *version_sql, uint64_t id,
                               uint64_t tenant_id, rec_expect expect,
                               uint32_t *current /* OUT */,
                               rec_err *err) REC_MUST_CHECK;

/* The same for a table that holds one row per tenant, keyed by tenant_id
 * alone (the storefront draft): the WHERE clause ends with
 * "tenant_id = ? AND version = COALESCE(?, version)" and `version_sql` is
 * "SELECT version FROM t WHERE tenant_id = ?".
 *
 * The statement may also be an INSERT or REPLACE ... SELECT ... FROM t
 * WHERE <that clause> that writes elsewhere and leaves t's version as it
 * is: the rows it writes (none when the version is not current) decide
 * the same way. *current is then not the new version: read the row. */
rec_status rec_versioned_write_by_tenant(
    rec_db *db, const char *update_sql, const rec_param *params, size_t nparams,
    const char *version_sql, uint64_t tenant_id, rec_expect expect,
    uint32_t *current /* OUT */, rec_err *err) REC_MUST_CHECK;

/* ---- guarded status transitions (versioned.c) --------------------------- */

/* A versioned write that may only start from some statuses: deciding an
 * approval (pending -> executed), claiming a bid, archiving. The check of
 * version and status and the write are one statement; only when nothing
 * was affected is the row read, to say why. */
typedef struct rec_guard {
    /* UPDATE whose WHERE clause ends with "id = ? AND tenant_id = ? AND
     * version = COALESCE(?, version) AND <status condition>", the status
     * condition being constant SQL that matches exactly the statuses of
     * `from` (e.g. "status = 'pending'"). It must set
     * "version = version + 1". The library appends id, tenant, version. */
    const char *update_sql;
    const rec_param *params; /* the SET parameters, before id/tenant/version */
    size_t nparams;
    /* "SELECT version, status FROM t WHERE id = ? AND tenant_id = ?" */
    const char *state_sql;
    /* NULL-terminated: the statuses the change may start from. */
    const char *const *from;
} rec_guard;

#define REC_STATUS_MAX 32

/* What a guarded write found. */
typedef struct rec_guard_out {
    uint32_t version;            /* REC_OK: the new version (0 for "any");
                                    REC_CONFLICT / REC_INVALID_STATE: the
                                    row's current version */
    char status[REC_STATUS_MAX]; /* REC_CONFLICT / REC_INVALID_STATE: the
                                    row's status; "" otherwise */
} rec_guard_out;

/* Runs the guarded write of row `id`. Returns REC_OK (one row changed),
 * REC_NOT_FOUND (no such row for the tenant), REC_INVALID_STATE (the
 * status is not in `from`: whatever the version, nothing could succeed, so
 * this wins over a conflict), REC_CONFLICT (the status allows it, the
 * version is not the expected one), or a database failure. Meant for the
 * inside of a rec_txn. */
rec_status rec_guarded_write(rec_db *db, const rec_guard *g, uint64_t id,
                             uint64_t tenant_id, rec_expect expect,
                             rec_guard_out *out /* OUT */,
                             rec_err *err) REC_MUST_CHECK;

/* ---- checked writes (versioned.c) --------------------------------------- */

/* A write computed from the row it changes (a JSON merge into stored
 * data) without a lock or a transaction: read the row, refuse at once
 * from that read (status, then version), compute the new values from it,
 * and write with an UPDATE that checks the version read. Versions only
 * grow and the UPDATE bumps it, so a write that matches wrote over exactly
 * what was read; one that matches nothing lost a race, and the row is read
 * again to say why (at most two writes, as every versioned write). Two
 * round trips for a write, one for a refusal. */
typedef struct rec_checked {
    /* SELECT ... WHERE id = ? AND tenant_id = ?: the row to compute from;
     * its columns version_col and status_col hold version and status. */
    const char *read_sql;
    size_t version_col, status_col;
    /* UPDATE ... WHERE id = ? AND tenant_id = ? AND version = ? AND
     * <status condition matching `from`>; it must set
     * "version = version + 1". The library appends id, tenant, version. */
    const char *update_sql;
    size_t nparams;          /* SET parameters compute makes (at most 29) */
    const char *const *from; /* NULL-terminated; NULL: no status column */
    /* The SET parameters from the row read (row 0 of `read`), into
     * params[0..nparams), *n set to how many; the bytes must live in ctx
     * until the next call or the end of the write. Anything but REC_OK
     * ends the write with that status (REC_INVALID: the caller's data). */
    rec_status (*compute)(const rec_rows *read, void *ctx, rec_param *params,
                          size_t *n, rec_err *err);
    void *ctx;
} rec_checked;

/* Runs the checked write of row `id` expecting `expect`. *read (OUT,
 * caller frees, may be NULL) is the last row read: on REC_OK the row the
 * write was computed from (at version expect; the new one is expect + 1),
 * on REC_CONFLICT / REC_INVALID_STATE the row that refused it. Outcomes
 * as rec_guarded_write. Meant for rec_autocommit. */
rec_status rec_checked_write(rec_db *db, const rec_checked *w, uint64_t id,
                             uint64_t tenant_id, uint32_t expect,
                             rec_rows **read /* OUT */,
                             rec_err *err) REC_MUST_CHECK;

/* ---- idempotency keys (idempotency.c) ----------------------------------- */

#define REC_IDEM_HASH_LEN 32

/* One request's key. */
typedef struct rec_idem_key {
    uint64_t tenant_id;
    const char *key; /* borrowed; 1..255 bytes */
    size_t key_len;
    uint8_t hash[REC_IDEM_HASH_LEN]; /* of method, path and body */
    uint64_t token; /* set by rec_idem_claim: this claim's owner */
} rec_idem_key;

typedef enum rec_idem_outcome {
    REC_IDEM_CLAIMED = 0, /* the key is ours: run the request, then store */
    REC_IDEM_REPLAY,      /* answered before: *ans holds the answer */
    REC_IDEM_REUSED,      /* the key holds a different request */
    REC_IDEM_IN_USE       /* the first request is still in progress */
} rec_idem_outcome;

/* A stored answer. The pointers point into `rows`; free with
 * rec_idem_answer_free(). */
typedef struct rec_idem_answer {
    int status;
    const char *headers; /* "Name: value\r\n" lines */
    size_t headers_len;
    const char *body;
    size_t body_len;
    const char *render_path; /* NULL, or the GET path that renders the
                                resource, which was not kept: the body
                                holds `null` at render_at instead */
    size_t render_path_len;
    size_t render_at;
    rec_rows *rows; /* owned */
} rec_idem_answer;
void rec_idem_answer_free(rec_idem_answer *ans);

/* Claims k for this request, outside any transaction (the claim must be
 * seen by others at once). A key never seen, expired (ttl_secs after its
 * first claim), or whose claim ran out (claim_secs: its request died half
 * way) with the same request, becomes ours. Otherwise *out says replay,
 * reused or in use. k->token is set on REC_IDEM_CLAIMED. */
rec_status rec_idem_claim(rec_db *db, rec_idem_key *k, unsigned claim_secs,
                          unsigned ttl_secs, rec_idem_outcome *out,
                          rec_idem_answer *ans, rec_err *err) REC_MUST_CHECK;

/* Stores the answer of the request that holds the claim: inside the
 * transaction of its effect, or on its own. REC_CONFLICT when the claim is
 * no longer ours (taken over after claim_secs): the caller must not
 * commit. */
rec_status rec_idem_store(rec_db *db, const rec_idem_key *k, int status,
                          const char *headers, size_t headers_len,
                          const char *body, size_t body_len,
                          rec_err *err) REC_MUST_CHECK;

/* The same, without the resource: `body` holds `null` at `render_at`
 * where the bytes of GET `path` were (a big resource, rendered again on
 * replay rather than stored). */
rec_status rec_idem_store_render(rec_db *db, const rec_idem_key *k, int status,
                                 const char *headers, size_t headers_len,
                                 const char *body, size_t body_len,
                                 const char *path, size_t path_len,
                                 size_t render_at, rec_err *err) REC_MUST_CHECK;

/* Gives up our claim (after a 5xx): the key is free again. A claim that
 * is no longer ours, or already done, is left alone. */
rec_status rec_idem_release(rec_db *db, const rec_idem_key *k,
                            rec_err *err) REC_MUST_CHECK;

/* Deletes up to `limit` expired keys; *deleted (may be NULL) gets how
 * many. */
rec_status rec_idem_purge(rec_db *db, unsigned limit, uint64_t *deleted,
                          rec_err *err) REC_MUST_CHECK;

/* ---- tenants and tokens ------------------------------------------------ */

/* Creates a tenant, its first API token and its storefront draft
 * (version 1, {}: storefront.h), in one transaction.
 * *tenant_id gets the id; token_out (at least REC_TOKEN_MAX bytes) the
 * token, shown once: only its SHA-256 is stored. */
#define REC_TOKEN_MAX 96
rec_status rec_tenant_create(rec_db *db, const char *name, uint64_t *tenant_id,
                             char *token_out, rec_err *err) REC_MUST_CHECK;

/* Adds another API token to an existing tenant (a tenant may hold several,
 * e.g. one per application, each revoked on its own). token_out (at least
 * REC_TOKEN_MAX bytes) gets the token, shown once; key_out (at least
 * REC_TOKEN_KEY_MAX bytes) its public lookup key, which names it in lists
 * and revocations. REC_NOT_FOUND if there is no such tenant. */
#define REC_TOKEN_KEY_MAX 17
rec_status rec_token_create(rec_db *db, uint64_t tenant_id, char *token_out,
                            char *key_out, rec_err *err) REC_MUST_CHECK;

/* Finds the tenant of a bearer token. REC_NOT_FOUND for a malformed,
 * unknown or revoked token. The hash is compared in constant time. */
rec_status rec_token_tenant(rec_db *db, const char *token, size_t len,
                            uint64_t *tenant_id, rec_err *err) REC_MUST_CHECK;

/* ---- migrations -------------------------------------------------------- */

/* Applies, in order, the files NNNN_name.sql in `dir` not yet recorded in
 * schema_migrations, each recorded when done. Writes one line per applied
 * file to `log` (may be NULL). *applied gets how many ran. */
rec_status rec_migrate(rec_db *db, const char *dir, int *applied,
                       void (*log)(const char *line),
                       rec_err *err) REC_MUST_CHECK;

/* Lists, in order, the migrations of `dir` not yet recorded, calling
 * each(name, ctx) for every one, and counts them in *pending; changes
 * nothing in the database (optimistctl migrate --dry-run, check). */
rec_status rec_migrate_pending(rec_db *db, const char *dir, int *pending,
                               void (*each)(const char *name, void *ctx),
                               void *ctx, rec_err *err) REC_MUST_CHECK;

/* The status's name, for logs ("conflict", ...). */
const char *rec_status_name(rec_status st);

#endif
