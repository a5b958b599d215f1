/*
 * dbwait.c -- the library's calls that wait for the server, in one place,
 * so that a handle with a waiter (rec_db_set_waiter) never blocks its
 * thread on them.
 *
 * libmariadb's non-blocking API runs each call on a small stack of its
 * own until the socket would block, then returns what it waits for
 * (MYSQL_WAIT_READ, _WRITE, _TIMEOUT: the connection's read timeout);
 * the matching _cont goes on once that happened. Here each wait goes to
 * the waiter, which in a worker (fcgi/pool/fiber.c) runs other requests
 * until the database answers this one. The answers are those of the
 * blocking calls, which every other handle keeps using (a connection
 * with MYSQL_OPT_NONBLOCK still takes blocking calls: the connect and
 * the rare calls not listed here stay blocking).
 */
#include "db_internal.h"

#include <limits.h>

/* Waits for what `status` names; returns what happened, for _cont. */
static int wait_for(rec_db *db, int status)
{
    int timeout = -1;
    if (status & MYSQL_WAIT_TIMEOUT) {
        unsigned ms = mysql_get_timeout_value_ms(db->conn);
        timeout = ms > (unsigned)INT_MAX ? INT_MAX : (int)ms;
    }
    int events = status & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
    return db->waiter->wait(db->waiter->ctx, mysql_get_socket(db->conn),
                            db->connects, events, timeout);
}

/* The pattern every wrapper follows: the plain call on a blocking
 * connection; else _start, and _cont after each wait until it is done. */
#define DBW_CALL(ret, plain, start, cont)                                      \
    do {                                                                       \
        if (!db->nonblock) {                                                   \
            ret = plain;                                                       \
            break;                                                             \
        }                                                                      \
        int st_ = start;                                                       \
        while (st_ != 0)                                                       \
            st_ = cont(&ret, OBJ, wait_for(db, st_));                          \
    } while (0)

#define OBJ s
int dbw_stmt_prepare(rec_db *db, MYSQL_STMT *s, const char *sql, size_t len)
{
    int r = 0;
    DBW_CALL(r, mysql_stmt_prepare(s, sql, len),
             mysql_stmt_prepare_start(&r, s, sql, len),
             mysql_stmt_prepare_cont);
    return r;
}

int dbw_stmt_execute(rec_db *db, MYSQL_STMT *s)
{
    int r = 0;
    DBW_CALL(r, mysql_stmt_execute(s), mysql_stmt_execute_start(&r, s),
             mysql_stmt_execute_cont);
    return r;
}

int dbw_stmt_fetch(rec_db *db, MYSQL_STMT *s)
{
    int r = 0;
    DBW_CALL(r, mysql_stmt_fetch(s), mysql_stmt_fetch_start(&r, s),
             mysql_stmt_fetch_cont);
    return r;
}

int dbw_stmt_store_result(rec_db *db, MYSQL_STMT *s)
{
    int r = 0;
    DBW_CALL(r, mysql_stmt_store_result(s),
             mysql_stmt_store_result_start(&r, s),
             mysql_stmt_store_result_cont);
    return r;
}

int dbw_stmt_next_result(rec_db *db, MYSQL_STMT *s)
{
    int r = 0;
    DBW_CALL(r, mysql_stmt_next_result(s), mysql_stmt_next_result_start(&r, s),
             mysql_stmt_next_result_cont);
    return r;
}

my_bool dbw_stmt_free_result(rec_db *db, MYSQL_STMT *s)
{
    my_bool r = 0;
    DBW_CALL(r, mysql_stmt_free_result(s), mysql_stmt_free_result_start(&r, s),
             mysql_stmt_free_result_cont);
    return r;
}

#undef OBJ

#define OBJ db->conn
int dbw_real_query(rec_db *db, const char *sql, size_t len)
{
    int r = 0;
    DBW_CALL(r, mysql_real_query(db->conn, sql, len),
             mysql_real_query_start(&r, db->conn, sql, len),
             mysql_real_query_cont);
    return r;
}

MYSQL_RES *dbw_store_result(rec_db *db)
{
    MYSQL_RES *r = NULL;
    DBW_CALL(r, mysql_store_result(db->conn),
             mysql_store_result_start(&r, db->conn), mysql_store_result_cont);
    return r;
}

int dbw_next_result(rec_db *db)
{
    int r = 0;
    DBW_CALL(r, mysql_next_result(db->conn),
             mysql_next_result_start(&r, db->conn), mysql_next_result_cont);
    return r;
}
#undef OBJ

void rec_db_set_waiter(rec_db *db, const rec_waiter *w)
{
    db->waiter = w;
}
