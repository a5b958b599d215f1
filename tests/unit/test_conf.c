/*
 * test_conf.c -- fcgi/core/conf.c: defaults, then the environment, then the
 * file named by OPTIMIST_CONFIG; every refusal names the option (or the
 * file and line).
 *
 * Each test starts and ends with no OPTIMIST_* variable set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

/* ---- fixtures ----------------------------------------------------------- */

static int clean_env(void **state)
{
    (void)state;
    char *names[256];
    int n = 0;
    for (char **e = environ; *e != NULL && n < 256; e++) {
        if (strncmp(*e, "OPTIMIST_", 9) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        names[n] = strndup(*e, len);
        assert_non_null(names[n]);
        n++;
    }
    for (int i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
    return 0;
}

/* Writes `text` to a new temporary file; path receives its name. */
static void write_temp(char path[64], const char *text)
{
    strcpy(path, "/tmp/optimist-test-conf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* conf_load with OPTIMIST_CONFIG set to a file holding `text`. */
static int load_with_file(conf *c, const char *text, char path[64], char *err,
                          size_t errlen)
{
    write_temp(path, text);
    setenv("OPTIMIST_CONFIG", path, 1);
    err[0] = '\0';
    int rc = conf_load(c, err, errlen);
    unlink(path);
    return rc;
}

static int expected_workers(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores <= 0)
        return 2;
    return cores > 256 ? 256 : (int)cores;
}

/* conf_load must refuse, with a message containing `part`. */
static void assert_refused(const char *part)
{
    conf c;
    char err[512] = "";
    if (conf_load(&c, err, sizeof err) != -1)
        fail_msg("accepted; expected a refusal naming %s", part);
    if (strstr(err, part) == NULL)
        fail_msg("message \"%s\" does not name %s", err, part);
}

static void assert_env_refused(const char *name, const char *value)
{
    setenv(name, value, 1);
    conf c;
    char err[512] = "";
    if (conf_load(&c, err, sizeof err) != -1)
        fail_msg("%s=%s accepted", name, value);
    if (strstr(err, name) == NULL)
        fail_msg("%s=%s: message \"%s\" does not name it", name, value, err);
    unsetenv(name);
}

static void assert_env_accepted(const char *name, const char *value)
{
    setenv(name, value, 1);
    conf c;
    char err[512] = "";
    if (conf_load(&c, err, sizeof err) != 0)
        fail_msg("%s=%s refused: %s", name, value, err);
    unsetenv(name);
}

/* ---- defaults and the environment -----------------------------------------
 */

static void test_defaults(void **state)
{
    (void)state;
    conf c;
    char err[256] = "";
    memset(&c, 0x5A, sizeof c);
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    assert_string_equal(c.listen, "var/run/optimist.sock");
    assert_int_equal(c.workers, expected_workers());
    assert_int_equal(c.max_requests, 10000);
    assert_int_equal(c.inflight, 8);
    assert_int_equal(c.shutdown_timeout, 10);
    assert_string_equal(c.pidfile, "");
    assert_int_equal(c.log_level, LOG_INFO);
    assert_string_equal(c.db_socket, "");
    assert_string_equal(c.db_host, "localhost");
    assert_int_equal(c.db_port, 3306);
    assert_string_equal(c.db_user, "");
    assert_string_equal(c.db_password, "");
    assert_string_equal(c.db_name, "optimist");
    assert_int_equal(c.db_retries, 5);
}

static void test_env_overrides(void **state)
{
    (void)state;
    setenv("OPTIMIST_LISTEN", "127.0.0.1:9000", 1);
    setenv("OPTIMIST_WORKERS", "8", 1);
    setenv("OPTIMIST_MAX_REQUESTS", "0", 1);
    setenv("OPTIMIST_SHUTDOWN_TIMEOUT", "3600", 1);
    setenv("OPTIMIST_PIDFILE", "/run/o.pid", 1);
    setenv("OPTIMIST_LOG_LEVEL", "debug", 1);
    setenv("OPTIMIST_DB_SOCKET", "/run/mysqld/mysqld.sock", 1);
    setenv("OPTIMIST_DB_HOST", "db.internal", 1);
    setenv("OPTIMIST_DB_PORT", "3307", 1);
    setenv("OPTIMIST_DB_USER", "app", 1);
    setenv("OPTIMIST_DB_PASSWORD", "s3cret", 1);
    setenv("OPTIMIST_DB_NAME", "opt2", 1);
    setenv("OPTIMIST_DB_RETRIES", "0", 1);
    conf c;
    char err[256] = "";
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.max_requests, 0);
    assert_int_equal(c.shutdown_timeout, 3600);
    assert_string_equal(c.pidfile, "/run/o.pid");
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_string_equal(c.db_socket, "/run/mysqld/mysqld.sock");
    assert_string_equal(c.db_host, "db.internal");
    assert_int_equal(c.db_port, 3307);
    assert_string_equal(c.db_user, "app");
    assert_string_equal(c.db_password, "s3cret");
    assert_string_equal(c.db_name, "opt2");
    assert_int_equal(c.db_retries, 0);
}

static void test_log_levels(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int level;
    } ok[] = {{"error", LOG_ERROR}, {"warn", LOG_WARN},   {"info", LOG_INFO},
              {"debug", LOG_DEBUG}, {"DEBUG", LOG_DEBUG}, {"Warn", LOG_WARN}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        setenv("OPTIMIST_LOG_LEVEL", ok[i].text, 1);
        conf c;
        char err[256] = "";
        if (conf_load(&c, err, sizeof err) != 0)
            fail_msg("level %s refused: %s", ok[i].text, err);
        assert_int_equal(c.log_level, ok[i].level);
    }
    unsetenv("OPTIMIST_LOG_LEVEL");
}

static void test_bad_log_level(void **state)
{
    (void)state;
    assert_env_refused("OPTIMIST_LOG_LEVEL", "loud");
    assert_env_refused("OPTIMIST_LOG_LEVEL", "");
    assert_env_refused("OPTIMIST_LOG_LEVEL", "2");
    assert_env_refused("OPTIMIST_LOG_LEVEL", "warning");
    assert_env_refused("OPTIMIST_LOG_LEVEL", "info ");
}

static void test_bad_workers(void **state)
{
    (void)state;
    assert_env_refused("OPTIMIST_WORKERS", "0");
    assert_env_refused("OPTIMIST_WORKERS", "abc");
    assert_env_refused("OPTIMIST_WORKERS", "");
    assert_env_refused("OPTIMIST_WORKERS", "-1");
    assert_env_refused("OPTIMIST_WORKERS", "257");
    assert_env_refused("OPTIMIST_WORKERS", "4x");
    assert_env_refused("OPTIMIST_WORKERS", "4 ");
    assert_env_refused("OPTIMIST_WORKERS", "4.0");
    assert_env_refused("OPTIMIST_WORKERS", "99999999999999999999999");
}

static void test_workers_bounds(void **state)
{
    (void)state;
    const char *vals[] = {"1", "256"};
    for (size_t i = 0; i < 2; i++) {
        setenv("OPTIMIST_WORKERS", vals[i], 1);
        conf c;
        char err[256] = "";
        assert_int_equal(conf_load(&c, err, sizeof err), 0);
        assert_int_equal(c.workers, atoi(vals[i]));
    }
    unsetenv("OPTIMIST_WORKERS");
}

static void test_other_integer_ranges(void **state)
{
    (void)state;
    assert_env_refused("OPTIMIST_SHUTDOWN_TIMEOUT", "0");
    assert_env_refused("OPTIMIST_SHUTDOWN_TIMEOUT", "3601");
    assert_env_accepted("OPTIMIST_SHUTDOWN_TIMEOUT", "1");
    assert_env_refused("OPTIMIST_DB_PORT", "0");
    assert_env_refused("OPTIMIST_DB_PORT", "65536");
    assert_env_accepted("OPTIMIST_DB_PORT", "65535");
    assert_env_refused("OPTIMIST_DB_RETRIES", "-1");
    assert_env_refused("OPTIMIST_DB_RETRIES", "51");
    assert_env_accepted("OPTIMIST_DB_RETRIES", "50");
    assert_env_refused("OPTIMIST_MAX_REQUESTS", "-1");
    assert_env_refused("OPTIMIST_MAX_REQUESTS", "lots");

    setenv("OPTIMIST_MAX_REQUESTS", "9223372036854775807", 1);
    conf c;
    char err[256] = "";
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    assert_true(c.max_requests == 9223372036854775807L);
    unsetenv("OPTIMIST_MAX_REQUESTS");
}

static void test_string_lengths(void **state)
{
    (void)state;
    char v[300];
    memset(v, 'u', sizeof v);
    v[127] = '\0'; /* 127 bytes: fits db_user[128] */
    setenv("OPTIMIST_DB_USER", v, 1);
    conf c;
    char err[512] = "";
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    assert_int_equal(strlen(c.db_user), 127);

    memset(v, 'u', sizeof v);
    v[128] = '\0';
    assert_env_refused("OPTIMIST_DB_USER", v);

    memset(v, 'l', sizeof v);
    v[255] = '\0';
    assert_env_accepted("OPTIMIST_LISTEN", v);
    memset(v, 'l', sizeof v);
    v[256] = '\0';
    assert_env_refused("OPTIMIST_LISTEN", v);
}

/* An empty string is a value, not "unset": it replaces the default. */
static void test_env_empty_string(void **state)
{
    (void)state;
    setenv("OPTIMIST_DB_HOST", "", 1);
    conf c;
    char err[256] = "";
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    assert_string_equal(c.db_host, "");
    unsetenv("OPTIMIST_DB_HOST");
}

static void test_small_errbuf(void **state)
{
    (void)state;
    setenv("OPTIMIST_WORKERS", "abc", 1);
    conf c;
    char err[12];
    memset(err, 'Z', sizeof err);
    assert_int_equal(conf_load(&c, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_memory_equal(err, "OPTIMIST_WO", 11);
    unsetenv("OPTIMIST_WORKERS");
}

/* ---- the configuration file --------------------------------------------- */

static void test_file_overrides_env(void **state)
{
    (void)state;
    setenv("OPTIMIST_WORKERS", "3", 1);
    setenv("OPTIMIST_DB_NAME", "from_env", 1);
    setenv("OPTIMIST_DB_HOST", "env-host", 1);
    conf c;
    char path[64], err[512];
    int rc = load_with_file(&c,
                            "# optimist.conf\n"
                            "\n"
                            "OPTIMIST_WORKERS=5\n"
                            "   OPTIMIST_DB_NAME=from_file\n"
                            "\t# indented comment\n"
                            "OPTIMIST_LOG_LEVEL=warn\r\n"
                            "OPTIMIST_DB_PASSWORD=a=b c\n"
                            "OPTIMIST_PIDFILE=\n"
                            "OPTIMIST_MAX_REQUESTS=7", /* no final newline */
                            path, err, sizeof err);
    if (rc != 0)
        fail_msg("refused: %s", err);
    assert_int_equal(c.workers, 5);
    assert_string_equal(c.db_name, "from_file");
    assert_string_equal(c.db_host, "env-host"); /* not in the file */
    assert_int_equal(c.log_level, LOG_WARN);
    assert_string_equal(c.db_password, "a=b c");
    assert_string_equal(c.pidfile, "");
    assert_int_equal(c.max_requests, 7);
}

static void test_file_empty(void **state)
{
    (void)state;
    conf c;
    char path[64], err[512];
    assert_int_equal(load_with_file(&c, "", path, err, sizeof err), 0);
    assert_int_equal(c.workers, expected_workers());
    assert_int_equal(
        load_with_file(&c, "\n\n# only comments\n", path, err, sizeof err), 0);
}

static void test_file_unknown_key(void **state)
{
    (void)state;
    conf c;
    char path[64], err[512];
    int rc = load_with_file(&c,
                            "# comment\n"
                            "OPTIMIST_WORKERS=2\n"
                            "OPTIMIST_WROKERS=4\n",
                            path, err, sizeof err);
    assert_int_equal(rc, -1);
    if (strstr(err, path) == NULL)
        fail_msg("message \"%s\" does not name the file %s", err, path);
    char where[80];
    snprintf(where, sizeof where, "%s:3", path);
    if (strstr(err, where) == NULL)
        fail_msg("message \"%s\" does not name line 3", err);
    assert_non_null(strstr(err, "OPTIMIST_WROKERS"));
}

/* Regression: fgets() split a line over 1022 bytes in two and read the
 * rest as a second line ("unknown option 'xxxx'", wrong line number). */
static void test_file_long_line_is_refused_not_split(void **state)
{
    (void)state;
    conf c;
    char path[64], err[512];
    char text[1400];
    text[0] = '#';
    memset(text + 1, 'x', 1200);
    strcpy(text + 1201, "\nOPTIMIST_WORKERS=3\n");
    int rc = load_with_file(&c, text, path, err, sizeof err);
    assert_int_equal(rc, -1);
    char where[80];
    snprintf(where, sizeof where, "%s:1", path);
    if (strstr(err, where) == NULL || strstr(err, "longer") == NULL)
        fail_msg("message \"%s\" does not say line 1 is too long", err);
    /* A line just under the limit still loads. */
    memset(text + 1, 'x', 1000);
    strcpy(text + 1001, "\nOPTIMIST_WORKERS=3\n");
    assert_int_equal(load_with_file(&c, text, path, err, sizeof err), 0);
    assert_int_equal(c.workers, 3);
}

static void test_file_line_without_equals(void **state)
{
    (void)state;
    conf c;
    char path[64], err[512];
    int rc = load_with_file(&c, "OPTIMIST_WORKERS\n", path, err, sizeof err);
    assert_int_equal(rc, -1);
    char where[80];
    snprintf(where, sizeof where, "%s:1", path);
    if (strstr(err, where) == NULL)
        fail_msg("message \"%s\" does not name %s", err, where);

    rc = load_with_file(&c, "\n\nworkers=3\n", path, err, sizeof err);
    assert_int_equal(rc, -1);
    snprintf(where, sizeof where, "%s:3", path);
    if (strstr(err, where) == NULL)
        fail_msg("message \"%s\" does not name %s", err, where);

    /* a key is matched whole: no prefixes, no spaces around '=' */
    rc = load_with_file(&c, "OPTIMIST_WORKER=3\n", path, err, sizeof err);
    assert_int_equal(rc, -1);
    rc = load_with_file(&c, "OPTIMIST_WORKERSX=3\n", path, err, sizeof err);
    assert_int_equal(rc, -1);
    rc = load_with_file(&c, "=3\n", path, err, sizeof err);
    assert_int_equal(rc, -1);
}

static void test_file_bad_value(void **state)
{
    (void)state;
    conf c;
    char path[64], err[512];
    int rc = load_with_file(&c, "OPTIMIST_WORKERS=0\n", path, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "OPTIMIST_WORKERS"));

    rc = load_with_file(&c, "OPTIMIST_LOG_LEVEL=loud\n", path, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "OPTIMIST_LOG_LEVEL"));
}

static void test_file_missing(void **state)
{
    (void)state;
    setenv("OPTIMIST_CONFIG", "/nonexistent/optimist-test.conf", 1);
    assert_refused("OPTIMIST_CONFIG");
    assert_refused("/nonexistent/optimist-test.conf");
}

static void test_config_empty_is_none(void **state)
{
    (void)state;
    setenv("OPTIMIST_CONFIG", "", 1);
    conf c;
    char err[256] = "";
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    assert_int_equal(c.workers, expected_workers());
}

/* An env error is reported before the file is read. */
static void test_env_error_wins(void **state)
{
    (void)state;
    setenv("OPTIMIST_WORKERS", "abc", 1);
    conf c;
    char path[64], err[512];
    int rc = load_with_file(&c, "OPTIMIST_WORKERS=4\n", path, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "OPTIMIST_WORKERS"));
}

