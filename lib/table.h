/*
 * table.h -- declared tables ("Your own tables" in API.md): an
 * application's own MariaDB tables served with versions, as the built-in
 * resources are. Everything below HTTP: the registry of declarations, the
 * strict conversion of request values, the statements, the change log.
 *
 * A declared table is described once, at load, from its file
 * (OPTIMIST_TABLES_DIR/<name>.conf, decl.h) and from information_schema
 * (introspect.c): its key, version and tenant columns, each served column
 * with its type (coltype.h), and whether `optimistctl table prepare` has
 * installed its triggers. Every statement is built from those validated
 * names only (quoted with backticks), never from request input, and is
 * prepared once per connection (rec_exec's cache).
 *
 * Every statement takes the row as (key, tenant), like the built-in
 * resources take (id, tenant_id): a table with a fixed tenant compares
 * the tenant parameter with its constant (WHERE ... AND ? = 42), so a
 * token of another tenant finds nothing there, exactly as a missing row.
 * The UPDATE and DELETE end with "AND `version` = COALESCE(?, `version`)"
 * (NULL: If-Match: *), so plans can run through rec_versioned_write() and
 * the write loop of the built-in resources, or through tbl_update() and
 * tbl_delete() below, which do the same with the row itself for a 409.
 *
 * Rows as JSON: {"id": <key>, "version": N, <served column>: value, ...}
 * in the table's column order; the key is always "id", the version
 * always "version", whatever the columns are called.
 *
 * Ownership: a registry owns its tables; a tbl_table pointer is valid
 * until its registry is freed. A registry is used by one thread at a
 * time (its tables cache statement texts).
 *
 * Typical use by a route (errors: REC_INVALID -> 400 with err.column and
 * err.why; REC_CONSTRAINT -> 409 constraint_violation with
 * err.constraint; REC_CONFLICT -> 409/412 with `out` as "current";
 * REC_NOT_FOUND -> 404; the rest as any rec_status):
 *
 *     // at start and on SIGHUP (keep the old one if nrefused > 0)
 *     tbl_registry *reg = tbl_registry_load(db, dir, &st, &err);
 *     // GET /v1/tables/{name}/{id}
 *     tbl_table *t = tbl_find(reg, name, name_len);   // NULL: 404
 *     st = tbl_get(db, t, tenant, id, &out, &version, &err);
 *     // PATCH: body from body_parse(); the version from the body or
 *     // If-Match as for the built-in resources (428/400/412 first)
 *     st = tbl_update(db, t, tenant, id, expect, body, &out, &version,
 *                     &err);
 *     // inside the caller's rec_txn (an Idempotency-Key's answer stored
 *     // in the same transaction): the same calls join it.
 *
 * The body's integers must have passed the body checker (fcgi/http/
 * body.c): json-c clamps integers past 64 bits, which it refuses.
 *
 * As a resource descriptor (fcgi/core/resource.h): version_sql =
 * t->sql_version, load = tbl_get through ctx = t, poll_sql = t->sql_poll
 * (the generated poll cannot name `db`.`table`), deletable = 1. A URL
 * name may be 64 characters, a descriptor's name 47.
 */
#ifndef OPTIMIST_TABLE_H
#define OPTIMIST_TABLE_H

#include "coltype.h"
#include "decl.h"
#include "jbuf.h"
#include "rec.h"

#include <json.h>
#include <stddef.h>
#include <stdint.h>

/* ---- a declared table ---------------------------------------------------- */

typedef struct tbl_column {
    decl_ident name; /* as information_schema spells it: the JSON member */
    col_type type;   /* what it is served as (never COL_UNSERVABLE) */
    int read_only;   /* declared read_only, or a generated column: no
                        request may write it */
    int has_default; /* a POST may leave it out (a default, NULL allowed,
                        generated or auto-increment) */
} tbl_column;

struct tbl_cache; /* statement texts per column set (table.c) */

#define TBL_POLL_IN 256 /* keys of sql_poll (the hub's RESOURCE_POLL_IN) */

