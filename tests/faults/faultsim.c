/*
 * faultsim.c -- see faultsim.h. A failure is a real broken connection
 * (shutdown() of the client's socket), so libmysqlclient reports it with
 * its own error numbers and state, exactly as when the server dies or
 * KILLs the connection; nothing in lib/ is told it is a test.
 */
#include "faultsim.h"

#include <mysql.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

/* The real functions (the linker's --wrap names). */
MYSQL *__real_mysql_real_connect(MYSQL *m, const char *host, const char *user,
                                 const char *passwd, const char *db,
                                 unsigned int port, const char *unix_socket,
                                 unsigned long flags);
int __real_mysql_real_query(MYSQL *m, const char *q, unsigned long len);
int __real_mysql_stmt_prepare(MYSQL_STMT *s, const char *q, unsigned long len);
int __real_mysql_stmt_execute(MYSQL_STMT *s);
int __real_mysql_stmt_store_result(MYSQL_STMT *s);

MYSQL *__wrap_mysql_real_connect(MYSQL *m, const char *host, const char *user,
                                 const char *passwd, const char *db,
                                 unsigned int port, const char *unix_socket,
                                 unsigned long flags);
int __wrap_mysql_real_query(MYSQL *m, const char *q, unsigned long len);
int __wrap_mysql_stmt_prepare(MYSQL_STMT *s, const char *q, unsigned long len);
int __wrap_mysql_stmt_execute(MYSQL_STMT *s);
int __wrap_mysql_stmt_store_result(MYSQL_STMT *s);

static atomic_long calls;
static atomic_long fail_at; /* 0: disarmed */
static fs_mode mode;
static atomic_int fired;
static const char *site = "";

/* The periodic schedule, for binaries that do not arm the simulator
 * themselves (tests/integration relinked with it: tests/faults/sweep.sh):
 * OPTIMIST_FAULT_EVERY=K and OPTIMIST_FAULT_OFFSET=O fail every call n
 * with n % K == O, before and after by turns. */
static long every, offset;
static atomic_long periodic_fired;

static void report(void)
{
    fprintf(stderr, "faultsim: %ld calls, %ld faults injected\n",
            atomic_load(&calls), atomic_load(&periodic_fired));
}

__attribute__((constructor)) static void from_env(void)
{
    const char *k = getenv("OPTIMIST_FAULT_EVERY");
    const char *o = getenv("OPTIMIST_FAULT_OFFSET");
    if (k == NULL || atol(k) <= 0)
        return;
    every = atol(k);
    offset = o ? atol(o) % every : 0;
    atexit(report);
}

void faultsim_arm(long n, fs_mode m)
{
    atomic_store(&fail_at, 0);
    atomic_store(&calls, 0);
    atomic_store(&fired, 0);
    site = "";
    mode = m;
    atomic_store(&fail_at, n);
}

int faultsim_fired(void)
{
    return atomic_load(&fired);
}

const char *faultsim_site(void)
{
    return site;
}

long faultsim_calls(void)
{
    return atomic_load(&calls);
}

/* 1 if this call is the one to fail (and records it). */
static int hit(const char *name)
{
    long at = atomic_load(&fail_at);
    long n = atomic_fetch_add(&calls, 1) + 1;
    if (every > 0) {
        if (n % every != offset)
            return 0;
        mode = (n / every) % 2 ? FS_AFTER : FS_BEFORE;
        site = name;
        atomic_fetch_add(&periodic_fired, 1);
        return 1;
    }
    if (at == 0 || n != at)
        return 0;
    site = name;
    atomic_store(&fired, 1);
    return 1;
}

static void cut(MYSQL *m)
{
    if (m != NULL)
        (void)shutdown((int)mysql_get_socket(m), SHUT_RDWR);
}

MYSQL *__wrap_mysql_real_connect(MYSQL *m, const char *host, const char *user,
                                 const char *passwd, const char *db,
                                 unsigned int port, const char *unix_socket,
                                 unsigned long flags)
{
    if (!hit("mysql_real_connect"))
        return __real_mysql_real_connect(m, host, user, passwd, db, port,
                                         unix_socket, flags);
    if (mode == FS_BEFORE) /* the server is not there */
        return __real_mysql_real_connect(m, NULL, user, passwd, db, 0,
                                         "/nonexistent/faultsim.sock", flags);
    MYSQL *r = __real_mysql_real_connect(m, host, user, passwd, db, port,
                                         unix_socket, flags);
    cut(r); /* connected, and gone at once */
    return r;
}

int __wrap_mysql_real_query(MYSQL *m, const char *q, unsigned long len)
{
    if (!hit("mysql_real_query"))
        return __real_mysql_real_query(m, q, len);
    if (mode == FS_BEFORE) {
        cut(m);
        return __real_mysql_real_query(m, q, len);
    }
    /* It runs (a COMMIT commits), its answer is lost. A statement on
     * the cut connection leaves the error in the handle. */
    if (__real_mysql_real_query(m, q, len) == 0 && mysql_field_count(m) > 0)
        mysql_free_result(mysql_store_result(m)); /* a read: drop its rows */
    cut(m);
    static const char probe[] = "DO 0";
    if (__real_mysql_real_query(m, probe, sizeof probe - 1) == 0)
        return 0; /* cannot be: the socket is shut */
    return 1;
}

int __wrap_mysql_stmt_prepare(MYSQL_STMT *s, const char *q, unsigned long len)
{
    if (!hit("mysql_stmt_prepare"))
        return __real_mysql_stmt_prepare(s, q, len);
    cut(s->mysql); /* a prepare changes nothing: before and after agree */
    return __real_mysql_stmt_prepare(s, q, len);
}

int __wrap_mysql_stmt_execute(MYSQL_STMT *s)
{
    if (!hit("mysql_stmt_execute"))
        return __real_mysql_stmt_execute(s);
    if (mode == FS_BEFORE) {
        cut(s->mysql);
        return __real_mysql_stmt_execute(s);
    }
    (void)__real_mysql_stmt_execute(s);
    cut(s->mysql);
    /* A reset on the cut connection fails and leaves the error (and a
     * lost-connection errno) in the statement, as a lost answer does. */
    (void)mysql_stmt_reset(s);
    return 1;
}

int __wrap_mysql_stmt_store_result(MYSQL_STMT *s)
{
    if (!hit("mysql_stmt_store_result"))
        return __real_mysql_stmt_store_result(s);
    cut(s->mysql);
    return __real_mysql_stmt_store_result(s);
}
