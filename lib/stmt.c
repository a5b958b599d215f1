/*
 * stmt.c -- prepared statements, kept per connection and found by the
 * address of their SQL text, and the rows they return.
 *
 * Every statement is a server-side prepared statement: input only ever
 * travels as a bound parameter. Results are fetched as text (the server's
 * rendering of each value) into one buffer per result.
 */
#include "db_internal.h"

#include <ctype.h>
#include <errmsg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PARAMS 32

struct cell {
    size_t off; /* into data */
    size_t len;
    int null;
};

struct rec_rows {
    size_t nrows, ncols, cap_cells;
    struct cell *cells;
    char *data;
    size_t len, cap;
};

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL)
        abort(); /* out of memory in a worker: the master replaces it */
    return p;
}

rec_param REC_CSTR(const char *s)
{
    if (s == NULL)
        return REC_NULLP;
    return REC_S(s, strlen(s));
}

size_t rec_rows_count(const rec_rows *r)
{
    return r ? r->nrows : 0;
}

const char *rec_rows_get(const rec_rows *r, size_t i, size_t c)
{
    if (r == NULL || i >= r->nrows || c >= r->ncols)
        return NULL;
    const struct cell *cl = &r->cells[i * r->ncols + c];
    return cl->null ? NULL : r->data + cl->off;
}

size_t rec_rows_len(const rec_rows *r, size_t i, size_t c)
{
    if (r == NULL || i >= r->nrows || c >= r->ncols)
        return 0;
    return r->cells[i * r->ncols + c].len;
}

uint64_t rec_rows_u64(const rec_rows *r, size_t i, size_t c)
{
    const char *s = rec_rows_get(r, i, c);
    uint64_t v = 0;
    if (s == NULL)
        return 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return v;
}

void rec_rows_free(rec_rows *r)
{
    if (r == NULL)
        return;
    free(r->cells);
    free(r->data);
    free(r);
}

static size_t slot_of(const char *sql)
{
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 40) & (STMT_CACHE_SIZE - 1);
}

/* The cached statement for sql, preparing it on first use. NULL with
 * *st set on failure. *owned is set when the cache is full and the caller
 * must close the statement itself. */
static MYSQL_STMT *get_stmt(rec_db *db, const char *sql, int *owned,
                            rec_status *st, rec_err *err)
{
    size_t i = slot_of(sql), free_slot = SIZE_MAX;
    *owned = 0;
    for (size_t n = 0; n < STMT_CACHE_SIZE; n++, i = (i + 1) & (STMT_CACHE_SIZE - 1)) {
        if (db->cache[i].sql == sql)
            return db->cache[i].stmt;
        if (db->cache[i].sql == NULL) {
            free_slot = i;
            break;
        }
    }
    MYSQL_STMT *stmt = mysql_stmt_init(db->conn);
    if (stmt == NULL)
        abort();
    my_bool on = 1;
    (void)mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0) {
        *st = db_fail_stmt(db, stmt, err);
        mysql_stmt_close(stmt);
        return NULL;
    }
    if (free_slot == SIZE_MAX) {
        *owned = 1;
    } else {
        db->cache[free_slot].sql = sql;
        db->cache[free_slot].stmt = stmt;
    }
    return stmt;
}

static int is_read(const char *sql)
{
    while (isspace((unsigned char)*sql))
        sql++;
    return strncasecmp(sql, "SELECT", 6) == 0;
}

static rec_status fetch_rows(rec_db *db, MYSQL_STMT *stmt, rec_rows **out,
                             rec_err *err)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(stmt);
    if (meta == NULL) {
        *out = NULL;
        return REC_OK;
    }
    if (mysql_stmt_store_result(stmt) != 0) {
        mysql_free_result(meta);
        return db_fail_stmt(db, stmt, err);
    }
    /* Cached statements are re-bound on every call: the buffers below
     * belong to this call only. */
    unsigned ncols = mysql_num_fields(meta);
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    MYSQL_BIND bind[MAX_PARAMS];
    unsigned long lens[MAX_PARAMS];
    my_bool nulls[MAX_PARAMS];
    my_bool errs[MAX_PARAMS];
    char *bufs[MAX_PARAMS];
    rec_status st = REC_OK;

    if (ncols > MAX_PARAMS) {
        mysql_free_result(meta);
        mysql_stmt_free_result(stmt);
        snprintf(err->msg, sizeof err->msg, "too many columns: %u", ncols);
        return REC_ERROR;
    }
    rec_rows *r = calloc(1, sizeof *r);
    if (r == NULL)
        abort();
    r->ncols = ncols;
    memset(bind, 0, sizeof bind);
    for (unsigned c = 0; c < ncols; c++) {
        /* max_length is known after store_result (UPDATE_MAX_LENGTH). */
        size_t cap = fields[c].max_length + 1;
        if (cap < 32)
            cap = 32; /* numbers and dates rendered as text */
        bufs[c] = xrealloc(NULL, cap);
        bind[c].buffer_type = MYSQL_TYPE_STRING;
        bind[c].buffer = bufs[c];
        bind[c].buffer_length = cap;
        bind[c].length = &lens[c];
        bind[c].is_null = &nulls[c];
        bind[c].error = &errs[c];
    }
    if (mysql_stmt_bind_result(stmt, bind) != 0) {
        st = db_fail_stmt(db, stmt, err);
        goto done;
    }
    for (;;) {
        int rc = mysql_stmt_fetch(stmt);
        if (rc == MYSQL_NO_DATA)
            break;
        if (rc == 1) {
            st = db_fail_stmt(db, stmt, err);
            goto done;
        }
        /* rc == 0 or MYSQL_DATA_TRUNCATED: with max_length buffers a
         * truncation cannot happen; treat it as an error if it does. */
        if (rc == MYSQL_DATA_TRUNCATED) {
            snprintf(err->msg, sizeof err->msg, "truncated column");
            st = REC_ERROR;
            goto done;
        }
        if ((r->nrows + 1) * ncols > r->cap_cells) {
            r->cap_cells = r->cap_cells ? r->cap_cells * 2 : ncols * 4;
            while (r->cap_cells < (r->nrows + 1) * ncols)
                r->cap_cells *= 2;
            r->cells = xrealloc(r->cells, r->cap_cells * sizeof *r->cells);
        }
        for (unsigned c = 0; c < ncols; c++) {
            struct cell *cl = &r->cells[r->nrows * ncols + c];
            cl->null = nulls[c] ? 1 : 0;
            cl->len = nulls[c] ? 0 : lens[c];
            if (r->len + cl->len + 1 > r->cap) {
                r->cap = (r->len + cl->len + 1) * 2;
                r->data = xrealloc(r->data, r->cap);
            }
            cl->off = r->len;
            memcpy(r->data + r->len, bufs[c], cl->len);
            r->data[r->len + cl->len] = '\0';
            r->len += cl->len + 1;
        }
        r->nrows++;
    }
