/*
 * migrate.c -- numbered schema migrations, applied in order, each recorded
 * in schema_migrations so that running again changes nothing.
 *
 * A migration file is plain SQL: statements end with ';' at the end of a
 * line ("DELIMITER //" changes that mark for a stored routine, as in
 * the mariadb client), lines starting with "--" are comments. DDL commits
 * implicitly in MariaDB, so a file is not atomic: write each statement so that
 * running it twice is harmless (IF NOT EXISTS), and a half-applied file can
 * simply be applied again.
 *
 * Two migrators must not interleave, on one server or on two nodes of a
 * Galera cluster at once. GET_LOCK is local to one server, so the lock is
 * a row: the first to insert row 1 of schema_lock holds it, the others
 * (1062, or a certification failure across nodes) wait and try again. The
 * table is made here, before any migration, with CREATE TABLE IF NOT
 * EXISTS, which two nodes may run at once (DDL is ordered cluster-wide).
 * A migrator that died leaves its row: it is taken over once it has not
 * been refreshed (after every file) for LOCK_STALE_S seconds.
 */
#include "rec.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char SQL_CREATE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INT UNSIGNED NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " applied_at DATETIME(3) NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
static const char SQL_LOCK_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_lock ("
    " id TINYINT UNSIGNED NOT NULL PRIMARY KEY,"
    " owner VARCHAR(128) NOT NULL,"
    " taken_at DATETIME(3) NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
static const char SQL_LOCK_STALE[] =
    "DELETE FROM schema_lock WHERE id = 1"
    " AND taken_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND";
static const char SQL_LOCK_TAKE[] =
    "INSERT INTO schema_lock (id, owner, taken_at)"
    " VALUES (1, ?, UTC_TIMESTAMP(3))";
static const char SQL_LOCK_REFRESH[] =
    "UPDATE schema_lock SET taken_at = UTC_TIMESTAMP(3)"
    " WHERE id = 1 AND owner = ?";
static const char SQL_UNLOCK[] =
    "DELETE FROM schema_lock WHERE id = 1 AND owner = ?";

#define LOCK_STALE_S 600 /* a holder that made no progress this long died */
#define LOCK_WAIT_S  300 /* how long a migrator waits for the lock */
static const char SQL_APPLIED[] =
    "SELECT 1 FROM schema_migrations WHERE version = ?";
static const char SQL_RECORD[] =
    "INSERT INTO schema_migrations (version, name, applied_at) "
    "VALUES (?, ?, UTC_TIMESTAMP(3))";

static int is_migration(const char *name)
{
    size_t n = strlen(name);
    if (n < 9 || strcmp(name + n - 4, ".sql") != 0 || name[4] != '_')
        return 0;
    for (int i = 0; i < 4; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    return 1;
}

/* Takes the cluster-wide migration lock as `owner`. */
static rec_status lock_take(rec_db *db, const char *owner, rec_err *err)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    rec_status st =
        rec_exec_text(db, SQL_LOCK_TABLE, sizeof SQL_LOCK_TABLE - 1, err);
    if (st != REC_OK)
        return st;
    for (;;) {
        rec_param stale = REC_U(LOCK_STALE_S);
        st = rec_exec(db, SQL_LOCK_STALE, &stale, 1, NULL, NULL, NULL, err);
        if (st != REC_OK && st != REC_RETRY)
            return st;
        rec_param who = REC_CSTR(owner);
        st = rec_exec(db, SQL_LOCK_TAKE, &who, 1, NULL, NULL, NULL, err);
        if (st == REC_OK)
            return REC_OK;
        if (st != REC_DUPLICATE && st != REC_RETRY)
            return st;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= LOCK_WAIT_S) {
            snprintf(err->msg, sizeof err->msg,
                     "another migration held the lock (schema_lock) for "
                     "%d s",
                     LOCK_WAIT_S);
            err->code = 0;
            return REC_UNAVAILABLE;
        }
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 100000000};
        nanosleep(&pause, NULL);
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    if (f == NULL)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            char *nb = xrealloc(buf, cap);
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* If the line [first, q) is "DELIMITER x" (as the mariadb client reads
 * it), copies x to delim (cap bytes) and returns 1. */
static int delimiter_line(const char *first, const char *q, char *delim,
                          size_t cap)
{
    static const char kw[] = "DELIMITER ";
    size_t n = (size_t)(q - first), k = sizeof kw - 1;
    if (n <= k || strncasecmp(first, kw, k) != 0)
        return 0;
    const char *d = first + k;
    while (d < q && (*d == ' ' || *d == '\t'))
        d++;
    if (d == q || (size_t)(q - d) >= cap)
        return 0;
    memcpy(delim, d, (size_t)(q - d));
    delim[q - d] = '\0';
    return 1;
}

/* Runs each statement of a migration file. A statement ends with the
 * delimiter (';') at the end of a line. A stored routine has ';' inside
 * its body: a line "DELIMITER //" between statements makes the ones after
 * it end with "//" instead, until "DELIMITER ;" (the mariadb client's
 * syntax, so the file still runs there as it is). */
static rec_status run_file(rec_db *db, char *sql, rec_err *err)
{
    char *stmt = sql, *p = sql;
    char delim[16] = ";";
    while (*p) {
        char *eol = strchr(p, '\n');
        char *end = eol ? eol : p + strlen(p);
        char *q = end;
        while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
            q--;
        char *first = p;
        while (first < end && (*first == ' ' || *first == '\t'))
            first++;
        size_t dl = strlen(delim);
        if (end - first >= 2 && first[0] == '-' && first[1] == '-') {
            memset(p, ' ', (size_t)(end - p)); /* drop the comment */
        } else if (delimiter_line(first, q, delim, sizeof delim)) {
            memset(p, ' ', (size_t)(end - p)); /* not SQL: the client's */
        } else if ((size_t)(q - p) >= dl && memcmp(q - dl, delim, dl) == 0) {
            size_t len = (size_t)(q - dl - stmt);
            rec_status st = rec_exec_text(db, stmt, len, err);
            if (st != REC_OK)
                return st;
            stmt = eol ? eol + 1 : end;
        }
        p = eol ? eol + 1 : end;
    }
    for (; *stmt; stmt++)
        if (*stmt != ' ' && *stmt != '\n' && *stmt != '\t' && *stmt != '\r') {
            snprintf(err->msg, sizeof err->msg,
                     "statement without a final '%s'", delim);
            return REC_ERROR;
        }
    return REC_OK;
}

/* The migration files of `dir`, sorted by name (their numbers): *names
 * (free with free_names) and *count. REC_ERROR if the folder is
 * unreadable. */
static rec_status list_dir(const char *dir, char ***names, size_t *count,
                           rec_err *err)
{
    size_t cap = 0;
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err->msg, sizeof err->msg, "cannot open %s: %s", dir,
                 strerror(errno));
        return REC_ERROR;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_migration(e->d_name))
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = xrealloc(*names, cap * sizeof **names);
            *names = nn;
        }
        (*names)[*count] = xstrdup(e->d_name);
        (*count)++;
    }
    closedir(d);
    qsort(*names, *count, sizeof **names, cmp_names);
    return REC_OK;
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* *done = 1 if schema_migrations records the migration file `name`. */
static rec_status is_applied(rec_db *db, const char *name, int *done,
                             rec_err *err)
{
    rec_rows *rows = NULL;
    rec_param vp[1] = {REC_U((unsigned)strtoul(name, NULL, 10))};
    rec_status st = rec_exec(db, SQL_APPLIED, vp, 1, &rows, NULL, NULL, err);
    *done = st == REC_OK && rec_rows_count(rows) > 0;
    rec_rows_free(rows);
    return st;
}