typedef struct tbl_table {
    decl_ident name;   /* the URL name: /v1/tables/<name> */
    decl_ident schema; /* the database the table is in */
    decl_ident table;
    decl_ident key;           /* the key column (served as "id") */
    decl_ident version;       /* the version column (served as "version") */
    decl_ident tenant_column; /* "" for a table with a fixed tenant */
    uint64_t tenant;          /* the fixed tenant; 0 with tenant_column */
    size_t ncols;
    tbl_column *cols; /* the served columns, in the table's order */
    int prepared;     /* its four triggers are installed as `table
                         prepare` makes them: the change log is written
                         by them, not by the library */
    /* Constant statements (all take key, tenant): */
    char *sql_get;     /* SELECT key, version, cols... (tbl_render) */
    char *sql_version; /* SELECT version */
    char *sql_delete;  /* DELETE ... AND version = COALESCE(?, version) */
    char *sql_poll;    /* SELECT key, version ... WHERE key IN (?, ...):
                          TBL_POLL_IN keys (a hub's poll of the rows its
                          streams follow; no tenant: the streams were
                          opened by the rows' tenants) */
    struct tbl_cache *cache;
} tbl_table;

/* The served column called name[0..n), or NULL. */
const tbl_column *tbl_column_find(const tbl_table *t, const char *name,
                                  size_t n);

/* ---- errors -------------------------------------------------------------- */

/* REC_CONSTRAINT (rec.h): a unique key, foreign key or CHECK refused the
 * data (MariaDB 1062, 1451, 1452, 4025; MySQL 3819); nothing written. */

typedef struct tbl_err {
    rec_err db;                         /* the database's error, for the log */
    char column[DECL_NAME_MAX + 1];     /* REC_INVALID: the member refused, as
                                           the client sent it ("" when the
                                           request as a whole is refused) */
    char constraint[DECL_NAME_MAX + 1]; /* REC_CONSTRAINT: its name, "" if
                                           the server did not say */
    char why[COL_WHY_MAX + 96]; /* REC_INVALID / REC_CONSTRAINT: a message
                                   for the client: "qty: must be an
                                   integer from 0 to 255" */
} tbl_err;

/* A failed write's error (err->db) read as the contract's refusal:
 * REC_CONSTRAINT with err->constraint, REC_INVALID with err->column, or
 * st unchanged when the data is not to blame. For writes of a plan run
 * outside the operations below (the HTTP layer's write loop). */
rec_status tbl_refusal(rec_status st, tbl_err *err);

/* ---- plans: validated statements with their parameters ------------------- */

#define TBL_MAX_PARAMS 64

/* A statement and its bound values, made from a request body by
 * tbl_plan_insert / tbl_plan_update / tbl_plan_filter. It may point into
 * the JSON the values came from: keep that alive while the plan is used.
 * Do not copy a plan (its params point into it). Always tbl_plan_free()
 * it after its last use, with the same connection. */
typedef struct tbl_plan {
    const char *sql; /* the statement (see each function) */
    size_t nparams;  /* the values the request gives, in params[] */
    rec_param params[TBL_MAX_PARAMS];
    col_value vals[TBL_MAX_PARAMS];
    uint64_t mask;   /* the columns given (bit i: t->cols[i]) */
    char *owned_sql; /* a text not kept in the table's cache */
} tbl_plan;

/* Checks a POST body and makes the INSERT: "INSERT INTO t (cols given...,
 * tenant column, version) VALUES (?, ..., ?, 1)"; params are the given
 * columns' values then the tenant (a table with a fixed tenant: the
 * columns only, and the call needs tenant == t->tenant). REC_INVALID with
 * err->column for: a member that is not a served column, a read-only
 * one, "id", "version", the tenant column; a value the column refuses
 * (coltype.h); a NOT NULL column without a default left out. REC_NOT_FOUND
 * for a tenant that is not the table's fixed one. */
rec_status tbl_plan_insert(tbl_table *t, uint64_t tenant, json_object *body,
                           tbl_plan *plan, tbl_err *err) REC_MUST_CHECK;

/* Checks a PATCH body and makes "UPDATE t SET c = ?, ..., version =
 * version + 1 WHERE key = ? AND tenant = ? AND version = COALESCE(?,
 * version)": params are the SET values only (the caller or
 * rec_versioned_write appends key, tenant, version). The member "version"
 * is the precondition, not a column: it is skipped here (the caller reads
 * it). Refusals as tbl_plan_insert, and "id" and the tenant column. A
 * body with no column changes nothing but the version. */
rec_status tbl_plan_update(tbl_table *t, json_object *body, tbl_plan *plan,
                           tbl_err *err) REC_MUST_CHECK;

/* One ?column=value of a list. */
typedef struct tbl_filter {
    const char *column; /* as in the query, not NUL-terminated */
    size_t column_len;
    const char *value; /* percent-decoded */
    size_t value_len;
} tbl_filter;

