/*
 * test_tables.c -- declared tables (lib/table.h) against a real MariaDB:
 * every supported type written through the converters and read back
 * byte for byte (plain SQL and the renderer), every refusal of a
 * declaration, of a value and of a constraint, conflicts, tenants,
 * lists, the change log, and `table prepare` (idempotent; its triggers
 * bump versions and log the writes of plain SQL, and never count
 * optimist's own UPDATE twice).
 *
 * The application's tables live in a database of their own (tbl_app),
 * made here; the declarations in a temporary folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "table.h"
#include "itest.h"

#include <json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static rec_config cfg;
static rec_db *db;
static char dir[64];      /* the good declarations */
static tbl_registry *reg; /* loaded from dir */

#define T1 1 /* tenants */
#define T2 2

static void must(rec_status st, const rec_err *err, const char *what)
{
    itest_must(st, err, what);
}

static void ddl(const char *sql)
{
    rec_err err = {0};
    must(rec_exec_text(db, sql, strlen(sql), &err), &err, sql);
}

static void write_file(const char *d, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", d, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* One value of a constant query with text parameters (the SQL must be a
 * literal: rec_exec keeps statements by the text's address). The caller
 * frees. No row or SQL NULL fails the test. */
static char *one(const char *sql, const char *a, const char *b)
{
    rec_err err = {0};
    rec_rows *r = NULL;
    rec_param p[2] = {REC_CSTR(a), REC_CSTR(b)};
    size_t n = a == NULL ? 0 : b == NULL ? 1 : 2;
    must(rec_exec(db, sql, p, n, &r, NULL, NULL, &err), &err, sql);
    const char *v = rec_rows_count(r) ? rec_rows_get(r, 0, 0) : NULL;
    char *out = v ? strdup(v) : NULL;
    rec_rows_free(r);
    if (out == NULL)
        fail_msg("no value: %s", sql);
    return out;
}

static uint64_t count(const char *sql, const char *a)
{
    char *v = one(sql, a, NULL);
    uint64_t n = v ? strtoull(v, NULL, 10) : 0;
    free(v);
    return n;
}

static const char Q_TYPES_ROWS[] = "SELECT COUNT(*) FROM tbl_app.types WHERE "
                                   "? IS NOT NULL";
static const char Q_CHANGES[] =
    "SELECT COUNT(*) FROM optimist_changes WHERE table_name = ?";
static const char Q_TRIGGERS[] =
    "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?";

static tbl_table *table(const char *name)
{
    tbl_table *t = tbl_find(reg, name, strlen(name));
    if (t == NULL)
        fail_msg("table %s is not served", name);
    return t;
}

static json_object *parse(const char *text)
{
    json_object *o = json_tokener_parse(text);
    if (o == NULL)
        fail_msg("test JSON does not parse: %s", text);
    return o;
}

static int setup(void **state)
{
    (void)state;
    rec_err err = {0};
    if (itest_config(&cfg) != 0)
        return -1;
    db = itest_open(&cfg);
    ddl("DROP DATABASE IF EXISTS tbl_app");
    ddl("CREATE DATABASE tbl_app");
    ddl("CREATE TABLE tbl_app.types ("
        " id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
        " tenant_id BIGINT UNSIGNED NOT NULL,"
        " version INT UNSIGNED NOT NULL DEFAULT 1,"
        " ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,"
        " mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,"
        " bi BIGINT, bu BIGINT UNSIGNED, flag BOOLEAN,"
        " price DECIMAL(10,2), big DECIMAL(65,30), pu DECIMAL(5,0) UNSIGNED,"
        " f FLOAT, d DOUBLE,"
        " c CHAR(4), vc VARCHAR(5), l1 VARCHAR(3) CHARACTER SET latin1,"
        " u3 VARCHAR(3) CHARACTER SET utf8mb3, tt TINYTEXT, tx TEXT,"
        " e ENUM('red','green','it''s'), s SET('a','b','c'),"
        " dt DATE, dtm DATETIME(3), dt0 DATETIME, ts TIMESTAMP(3) NULL,"
        " j JSON, nn INT NOT NULL, ro INT DEFAULT 7,"
        " gen INT AS (nn * 2) VIRTUAL) ENGINE=InnoDB");
    ddl("CREATE TABLE tbl_app.parent ("
        " id INT AUTO_INCREMENT PRIMARY KEY, tenant_id INT NOT NULL,"
        " version INT NOT NULL DEFAULT 1, sku VARCHAR(20) NOT NULL,"
        " qty INT NOT NULL DEFAULT 0, UNIQUE KEY uk_sku (sku),"
        " CONSTRAINT chk_qty CHECK (qty >= 0)) ENGINE=InnoDB");
    ddl("CREATE TABLE tbl_app.child ("
        " id INT AUTO_INCREMENT PRIMARY KEY, tenant_id INT NOT NULL,"
        " version INT NOT NULL DEFAULT 1, parent_id INT NOT NULL,"
        " CONSTRAINT fk_child_parent FOREIGN KEY (parent_id)"
        " REFERENCES parent (id)) ENGINE=InnoDB");
    ddl("CREATE TABLE tbl_app.notes ("
        " note_id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100) NOT NULL,"
        " rev INT UNSIGNED NOT NULL DEFAULT 1, qty INT NOT NULL DEFAULT 0)"
        " ENGINE=InnoDB");
    ddl("CREATE TABLE tbl_app.legacy ("
        " id INT AUTO_INCREMENT PRIMARY KEY, shop INT NOT NULL,"
        " qty INT NOT NULL DEFAULT 0) ENGINE=InnoDB");
    snprintf(dir, sizeof dir, "/tmp/optimist-tables.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    write_file(dir, "types.conf",
               "# every supported type\n"
               "table = tbl_app.types\n"
               "tenant_column = tenant_id\n"
               "read_only = ro\n");
    write_file(dir, "parent.conf",
               "table = tbl_app.parent\ntenant_column = tenant_id\n");
    write_file(dir, "child.conf",
               "table = tbl_app.child\ntenant_column = tenant_id\n");
    write_file(dir, "notes.conf",
               "table = tbl_app.notes\nkey = note_id\nversion = rev\n"
               "tenant = 1   # one tenant owns it all\n"
               "columns = body, qty\n");
    rec_status st;
    tbl_err terr;
    reg = tbl_registry_load(db, dir, &st, &terr);
    if (reg == NULL)
        fail_msg("registry: %s %s", rec_status_name(st), terr.db.msg);
    for (size_t i = 0; i < tbl_registry_nrefused(reg); i++)
        fprintf(stderr, "refused: %s\n", tbl_registry_refused(reg, i, NULL));
    assert_int_equal(tbl_registry_nrefused(reg), 0);
    assert_int_equal(tbl_registry_count(reg), 4);
    (void)err;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    tbl_registry_free(reg, db);
    rec_db_close(db);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

/* ---- every type, byte for byte ------------------------------------------ */

static const char ROW_IN[] =
    "{\"ti\":-128,\"tu\":255,\"si\":-32768,\"su\":65535,\"mi\":-8388608,"
    "\"mu\":16777215,\"i\":-2147483648,\"iu\":4294967295,"
    "\"bi\":-9223372036854775808,\"bu\":18446744073709551615,\"flag\":true,"
    "\"price\":\"19.90\","
    "\"big\":\"-12345678901234567890123456789012345.12345678901234567890123456"
    "7891\",\"pu\":99999,\"f\":1.5,\"d\":0.1,\"c\":\"ab\",\"vc\":"
    "\"h\\u00e9llo\","
    "\"l1\":\"\\u20ac\\u00e9!\",\"u3\":\"\\u65e5\\u672c\\u8a9e\",\"tt\":\"x\","
    "\"tx\":\"line\\nbreak \\\"q\\\" \\\\ \\u0001 \\ud83d\\ude00\","
    "\"e\":\"it's\",\"s\":\"a,c\",\"dt\":\"2024-02-29\","
    "\"dtm\":\"2026-11-23T10:00:00.123Z\",\"dt0\":\"9999-12-31T23:59:59Z\","
    "\"ts\":\"2038-01-19T03:14:07.999Z\","
    "\"j\":{\"a\":[1,2.50,\"x\",{\"deep\":[true,null]}],\"b\":\"\\u00e9\"},"
    "\"nn\":0}";

/* What GET shows for it (id and version put first). */
static const char ROW_OUT[] =
    "\"ti\":-128,\"tu\":255,\"si\":-32768,\"su\":65535,\"mi\":-8388608,"
    "\"mu\":16777215,\"i\":-2147483648,\"iu\":4294967295,"
    "\"bi\":-9223372036854775808,\"bu\":18446744073709551615,\"flag\":true,"
    "\"price\":\"19.90\","
    "\"big\":\"-12345678901234567890123456789012345.12345678901234567890123456"
    "7891\",\"pu\":\"99999\",\"f\":1.5,\"d\":0.1,\"c\":\"ab\","
    "\"vc\":\"h\xc3\xa9llo\",\"l1\":\"\xe2\x82\xac\xc3\xa9!\","
    "\"u3\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\",\"tt\":\"x\","
    "\"tx\":\"line\\nbreak \\\"q\\\" \\\\ \\u0001 \xf0\x9f\x98\x80\","
    "\"e\":\"it's\",\"s\":\"a,c\",\"dt\":\"2024-02-29\","
    "\"dtm\":\"2026-11-23T10:00:00.123Z\",\"dt0\":\"9999-12-31T23:59:59.000Z\","
    "\"ts\":\"2038-01-19T03:14:07.999Z\","
    "\"j\":{\"a\":[1,2.50,\"x\",{\"deep\":[true,null]}],\"b\":\"\xc3\xa9\"},"
    "\"nn\":0,\"ro\":7,\"gen\":0}";

static void test_every_type_round_trips(void **state)
{
    (void)state;
    tbl_table *t = table("types");
    tbl_err err;
    jbuf out, get;
    jb_init(&out);
    jb_init(&get);
    uint64_t key = 0;
    uint32_t v = 0;
    json_object *body = parse(ROW_IN);
    must(tbl_insert(db, t, T1, body, &key, &out, &err), &err.db, "insert");
    json_object_put(body);
    assert_true(key > 0);
    char want[4096];
    snprintf(want, sizeof want, "{\"id\":%llu,\"version\":1,%s",
             (unsigned long long)key, ROW_OUT);
    assert_string_equal(out.p, want);
    must(tbl_get(db, t, T1, key, &get, &v, &err), &err.db, "get");
    assert_int_equal(v, 1);
    assert_string_equal(get.p, want);

    /* The stored values, as plain SQL reads them. */
    char k[24];
    snprintf(k, sizeof k, "%llu", (unsigned long long)key);
    static const struct {
        const char *sql, *want;
    } cols[] = {
        {"SELECT CONCAT_WS('|', ti, tu, si, su, mi, mu, i, iu, bi, bu, flag)"
         " FROM tbl_app.types WHERE id = ?",
         "-128|255|-32768|65535|-8388608|16777215|-2147483648|4294967295|"
         "-9223372036854775808|18446744073709551615|1"},
        {"SELECT CONCAT_WS('|', price, big, pu) FROM tbl_app.types WHERE id = "
         "?",
         "19.90|-12345678901234567890123456789012345."
         "123456789012345678901234567891|99999"},
        {"SELECT CONCAT_WS('|', f = 1.5, d = 0.1) FROM tbl_app.types"
         " WHERE id = ?",
         "1|1"},
        {"SELECT CONCAT_WS('|', HEX(c), HEX(vc), HEX(l1), HEX(u3), tt,"
         " HEX(tx)) FROM tbl_app.types WHERE id = ?",
         "6162|68C3A96C6C6F|80E921|E697A5E69CACE8AA9E|x|"
         "6C696E650A627265616B20227122205C200120F09F9880"},
        {"SELECT CONCAT_WS('|', e, s, dt, dtm, dt0, ts) FROM tbl_app.types"
         " WHERE id = ?",
         "it's|a,c|2024-02-29|2026-11-23 10:00:00.123|9999-12-31 23:59:59|"
         "2038-01-19 03:14:07.999"},
        {"SELECT j FROM tbl_app.types WHERE id = ?",
         "{\"a\":[1,2.50,\"x\",{\"deep\":[true,null]}],\"b\":\"\xc3\xa9\"}"},
        {"SELECT UNIX_TIMESTAMP(ts) FROM tbl_app.types WHERE id = ?",
         "2147483647.999"},
    };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        char *got = one(cols[i].sql, k, NULL);
        assert_non_null(got);
        assert_string_equal(got, cols[i].want);
        free(got);
    }
    jb_free(&out);
    jb_free(&get);
}

static void test_nulls_and_defaults(void **state)
{
    (void)state;
    tbl_table *t = table("types");
    tbl_err err;
    jbuf out;
    jb_init(&out);
    uint64_t key = 0;
    json_object *body = parse("{\"nn\":5,\"ti\":null,\"j\":null}");
    must(tbl_insert(db, t, T1, body, &key, &out, &err), &err.db, "insert");
    json_object_put(body);
    char want[2048];
    snprintf(
        want, sizeof want,
        "{\"id\":%llu,\"version\":1,\"ti\":null,\"tu\":null,\"si\":null,"
        "\"su\":null,\"mi\":null,\"mu\":null,\"i\":null,\"iu\":null,"
        "\"bi\":null,\"bu\":null,\"flag\":null,\"price\":null,\"big\":null,"
        "\"pu\":null,\"f\":null,\"d\":null,\"c\":null,\"vc\":null,"
        "\"l1\":null,\"u3\":null,\"tt\":null,\"tx\":null,\"e\":null,"
        "\"s\":null,\"dt\":null,\"dtm\":null,\"dt0\":null,\"ts\":null,"
        "\"j\":null,\"nn\":5,\"ro\":7,\"gen\":10}",
        (unsigned long long)key);
    assert_string_equal(out.p, want);
    jb_free(&out);
}

/* Numbers that a double cannot hold exactly reach DECIMAL columns with
 * their digits; exponents are read exactly. */
static void test_decimal_digits(void **state)
{
    (void)state;
    tbl_table *t = table("types");
    static const struct {
        const char *in, *price, *big;
    } cases[] = {
        {"{\"nn\":1,\"price\":0.30,\"big\":0.1}", "0.30",
         "0.100000000000000000000000000000"},
        {"{\"nn\":1,\"price\":1.5e3,\"big\":\"-1E-30\"}", "1500.00",
         "-0.000000000000000000000000000001"},
        {"{\"nn\":1,\"price\":\"-0.00\",\"big\":"
         "\"99999999999999999999999999999999999.999999999999999999999999999999"
         "\"}",
         "0.00",
         "99999999999999999999999999999999999.999999999999999999999999999999"},
        {"{\"nn\":1,\"price\":12345678.1,\"big\":4.0}", "12345678.10",
         "4.000000000000000000000000000000"},
    };
    static const char q[] =
        "SELECT CONCAT_WS('|', price, big) FROM tbl_app.types WHERE id = ?";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tbl_err err;
        jbuf out;
        jb_init(&out);
        uint64_t key = 0;
        json_object *body = parse(cases[i].in);
        must(tbl_insert(db, t, T1, body, &key, &out, &err), &err.db,
             cases[i].in);
        json_object_put(body);
        char k[24], want[256];
        snprintf(k, sizeof k, "%llu", (unsigned long long)key);
        snprintf(want, sizeof want, "%s|%s", cases[i].price, cases[i].big);
        char *got = one(q, k, NULL);
        assert_string_equal(got, want);
        free(got);
        snprintf(want, sizeof want, "\"price\":\"%s\",\"big\":\"%s\"",
                 cases[i].price, cases[i].big);
        assert_non_null(strstr(out.p, want));
        jb_free(&out);
    }
}

