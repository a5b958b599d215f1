/*
 * optimistctl -- administration from the command line:
 *
 *   optimistctl [--json] migrate [--dry-run] [SQL_DIR]
 *   optimistctl [--json] tenant create NAME | list | rename ID NAME
 *   optimistctl [--json] token create TENANT_ID | list TENANT_ID | revoke KEY
 *   optimistctl [--json] idempotency purge
 *   optimistctl [--json] check
 *
 * It reads the same OPTIMIST_DB_* options as the pool (the option table of
 * fcgi/core/conf.c: the environment, then OPTIMIST_CONFIG's file, by default
 * /etc/optimist/optimist.conf when installed). With no socket or host set
 * it finds the `make run` database: the checkout it was built in (found
 * from its own path) has var/run/mysqld.sock. Installed (PREFIX/bin), it
 * finds the migrations in PREFIX/share/optimist/sql.
 *
 * Every command checks its arguments before it touches the database and
 * says what was wrong in one line, with exit status 2; a database failure
 * is one line and status 1; success is status 0. `check` exits 1 when any
 * check fails, so that scripts can use it.
 */
#include "conf.h"
#include "rec.h"
#include "jbuf.h"
#include "table.h"
#include "utf8.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char checkout[PATH_MAX]; /* the folder holding sql/, or "" */
static char sql_dir_installed[PATH_MAX + 32]; /* PREFIX/share/optimist/sql */

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
        char probe[PATH_MAX + 64];
        snprintf(probe, sizeof probe, "%s/sql/0001_platform.sql", exe);
        if (access(probe, R_OK) == 0) {
            snprintf(checkout, sizeof checkout, "%s", exe);
            return;
        }
        /* Installed: PREFIX/bin/optimistctl, PREFIX/share/optimist/sql. */
        snprintf(probe, sizeof probe, "%s/share/optimist/sql/0001_platform.sql",
                 exe);
        if (up == 1 && access(probe, R_OK) == 0) {
            snprintf(sql_dir_installed, sizeof sql_dir_installed,
                     "%s/share/optimist/sql", exe);
            return;
        }
    }
}

static int json_out; /* --json: one JSON document on stdout */

/* Installed and not told otherwise: the package's settings file, the one
 * the unit gives the pool, so that optimistctl reaches the same database.
 * From a checkout nothing is assumed (the make-run database is found by
 * path below). */
static void default_config_file(void)
{
    const char *path = getenv("OPTIMIST_CONFIG");
    if ((path != NULL && path[0] != '\0') || checkout[0])
        return;
    if (access("/etc/optimist/optimist.conf", R_OK) == 0)
        setenv("OPTIMIST_CONFIG", "/etc/optimist/optimist.conf", 1);
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: optimistctl [--json] COMMAND\n"
        "  migrate [--dry-run] [SQL_DIR]  apply (or list) pending migrations\n"
        "  tenant create NAME             make a tenant; prints its first "
        "token\n"
        "  tenant list                    tenants and their active tokens\n"
        "  tenant rename ID NAME          change a tenant's name\n"
        "  token create TENANT_ID         another token for a tenant (shown "
        "once)\n"
        "  token list TENANT_ID           its tokens' public keys and dates\n"
        "  token revoke KEY               revoke a token (effective within 2 "
        "s)\n"
        "  idempotency purge              delete expired Idempotency-Key "
        "answers\n"
        "  check                          configuration, database, migrations\n"
        "  table list                     declared tables: served or refused, "
        "prepared\n"
        "  table prepare NAME [--dry-run] version column and triggers for a "
        "table\n"
        "Database: OPTIMIST_DB_SOCKET or OPTIMIST_DB_HOST/PORT, "
        "OPTIMIST_DB_USER, OPTIMIST_DB_PASSWORD, OPTIMIST_DB_NAME;\n"
        "default: the make-run database under var/run/mysqld.sock.\n"
        "Declared tables: OPTIMIST_TABLES_DIR (default: var/tables.d of\n"
        "the checkout, or /etc/optimist/tables.d).\n");
    return 2;
}