done:
    for (unsigned c = 0; c < ncols; c++)
        free(bufs[c]);
    /* A lost connection closed the cached statement with it. */
    if (db->conn != NULL)
        mysql_stmt_free_result(stmt);
    mysql_free_result(meta);
    if (st != REC_OK) {
        rec_rows_free(r);
        return st;
    }
    *out = r;
    return REC_OK;
}

static rec_status exec_once(rec_db *db, const char *sql,
                            const rec_param *params, size_t nparams,
                            rec_rows **rows, uint64_t *affected,
                            uint64_t *insert_id, int *sent, rec_err *err)
{
    rec_status st = REC_OK;
    int owned = 0;
    MYSQL_BIND bind[MAX_PARAMS];
    my_bool is_null = 1;
    unsigned long lens[MAX_PARAMS];

    *sent = 0;
    if (nparams > MAX_PARAMS) {
        snprintf(err->msg, sizeof err->msg, "too many parameters");
        return REC_ERROR;
    }
    MYSQL_STMT *stmt = get_stmt(db, sql, &owned, &st, err);
    if (stmt == NULL)
        return st;
    if (mysql_stmt_param_count(stmt) != nparams) {
        snprintf(err->msg, sizeof err->msg,
                 "statement wants %lu parameters, given %zu",
                 mysql_stmt_param_count(stmt), nparams);
        st = REC_ERROR;
        goto out;
    }
    memset(bind, 0, sizeof bind);
    for (size_t i = 0; i < nparams; i++) {
        const rec_param *p = &params[i];
        switch (p->type) {
        case REC_T_NULL:
            bind[i].buffer_type = MYSQL_TYPE_NULL;
            bind[i].is_null = &is_null;
            break;
        case REC_T_INT:
            bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
            bind[i].buffer = (void *)&p->i;
            break;
        case REC_T_UINT:
            bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
            bind[i].buffer = (void *)&p->u;
            bind[i].is_unsigned = 1;
            break;
        case REC_T_TEXT:
        case REC_T_BLOB:
            bind[i].buffer_type =
                p->type == REC_T_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            bind[i].buffer = (void *)(p->s ? p->s : "");
            lens[i] = (unsigned long)p->len;
            bind[i].buffer_length = lens[i];
            bind[i].length = &lens[i];
            break;
        }
    }
    if (nparams > 0 && mysql_stmt_bind_param(stmt, bind) != 0) {
        st = db_fail_stmt(db, stmt, err);
        goto out;
    }
    *sent = 1;
    if (mysql_stmt_execute(stmt) != 0) {
        st = db_fail_stmt(db, stmt, err);
        goto out;
    }
    if (affected != NULL)
        *affected = mysql_stmt_affected_rows(stmt);
    if (insert_id != NULL)
        *insert_id = mysql_stmt_insert_id(stmt);
    if (rows != NULL)
        st = fetch_rows(db, stmt, rows, err);
    else
        (void)mysql_stmt_free_result(stmt);
out:
    /* A lost connection closed every cached statement (db_drop); one
     * that is not cached is ours to close either way. */
    if (owned)
        mysql_stmt_close(stmt);
    return st;
}

rec_status rec_exec(rec_db *db, const char *sql, const rec_param *params,
                    size_t nparams, rec_rows **rows, uint64_t *affected,
                    uint64_t *insert_id, rec_err *err)
{
    int sent = 0;
    rec_status st;

    if (rows != NULL)
        *rows = NULL;
    for (int attempt = 0;; attempt++) {
        st = db->in_txn ? (db->conn ? REC_OK : REC_UNAVAILABLE)
                        : db_ensure(db, err);
        if (st != REC_OK) {
            if (db->conn == NULL && db->in_txn)
                snprintf(err->msg, sizeof err->msg, "connection lost in transaction");
            return st;
        }
        /* Taken before the call: a lost connection clears db->in_txn
         * (db_drop), and a read sent again on a new connection would then
         * run outside the transaction the server just rolled back, and
         * the caller would COMMIT nothing and answer 200. */
        int in_txn = db->in_txn;
        st = exec_once(db, sql, params, nparams, rows, affected, insert_id,
                       &sent, err);
        if (st != REC_UNAVAILABLE || attempt > 0 || in_txn)
            return st;
        /* The connection was lost. Outside a transaction, send again only
         * what cannot have changed anything: a failed prepare (nothing was
         * executed) or a read. A write whose fate is unknown is not sent
         * again: the caller answers 503 and the client retries. */
        if (sent && !is_read(sql))
            return st;
    }
}