/* FLOAT and DOUBLE come back as the shortest text that reads back as the
 * same stored value: a FLOAT keeps about 7 digits (16777217 is stored as
 * 16777216), a DOUBLE all 17. */
static void test_float_digits(void **state)
{
    (void)state;
    tbl_table *t = table("types");
    static const struct {
        const char *in, *f, *d;
    } cases[] = {
        {"0.1", "0.1", "0.1"},
        {"16777217", "16777216", "16777217"},
        {"3.4028234e38", "3.4028235e+38", "3.4028234e38"},
        {"-1.17549435e-38", "-1.1754944e-38", "-1.17549435e-38"},
        {"123456789", "1.2345679e+08", "123456789"},
        {"2.5", "2.5", "2.5"},
        {"0", "0", "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[160], want[160];
        tbl_err err;
        jbuf out;
        jb_init(&out);
        uint64_t key = 0;
        snprintf(text, sizeof text, "{\"nn\":1,\"f\":%s,\"d\":%s}", cases[i].in,
                 cases[i].in);
        json_object *b = parse(text);
        must(tbl_insert(db, t, T1, b, &key, &out, &err), &err.db, text);
        json_object_put(b);
        snprintf(want, sizeof want, "\"f\":%s,\"d\":%s,", cases[i].f,
                 cases[i].d);
        if (strstr(out.p, want) == NULL)
            fail_msg("%s: want %s in %s", cases[i].in, want, out.p);
        jb_free(&out);
    }
    /* the extremes of a DOUBLE read back exactly */
    static const char *const dbl[] = {"1.7976931348623157e308", "5e-324",
                                      "-2.2250738585072014e-308",
                                      "0.30000000000000004"};
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
        char text[160];
        tbl_err err;
        jbuf out;
        jb_init(&out);
        uint64_t key = 0;
        snprintf(text, sizeof text, "{\"nn\":1,\"d\":%s}", dbl[i]);
        json_object *b = parse(text);
        must(tbl_insert(db, t, T1, b, &key, &out, &err), &err.db, text);
        json_object_put(b);
        const char *at = strstr(out.p, "\"d\":");
        assert_non_null(at);
        if (strtod(at + 4, NULL) != strtod(dbl[i], NULL))
            fail_msg("%s came back as %.40s", dbl[i], at + 4);
        jb_free(&out);
    }
}