/* Bad input: one line, status 2, nothing done. */
static int refuse(const char *fmt, const char *arg)
{
    fprintf(stderr, "optimistctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 2;
}

static int fail(const char *what, rec_status st, const rec_err *err)
{
    if (st == REC_UNAVAILABLE)
        fprintf(stderr,
                "optimistctl: %s: the database cannot be reached "
                "(%s)\n",
                what, err->msg);
    else
        fprintf(stderr, "optimistctl: %s: %s (%u %s)\n", what,
                rec_status_name(st), err->code, err->msg);
    return 1;
}

/* Prints b (a JSON document) and frees it. */
static int emit(jbuf *b)
{
    printf("%s\n", b->p);
    jb_free(b);
    return 0;
}

/* A positive decimal id of at most 19 digits; 0 if malformed. */
static uint64_t parse_id(const char *s)
{
    uint64_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 19)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v;
}

/* A tenant name: 1 to 200 bytes of valid UTF-8 without control characters
 * (the column is VARCHAR(200) utf8mb4; a name is shown in terminals). */
static int good_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return utf8_valid(s, n);
}

static int good_key(const char *s)
{
    if (strlen(s) != 16)
        return 0;
    for (int i = 0; i < 16; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* ---- migrate ------------------------------------------------------------ */

static void print_line(const char *line)
{
    if (!json_out)
        printf("%s\n", line);
}

struct pending_list {
    jbuf *b;
    int n;
};

static void add_pending(const char *name, void *vctx)
{
    struct pending_list *pl = vctx;
    if (json_out) {
        if (pl->n)
            jb_lit(pl->b, ", ");
        jb_cstr(pl->b, name);
    } else {
        printf("would apply %s\n", name);
    }
    pl->n++;
}

static int cmd_migrate(rec_db *db, int argc, char **argv)
{
    char dir[PATH_MAX + 8];
    const char *env_dir = getenv("OPTIMIST_SQL_DIR");
    int dry = 0, i = 2;
    rec_err err = {0};

    if (i < argc && strcmp(argv[i], "--dry-run") == 0) {
        dry = 1;
        i++;
    }
    if (argc - i > 1)
        return usage();
    if (i < argc)
        snprintf(dir, sizeof dir, "%s", argv[i]);
    else if (env_dir && *env_dir)
        snprintf(dir, sizeof dir, "%s", env_dir);
    else if (sql_dir_installed[0])
        snprintf(dir, sizeof dir, "%s", sql_dir_installed);
    else
        snprintf(dir, sizeof dir, "%s/sql", checkout[0] ? checkout : ".");

    if (dry) {
        jbuf b;
        jb_init(&b);
        struct pending_list pl = {&b, 0};
        int pending = 0;
        jb_lit(&b, "{\"dry_run\": true, \"pending\": [");
        rec_status st =
            rec_migrate_pending(db, dir, &pending, add_pending, &pl, &err);
        if (st != REC_OK) {
            jb_free(&b);
            return fail("migrate --dry-run", st, &err);
        }
        jb_lit(&b, "]}");
        if (json_out)
            return emit(&b);
        jb_free(&b);
        printf("%d migration(s) pending\n", pending);
        return 0;
    }
    int applied = 0;
    rec_status st = rec_migrate(db, dir, &applied, print_line, &err);
    if (st != REC_OK)
        return fail("migrate", st, &err);
    if (json_out)
        printf("{\"applied\": %d}\n", applied);
    else
        printf("%d migration(s) applied\n", applied);
    return 0;
}

/* ---- tenants ------------------------------------------------------------ */

static const char SQL_TENANT_LIST[] =
    "SELECT t.id, t.name, t.created_at, "
    "(SELECT COUNT(*) FROM api_tokens k WHERE k.tenant_id = t.id "
    "AND k.revoked_at IS NULL) FROM tenants t ORDER BY t.id";
static const char SQL_TENANT_RENAME[] =
    "UPDATE tenants SET name = ? WHERE id = ?";

static int cmd_tenant(rec_db *db, int argc, char **argv)
{
    rec_err err = {0};
    if (argc == 4 && strcmp(argv[2], "create") == 0) {
        uint64_t id = 0;
        char token[REC_TOKEN_MAX];
        if (!good_name(argv[3]))
            return refuse("tenant create: NAME must be 1 to 200 characters "
                          "of UTF-8 without control characters (got '%s')",
                          argv[3]);
        rec_status st = rec_tenant_create(db, argv[3], &id, token, &err);
        if (st != REC_OK)
            return fail("tenant create", st, &err);
        /* Always JSON: the contract's form, and what scripts parse. */
        jbuf b;
        jb_init(&b);
        jb_lit(&b, "{\"tenant_id\": ");
        jb_u64(&b, id);
        jb_lit(&b, ", \"token\": ");
        jb_cstr(&b, token);
        jb_lit(&b, "}");
        return emit(&b);
    }
    if (argc == 3 && strcmp(argv[2], "list") == 0) {
        rec_rows *rows = NULL;
        rec_status st =
            rec_exec(db, SQL_TENANT_LIST, NULL, 0, &rows, NULL, NULL, &err);
        if (st != REC_OK)
            return fail("tenant list", st, &err);
        jbuf b;
        jb_init(&b);
        jb_lit(&b, "{\"tenants\": [");
        for (size_t i = 0; i < rec_rows_count(rows); i++) {
            if (json_out) {
                jb_lit(&b, i ? ", {\"id\": " : "{\"id\": ");
                jb_u64(&b, rec_rows_u64(rows, i, 0));
                jb_lit(&b, ", \"name\": ");
                jb_str(&b, rec_rows_get(rows, i, 1), rec_rows_len(rows, i, 1));
                jb_lit(&b, ", \"created_at\": ");
                jb_time(&b, rec_rows_get(rows, i, 2));
                jb_lit(&b, ", \"active_tokens\": ");
                jb_u64(&b, rec_rows_u64(rows, i, 3));
                jb_lit(&b, "}");
            } else {
                printf("%-6llu %-30s created %s, %llu active token(s)\n",
                       (unsigned long long)rec_rows_u64(rows, i, 0),
                       rec_rows_get(rows, i, 1), rec_rows_get(rows, i, 2),
                       (unsigned long long)rec_rows_u64(rows, i, 3));
            }
        }
        jb_lit(&b, "]}");
        rec_rows_free(rows);
        if (json_out)
            return emit(&b);
        jb_free(&b);
        return 0;
    }
    if (argc == 5 && strcmp(argv[2], "rename") == 0) {
        uint64_t id = parse_id(argv[3]), affected = 0;
        if (id == 0)
            return refuse("tenant rename: ID must be a positive integer "
                          "(got '%s')",
                          argv[3]);
        if (!good_name(argv[4]))
            return refuse("tenant rename: NAME must be 1 to 200 characters "
                          "of UTF-8 without control characters (got '%s')",
                          argv[4]);
        rec_param p[2] = {REC_CSTR(argv[4]), REC_U(id)};
        rec_status st =
            rec_exec(db, SQL_TENANT_RENAME, p, 2, NULL, &affected, NULL, &err);
        if (st != REC_OK)
            return fail("tenant rename", st, &err);
        if (affected == 0) /* CLIENT_FOUND_ROWS: 0 only if no such row */
            return refuse("tenant rename: no tenant %s", argv[3]) - 1;
        if (json_out)
            printf("{\"tenant_id\": %llu, \"renamed\": true}\n",
                   (unsigned long long)id);
        else
            printf("tenant %llu renamed\n", (unsigned long long)id);
        return 0;
    }
    return usage();
}

/* ---- tokens ------------------------------------------------------------- */

static const char SQL_TOKEN_LIST[] =
    "SELECT lookup_key, created_at, revoked_at FROM api_tokens "
    "WHERE tenant_id = ? ORDER BY id";
static const char SQL_TOKEN_REVOKE[] =
    "UPDATE api_tokens SET revoked_at = UTC_TIMESTAMP(3) "
    "WHERE lookup_key = ? AND revoked_at IS NULL";
static const char SQL_TOKEN_KNOWN[] =
    "SELECT revoked_at FROM api_tokens WHERE lookup_key = ?";
static const char SQL_TENANT_FIND[] = "SELECT 1 FROM tenants WHERE id = ?";

static int cmd_token(rec_db *db, int argc, char **argv)
{
    rec_err err = {0};
    if (argc != 4)
        return usage();
    if (strcmp(argv[2], "create") == 0) {
        uint64_t id = parse_id(argv[3]);
        char token[REC_TOKEN_MAX], key[REC_TOKEN_KEY_MAX];
        if (id == 0)
            return refuse("token create: TENANT_ID must be a positive "
                          "integer (got '%s')",
                          argv[3]);
        rec_status st = rec_token_create(db, id, token, key, &err);
        if (st == REC_NOT_FOUND)
            return refuse("token create: no tenant %s", argv[3]) - 1;
        if (st != REC_OK)
            return fail("token create", st, &err);
        printf("{\"tenant_id\": %llu, \"key\": \"%s\", \"token\": \"%s\"}\n",
               (unsigned long long)id, key, token);
        return 0;
    }
    if (strcmp(argv[2], "list") == 0) {
        uint64_t id = parse_id(argv[3]);
        if (id == 0)
            return refuse("token list: TENANT_ID must be a positive integer "
                          "(got '%s')",
                          argv[3]);
        rec_param p[1] = {REC_U(id)};
        rec_rows *rows = NULL;
        rec_status st =
            rec_exec(db, SQL_TENANT_FIND, p, 1, &rows, NULL, NULL, &err);
        if (st != REC_OK)
            return fail("token list", st, &err);
        size_t found = rec_rows_count(rows);
        rec_rows_free(rows);
        rows = NULL;
        if (!found)
            return refuse("token list: no tenant %s", argv[3]) - 1;
        st = rec_exec(db, SQL_TOKEN_LIST, p, 1, &rows, NULL, NULL, &err);
        if (st != REC_OK)
            return fail("token list", st, &err);
        jbuf b;
        jb_init(&b);
        jb_lit(&b, "{\"tenant_id\": ");
        jb_u64(&b, id);
        jb_lit(&b, ", \"tokens\": [");
        for (size_t i = 0; i < rec_rows_count(rows); i++) {
            const char *revoked = rec_rows_get(rows, i, 2);
            if (json_out) {
                jb_lit(&b, i ? ", {\"key\": " : "{\"key\": ");
                jb_str(&b, rec_rows_get(rows, i, 0), rec_rows_len(rows, i, 0));
                jb_lit(&b, ", \"created_at\": ");
                jb_time(&b, rec_rows_get(rows, i, 1));
                jb_lit(&b, ", \"revoked_at\": ");
                jb_time(&b, revoked);
                jb_lit(&b, "}");
            } else {
                printf("%s  created %s  %s%s\n", rec_rows_get(rows, i, 0),
                       rec_rows_get(rows, i, 1),
                       revoked ? "revoked " : "active", revoked ? revoked : "");
            }
        }
        jb_lit(&b, "]}");
        rec_rows_free(rows);
        if (json_out)
            return emit(&b);
        jb_free(&b);
        return 0;
    }
    if (strcmp(argv[2], "revoke") == 0) {
        uint64_t affected = 0;
        if (!good_key(argv[3]))
            return refuse("token revoke: KEY is the token's 16 hex digits "
                          "after opt_ (see token list); got '%s'",
                          argv[3]);
        rec_param p[1] = {REC_S(argv[3], 16)};
        rec_status st =
            rec_exec(db, SQL_TOKEN_REVOKE, p, 1, NULL, &affected, NULL, &err);
        if (st != REC_OK)
            return fail("token revoke", st, &err);
        if (affected == 0) {
            rec_rows *rows = NULL;
            st = rec_exec(db, SQL_TOKEN_KNOWN, p, 1, &rows, NULL, NULL, &err);
            if (st != REC_OK)
                return fail("token revoke", st, &err);
            size_t known = rec_rows_count(rows);
            rec_rows_free(rows);
            if (!known)
                return refuse("token revoke: no token with key %s", argv[3]) -
                       1;
        }
        /* Revoking twice is not an error: the token is revoked. */
        if (json_out)
            printf("{\"key\": \"%s\", \"revoked\": true, \"was_active\": "
                   "%s}\n",
                   argv[3], affected ? "true" : "false");
        else
            printf("token %s revoked%s; workers stop accepting it within "
                   "2 s\n",
                   argv[3], affected ? "" : " (it already was)");
        return 0;
    }
    return usage();
}

/* ---- idempotency, check ------------------------------------------------- */

static int cmd_idempotency(rec_db *db, int argc, char **argv)
{
    rec_err err = {0};
    uint64_t total = 0, n;
    if (argc != 3 || strcmp(argv[2], "purge") != 0)
        return usage();
    /* In batches, so no statement holds many row locks for long. */
    do {
        n = 0;
        rec_status st = rec_idem_purge(db, 1000, &n, &err);
        if (st != REC_OK)
            return fail("idempotency purge", st, &err);
        total += n;
    } while (n == 1000);
    if (json_out)
        printf("{\"purged\": %llu}\n", (unsigned long long)total);
    else
        printf("%llu expired key(s) purged\n", (unsigned long long)total);
    return 0;
}

static void count_pending(const char *name, void *vctx)
{
    (void)name;
    (void)vctx;
}

static int cmd_check(rec_db *db, const rec_config *cfg)
{
    rec_err err = {0};
    const char *db_state = "ok", *mig_state = "ok";
    int pending = -1, rc = 0;
    char dir[PATH_MAX + 8];
    const char *env_dir = getenv("OPTIMIST_SQL_DIR");

    if (env_dir && *env_dir)
        snprintf(dir, sizeof dir, "%s", env_dir);
    else if (sql_dir_installed[0])
        snprintf(dir, sizeof dir, "%s", sql_dir_installed);
    else
        snprintf(dir, sizeof dir, "%s/sql", checkout[0] ? checkout : ".");

    if (rec_db_connect(db, &err) != REC_OK) {
        db_state = "down";
        mig_state = "unknown";
        rc = 1;
    } else if (rec_migrate_pending(db, dir, &pending, count_pending, NULL,
                                   &err) != REC_OK) {
        mig_state = "unknown";
        rc = 1;
    } else if (pending > 0) {
        mig_state = "pending";
        rc = 1;
    }
    if (json_out) {
        jbuf b;
        jb_init(&b);
        jb_lit(&b, "{\"ok\": ");
        jb_lit(&b, rc ? "false" : "true");
        jb_lit(&b, ", \"database\": ");
        jb_cstr(&b, db_state);
        jb_lit(&b, ", \"target\": ");
        jb_cstr(&b, cfg->socket ? cfg->socket : cfg->host);
        jb_lit(&b, ", \"migrations\": ");
        jb_cstr(&b, mig_state);
        jb_lit(&b, ", \"pending\": ");
        jb_lit(&b, pending >= 0 ? "" : "null");
        if (pending >= 0)
            jb_u64(&b, (uint64_t)pending);
        jb_lit(&b, ", \"sql_dir\": ");
        jb_cstr(&b, dir);
        if (rc && err.msg[0]) {
            jb_lit(&b, ", \"error\": ");
            jb_cstr(&b, err.msg);
        }
        jb_lit(&b, "}");
        emit(&b);
    } else {
        printf("database   %s (%s)\n", db_state,
               cfg->socket ? cfg->socket : cfg->host);
        if (pending >= 0)
            printf("migrations %s (%d pending in %s)\n", mig_state, pending,
                   dir);
        else
            printf("migrations %s\n", mig_state);
        if (rc && err.msg[0])
            printf("error      %s\n", err.msg);
        printf("%s\n", rc ? "NOT OK" : "ok");
    }
    return rc;
}

/* The declarations' folder: OPTIMIST_TABLES_DIR, else make run's
 * var/tables.d in a checkout, else the package's. */
static const char *tables_dir(char *buf, size_t cap)
{
    const char *env = getenv("OPTIMIST_TABLES_DIR");
    if (env != NULL && env[0] != '\0')
        return env;
    if (checkout[0])
        snprintf(buf, cap, "%s/var/tables.d", checkout);
    else
        snprintf(buf, cap, "/etc/optimist/tables.d");
    return buf;
}

static void print_statement(const char *sql, void *ctx)
{
    printf("%s%s;\n", (const char *)ctx, sql);
}

/* table list | table prepare NAME [--dry-run] */
static int cmd_table(rec_db *db, int argc, char **argv)
{
    char buf[PATH_MAX + 32];
    const char *dir = tables_dir(buf, sizeof buf);
    tbl_err err;
    rec_status st;
    if (argc == 3 && strcmp(argv[2], "list") == 0) {
        tbl_registry *reg = tbl_registry_load(db, dir, &st, &err);
        if (reg == NULL)
            return fail("table list", st, &err.db);
        for (size_t i = 0; i < tbl_registry_count(reg); i++) {
            const tbl_table *t = tbl_registry_at(reg, i);
            printf("%-20s served   %s  `%s`.`%s`, %zu columns\n", t->name,
                   t->prepared ? "prepared    " : "not prepared", t->schema,
                   t->table, t->ncols);
        }
        for (size_t i = 0; i < tbl_registry_nrefused(reg); i++) {
            const char *name = NULL;
            const char *why = tbl_registry_refused(reg, i, &name);
            printf("%-20s refused  %s\n", name[0] ? name : "-", why);
        }
        if (tbl_registry_count(reg) + tbl_registry_nrefused(reg) == 0)
            printf("no declared tables in %s\n", dir);
        int rc = tbl_registry_nrefused(reg) > 0;
        tbl_registry_free(reg, db);
        return rc;
    }
    if ((argc == 4 || argc == 5) && strcmp(argv[2], "prepare") == 0) {
        int dry = argc == 5 && strcmp(argv[4], "--dry-run") == 0;
        if (argc == 5 && !dry)
            return usage();
        unsigned changes = 0;
        st = tbl_prepare(db, dir, argv[3], dry, print_statement, (void *)"",
                         &changes, &err);
        if (st == REC_INVALID)
            return refuse("table prepare: %s", err.why);
        if (st != REC_OK)
            return fail("table prepare", st, &err.db);
        if (changes == 0)
            printf("-- %s is prepared already: nothing to do\n", argv[3]);
        else
            printf("-- %s: %u statement%s %s\n", argv[3], changes,
                   changes == 1 ? "" : "s",
                   dry ? "to run (--dry-run: none was run)" : "run");
        return 0;
    }
    return usage();
}

int main(int argc, char **argv)
{
    static conf opts; /* the pool's option table: cfg points into it */
    rec_config cfg;
    char why[256];
    char sock[PATH_MAX + 32];
    int rc;

    /* --json may come first (optimistctl --json tenant list) or last. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0) {
            json_out = 1;
            memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof *argv);
            argc--;
            i--;
        }
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage();
        return 0;
    }
    find_checkout();
    default_config_file();
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

    if (strcmp(argv[1], "migrate") == 0)
        rc = cmd_migrate(db, argc, argv);
    else if (strcmp(argv[1], "tenant") == 0 && argc >= 3)
        rc = cmd_tenant(db, argc, argv);
    else if (strcmp(argv[1], "token") == 0 && argc >= 3)
        rc = cmd_token(db, argc, argv);
    else if (strcmp(argv[1], "idempotency") == 0)
        rc = cmd_idempotency(db, argc, argv);
    else if (strcmp(argv[1], "table") == 0 && argc >= 3)
        rc = cmd_table(db, argc, argv);
    else if (strcmp(argv[1], "check") == 0 && argc == 2)
        rc = cmd_check(db, &cfg);
    else
        rc = usage();
    rec_db_close(db);
    return rc;
}
