/*
 * optimistctl -- administration from the command line:
 *
 *   optimistctl migrate              apply the pending sql/NNNN_*.sql files
 *   optimistctl tenant create NAME   make a tenant and print its token
 *
 * It reads the same OPTIMIST_DB_* options as the pool (the option table of
 * fcgi/conf.c: the environment, then OPTIMIST_CONFIG's file). With no
 * socket or host set it finds the `make run` database: the checkout it was
 * built in (found from its own path) has var/run/mysqld.sock.
 */
#include "../fcgi/conf.h"
#include "../lib/rec.h"
#include "../lib/jbuf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char checkout[PATH_MAX]; /* the folder holding sql/, or "" */

/* Walks up from the executable's folder to the checkout (holds sql/). */
static void find_checkout(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    checkout[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(exe, '/');
        if (slash == NULL)
            return;
        *slash = '\0';
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof probe, "%s/sql/0001_platform.sql", exe);
        if (access(probe, R_OK) == 0) {
            snprintf(checkout, sizeof checkout, "%s", exe);
            return;
        }
    }
}

static void print_line(const char *line)
{
    printf("%s\n", line);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: optimistctl migrate [SQL_DIR]\n"
            "       optimistctl tenant create NAME\n"
            "Database: OPTIMIST_DB_SOCKET or OPTIMIST_DB_HOST/PORT, "
            "OPTIMIST_DB_USER, OPTIMIST_DB_PASSWORD, OPTIMIST_DB_NAME;\n"
            "default: the make-run database under var/run/mysqld.sock.\n");
    return 2;
}

static int fail(const char *what, rec_status st, const rec_err *err)
{
    fprintf(stderr, "optimistctl: %s: %s (%u %s)\n", what,
            rec_status_name(st), err->code, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    static conf opts; /* the pool's option table: cfg points into it */
    rec_config cfg;
    rec_err err = {0};
    char why[256];
    char sock[PATH_MAX + 32];
    int rc;

    if (argc < 2)
        return usage();
    find_checkout();
    if (conf_load(&opts, why, sizeof why) != 0) {
        fprintf(stderr, "optimistctl: %s\n", why);
        return 2;
    }
    conf_rec_config(&opts, &cfg);
    if (cfg.socket == NULL && getenv("OPTIMIST_DB_HOST") == NULL &&
        checkout[0]) {
        snprintf(sock, sizeof sock, "%s/var/run/mysqld.sock", checkout);
        cfg.socket = sock;
    }
    rec_db *db = rec_db_new(&cfg);

    if (strcmp(argv[1], "migrate") == 0 && argc <= 3) {
        char dir[PATH_MAX + 8];
        const char *env_dir = getenv("OPTIMIST_SQL_DIR");
        if (argc == 3)
            snprintf(dir, sizeof dir, "%s", argv[2]);
        else if (env_dir && *env_dir)
            snprintf(dir, sizeof dir, "%s", env_dir);
        else
            snprintf(dir, sizeof dir, "%s/sql", checkout[0] ? checkout : ".");
        int applied = 0;
        rec_status st = rec_migrate(db, dir, &applied, print_line, &err);
        if (st != REC_OK)
            rc = fail("migrate", st, &err);
        else {
            printf("%d migration(s) applied\n", applied);
            rc = 0;
        }
    } else if (argc == 4 && strcmp(argv[1], "tenant") == 0 &&
               strcmp(argv[2], "create") == 0) {
        uint64_t id = 0;
        char token[REC_TOKEN_MAX];
        rec_status st = rec_tenant_create(db, argv[3], &id, token, &err);
        if (st != REC_OK) {
            rc = fail("tenant create", st, &err);
        } else {
            jbuf b;
            jb_init(&b);
            jb_lit(&b, "{\"tenant_id\": ");
            jb_u64(&b, id);
            jb_lit(&b, ", \"token\": ");
            jb_cstr(&b, token);
            jb_lit(&b, "}");
            printf("%s\n", b.p);
            jb_free(&b);
            rc = 0;
        }
    } else {
        rc = usage();
    }
    rec_db_close(db);
    return rc;
}