/* ---- conf_rec_config, conf_dump, conf_help ------------------------------- */

static void test_rec_config(void **state)
{
    (void)state;
    conf c;
    char err[256] = "";
    rec_config rc;
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    conf_rec_config(&c, &rc);
    assert_null(rc.socket);
    assert_string_equal(rc.host, "localhost");
    assert_int_equal(rc.port, 3306);
    assert_null(rc.user);
    assert_null(rc.password);
    assert_string_equal(rc.database, "optimist");
    assert_int_equal(rc.retries, 5);
    assert_true(rc.connect_timeout > 0);

    setenv("OPTIMIST_DB_SOCKET", "/s.sock", 1);
    setenv("OPTIMIST_DB_USER", "u", 1);
    setenv("OPTIMIST_DB_PASSWORD", "p", 1);
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    conf_rec_config(&c, &rc);
    assert_string_equal(rc.socket, "/s.sock");
    assert_string_equal(rc.user, "u");
    assert_string_equal(rc.password, "p");
    assert_ptr_equal(rc.socket, c.db_socket); /* points into *c */
}

static char dumped[8192];
static int dumped_lines;

static void collect(const char *line)
{
    assert_null(strchr(line, '\n'));
    strncat(dumped, line, sizeof dumped - strlen(dumped) - 2);
    strcat(dumped, "\n");
    dumped_lines++;
}

