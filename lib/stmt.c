/*
 * stmt.c -- prepared statements, kept per connection and found by the
 * address of their SQL text, and the rows they return.
 *
 * Every statement is a server-side prepared statement: input only ever
 * travels as a bound parameter. Results are fetched as text (the server's
 * rendering of each value) into one buffer per result.
 */
#include "db_internal.h"
#include "parse.h"
#include "xalloc.h"

#include <ctype.h>
#include <errmsg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PARAMS 64 /* a declared table binds up to 62; result columns */
/* Bound parameters: the hub's polls ask for 256 resources in one IN list
 * (one query per 256 followed resources, not per 32). */
#define MAX_BIND_PARAMS 256
/* fetch_rows keeps the column buffers of a result on the stack up to this
 * size (the row of a bid with a 1 KB data object takes about 1.5 KB). */
#define FETCH_STACK_BYTES 4096

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
    if (s != NULL)
        (void)parse_u64(s, UINT64_MAX, &v);
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

/* FNV-1a over the statement's text (see struct stmt_slot). */
static uint64_t text_sum(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* The cached statement for sql, preparing it on first use. NULL with
 * *st set on failure. *owned is set when the cache is full and the caller
 * must close the statement itself. */
static MYSQL_STMT *get_stmt(rec_db *db, const char *sql, int *owned,
                            rec_status *st, rec_err *err)
{
    size_t i = slot_of(sql), free_slot = SIZE_MAX, len = strlen(sql);
    uint64_t sum = text_sum(sql, len);
    *owned = 0;
    for (size_t n = 0; n < STMT_CACHE_SIZE;
         n++, i = (i + 1) & (STMT_CACHE_SIZE - 1)) {
        if (db->cache[i].sql == sql) {
            if (db->cache[i].len == len && db->cache[i].sum == sum)
                return db->cache[i].stmt;
            /* Another text at a freed one's address: prepare it here. */
            mysql_stmt_close(db->cache[i].stmt);
            db->cache[i].sql = NULL;
            db->cache[i].stmt = NULL;
            free_slot = i;
            break;
        }
        if (db->cache[i].sql == NULL) {
            free_slot = i;
            break;
        }
    }
    MYSQL_STMT *stmt = xnonnull(mysql_stmt_init(db->conn), "mysql_stmt_init");
    my_bool on = 1;
    (void)mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    if (dbw_stmt_prepare(db, stmt, sql, len) != 0) {
        *st = db_fail_stmt(db, stmt, err);
        mysql_stmt_close(stmt);
        return NULL;
    }
    if (free_slot == SIZE_MAX) {
        *owned = 1;
    } else {
        db->cache[free_slot].sql = sql;
        db->cache[free_slot].stmt = stmt;
        db->cache[free_slot].len = len;
        db->cache[free_slot].sum = sum;
    }
    return stmt;
}

void rec_forget(rec_db *db, const char *sql)
{
    size_t i = slot_of(sql), mask = STMT_CACHE_SIZE - 1;
    for (size_t n = 0; n < STMT_CACHE_SIZE; n++, i = (i + 1) & mask) {
        if (db->cache[i].sql == NULL)
            return; /* not cached */
        if (db->cache[i].sql == sql)
            break;
    }
    if (db->cache[i].sql != sql)
        return;
    mysql_stmt_close(db->cache[i].stmt);
    db->cache[i].sql = NULL;
    db->cache[i].stmt = NULL;
    /* Linear probing: the entries after the hole up to the next free slot
     * move back to where a lookup that starts at their home slot finds
     * them. */
    for (size_t j = (i + 1) & mask; db->cache[j].sql != NULL;
         j = (j + 1) & mask) {
        size_t home = slot_of(db->cache[j].sql);
        /* j's entry may stay unless its home lies cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        db->cache[i] = db->cache[j];
        db->cache[j].sql = NULL;
        db->cache[j].stmt = NULL;
        i = j;
    }
}

static int is_read(const char *sql)
{
    while (isspace((unsigned char)*sql))
        sql++;
    return strncasecmp(sql, "SELECT", 6) == 0;
}

/* Binds a result's buffers; a failure is the statement's. */
static rec_status bind_result(rec_db *db, MYSQL_STMT *stmt, MYSQL_BIND *bind,
                              rec_err *err)
{
    if (mysql_stmt_bind_result(stmt, bind) != 0)
        return db_fail_stmt(db, stmt, err);
    return REC_OK;
}

/* Fetches the next row: 1 with *truncated set when a column did not fit
 * its buffer, 0 after the last row or a failure (then *st says which). */
static int fetch_row(rec_db *db, MYSQL_STMT *stmt, int *truncated,
                     rec_status *st, rec_err *err)
{
    int rc = dbw_stmt_fetch(db, stmt);
    if (rc == 1)
        *st = db_fail_stmt(db, stmt, err);
    *truncated = rc == MYSQL_DATA_TRUNCATED;
    return rc == 0 || rc == MYSQL_DATA_TRUNCATED;
}

/* Copies the fetched row (bufs, lens, nulls) into r: its cells at
 * `cells`, its text NUL-terminated at the end of r->data. */
static void copy_row(rec_rows *r, struct cell *cells, unsigned ncols,
                     char *const *bufs, const unsigned long *lens,
                     const my_bool *nulls)
{
    for (unsigned c = 0; c < ncols; c++) {
        size_t n = nulls[c] ? 0 : lens[c];
        if (r->len + n + 1 > r->cap) {
            r->cap = (r->len + n + 1) * 2;
            r->data = xrealloc(r->data, r->cap);
        }
        cells[c].null = nulls[c] ? 1 : 0;
        cells[c].len = n;
        cells[c].off = r->len;
        memcpy(r->data + r->len, bufs[c], n);
        r->data[r->len + n] = '\0';
        r->len += n + 1;
    }
}

/* Binds one result column as text into buf, cap bytes: every column
 * comes back as the server prints it. */
static void bind_text_into(MYSQL_BIND *b, char *buf, size_t cap,
                           unsigned long *len, my_bool *null, my_bool *error)
{
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = buf;
    b->buffer_length = cap;
    b->length = len;
    b->is_null = null;
    b->error = error;
}

/* The same into a new buffer of cap bytes (the caller frees it). */
static char *bind_text_out(MYSQL_BIND *b, size_t cap, unsigned long *len,
                           my_bool *null, my_bool *error)
{
    char *buf = xrealloc(NULL, cap);
    bind_text_into(b, buf, cap, len, null, error);
    return buf;
}

/* A DATETIME or TIMESTAMP column with 0 to 6 decimals is fetched as a
 * MYSQL_TIME and written here, as libmariadb writes it into a text buffer
 * ("2026-01-02 03:04:05.678" for 3 decimals), without its two sprintf
 * calls a value: they were a tenth of a bid GET's own instructions
 * (callgrind, BENCH.md "The pool's CPU per answer"). */
static int fetched_as_time(const MYSQL_FIELD *f)
{
    return (f->type == MYSQL_TYPE_DATETIME ||
            f->type == MYSQL_TYPE_TIMESTAMP) &&
           f->decimals <= 6;
}

static void put_digits(char *p, unsigned long v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* out holds at least 27 bytes; returns the length written (no NUL). */
static unsigned long format_time(char *out, const MYSQL_TIME *t,
                                 unsigned decimals)
{
    put_digits(out, t->year, 4);
    out[4] = '-';
    put_digits(out + 5, t->month, 2);
    out[7] = '-';
    put_digits(out + 8, t->day, 2);
    out[10] = ' ';
    put_digits(out + 11, t->hour, 2);
    out[13] = ':';
    put_digits(out + 14, t->minute, 2);
    out[16] = ':';
    put_digits(out + 17, t->second, 2);
    if (decimals == 0)
        return 19;
    char frac[6];
    put_digits(frac, t->second_part, 6);
    out[19] = '.';
    memcpy(out + 20, frac, decimals);
    return 20 + decimals;
}

static rec_status fetch_rows(rec_db *db, MYSQL_STMT *stmt, rec_rows **out,
                             rec_err *err)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(stmt);
    if (meta == NULL) {
        *out = NULL;
        return REC_OK;
    }
    if (dbw_stmt_store_result(db, stmt) != 0) {
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
    /* The columns' buffers, one after the other: on the stack when they
     * fit (a bid's row does), else in one allocation, not one a column. */
    char small[FETCH_STACK_BYTES];
    char *block = small;
    MYSQL_TIME times[MAX_PARAMS];
    rec_status st = REC_OK;

    if (ncols > MAX_PARAMS) {
        mysql_free_result(meta);
        dbw_stmt_free_result(db, stmt);
        snprintf(err->msg, sizeof err->msg, "too many columns: %u", ncols);
        return REC_ERROR;
    }
    rec_rows *r = xcalloc(1, sizeof *r);
    r->ncols = ncols;
    memset(bind, 0, sizeof bind);
    size_t caps[MAX_PARAMS], total = 0;
    for (unsigned c = 0; c < ncols; c++) {
        /* max_length is known after store_result (UPDATE_MAX_LENGTH). */
        caps[c] = fields[c].max_length + 1;
        if (caps[c] < 32)
            caps[c] = 32; /* numbers and dates rendered as text */
        total += caps[c];
    }
    if (total > sizeof small)
        block = xrealloc(NULL, total);
    size_t off = 0;
    for (unsigned c = 0; c < ncols; off += caps[c], c++) {
        bufs[c] = block + off;
        bind_text_into(&bind[c], bufs[c], caps[c], &lens[c], &nulls[c],
                       &errs[c]);
        if (fetched_as_time(&fields[c])) {
            /* libmariadb sets the error flag of a text column on every
             * fetch, but not that of a MYSQL_TIME: it must start at 0. */
            errs[c] = 0;
            bind[c].buffer_type = MYSQL_TYPE_DATETIME;
            bind[c].buffer = &times[c];
            bind[c].buffer_length = sizeof times[c];
        }
    }
    st = bind_result(db, stmt, bind, err);
    int truncated;
    while (st == REC_OK && fetch_row(db, stmt, &truncated, &st, err)) {
        /* With max_length buffers a truncation cannot happen; treat it as
         * an error if it does. */
        if (truncated) {
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
        for (unsigned c = 0; c < ncols; c++)
            if (!nulls[c] && fetched_as_time(&fields[c]))
                lens[c] = format_time(bufs[c], &times[c], fields[c].decimals);
        copy_row(r, &r->cells[r->nrows * ncols], ncols, bufs, lens, nulls);
        r->nrows++;
    }
done:
    if (block != small)
        free(block);
    /* A lost connection closed the cached statement with it. */
    if (db->conn != NULL)
        dbw_stmt_free_result(db, stmt);
    mysql_free_result(meta);
    if (st != REC_OK) {
        rec_rows_free(r);
        return st;
    }
    *out = r;
    return REC_OK;
}

static rec_status each_rows(rec_db *db, MYSQL_STMT *stmt, rec_row_fn fn,
                            void *ctx, size_t *delivered, rec_err *err);

/* A CALL of a stored procedure answers its result sets and then a status
 * of its own (SERVER_MORE_RESULTS_EXIST): until every one is read, the
 * connection takes no other command, and the cached statement no new
 * execute. The rows of any result after the first are discarded. */
static rec_status drain_results(rec_db *db, MYSQL_STMT *stmt, rec_err *err)
{
    while (db->conn != NULL && mysql_stmt_more_results(stmt)) {
        int rc = dbw_stmt_next_result(db, stmt);
        if (rc > 0)
            return db_fail_stmt(db, stmt, err);
        if (rc < 0)
            break;
        (void)dbw_stmt_free_result(db, stmt);
    }
    return REC_OK;
}

/* One execution; the rows go to *rows, or one at a time to fn (each_rows)
 * when fn is not NULL. */
static rec_status exec_run(rec_db *db, const char *sql, const rec_param *params,
                           size_t nparams, rec_rows **rows, rec_row_fn fn,
                           void *ctx, size_t *delivered, uint64_t *affected,
                           uint64_t *insert_id, int *sent, rec_err *err)
{
    rec_status st = REC_OK;
    int owned = 0;
    MYSQL_BIND bind[MAX_BIND_PARAMS];
    my_bool is_null = 1;
    unsigned long lens[MAX_BIND_PARAMS];

    *sent = 0;
    if (nparams > MAX_BIND_PARAMS) {
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
    if (dbw_stmt_execute(db, stmt) != 0) {
        st = db_fail_stmt(db, stmt, err);
        goto out;
    }
    if (affected != NULL)
        *affected = mysql_stmt_affected_rows(stmt);
    if (insert_id != NULL)
        *insert_id = mysql_stmt_insert_id(stmt);
    if (fn != NULL)
        st = each_rows(db, stmt, fn, ctx, delivered, err);
    else if (rows != NULL)
        st = fetch_rows(db, stmt, rows, err);
    else
        (void)dbw_stmt_free_result(db, stmt);
    if (db->conn != NULL && mysql_stmt_more_results(stmt)) {
        rec_err derr = {0};
        rec_status dst = drain_results(db, stmt, &derr);
        if (st == REC_OK && dst != REC_OK) {
            st = dst;
            *err = derr;
        }
    }
out:
    /* A lost connection closed every cached statement (db_drop); one
     * that is not cached is ours to close either way. */
    if (owned)
        mysql_stmt_close(stmt);
    return st;
}

static rec_status exec_once(rec_db *db, const char *sql,
                            const rec_param *params, size_t nparams,
                            rec_rows **rows, uint64_t *affected,
                            uint64_t *insert_id, int *sent, rec_err *err)
{
    return exec_run(db, sql, params, nparams, rows, NULL, NULL, NULL, affected,
                    insert_id, sent, err);
}

rec_status rec_exec(rec_db *db, const char *sql, const rec_param *params,
                    size_t nparams, rec_rows **rows, uint64_t *affected,
                    uint64_t *insert_id, rec_err *err)
{
    int sent = 0;
    rec_status st;
    /* Whether this statement belongs to a transaction is decided now: a
     * loss below ends the transaction (db_drop), and what was part of it
     * must not be re-sent on a new connection outside of it. */
    int txn = db->in_txn;
    unsigned refusals = 0;

    if (rows != NULL)
        *rows = NULL;
    if (db->txn_lost) {
        snprintf(err->msg, sizeof err->msg, "connection lost in transaction");
        err->code = 0;
        return REC_UNAVAILABLE;
    }
    for (int attempt = 0;; attempt++) {
        st = txn ? (db->conn ? REC_OK : REC_UNAVAILABLE) : db_ensure(db, err);
        if (st != REC_OK) {
            if (db->conn == NULL && txn)
                snprintf(err->msg, sizeof err->msg,
                         "connection lost in transaction");
            return st;
        }
        db->refused = 0;
        st = exec_once(db, sql, params, nparams, rows, affected, insert_id,
                       &sent, err);
        if (txn && st == REC_OK && db->conn != NULL &&
            !(db->conn->server_status & SERVER_STATUS_IN_TRANS)) {
            /* The server ended our transaction under us, and this
             * statement ran on its own (autocommit). Seen on Galera right
             * after a membership change (tests/cluster: a node rejoining
             * by IST from ours): the statements before it were rolled
             * back, and the next INSERT ... SELECT found the UPDATE
             * before it undone. Run the whole transaction again; the
             * caller's next statement must not run either. */
            if (rows != NULL) {
                rec_rows_free(*rows);
                *rows = NULL;
            }
            db->stats.errors++;
            db->txn_lost = 1;
            err->code = 1213;
            snprintf(err->msg, sizeof err->msg,
                     "the server ended the transaction (aborted by a "
                     "replicated write set)");
            return REC_RETRY;
        }
        /* A Galera node that refused the statement (not in the Primary
         * component) ran none of it: outside a transaction, any statement
         * goes to the next node that serves. */
        if (st == REC_UNAVAILABLE && db->refused && !txn &&
            refusals++ < db->nhosts)
            continue;
        if (st != REC_UNAVAILABLE || attempt > 0 || txn)
            return st;
        /* The connection was lost. Outside a transaction, send again only
         * what cannot have changed anything: a failed prepare (nothing was
         * executed) or a read. A write whose fate is unknown is not sent
         * again: the caller answers 503 and the client retries. */
        if (sent && !is_read(sql))
            return st;
    }
}

rec_status rec_exec_row(rec_db *db, const char *sql, const rec_param *params,
                        size_t nparams, rec_rows **rows, rec_err *err)
{
    rec_status st = rec_exec(db, sql, params, nparams, rows, NULL, NULL, err);
    if (st == REC_OK && rec_rows_count(*rows) == 0) {
        rec_rows_free(*rows);
        *rows = NULL;
        st = REC_NOT_FOUND;
    }
    return st;
}

/* ---- rows one at a time ------------------------------------------------ */

#define EACH_INITIAL_CAP 4096

/* Row by row from the server (no mysql_stmt_store_result): the result set
 * is never held whole, neither by libmysql nor here. Each row is copied
 * into a one-row rec_rows (reused) for the callback. A column longer than
 * its buffer is fetched again into a grown one (MYSQL_DATA_TRUNCATED). */
static rec_status each_rows(rec_db *db, MYSQL_STMT *stmt, rec_row_fn fn,
                            void *ctx, size_t *delivered, rec_err *err)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(stmt);
    if (meta == NULL)
        return REC_OK;
    unsigned ncols = mysql_num_fields(meta);
    mysql_free_result(meta);
    if (ncols > MAX_PARAMS) {
        dbw_stmt_free_result(db, stmt);
        snprintf(err->msg, sizeof err->msg, "too many columns: %u", ncols);
        return REC_ERROR;
    }
    MYSQL_BIND bind[MAX_PARAMS];
    unsigned long lens[MAX_PARAMS];
    my_bool nulls[MAX_PARAMS], errs[MAX_PARAMS];
    char *bufs[MAX_PARAMS];
    size_t caps[MAX_PARAMS];
    rec_status st = REC_OK;
    struct cell cells[MAX_PARAMS];
    rec_rows one = {
        .nrows = 1, .ncols = ncols, .cap_cells = ncols, .cells = cells};

    memset(bind, 0, sizeof bind);
    for (unsigned c = 0; c < ncols; c++) {
        caps[c] = EACH_INITIAL_CAP;
        bufs[c] =
            bind_text_out(&bind[c], caps[c], &lens[c], &nulls[c], &errs[c]);
    }
    st = bind_result(db, stmt, bind, err);
    int truncated;
    while (st == REC_OK && fetch_row(db, stmt, &truncated, &st, err)) {
        if (truncated) {
            int grown = 0;
            for (unsigned c = 0; c < ncols; c++) {
                if (nulls[c] || lens[c] < caps[c])
                    continue;
                caps[c] = (size_t)lens[c] + 1;
                bufs[c] = xrealloc(bufs[c], caps[c]);
                bind[c].buffer = bufs[c];
                bind[c].buffer_length = caps[c];
                if (mysql_stmt_fetch_column(stmt, &bind[c], c, 0) != 0) {
                    st = db_fail_stmt(db, stmt, err);
                    goto done;
                }
                grown = 1;
            }
            /* The next rows go into the grown buffers. */
            if (grown && (st = bind_result(db, stmt, bind, err)) != REC_OK)
                goto done;
        }
        one.len = 0;
        copy_row(&one, cells, ncols, bufs, lens, nulls);
        (*delivered)++;
        if (fn(ctx, &one) != 0)
            break; /* the rest is discarded below */
    }
done:
    for (unsigned c = 0; c < ncols; c++)
        free(bufs[c]);
    free(one.data);
    if (db->conn != NULL)
        dbw_stmt_free_result(db, stmt);
    return st;
}

rec_status rec_each(rec_db *db, const char *sql, const rec_param *params,
                    size_t nparams, rec_row_fn fn, void *ctx, rec_err *err)
{
    for (int attempt = 0;; attempt++) {
        size_t delivered = 0;
        int sent = 0;
        rec_status st = db->in_txn ? (db->conn ? REC_OK : REC_UNAVAILABLE)
                                   : db_ensure(db, err);
        if (st != REC_OK)
            return st;
        st = exec_run(db, sql, params, nparams, NULL, fn, ctx, &delivered, NULL,
                      NULL, &sent, err);
        /* As rec_exec: a read outside a transaction whose connection was
         * lost is sent once more -- but only before its first row went to
         * the caller, who cannot take rows back. */
        if (st != REC_UNAVAILABLE || attempt > 0 || db->in_txn ||
            delivered > 0 || (sent && !is_read(sql)))
            return st;
    }
}
