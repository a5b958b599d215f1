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
 */
#ifndef OPTIMIST_REC_H
#define OPTIMIST_REC_H

#include <stddef.h>
#include <stdint.h>

#define REC_MUST_CHECK __attribute__((warn_unused_result))

/* Outcome of a library call. The HTTP layer maps each to one status. */
typedef enum rec_status {
    REC_OK = 0,          /* done */
    REC_NOT_FOUND,       /* no such row for this tenant */
    REC_CONFLICT,        /* the version given is not the current one */
    REC_INVALID_STATE,   /* the row's status forbids the change */
    REC_DUPLICATE,       /* a unique key refused the row */
    REC_RETRY,           /* deadlock/lock wait/certification: the
                            transaction was rolled back, safe to run again */
    REC_UNAVAILABLE,     /* the server cannot be reached (or went away
                            during a write whose fate is unknown) */
    REC_INVALID,         /* the server refused the input (bad JSON path,
                            value out of range): the caller's data */
    REC_ERROR            /* anything else: a bug or a schema mismatch */
} rec_status;

/* Details of the last failure. Filled by every call that fails. */
typedef struct rec_err {
    unsigned code;     /* server or client error number, 0 if none */
    char sqlstate[6];  /* "HY000" style, "" if none */
    char msg[256];     /* for the log, never for a client */
} rec_err;

/* Connection settings. Strings are borrowed: they must outlive the rec_db. */
typedef struct rec_config {
    const char *socket;   /* unix socket path, or NULL to use host/port */
    const char *host;     /* default "localhost" */
    unsigned port;        /* default 3306 */
    const char *user;     /* NULL: the OS user's name */
    const char *password; /* NULL: none */
    const char *database; /* default "optimist" */
    unsigned connect_timeout; /* seconds, default 3 */
    unsigned retries;     /* rec_txn attempts after the first, default 5 */
} rec_config;

/* Fills *cfg from OPTIMIST_DB_* environment variables (the strings point
 * into the environment). Unset values keep the defaults above. */
void rec_config_from_env(rec_config *cfg);

/* A connection and its prepared statements. Opaque. */
typedef struct rec_db rec_db;

/* Creates a handle; the connection is made lazily by the first statement
 * and made again after the server went away. Free with rec_db_close(). */
rec_db *rec_db_new(const rec_config *cfg);

/* Closes the connection and frees the handle. NULL is a no-op. */
void rec_db_close(rec_db *db);

/* Connects now if not connected. REC_UNAVAILABLE if it cannot. */
rec_status rec_db_connect(rec_db *db, rec_err *err) REC_MUST_CHECK;

/* Counters since the handle was made (for metrics). */
typedef struct rec_stats {
    uint64_t errors;     /* failed statements of any kind */
    uint64_t retries;    /* rec_txn re-runs */
    uint64_t reconnects; /* connections made after the first */
} rec_stats;
void rec_db_stats(const rec_db *db, rec_stats *out);

/* ---- values in and out ------------------------------------------------ */

typedef enum rec_type {
    REC_T_NULL,   /* SQL NULL */
    REC_T_INT,    /* signed 64-bit */
    REC_T_UINT,   /* unsigned 64-bit */
    REC_T_TEXT,   /* bytes with a length (not NUL-terminated) */
    REC_T_BLOB    /* binary bytes */
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
#define REC_NULLP ((rec_param){.type = REC_T_NULL})
#define REC_I(v) ((rec_param){.type = REC_T_INT, .i = (int64_t)(v)})
#define REC_U(v) ((rec_param){.type = REC_T_UINT, .u = (uint64_t)(v)})
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
rec_status rec_versioned_write_by_tenant(rec_db *db, const char *update_sql,
                                         const rec_param *params,
                                         size_t nparams,
                                         const char *version_sql,
                                         uint64_t tenant_id,
                                         rec_expect expect,
                                         uint32_t *current /* OUT */,
                                         rec_err *err) REC_MUST_CHECK;

/* ---- tenants and tokens ------------------------------------------------ */

/* Creates a tenant, its first API token and its storefront draft
 * (version 1, {}: storefront.h), in one transaction.
 * *tenant_id gets the id; token_out (at least REC_TOKEN_MAX bytes) the
 * token, shown once: only its SHA-256 is stored. */
#define REC_TOKEN_MAX 96
rec_status rec_tenant_create(rec_db *db, const char *name,
                             uint64_t *tenant_id, char *token_out,
                             rec_err *err) REC_MUST_CHECK;

/* Finds the tenant of a bearer token. REC_NOT_FOUND for a malformed,
 * unknown or revoked token. The hash is compared in constant time. */
rec_status rec_token_tenant(rec_db *db, const char *token, size_t len,
                            uint64_t *tenant_id, rec_err *err) REC_MUST_CHECK;

/* ---- migrations -------------------------------------------------------- */

/* Applies, in order, the files NNNN_name.sql in `dir` not yet recorded in
 * schema_migrations, each recorded when done. Writes one line per applied
 * file to `log` (may be NULL). *applied gets how many ran. */
rec_status rec_migrate(rec_db *db, const char *dir, int *applied,
                       void (*log)(const char *line), rec_err *err)
    REC_MUST_CHECK;

/* The status's name, for logs ("conflict", ...). */
const char *rec_status_name(rec_status st);

#endif