static void test_dump_hides_password(void **state)
{
    (void)state;
    setenv("OPTIMIST_DB_PASSWORD", "hunter2-very-secret", 1);
    setenv("OPTIMIST_WORKERS", "6", 1);
    conf c;
    char err[256] = "";
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    dumped[0] = '\0';
    dumped_lines = 0;
    conf_dump(&c, collect);
    assert_null(strstr(dumped, "hunter2"));
    assert_non_null(strstr(dumped, "OPTIMIST_DB_PASSWORD=(set)\n"));
    assert_non_null(strstr(dumped, "OPTIMIST_WORKERS=6\n"));
    assert_non_null(strstr(dumped, "OPTIMIST_DB_NAME=optimist\n"));
    assert_non_null(strstr(dumped, "OPTIMIST_MAX_REQUESTS=10000\n"));
    /* one line per option: as many as --help lists */
    int lines = dumped_lines;
    dumped[0] = '\0';
    dumped_lines = 0;
    conf_help(collect);
    assert_int_equal(lines, dumped_lines);

    unsetenv("OPTIMIST_DB_PASSWORD");
    assert_int_equal(conf_load(&c, err, sizeof err), 0);
    dumped[0] = '\0';
    conf_dump(&c, collect);
    assert_non_null(strstr(dumped, "OPTIMIST_DB_PASSWORD=\n"));
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    dumped[0] = '\0';
    dumped_lines = 0;
    conf_help(collect);
    assert_true(dumped_lines >= 13);
    const char *names[] = {"OPTIMIST_LISTEN",       "OPTIMIST_WORKERS",
                           "OPTIMIST_MAX_REQUESTS", "OPTIMIST_SHUTDOWN_TIMEOUT",
                           "OPTIMIST_PIDFILE",      "OPTIMIST_LOG_LEVEL",
                           "OPTIMIST_DB_SOCKET",    "OPTIMIST_DB_HOST",
                           "OPTIMIST_DB_PORT",      "OPTIMIST_DB_USER",
                           "OPTIMIST_DB_PASSWORD",  "OPTIMIST_DB_NAME",
                           "OPTIMIST_DB_RETRIES"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strstr(dumped, names[i]) == NULL)
            fail_msg("--help lacks %s", names[i]);
}

