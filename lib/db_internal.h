/*
 * db_internal.h -- the rec_db structure, shared by the files of lib/ that
 * talk to libmysqlclient (db.c, stmt.c). Not installed, not for callers.
 */
#ifndef OPTIMIST_DB_INTERNAL_H
#define OPTIMIST_DB_INTERNAL_H

#include "cluster.h"
#include "rec.h"

#include <mysql.h>

#define STMT_CACHE_SIZE 128 /* power of two; statements per connection */

struct stmt_slot {
    const char *sql;  /* the key: the caller's string constant */
    MYSQL_STMT *stmt; /* prepared on the current connection */
    /* The text's length and FNV-1a sum when it was prepared: a text built
     * at run time (a declared table's, a reload's poll) may be freed and
     * another one allocated at the same address; the address alone would
     * then run the old statement. */
    size_t len;
    uint64_t sum;
};

struct rec_db {
    rec_config cfg;
    MYSQL *conn;       /* NULL while not connected */
    int in_txn;        /* inside rec_txn: never re-send after a loss */
    int hold;          /* rec_txn_hold(): a successful rec_txn stays open */
    int held;          /* a transaction is open, awaiting its commit */
    int hold_broken;   /* a held transaction was lost or rolled back */
    unsigned connects; /* connections made so far */
    int txn_lost;      /* the connection died inside a transaction: no
                          statement may run until rec_txn starts anew */
    int refused;       /* the last failure was a node refusing the
                          statement (1047/1180): nothing of it ran */
    int hold_retry;    /* the held transaction broke on a conflict or a
                          refusal: the whole request may run again */
    struct db_endpoint hosts[DB_MAX_HOSTS];
    unsigned nhosts;        /* 1 when OPTIMIST_DB_HOSTS is not set */
    unsigned host_idx;      /* the entry of the current connection */
    int wsrep;              /* the current connection's server runs Galera */
    long long connected_at; /* CLOCK_MONOTONIC seconds of the connect */
    rec_stats stats;
    const rec_waiter *waiter; /* NULL: calls block (rec_db_set_waiter) */
    int nonblock;             /* the current connection has the async API */
    char user[64];            /* the OS user's name when cfg.user is NULL */
    struct stmt_slot cache[STMT_CACHE_SIZE];
};

/* The calls that wait for the server (dbwait.c): each blocks, or, on a
 * connection made with a waiter, runs libmariadb's _start/_cont pair and
 * waits through the waiter. Same results as the plain calls.
 * (mysql_stmt_close stays plain: COM_STMT_CLOSE has no answer.) */
int dbw_stmt_prepare(rec_db *db, MYSQL_STMT *s, const char *sql, size_t len);
int dbw_stmt_execute(rec_db *db, MYSQL_STMT *s);
int dbw_stmt_fetch(rec_db *db, MYSQL_STMT *s);
int dbw_stmt_store_result(rec_db *db, MYSQL_STMT *s);
int dbw_stmt_next_result(rec_db *db, MYSQL_STMT *s);
my_bool dbw_stmt_free_result(rec_db *db, MYSQL_STMT *s);
int dbw_real_query(rec_db *db, const char *sql, size_t len);
MYSQL_RES *dbw_store_result(rec_db *db);
int dbw_next_result(rec_db *db);

/* Fills err from the statement and classifies the error number (gone
 * away -> REC_UNAVAILABLE and the connection is dropped). */
rec_status db_fail_stmt(rec_db *db, MYSQL_STMT *stmt, rec_err *err);

/* Closes the connection and forgets its statements. */
void db_drop(rec_db *db);

/* Makes sure a live connection is there: reconnects when the server
 * closed it while we were idle (checked without a round trip). */
rec_status db_ensure(rec_db *db, rec_err *err);

#endif