/* ---- refusals of values ------------------------------------------------- */

static const struct refusal {
    const char *body, *column, *why;
} refusals[] = {
    {"{\"nn\":1,\"ti\":128}", "ti", "from -128 to 127"},
    {"{\"nn\":1,\"ti\":-129}", "ti", "from -128 to 127"},
    {"{\"nn\":1,\"tu\":-1}", "tu", "from 0 to 255"},
    {"{\"nn\":1,\"tu\":256}", "tu", "from 0 to 255"},
    {"{\"nn\":1,\"si\":32768}", "si", "from -32768 to 32767"},
    {"{\"nn\":1,\"su\":65536}", "su", "from 0 to 65535"},
    {"{\"nn\":1,\"mi\":-8388609}", "mi", "from -8388608 to 8388607"},
    {"{\"nn\":1,\"mu\":16777216}", "mu", "from 0 to 16777215"},
    {"{\"nn\":1,\"i\":2147483648}", "i", "from -2147483648 to 2147483647"},
    {"{\"nn\":1,\"iu\":4294967296}", "iu", "from 0 to 4294967295"},
    {"{\"nn\":1,\"iu\":-1}", "iu", "from 0 to 4294967295"},
    {"{\"nn\":1,\"bi\":9223372036854775808}", "bi",
     "from -9223372036854775808 to 9223372036854775807"},
    {"{\"nn\":1,\"bu\":-1}", "bu", "from 0 to 18446744073709551615"},
    {"{\"nn\":1,\"ti\":1.5}", "ti", "must be an integer"},
    {"{\"nn\":1,\"ti\":1.0}", "ti", "must be an integer"},
    {"{\"nn\":1,\"ti\":\"1\"}", "ti", "must be an integer"},
    {"{\"nn\":1,\"ti\":true}", "ti", "must be an integer"},
    {"{\"nn\":1,\"ti\":[1]}", "ti", "must be an integer"},
    {"{\"nn\":1,\"flag\":1}", "flag", "true or false"},
    {"{\"nn\":1,\"flag\":\"true\"}", "flag", "true or false"},
    {"{\"nn\":1,\"price\":\"1.234\"}", "price", "at most 8 digits before"},
    {"{\"nn\":1,\"price\":123456789}", "price", "at most 8 digits before"},
    {"{\"nn\":1,\"price\":1e-3}", "price", "and 2 after"},
    {"{\"nn\":1,\"price\":\"abc\"}", "price", "decimal number"},
    {"{\"nn\":1,\"price\":\"1.\"}", "price", "decimal number"},
    {"{\"nn\":1,\"price\":\" 1\"}", "price", "decimal number"},
    {"{\"nn\":1,\"price\":\"01\"}", "price", "decimal number"},
    {"{\"nn\":1,\"price\":true}", "price", "must be a decimal"},
    {"{\"nn\":1,\"pu\":-1}", "pu", "must not be negative"},
    {"{\"nn\":1,\"pu\":0.5}", "pu", "and 0 after"},
    {"{\"nn\":1,\"f\":1e39}", "f", "must be a number from"},
    {"{\"nn\":1,\"d\":1e400}", "d", "must be a number from"},
    {"{\"nn\":1,\"f\":\"1\"}", "f", "must be a number"},
    {"{\"nn\":1,\"c\":\"abcde\"}", "c", "at most 4 characters"},
    {"{\"nn\":1,\"vc\":\"123456\"}", "vc", "at most 5 characters"},
    {"{\"nn\":1,\"vc\":5}", "vc", "must be a string"},
    {"{\"nn\":1,\"l1\":\"\\u65e5\"}", "l1", "character set cannot store"},
    {"{\"nn\":1,\"l1\":\"abcd\"}", "l1", "at most 3 characters"},
    {"{\"nn\":1,\"u3\":\"\\ud83d\\ude00\"}", "u3", "character set cannot"},
    {"{\"nn\":1,\"e\":\"blue\"}", "e", "one of the column's values"},
    {"{\"nn\":1,\"e\":\"RED\"}", "e", "one of the column's values"},
    {"{\"nn\":1,\"e\":\"\"}", "e", "one of the column's values"},
    {"{\"nn\":1,\"s\":\"a,a\"}", "s", "twice"},
    {"{\"nn\":1,\"s\":\"a,d\"}", "s", "joined by commas"},
    {"{\"nn\":1,\"s\":\"a,\"}", "s", "joined by commas"},
    {"{\"nn\":1,\"dt\":\"2023-02-29\"}", "dt", "YYYY-MM-DD"},
    {"{\"nn\":1,\"dt\":\"2024-13-01\"}", "dt", "YYYY-MM-DD"},
    {"{\"nn\":1,\"dt\":\"0999-01-01\"}", "dt", "YYYY-MM-DD"},
    {"{\"nn\":1,\"dt\":\"2024-1-01\"}", "dt", "YYYY-MM-DD"},
    {"{\"nn\":1,\"dt\":\"2024-01-01T00:00:00Z\"}", "dt", "YYYY-MM-DD"},
    {"{\"nn\":1,\"dt\":20240101}", "dt", "must be a string"},
    {"{\"nn\":1,\"dtm\":\"2026-11-23T10:00:00.1234Z\"}", "dtm",
     "more fractional digits than the column keeps (3)"},
    {"{\"nn\":1,\"dtm\":\"2026-11-23T10:00:00+01:00\"}", "dtm", "in UTC"},
    {"{\"nn\":1,\"dtm\":\"2026-11-23T10:00:00\"}", "dtm", "RFC 3339"},
    {"{\"nn\":1,\"dtm\":\"2026-11-23 10:00:00Z\"}", "dtm", "RFC 3339"},
    {"{\"nn\":1,\"dtm\":\"2026-02-30T00:00:00Z\"}", "dtm", "RFC 3339"},
    {"{\"nn\":1,\"dtm\":\"2026-11-23T24:00:00Z\"}", "dtm", "RFC 3339"},
    {"{\"nn\":1,\"dtm\":\"2026-11-23T10:00:60Z\"}", "dtm", "RFC 3339"},
    {"{\"nn\":1,\"dt0\":\"2026-11-23T10:00:00.5Z\"}", "dt0",
     "the column keeps (0)"},
    {"{\"nn\":1,\"ts\":\"2038-01-20T00:00:00Z\"}", "ts", "2038-01-19T03:14"},
    {"{\"nn\":1,\"ts\":\"1969-12-31T23:59:59Z\"}", "ts", "1970-01-01"},
    {"{\"nn\":null}", "nn", "must not be null"},
    {"{\"ti\":1}", "nn", "required"},
    {"{\"nn\":1,\"zzz\":1}", "zzz", "not a served column"},
    {"{\"nn\":1,\"id\":5}", "id", "the key"},
    {"{\"nn\":1,\"version\":1}", "version", "version is 1"},
    {"{\"nn\":1,\"tenant_id\":2}", "tenant_id", "tenant column"},
    {"{\"nn\":1,\"ro\":1}", "ro", "read-only"},
    {"{\"nn\":1,\"gen\":1}", "gen", "read-only"},
    {"[1]", "", "JSON object"},
};