static int fixed_calls;
static char fixed_seen[256];

static void note_fixed(const char *name, const char *kept)
{
    fixed_calls++;
    snprintf(fixed_seen + strlen(fixed_seen),
             sizeof fixed_seen - strlen(fixed_seen), "%s=%s;", name, kept);
}

static void test_reload_keeps_what_it_cannot_change(void **state)
{
    /* The table says which options a reload keeps (OPTIMIST_LISTEN and
     * OPTIMIST_PIDFILE); everything else takes the new value. */
    (void)state;
    conf old, fresh;
    char err[256];
    setenv("OPTIMIST_LISTEN", "/run/a-long-socket-name.sock", 1);
    setenv("OPTIMIST_PIDFILE", "/run/a.pid", 1);
    assert_int_equal(conf_load(&old, err, sizeof err), 0);
    setenv("OPTIMIST_LISTEN", "/run/b.sock", 1);
    setenv("OPTIMIST_PIDFILE", "/run/a.pid", 1);
    setenv("OPTIMIST_WORKERS", "3", 1);
    setenv("OPTIMIST_DB_NAME", "other", 1);
    assert_int_equal(conf_load(&fresh, err, sizeof err), 0);
    fixed_calls = 0;
    fixed_seen[0] = '\0';
    conf_keep_fixed(&fresh, &old, note_fixed);
    assert_int_equal(fixed_calls, 1);
    assert_string_equal(fixed_seen,
                        "OPTIMIST_LISTEN=/run/a-long-socket-name.sock;");
    assert_string_equal(fresh.listen, "/run/a-long-socket-name.sock");
    assert_string_equal(fresh.pidfile, "/run/a.pid");
    assert_int_equal(fresh.workers, 3);
    assert_string_equal(fresh.db_name, "other");
    /* Nothing changed: nothing to say. */
    conf_keep_fixed(&fresh, &old, note_fixed);
    assert_int_equal(fixed_calls, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, clean_env, clean_env)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_env_overrides),
        T(test_log_levels),
        T(test_bad_log_level),
        T(test_bad_workers),
        T(test_workers_bounds),
        T(test_other_integer_ranges),
        T(test_string_lengths),
        T(test_env_empty_string),
        T(test_small_errbuf),
        T(test_file_overrides_env),
        T(test_file_empty),
        T(test_file_unknown_key),
        T(test_file_long_line_is_refused_not_split),
        T(test_file_line_without_equals),
        T(test_file_bad_value),
        T(test_file_missing),
        T(test_config_empty_is_none),
        T(test_env_error_wins),
        T(test_rec_config),
        T(test_dump_hides_password),
        T(test_help_lists_every_option),
        T(test_reload_keeps_what_it_cannot_change),
    };
    return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