/* Makes a list page's SELECT: rows of the tenant with key > after whose
 * columns equal the filters (read as each column's type; a column given
 * twice must equal both), in key order, at most `limit` + 1 rows (the
 * last one says there is a next page). The columns are those of
 * sql_get. params: tenant, after, the filters' values, limit + 1.
 * REC_INVALID with err->column for an unknown or not served column or a
 * value the column's type refuses (a JSON column cannot be filtered). */
rec_status tbl_plan_list(tbl_table *t, uint64_t tenant, const tbl_filter *f,
                         size_t nf, uint64_t after, unsigned limit,
                         tbl_plan *plan, tbl_err *err) REC_MUST_CHECK;

/* Forgets a plan's statement text if it was its own (and the statement
 * prepared for it on db). NULL plan or db: harmless. */
void tbl_plan_free(rec_db *db, tbl_plan *plan);

/* ---- rows ---------------------------------------------------------------- */

/* Appends row i of a result of t->sql_get (or of a list plan) as JSON. */
void tbl_render(const tbl_table *t, const rec_rows *rows, size_t i, jbuf *out);

/* Writes the change-log row of a change (optimist_changes, sql/0011): for
 * a table that is not prepared; a no-op for a prepared one (its triggers
 * write it). Call it in the write's transaction, after the write:
 * version is the row's new version (a deletion: the last one plus 1). */
rec_status tbl_log_change(rec_db *db, const tbl_table *t, uint64_t tenant,
                          uint64_t key, uint32_t version, int deleted,
                          rec_err *err) REC_MUST_CHECK;

/* ---- whole operations ----------------------------------------------------
 *
 * Each runs in its own transaction (rec_txn, retried on deadlocks), or,
 * called from inside a rec_txn body, in that transaction (so that a
 * caller can store an idempotency answer with the write; a REC_RETRY then
 * means: run the whole body again). The change log is written in the same
 * transaction. `out` receives the row as GET shows it, appended.
 * Outcomes: REC_OK; REC_NOT_FOUND (no such row for the tenant);
 * REC_CONFLICT (the version is not the current one: *version and `out`
 * hold the current row); REC_INVALID (err->column, err->why: answer 400);
 * REC_CONSTRAINT (err->constraint: answer 409); a database failure. */

/* GET: the row and its version. */
rec_status tbl_get(rec_db *db, tbl_table *t, uint64_t tenant, uint64_t key,
                   jbuf *out, uint32_t *version /* OUT */,
                   tbl_err *err) REC_MUST_CHECK;

/* POST: inserts the row (version 1). *key gets its key. */
rec_status tbl_insert(rec_db *db, tbl_table *t, uint64_t tenant,
                      json_object *body, uint64_t *key /* OUT */, jbuf *out,
                      tbl_err *err) REC_MUST_CHECK;

/* PATCH: changes the columns of `changes` if the row is at expect.version
 * (or any version: expect.any), in one UPDATE whose affected rows decide.
 * *version: the new version, or the current one on REC_CONFLICT. */
rec_status tbl_update(rec_db *db, tbl_table *t, uint64_t tenant, uint64_t key,
                      rec_expect expect, json_object *changes, jbuf *out,
                      uint32_t *version /* OUT */, tbl_err *err) REC_MUST_CHECK;

/* DELETE: as tbl_update; `out` gets the current row only on a conflict. */
rec_status tbl_delete(rec_db *db, tbl_table *t, uint64_t tenant, uint64_t key,
                      rec_expect expect, jbuf *out, uint32_t *version /* OUT */,
                      tbl_err *err) REC_MUST_CHECK;

/* GET of the list: appends {"items": [...], "next_after": <key or null>}.
 * limit 1..500 (the caller checked it). */
rec_status tbl_list(rec_db *db, tbl_table *t, uint64_t tenant,
                    const tbl_filter *f, size_t nf, uint64_t after,
                    unsigned limit, jbuf *out, tbl_err *err) REC_MUST_CHECK;

/* ---- the change log (sql/0011_change_log.sql) ----------------------------
 *
 * One row per change of a declared table's row, by optimist or by any
 * other writer of a prepared table, written in the change's transaction.
 * seq grows with each insert, but rows become visible in commit order,
 * which may differ: a reader that moves its cursor past a seq it has not
 * seen yet can miss a change committed late. Read up to the first gap,
 * and treat a gap older than a few seconds as a skip (an auto-increment
 * value rolled back, or a Galera node's increment). */

typedef struct tbl_change {
    uint64_t seq;
    uint64_t key;
    uint32_t version; /* the row's new version (deleted: the last + 1) */
    int deleted;
    int64_t age_ms; /* how long ago it was committed, by the server */
} tbl_change;