static void test_values_refused(void **state)
{
    (void)state;
    tbl_table *t = table("types");
    uint64_t before = count(Q_TYPES_ROWS, "x");
    uint64_t logged = count(Q_CHANGES, "types");
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const struct refusal *r = &refusals[i];
        tbl_err err;
        jbuf out;
        jb_init(&out);
        uint64_t key = 0;
        json_object *body = parse(r->body);
        rec_status st = tbl_insert(db, t, T1, body, &key, &out, &err);
        json_object_put(body);
        if (st != REC_INVALID || strcmp(err.column, r->column) != 0 ||
            strstr(err.why, r->why) == NULL)
            fail_msg("%s: %s, column \"%s\", \"%s\"", r->body,
                     rec_status_name(st), err.column, err.why);
        jb_free(&out);
    }
    assert_int_equal(count(Q_TYPES_ROWS, "x"), before);
    assert_int_equal(count(Q_CHANGES, "types"), logged);
}

/* The same refusals through PATCH leave the row as it was. */
static void test_patch_refused_changes_nothing(void **state)
{
    (void)state;
    tbl_table *t = table("types");
    tbl_err err;
    jbuf out, after;
    jb_init(&out);
    jb_init(&after);
    uint64_t key = 0;
    uint32_t v = 0;
    json_object *body = parse("{\"nn\":3,\"vc\":\"keep\"}");
    must(tbl_insert(db, t, T1, body, &key, &out, &err), &err.db, "insert");
    json_object_put(body);
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const struct refusal *r = &refusals[i];
        if (strstr(r->body, "\"version\"") || strcmp(r->column, "nn") == 0 ||
            r->column[0] == '\0')
            continue; /* POST-only refusals */
        jbuf tmp;
        jb_init(&tmp);
        body = parse(r->body);
        rec_status st = tbl_update(db, t, T1, key, (rec_expect){0, 1}, body,
                                   &tmp, &v, &err);
        json_object_put(body);
        if (st != REC_INVALID || strcmp(err.column, r->column) != 0)
            fail_msg("PATCH %s: %s, column \"%s\"", r->body,
                     rec_status_name(st), err.column);
        jb_free(&tmp);
    }
    must(tbl_get(db, t, T1, key, &after, &v, &err), &err.db, "get");
    assert_int_equal(v, 1);
    assert_string_equal(after.p, out.p);
    jb_free(&out);
    jb_free(&after);
}

/* ---- constraints -------------------------------------------------------- */

static void test_constraints_named(void **state)
{
    (void)state;
    tbl_table *p = table("parent"), *c = table("child");
    tbl_err err;
    jbuf out;
    jb_init(&out);
    uint64_t pk = 0, ck = 0, key = 0;
    uint32_t v = 0;
    json_object *b = parse("{\"sku\":\"A-1\"}");
    must(tbl_insert(db, p, T1, b, &pk, &out, &err), &err.db, "parent");
    /* unique key (1062) */
    assert_int_equal(tbl_insert(db, p, T1, b, &key, &out, &err),
                     REC_CONSTRAINT);
    assert_string_equal(err.constraint, "uk_sku");
    json_object_put(b);
    /* CHECK (4025), on an UPDATE: the version stays */
    b = parse("{\"qty\":-1}");
    assert_int_equal(
        tbl_update(db, p, T1, pk, (rec_expect){0, 1}, b, &out, &v, &err),
        REC_CONSTRAINT);
    assert_string_equal(err.constraint, "chk_qty");
    json_object_put(b);
    jb_reset(&out);
    must(tbl_get(db, p, T1, pk, &out, &v, &err), &err.db, "get");
    assert_int_equal(v, 1);
    /* foreign key, child side (1452) */
    b = parse("{\"parent_id\":999999}");
    assert_int_equal(tbl_insert(db, c, T1, b, &key, &out, &err),
                     REC_CONSTRAINT);
    assert_string_equal(err.constraint, "fk_child_parent");
    json_object_put(b);
    char text[64];
    snprintf(text, sizeof text, "{\"parent_id\":%llu}", (unsigned long long)pk);
    b = parse(text);
    must(tbl_insert(db, c, T1, b, &ck, &out, &err), &err.db, "child");
    json_object_put(b);
    /* foreign key, parent side (1451) */
    assert_int_equal(
        tbl_delete(db, p, T1, pk, (rec_expect){0, 1}, &out, &v, &err),
        REC_CONSTRAINT);
    assert_string_equal(err.constraint, "fk_child_parent");
    jb_reset(&out);
    must(tbl_get(db, p, T1, pk, &out, &v, &err), &err.db, "still there");
    jb_free(&out);
}

/* ---- versions, conflicts, tenants -------------------------------------- */

static void test_conflict_carries_current_row(void **state)
{
    (void)state;
    tbl_table *t = table("parent");
    tbl_err err;
    jbuf out;
    jb_init(&out);
    uint64_t key = 0;
    uint32_t v = 0;
    json_object *b = parse("{\"sku\":\"C-1\",\"qty\":1}");
    must(tbl_insert(db, t, T1, b, &key, &out, &err), &err.db, "insert");
    json_object_put(b);
    b = parse("{\"version\":1,\"qty\":2}");
    jb_reset(&out);
    must(tbl_update(db, t, T1, key, (rec_expect){0, 1}, b, &out, &v, &err),
         &err.db, "update");
    assert_int_equal(v, 2);
    assert_non_null(strstr(out.p, "\"version\":2,\"sku\":\"C-1\",\"qty\":2"));
    json_object_put(b);
    /* a second writer still at version 1 */
    b = parse("{\"qty\":99}");
    jb_reset(&out);
    assert_int_equal(
        tbl_update(db, t, T1, key, (rec_expect){0, 1}, b, &out, &v, &err),
        REC_CONFLICT);
    assert_int_equal(v, 2);
    assert_non_null(strstr(out.p, "\"version\":2,\"sku\":\"C-1\",\"qty\":2"));
    /* ahead of the row: a conflict too */
    jb_reset(&out);
    assert_int_equal(
        tbl_update(db, t, T1, key, (rec_expect){0, 9}, b, &out, &v, &err),
        REC_CONFLICT);
    /* another tenant: not found, and not changed */
    assert_int_equal(
        tbl_update(db, t, T2, key, (rec_expect){1, 0}, b, &out, &v, &err),
        REC_NOT_FOUND);
    jb_reset(&out);
    assert_int_equal(tbl_get(db, t, T2, key, &out, &v, &err), REC_NOT_FOUND);
    /* If-Match: * */
    jb_reset(&out);
    must(tbl_update(db, t, T1, key, (rec_expect){1, 0}, b, &out, &v, &err),
         &err.db, "any");
    assert_int_equal(v, 3);
    json_object_put(b);
    /* a stale delete, then the right one */
    jb_reset(&out);
    assert_int_equal(
        tbl_delete(db, t, T1, key, (rec_expect){0, 2}, &out, &v, &err),
        REC_CONFLICT);
    assert_int_equal(v, 3);
    assert_non_null(strstr(out.p, "\"qty\":99"));
    jb_reset(&out);
    assert_int_equal(
        tbl_delete(db, t, T2, key, (rec_expect){0, 3}, &out, &v, &err),
        REC_NOT_FOUND);
    must(tbl_delete(db, t, T1, key, (rec_expect){0, 3}, &out, &v, &err),
         &err.db, "delete");
    assert_int_equal(v, 4);
    assert_int_equal(tbl_get(db, t, T1, key, &out, &v, &err), REC_NOT_FOUND);
    assert_int_equal(
        tbl_delete(db, t, T1, key, (rec_expect){1, 0}, &out, &v, &err),
        REC_NOT_FOUND);
    jb_free(&out);
}