rec_status rec_migrate(rec_db *db, const char *dir, int *applied,
                       void (*log)(const char *line), rec_err *err)
{
    rec_status st;
    char **names = NULL;
    size_t count = 0;
    char line[512];

    char owner[128], host[64] = "?";
    (void)gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    snprintf(owner, sizeof owner, "%s pid %ld at %ld", host, (long)getpid(),
             (long)time(NULL));
    rec_param who = REC_CSTR(owner);

    *applied = 0;
    st = lock_take(db, owner, err);
    if (st != REC_OK)
        return st;
    st = rec_exec_text(db, SQL_CREATE, sizeof SQL_CREATE - 1, err);
    if (st == REC_OK)
        st = list_dir(dir, &names, &count, err);

    for (size_t i = 0; i < count && st == REC_OK; i++) {
        int done = 0;
        st = is_applied(db, names[i], &done, err);
        if (st != REC_OK)
            break;
        if (done)
            continue;
        char path[1024];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *sql = read_file(path, &len);
        if (sql == NULL) {
            snprintf(err->msg, sizeof err->msg, "cannot read %s", path);
            st = REC_ERROR;
            break;
        }
        st = run_file(db, sql, err);
        free(sql);
        if (st != REC_OK) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s: %s", names[i], err->msg);
            memcpy(err->msg, msg, sizeof msg);
            break;
        }
        rec_param vp[2] = {REC_U((unsigned)strtoul(names[i], NULL, 10)),
                           REC_CSTR(names[i])};
        st = rec_exec(db, SQL_RECORD, vp, 2, NULL, NULL, NULL, err);
        if (st == REC_OK) {
            rec_err ignored;
            if (rec_exec(db, SQL_LOCK_REFRESH, &who, 1, NULL, NULL, NULL,
                         &ignored) != REC_OK)
                fprintf(stderr, "migrate: could not refresh the lock: %s\n",
                        ignored.msg);
            (*applied)++;
            if (log) {
                snprintf(line, sizeof line, "applied %s", names[i]);
                log(line);
            }
        }
    }
    free_names(names, count);
    rec_err ignored;
    if (rec_exec(db, SQL_UNLOCK, &who, 1, NULL, NULL, NULL, &ignored) != REC_OK)
        fprintf(stderr,
                "migrate: could not free the lock (it frees itself "
                "after %d s): %s\n",
                LOCK_STALE_S, ignored.msg);
    return st;
}

static const char SQL_TABLE_EXISTS[] =
    "SELECT 1 FROM information_schema.tables "
    "WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'";

rec_status rec_migrate_pending(rec_db *db, const char *dir, int *pending,
                               void (*each)(const char *name, void *ctx),
                               void *ctx, rec_err *err)
{
    rec_rows *rows = NULL;
    char **names = NULL;
    size_t count = 0;

    *pending = 0;
    /* Read only: a dry run must not even create schema_migrations. */
    rec_status st =
        rec_exec(db, SQL_TABLE_EXISTS, NULL, 0, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    int have_table = rec_rows_count(rows) > 0;
    rec_rows_free(rows);
    st = list_dir(dir, &names, &count, err);
    for (size_t i = 0; i < count && st == REC_OK; i++) {
        int done = 0;
        if (have_table && (st = is_applied(db, names[i], &done, err)) != REC_OK)
            break;
        if (!done) {
            (*pending)++;
            if (each)
                each(names[i], ctx);
        }
    }
    free_names(names, count);
    return st;
}