/* The changes of table `name` (its URL name) for a tenant after seq
 * `after`, in seq order: up to `max` into out[], *n set to how many.
 * key 0: every row of the table; else that row's only. */
rec_status tbl_changes(rec_db *db, const char *name, uint64_t tenant,
                       uint64_t key, uint64_t after, tbl_change *out,
                       size_t max, size_t *n, rec_err *err) REC_MUST_CHECK;

/* The last seq written (0: none): a feed without Last-Event-ID starts
 * after it. *oldest: the first seq kept (0: none): a Last-Event-ID before
 * it has lost changes (the feed answers reset). */
rec_status tbl_changes_bounds(rec_db *db, uint64_t *oldest, uint64_t *last,
                              rec_err *err) REC_MUST_CHECK;

/* Deletes up to `limit` changes older than keep_secs (at least 86400 by
 * the contract). *deleted (may be NULL) gets how many. */
rec_status tbl_changes_purge(rec_db *db, unsigned keep_secs, unsigned limit,
                             uint64_t *deleted, rec_err *err) REC_MUST_CHECK;

/* ---- the registry ----------------------------------------------------------
 */

typedef struct tbl_registry tbl_registry;

/* Reads every <name>.conf of `dir` and describes each table from
 * information_schema (reading only: nothing is created or altered).
 * Returns the registry (caller frees with tbl_registry_free), or NULL
 * with err->db set when the database cannot be asked (REC_UNAVAILABLE /
 * REC_ERROR in *st) or the folder cannot be read. A declaration that is
 * refused is not served; the registry lists it with the reason
 * (tbl_registry_refused). dir NULL or "": no tables. At a reload the
 * caller keeps the previous registry if the new one refused anything
 * (the contract: "a bad reload keeps the tables served before") and
 * logs each reason. */
tbl_registry *tbl_registry_load(rec_db *db, const char *dir, rec_status *st,
                                tbl_err *err) REC_MUST_CHECK;

/* The declared table called name[0..n), or NULL (answer 404). */
tbl_table *tbl_find(tbl_registry *reg, const char *name, size_t n);

/* The served tables, i < tbl_registry_count. */
size_t tbl_registry_count(const tbl_registry *reg);
tbl_table *tbl_registry_at(tbl_registry *reg, size_t i);

/* The refused declarations: how many, and each one's name and reason
 * ("var/tables.d/orders.conf: column `qty` ...": names the file). */
size_t tbl_registry_nrefused(const tbl_registry *reg);
const char *tbl_registry_refused(const tbl_registry *reg, size_t i,
                                 const char **name /* OUT, may be NULL */);

/* Frees the registry and forgets its statements on db (the connection
 * that ran them; NULL if none did). NULL reg: no-op. rec_exec keeps a
 * statement by its text's address, so give every connection its own
 * registry (a hub thread with a connection of its own loads its own):
 * freed on one connection, a registry's texts would stay known to
 * another, and a later text at the same address would find them. */
void tbl_registry_free(tbl_registry *reg, rec_db *db);

/* Describes one declaration (decl.h) from information_schema, as the
 * registry does. NULL with the reason in why[DECL_WHY_MAX] (the caller
 * adds the file) and *st REC_INVALID, or a database failure in *st and
 * err. allow_no_version: a missing version column is not a refusal
 * (table prepare adds it; t->version names it all the same). Free with
 * tbl_table_free(t, db). */
tbl_table *tbl_describe(rec_db *db, const decl *d, int allow_no_version,
                        int *has_version, rec_status *st, char *why,
                        rec_err *err) REC_MUST_CHECK;
void tbl_table_free(tbl_table *t, rec_db *db);

/* ---- prepare (optimistctl table prepare) --------------------------------- */

/* Makes declared table `name` of `dir` ready: adds its version column
 * when missing (INT UNSIGNED NOT NULL DEFAULT 1) and (re)installs its
 * triggers optimist_<name>_bu, _ai, _au, _ad when they are missing or not
 * as this version makes them. Each statement goes to print(sql, ctx)
 * first; dry_run: printed only. *changes gets how many statements there
 * were (0: already prepared). REC_INVALID with err->why for a
 * declaration that cannot be served. */
rec_status tbl_prepare(rec_db *db, const char *dir, const char *name,
                       int dry_run, void (*print)(const char *sql, void *ctx),
                       void *ctx, unsigned *changes,
                       tbl_err *err) REC_MUST_CHECK;

#endif