/* The hub's poll: up to TBL_POLL_IN keys, answering (key, version). */
static void test_poll_statement(void **state)
{
    (void)state;
    tbl_table *t = table("parent");
    tbl_err err;
    jbuf out;
    jb_init(&out);
    uint64_t key = 0;
    json_object *b = parse("{\"sku\":\"P-1\"}");
    must(tbl_insert(db, t, T1, b, &key, &out, &err), &err.db, "insert");
    json_object_put(b);
    rec_param p[TBL_POLL_IN];
    for (int i = 0; i < TBL_POLL_IN; i++)
        p[i] = REC_U(i == 7 ? key : 999999000u + (unsigned)i);
    rec_rows *r = NULL;
    must(rec_exec(db, t->sql_poll, p, TBL_POLL_IN, &r, NULL, NULL, &err.db),
         &err.db, "poll");
    assert_int_equal(rec_rows_count(r), 1);
    assert_int_equal(rec_rows_u64(r, 0, 0), key);
    assert_int_equal(rec_rows_u64(r, 0, 1), 1);
    rec_rows_free(r);
    jb_free(&out);
}

/* The plans fit the built-in write loop: rec_versioned_write takes an
 * update plan and the table's version statement as they are. */
static void test_plan_runs_through_versioned_write(void **state)
{
    (void)state;
    tbl_table *t = table("parent");
    tbl_err err;
    tbl_plan plan;
    jbuf out;
    jb_init(&out);
    uint64_t key = 0;
    uint32_t cur = 0;
    json_object *b = parse("{\"sku\":\"V-1\"}");
    must(tbl_insert(db, t, T1, b, &key, &out, &err), &err.db, "insert");
    json_object_put(b);
    b = parse("{\"qty\":5}");
    must(tbl_plan_update(t, b, &plan, &err), &err.db, "plan");
    must(rec_versioned_write(db, plan.sql, plan.params, plan.nparams,
                             t->sql_version, key, T1, (rec_expect){0, 1}, &cur,
                             &err.db),
         &err.db, "write");
    assert_int_equal(cur, 2);
    assert_int_equal(rec_versioned_write(db, plan.sql, plan.params,
                                         plan.nparams, t->sql_version, key, T1,
                                         (rec_expect){0, 1}, &cur, &err.db),
                     REC_CONFLICT);
    assert_int_equal(cur, 2);
    tbl_plan_free(db, &plan);
    json_object_put(b);
    jb_free(&out);
}

static void test_fixed_tenant(void **state)
{
    (void)state;
    tbl_table *t = table("notes");
    tbl_err err;
    jbuf out;
    jb_init(&out);
    uint64_t key = 0;
    uint32_t v = 0;
    json_object *b = parse("{\"body\":\"hello\"}");
    assert_int_equal(tbl_insert(db, t, T2, b, &key, &out, &err), REC_NOT_FOUND);
    must(tbl_insert(db, t, T1, b, &key, &out, &err), &err.db, "insert");
    json_object_put(b);
    char want[128];
    snprintf(want, sizeof want,
             "{\"id\":%llu,\"version\":1,\"body\":\"hello\",\"qty\":0}",
             (unsigned long long)key);
    assert_string_equal(out.p, want);
    jb_reset(&out);
    assert_int_equal(tbl_get(db, t, T2, key, &out, &v, &err), REC_NOT_FOUND);
    b = parse("{\"rev\":3}");
    assert_int_equal(
        tbl_update(db, t, T1, key, (rec_expect){0, 1}, b, &out, &v, &err),
        REC_INVALID); /* the version column is not served by its name */
    assert_string_equal(err.column, "rev");
    json_object_put(b);
    jb_reset(&out);
    must(tbl_list(db, t, T2, NULL, 0, 0, 50, &out, &err), &err.db, "list");
    assert_string_equal(out.p, "{\"items\":[],\"next_after\":null}");
    jb_free(&out);
}

/* ---- lists -------------------------------------------------------------- */

static void test_list_filters_and_pages(void **state)
{
    (void)state;
    tbl_table *t = table("parent");
    tbl_err err;
    jbuf out;
    jb_init(&out);
    uint64_t keys[7];
    for (int i = 0; i < 7; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"sku\":\"L-%d\",\"qty\":%d}", i,
                 4000 + i % 2);
        json_object *b = parse(text);
        must(tbl_insert(db, t, T2, b, &keys[i], &out, &err), &err.db, "ins");
        json_object_put(b);
    }
    /* pages of 3 over tenant 2's rows, in key order */
    uint64_t after = 0;
    int pages = 0, rows = 0;
    for (;;) {
        jb_reset(&out);
        must(tbl_list(db, t, T2, NULL, 0, after, 3, &out, &err), &err.db,
             "list");
        json_object *o = parse(out.p);
        json_object *items = json_object_object_get(o, "items");
        json_object *next = json_object_object_get(o, "next_after");
        size_t n = json_object_array_length(items);
        for (size_t i = 0; i < n; i++) {
            json_object *id = json_object_object_get(
                json_object_array_get_idx(items, i), "id");
            assert_int_equal((uint64_t)json_object_get_int64(id), keys[rows]);
            rows++;
        }
        pages++;
        if (next == NULL) {
            json_object_put(o);
            break;
        }
        after = (uint64_t)json_object_get_int64(next);
        assert_int_equal(after, keys[rows - 1]);
        json_object_put(o);
    }
    assert_int_equal(rows, 7);
    assert_int_equal(pages, 3);
    /* filters, read as the column's type; several must all hold */
    tbl_filter f[2] = {{"qty", 3, "4001", 4}, {"sku", 3, "L-3", 3}};
    jb_reset(&out);
    must(tbl_list(db, t, T2, f, 1, 0, 50, &out, &err), &err.db, "qty");
    json_object *o = parse(out.p);
    assert_int_equal(
        json_object_array_length(json_object_object_get(o, "items")), 3);
    json_object_put(o);
    jb_reset(&out);
    must(tbl_list(db, t, T2, f, 2, 0, 50, &out, &err), &err.db, "both");
    o = parse(out.p);
    assert_int_equal(
        json_object_array_length(json_object_object_get(o, "items")), 1);
    json_object_put(o);
    /* the other tenant sees none of them */
    jb_reset(&out);
    must(tbl_list(db, t, T1, f, 2, 0, 50, &out, &err), &err.db, "t1");
    assert_string_equal(out.p, "{\"items\":[],\"next_after\":null}");
    /* refusals */
    tbl_filter bad[] = {
        {"qty", 3, "x", 1}, {"nope", 4, "1", 1}, {"tenant_id", 9, "1", 1}};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(tbl_list(db, t, T2, &bad[i], 1, 0, 50, &out, &err),
                         REC_INVALID);
        assert_int_equal(strncmp(err.column, bad[i].column, bad[i].column_len),
                         0);
    }
    tbl_filter js = {"j", 1, "{}", 2};
    assert_int_equal(
        tbl_list(db, table("types"), T1, &js, 1, 0, 50, &out, &err),
        REC_INVALID);
    tbl_filter bools[] = {{"flag", 4, "true", 4}, {"dtm", 3, "x", 1}};
    jb_reset(&out);
    must(tbl_list(db, table("types"), T1, &bools[0], 1, 0, 5, &out, &err),
         &err.db, "flag filter");
    assert_int_equal(
        tbl_list(db, table("types"), T1, &bools[1], 1, 0, 5, &out, &err),
        REC_INVALID);
    jb_free(&out);
}

/* More column sets than a table keeps statement texts for: the ones past
 * the limit are the plans' own, forgotten after use, and every write
 * still lands in its own columns. */
static void test_many_column_sets(void **state)
{
    (void)state;
    tbl_table *t = table("types");
    static const char *const cols[] = {"ti", "si", "mi", "i",  "bi",
                                       "tu", "su", "mu", "iu", "bu"};
    tbl_err err;
    jbuf out;
    jb_init(&out);
    uint64_t key = 0;
    uint32_t v = 0;
    json_object *b = parse("{\"nn\":1}");
    must(tbl_insert(db, t, T1, b, &key, &out, &err), &err.db, "insert");
    json_object_put(b);
    for (unsigned m = 1; m < 128; m++) {
        json_object *o = json_object_new_object();
        for (unsigned c = 0; c < 7; c++)
            if (m & (1u << c))
                json_object_object_add(o, cols[c], json_object_new_int((int)m));
        jb_reset(&out);
        must(tbl_update(db, t, T1, key, (rec_expect){0, m}, o, &out, &v, &err),
             &err.db, "update");
        assert_int_equal(v, m + 1);
        for (unsigned c = 0; c < 7; c++) {
            char want[32];
            snprintf(want, sizeof want, "\"%s\":%u,", cols[c], m);
            if (m & (1u << c))
                assert_non_null(strstr(out.p, want));
        }
        json_object_put(o);
    }
    jb_free(&out);
}

/* ---- the change log, without prepare ------------------------------------ */

static void test_change_log_written_by_library(void **state)
{
    (void)state;
    tbl_table *t = table("child");
    tbl_err err;
    jbuf out;
    jb_init(&out);
    uint64_t key = 0, pk = 0, oldest = 0, last = 0;
    uint32_t v = 0;
    assert_int_equal(t->prepared, 0);
    json_object *b = parse("{\"sku\":\"CL-1\"}");
    must(tbl_insert(db, table("parent"), T1, b, &pk, &out, &err), &err.db,
         "parent");
    json_object_put(b);
    must(tbl_changes_bounds(db, &oldest, &last, &err.db), &err.db, "bounds");
    char text[64];
    snprintf(text, sizeof text, "{\"parent_id\":%llu}", (unsigned long long)pk);
    b = parse(text);
    must(tbl_insert(db, t, T1, b, &key, &out, &err), &err.db, "insert");
    must(tbl_update(db, t, T1, key, (rec_expect){0, 1}, b, &out, &v, &err),
         &err.db, "update");
    must(tbl_delete(db, t, T1, key, (rec_expect){1, 0}, &out, &v, &err),
         &err.db, "delete");
    json_object_put(b);
    tbl_change ch[8];
    size_t n = 0;
    must(tbl_changes(db, "child", T1, 0, last, ch, 8, &n, &err.db), &err.db,
         "changes");
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ch[i].key, key);
        assert_int_equal(ch[i].version, i + 1);
        assert_int_equal(ch[i].deleted, i == 2);
        assert_true(ch[i].seq > last);
        assert_true(i == 0 || ch[i].seq > ch[i - 1].seq);
        assert_true(ch[i].age_ms >= 0 && ch[i].age_ms < 60000);
    }
    /* one row's changes only; another tenant's none */
    must(tbl_changes(db, "child", T1, key, last, ch, 8, &n, &err.db), &err.db,
         "row");
    assert_int_equal(n, 3);
    must(tbl_changes(db, "child", T2, 0, last, ch, 8, &n, &err.db), &err.db,
         "t2");
    assert_int_equal(n, 0);
    /* purge: only what is older than kept */
    ddl("UPDATE optimist_changes SET committed_at = committed_at - INTERVAL 2 "
        "DAY WHERE table_name = 'child' AND version = 1");
    uint64_t purged = 0;
    must(tbl_changes_purge(db, 86400, 1000, &purged, &err.db), &err.db,
         "purge");
    assert_true(purged >= 1);
    must(tbl_changes(db, "child", T1, key, last, ch, 8, &n, &err.db), &err.db,
         "after purge");
    assert_int_equal(n, 2);
    assert_int_equal(ch[0].version, 2);
    jb_free(&out);
}

/* ---- declarations refused ----------------------------------------------- */

static void test_declarations_refused(void **state)
{
    (void)state;
    char d[64], cmd[128];
    snprintf(d, sizeof d, "/tmp/optimist-refuse.XXXXXX");
    assert_non_null(mkdtemp(d));
    ddl("CREATE TABLE tbl_app.r_nopk (id INT, v INT NOT NULL DEFAULT 1, "
        "t INT)");
    ddl("CREATE TABLE tbl_app.r_twopk (id INT AUTO_INCREMENT, b INT, version "
        "INT NOT NULL DEFAULT 1, t INT, PRIMARY KEY (id, b))");
    ddl("CREATE TABLE tbl_app.r_strpk (id VARCHAR(9) PRIMARY KEY, version "
        "INT NOT NULL DEFAULT 1, t INT)");
    ddl("CREATE TABLE tbl_app.r_noai (id INT PRIMARY KEY, version INT NOT "
        "NULL DEFAULT 1, t INT)");
    ddl("CREATE TABLE tbl_app.r_verstr (id INT AUTO_INCREMENT PRIMARY KEY, "
        "version VARCHAR(5) NOT NULL DEFAULT '1', t INT)");
    ddl("CREATE TABLE tbl_app.r_vernull (id INT AUTO_INCREMENT PRIMARY KEY, "
        "version INT DEFAULT 1, t INT)");
    ddl("CREATE TABLE tbl_app.r_verdef (id INT AUTO_INCREMENT PRIMARY KEY, "
        "version INT NOT NULL DEFAULT 0, t INT)");
    ddl("CREATE TABLE tbl_app.r_tenstr (id INT AUTO_INCREMENT PRIMARY KEY, "
        "version INT NOT NULL DEFAULT 1, t VARCHAR(5))");
    ddl("CREATE TABLE tbl_app.r_blob (id INT AUTO_INCREMENT PRIMARY KEY, "
        "version INT NOT NULL DEFAULT 1, t INT, photo BLOB)");
    ddl("CREATE TABLE tbl_app.r_idcol (pk INT AUTO_INCREMENT PRIMARY KEY, "
        "version INT NOT NULL DEFAULT 1, t INT, id INT)");
    ddl("CREATE TABLE tbl_app.r_vercol (id INT AUTO_INCREMENT PRIMARY KEY, "
        "rev INT NOT NULL DEFAULT 1, t INT, version INT)");
    ddl("CREATE VIEW tbl_app.r_view AS SELECT * FROM tbl_app.parent");
    static const struct {
        const char *file, *text, *why;
    } cases[] = {
        {"missing.conf", "table = tbl_app.nope\ntenant = 1\n",
         "no table `tbl_app`.`nope`"},
        {"nopk.conf",
         "table = tbl_app.r_nopk\nversion = v\ntenant_column = t\n",
         "key `id` is not the table's one integer auto-increment primary key"},
        {"twopk.conf", "table = tbl_app.r_twopk\ntenant_column = t\n",
         "one integer auto-increment primary key"},
        {"strpk.conf", "table = tbl_app.r_strpk\ntenant_column = t\n",
         "one integer auto-increment primary key"},
        {"noai.conf", "table = tbl_app.r_noai\ntenant_column = t\n",
         "one integer auto-increment primary key"},
        {"nokey.conf", "table = tbl_app.r_noai\nkey = k\ntenant_column = t\n",
         "key: no column `k`"},
        {"verstr.conf", "table = tbl_app.r_verstr\ntenant_column = t\n",
         "version `version` must be an integer column"},
        {"vernull.conf", "table = tbl_app.r_vernull\ntenant_column = t\n",
         "NOT NULL, DEFAULT 1"},
        {"verdef.conf", "table = tbl_app.r_verdef\ntenant_column = t\n",
         "NOT NULL, DEFAULT 1"},
        {"nover.conf", "table = tbl_app.legacy\ntenant_column = shop\n",
         "version: no column `version` in the table (optimistctl table "
         "prepare nover adds it)"},
        {"tenstr.conf", "table = tbl_app.r_tenstr\ntenant_column = t\n",
         "tenant_column `t` must be an integer column"},
        {"notenant.conf", "table = tbl_app.r_tenstr\ntenant_column = zz\n",
         "tenant_column: no column `zz`"},
        {"blob.conf", "table = tbl_app.r_blob\ntenant_column = t\n",
         "column `photo`: type blob cannot be served"},
        {"idcol.conf", "table = tbl_app.r_idcol\nkey = pk\ntenant_column = t\n",
         "column `id` cannot be served"},
        {"vercol.conf",
         "table = tbl_app.r_vercol\nversion = rev\ntenant_column = t\n",
         "column `version` cannot be served"},
        {"nocol.conf",
         "table = tbl_app.parent\ntenant_column = tenant_id\ncolumns = sku, "
         "nope\n",
         "columns: no column `nope`"},
        {"keycol.conf",
         "table = tbl_app.parent\ntenant_column = tenant_id\ncolumns = sku, "
         "id\n",
         "columns: `id` is the key"},
        {"rocol.conf",
         "table = tbl_app.parent\ntenant_column = tenant_id\ncolumns = sku\n"
         "read_only = qty\n",
         "read_only: `qty` is not a served column"},
        {"view.conf", "table = tbl_app.r_view\ntenant_column = tenant_id\n",
         "is not a base table"},
        {"syntax.conf", "table = tbl_app.parent\ntenant_colum = tenant_id\n",
         "line 2: unknown key \"tenant_colum\""},
        {"both.conf",
         "table = tbl_app.parent\ntenant_column = tenant_id\n"
         "tenant = 3\n",
         "exactly one of tenant_column and tenant"},
        {"Bad-Name.conf", "table = tbl_app.parent\ntenant = 1\n",
         "the name must be 1 to 64 of a-z"},
    };
    size_t ncases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < ncases; i++)
        write_file(d, cases[i].file, cases[i].text);
    write_file(d, "good.conf", "table = tbl_app.parent\ntenant = 4\n");
    write_file(d, "ignored.conf~", "not a declaration");
    char *trig_before = one(Q_TRIGGERS, "tbl_app", NULL);
    rec_status st;
    tbl_err err;
    tbl_registry *r = tbl_registry_load(db, d, &st, &err);
    assert_non_null(r);
    assert_int_equal(tbl_registry_count(r), 1);
    assert_string_equal(tbl_registry_at(r, 0)->name, "good");
    assert_int_equal(tbl_registry_nrefused(r), ncases);
    for (size_t i = 0; i < ncases; i++) {
        int found = 0;
        for (size_t k = 0; k < tbl_registry_nrefused(r); k++) {
            const char *why = tbl_registry_refused(r, k, NULL);
            if (strstr(why, cases[i].file) && strstr(why, cases[i].why))
                found = 1;
        }
        if (!found) {
            for (size_t k = 0; k < tbl_registry_nrefused(r); k++)
                fprintf(stderr, "  %s\n", tbl_registry_refused(r, k, NULL));
            fail_msg("no refusal of %s saying \"%s\"", cases[i].file,
                     cases[i].why);
        }
    }
    tbl_registry_free(r, db);
    /* reading never created or altered anything */
    char *trig_after = one(Q_TRIGGERS, "tbl_app", NULL);
    assert_string_equal(trig_before, trig_after);
    free(trig_before);
    free(trig_after);
    assert_int_equal(count("SELECT COUNT(*) FROM information_schema.COLUMNS "
                           "WHERE TABLE_SCHEMA = 'tbl_app' AND TABLE_NAME = "
                           "'legacy' AND ? IS NOT NULL",
                           "x"),
                     3);
    /* a folder that cannot be read is an error, not an empty registry */
    r = tbl_registry_load(db, "/nonexistent/tables.d", &st, &err);
    assert_null(r);
    assert_int_equal(st, REC_ERROR);
    /* no folder: no tables */
    r = tbl_registry_load(db, NULL, &st, &err);
    assert_non_null(r);
    assert_int_equal(tbl_registry_count(r), 0);
    tbl_registry_free(r, db);
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    assert_int_equal(system(cmd), 0);
}

/* ---- table prepare ------------------------------------------------------ */

static unsigned printed;
static void count_print(const char *sql, void *ctx)
{
    (void)ctx;
    assert_non_null(sql);
    printed++;
}

static void test_prepare_idempotent_and_triggers(void **state)
{
    (void)state;
    char d[64], cmd[128];
    snprintf(d, sizeof d, "/tmp/optimist-prep.XXXXXX");
    assert_non_null(mkdtemp(d));
    write_file(d, "legacy.conf",
               "table = tbl_app.legacy\ntenant_column = shop\n");
    ddl("INSERT INTO tbl_app.legacy (shop, qty) VALUES (1, 10), (1, 20)");
    tbl_err err;
    unsigned changes = 0;
    /* dry run: printed, nothing done */
    printed = 0;
    must(tbl_prepare(db, d, "legacy", 1, count_print, NULL, &changes, &err),
         &err.db, "dry run");
    assert_int_equal(changes, 5);
    assert_int_equal(printed, 5);
    assert_int_equal(count(Q_TRIGGERS, "tbl_app"), 0);
    /* the real one */
    printed = 0;
    must(tbl_prepare(db, d, "legacy", 0, count_print, NULL, &changes, &err),
         &err.db, "prepare");
    assert_int_equal(changes, 5);
    assert_int_equal(count(Q_TRIGGERS, "tbl_app"), 4);
    /* twice: nothing */
    must(tbl_prepare(db, d, "legacy", 0, count_print, NULL, &changes, &err),
         &err.db, "again");
    assert_int_equal(changes, 0);
    /* existing rows start at version 1 */
    assert_int_equal(count("SELECT COUNT(*) FROM tbl_app.legacy WHERE "
                           "version = 1 AND ? IS NOT NULL",
                           "x"),
                     2);
    uint64_t logged = count(Q_CHANGES, "legacy");
    /* plain SQL: the version grows, the change log hears it */
    ddl("UPDATE tbl_app.legacy SET qty = qty + 1 WHERE qty = 10");
    ddl("INSERT INTO tbl_app.legacy (shop, qty) VALUES (2, 5)");
    ddl("DELETE FROM tbl_app.legacy WHERE qty = 5");
    /* an application that keeps its own versions is left alone */
    ddl("UPDATE tbl_app.legacy SET qty = 0, version = version + 5 "
        "WHERE qty = 20");
    char *v = one("SELECT GROUP_CONCAT(version ORDER BY id) FROM "
                  "tbl_app.legacy WHERE ? IS NOT NULL",
                  "x", NULL);
    assert_string_equal(v, "2,6");
    free(v);
    assert_int_equal(count(Q_CHANGES, "legacy"), logged + 4);
    char *del = one("SELECT CONCAT_WS('|', tenant_id, version, deleted) FROM "
                    "optimist_changes WHERE table_name = ? ORDER BY seq DESC "
                    "LIMIT 1 OFFSET 1",
                    "legacy", NULL);
    assert_string_equal(del, "2|2|1");
    free(del);
    /* served now, prepared; optimist's own UPDATE counts once */
    rec_status st;
    tbl_registry *r = tbl_registry_load(db, d, &st, &err);
    assert_non_null(r);
    assert_int_equal(tbl_registry_count(r), 1);
    tbl_table *t = tbl_registry_at(r, 0);
    assert_int_equal(t->prepared, 1);
    char *id = one("SELECT MIN(id) FROM tbl_app.legacy WHERE ? IS NOT NULL",
                   "x", NULL);
    uint64_t key = strtoull(id, NULL, 10);
    free(id);
    jbuf out;
    jb_init(&out);
    uint32_t ver = 0;
    json_object *b = parse("{\"qty\":100}");
    logged = count(Q_CHANGES, "legacy");
    must(tbl_update(db, t, 1, key, (rec_expect){0, 2}, b, &out, &ver, &err),
         &err.db, "update");
    assert_int_equal(ver, 3);
    assert_int_equal(count(Q_CHANGES, "legacy"), logged + 1);
    /* a client still holding version 2 after a plain-SQL write: 409 */
    ddl("UPDATE tbl_app.legacy SET qty = qty + 1 WHERE qty = 100");
    jb_reset(&out);
    assert_int_equal(
        tbl_update(db, t, 1, key, (rec_expect){0, 3}, b, &out, &ver, &err),
        REC_CONFLICT);
    assert_int_equal(ver, 4);
    assert_non_null(strstr(out.p, "\"qty\":101"));
    json_object_put(b);
    jb_free(&out);
    tbl_registry_free(r, db);
    /* a changed declaration: its triggers are replaced, not added */
    write_file(d, "legacy.conf", "table = tbl_app.legacy\ntenant = 9\n");
    must(tbl_prepare(db, d, "legacy", 0, count_print, NULL, &changes, &err),
         &err.db, "changed");
    assert_int_equal(changes, 3); /* _ai, _au, _ad log the tenant */
    assert_int_equal(count(Q_TRIGGERS, "tbl_app"), 4);
    must(tbl_prepare(db, d, "legacy", 0, count_print, NULL, &changes, &err),
         &err.db, "changed, again");
    assert_int_equal(changes, 0);
    /* refusals name the reason */
    assert_int_equal(
        tbl_prepare(db, d, "nope", 0, count_print, NULL, &changes, &err),
        REC_INVALID);
    assert_non_null(strstr(err.why, "nope.conf: cannot be opened"));
    ddl("DROP TRIGGER tbl_app.optimist_legacy_bu");
    ddl("DROP TRIGGER tbl_app.optimist_legacy_ai");
    ddl("DROP TRIGGER tbl_app.optimist_legacy_au");
    ddl("DROP TRIGGER tbl_app.optimist_legacy_ad");
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    assert_int_equal(system(cmd), 0);
}

/* ---- many writers, two kinds ------------------------------------------ */

#define RACE_CLIENTS 6
#define RACE_PLAIN   2
#define RACE_EACH    40

static char race_dir[64];
static uint64_t race_key;

struct racer {
    int plain;          /* a writer that bypasses optimist */
    unsigned acked;     /* increments acknowledged to it */
    unsigned conflicts; /* 409s it retried after */
    char failed[256];   /* "" or what went wrong */
};

static void *race(void *arg)
{
    struct racer *r = arg;
    rec_err err = {0};
    rec_db *c = rec_db_new(&cfg);
    if (r->plain) {
        static const char inc[] =
            "UPDATE tbl_app.race SET qty = qty + 1 WHERE id = ?";
        for (unsigned i = 0; i < RACE_EACH; i++) {
            uint64_t affected = 0;
            rec_param p[1] = {REC_U(race_key)};
            rec_status st = rec_exec(c, inc, p, 1, NULL, &affected, NULL, &err);
            if (st == REC_RETRY) {
                i--;
                continue;
            }
            if (st != REC_OK || affected != 1) {
                snprintf(r->failed, sizeof r->failed, "plain: %s %s",
                         rec_status_name(st), err.msg);
                break;
            }
            r->acked++;
        }
        rec_db_close(c);
        return NULL;
    }
    rec_status st;
    tbl_err terr;
    tbl_registry *own = tbl_registry_load(c, race_dir, &st, &terr);
    tbl_table *t = own ? tbl_find(own, "race", 4) : NULL;
    if (t == NULL || !t->prepared) {
        snprintf(r->failed, sizeof r->failed, "no prepared table: %s",
                 terr.db.msg);
        tbl_registry_free(own, c);
        rec_db_close(c);
        return NULL;
    }
    jbuf out;
    jb_init(&out);
    while (r->acked < RACE_EACH && r->failed[0] == '\0') {
        uint32_t v = 0;
        jb_reset(&out);
        st = tbl_get(c, t, 5, race_key, &out, &v, &terr);
        /* read, modify, write; a 409 brings the current row: again */
        for (int tries = 0; st == REC_OK && tries < 1000; tries++) {
            json_object *row = json_tokener_parse(out.p);
            int64_t qty =
                json_object_get_int64(json_object_object_get(row, "qty"));
            json_object_put(row);
            json_object *body = json_object_new_object();
            json_object_object_add(body, "qty", json_object_new_int64(qty + 1));
            jb_reset(&out);
            st = tbl_update(c, t, 5, race_key, (rec_expect){0, v}, body, &out,
                            &v, &terr);
            json_object_put(body);
            if (st == REC_OK) {
                r->acked++;
                break;
            }
            if (st == REC_CONFLICT) {
                r->conflicts++;
                st = REC_OK; /* out and v hold the current row */
            } else if (st == REC_RETRY) {
                jb_reset(&out);
                st = tbl_get(c, t, 5, race_key, &out, &v, &terr);
            }
        }
        if (st != REC_OK)
            snprintf(r->failed, sizeof r->failed, "optimist: %s %u %s",
                     rec_status_name(st), terr.db.code, terr.db.msg);
    }
    jb_free(&out);
    tbl_registry_free(own, c);
    rec_db_close(c);
    return NULL;
}

/* Optimist clients doing read-modify-write with retries, and writers of
 * plain SQL incrementing the same row: not one increment lost, and the
 * version grew by exactly one a write, whoever made it. */
static void test_race_with_plain_sql(void **state)
{
    (void)state;
    ddl("CREATE TABLE tbl_app.race (id INT AUTO_INCREMENT PRIMARY KEY,"
        " tenant_id INT NOT NULL, qty INT NOT NULL DEFAULT 0) ENGINE=InnoDB");
    snprintf(race_dir, sizeof race_dir, "/tmp/optimist-race.XXXXXX");
    assert_non_null(mkdtemp(race_dir));
    write_file(race_dir, "race.conf",
               "table = tbl_app.race\ntenant_column = tenant_id\n");
    tbl_err err;
    unsigned changes = 0;
    must(tbl_prepare(db, race_dir, "race", 0, NULL, NULL, &changes, &err),
         &err.db, "prepare");
    assert_int_equal(changes, 5);
    ddl("INSERT INTO tbl_app.race (tenant_id) VALUES (5)");
    char *k =
        one("SELECT MAX(id) FROM tbl_app.race WHERE ? IS NOT NULL", "x", NULL);
    race_key = strtoull(k, NULL, 10);
    free(k);
    uint64_t logged = count(Q_CHANGES, "race");
    struct racer r[RACE_CLIENTS + RACE_PLAIN];
    pthread_t th[RACE_CLIENTS + RACE_PLAIN];
    memset(r, 0, sizeof r);
    for (int i = 0; i < RACE_CLIENTS + RACE_PLAIN; i++) {
        r[i].plain = i >= RACE_CLIENTS;
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    unsigned acked = 0, conflicts = 0;
    for (int i = 0; i < RACE_CLIENTS + RACE_PLAIN; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (r[i].failed[0])
            fail_msg("writer %d: %s", i, r[i].failed);
        acked += r[i].acked;
        conflicts += r[i].conflicts;
    }
    assert_int_equal(acked, (RACE_CLIENTS + RACE_PLAIN) * RACE_EACH);
    char want[64];
    snprintf(want, sizeof want, "%u|%u", acked, acked + 1);
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long)race_key);
    char *got = one("SELECT CONCAT_WS('|', qty, version) FROM tbl_app.race "
                    "WHERE id = ?",
                    key, NULL);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    /* each write logged once: by the triggers alone */
    assert_int_equal(count(Q_CHANGES, "race"), logged + acked);
    print_message("race: %u increments, %u conflicts retried\n", acked,
                  conflicts);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", race_dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_nulls_and_defaults),
        cmocka_unit_test(test_decimal_digits),
        cmocka_unit_test(test_float_digits),
        cmocka_unit_test(test_values_refused),
        cmocka_unit_test(test_patch_refused_changes_nothing),
        cmocka_unit_test(test_constraints_named),
        cmocka_unit_test(test_conflict_carries_current_row),
        cmocka_unit_test(test_plan_runs_through_versioned_write),
        cmocka_unit_test(test_poll_statement),
        cmocka_unit_test(test_fixed_tenant),
        cmocka_unit_test(test_list_filters_and_pages),
        cmocka_unit_test(test_many_column_sets),
        cmocka_unit_test(test_change_log_written_by_library),
        cmocka_unit_test(test_declarations_refused),
        cmocka_unit_test(test_prepare_idempotent_and_triggers),
        cmocka_unit_test(test_race_with_plain_sql),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
