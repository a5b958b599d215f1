/*
 * rawdb.c -- the raw database ceiling of `make bench`: the statements one
 * bid request makes (token lookup, SELECT by id, versioned UPDATE), sent
 * straight to MariaDB from N threads, each with its own connection and its
 * own server-side prepared statements, with no HTTP and no JSON at all.
 * Whatever an HTTP stack adds on top of this is its own cost.
 *
 *   rawdb --socket S --user U [--password P] --db D --threads N
 *         --seconds T --scenario get|spread|hot --token TOKEN
 *         --ids LO HI [--hot ID]
 *
 * One "request" is exactly what the peers (tests/bench/peers/) do for one
 * HTTP request, statement for statement:
 *   get     token lookup (+ SHA-256 compare), SELECT the bid
 *   spread  token lookup, SELECT the bid and the database's clock; a
 *   hot     stale version ends there (409); else the UPDATE of the merged
 *           data that checks the version read (200; read again when it
 *           lost a race), of a random (spread) or the one hot (hot) bid,
 *           each statement its own transaction
 * Each thread owns the ids with id % N == thread and tracks their versions
 * as a client would (spread); on the hot row each thread sends the last
 * version it saw and learns the current one from the SELECT.
 *
 * Prints one line "BENCH {json}" with requests, duration, p50/p99 latency
 * (microseconds) and the outcome counts ("200" for a write or read that
 * succeeded, "409" for a version conflict, "other" for anything else).
 */
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <mysql.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The statements, character for character those of the peers and of
 * fcgi/routes/routes_bids.c. */
static const char SQL_TOKEN[] = "SELECT tenant_id, token_hash FROM api_tokens "
                                "WHERE lookup_key = ? AND revoked_at IS NULL";
static const char SQL_LOAD[] =
    "SELECT id, version, status, data, evaluation, lease_until, "
    "lease_until < UTC_TIMESTAMP(3), created_at, updated_at "
    "FROM bids WHERE id = ? AND tenant_id = ?";
static const char SQL_PATCH_READ[] =
    "SELECT id, version, status, data, evaluation, lease_until, "
    "lease_until < UTC_TIMESTAMP(3), created_at, updated_at, "
    "UTC_TIMESTAMP(3) FROM bids WHERE id = ? AND tenant_id = ?";
enum { R_VERSION = 1, R_STATUS = 2, R_DATA = 3, R_NOW = 9 };
static const char SQL_PATCH_CHECKED[] =
    "UPDATE bids SET data = ?, "
    "data_version = data_version + 1, version = version + 1, "
    "updated_at = ? "
    "WHERE id = ? AND tenant_id = ? AND version = ? "
    "AND status IN ('open', 'evaluating', 'decided')";

#define MAX_COLS 16
#define COL_BUF  16384

enum scenario { SC_GET, SC_SPREAD, SC_HOT };

static struct {
    const char *socket, *user, *password, *db, *token;
    int threads, seconds;
    enum scenario sc;
    uint64_t lo, hi, hot;
} opt = {.user = "root", .db = "optimist", .threads = 1, .seconds = 10};

static volatile int stop_flag;

typedef struct stmt {
    MYSQL_STMT *s;
    unsigned ncols;
    MYSQL_BIND res[MAX_COLS];
    char bufs[MAX_COLS][COL_BUF];
    unsigned long lens[MAX_COLS];
    my_bool nulls[MAX_COLS];
} stmt;

typedef struct worker {
    int index;
    MYSQL *conn;
    stmt token, load, read, patch;
    uint32_t *versions; /* spread: versions of the ids this thread owns */
    uint32_t hot_seen;  /* hot: the last version this thread saw */
    uint64_t rnd;
    /* results */
    uint64_t n200, n409, nother;
    uint32_t *lat; /* microseconds, one per request */
    size_t nlat, caplat;
    char first_error[256];
} worker;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "rawdb: %s: %s\n", what, msg);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void prepare(MYSQL *conn, stmt *st, const char *sql)
{
    st->s = mysql_stmt_init(conn);
    if (st->s == NULL || mysql_stmt_prepare(st->s, sql, strlen(sql)) != 0)
        die("prepare", mysql_error(conn));
    MYSQL_RES *meta = mysql_stmt_result_metadata(st->s);
    st->ncols = meta ? mysql_num_fields(meta) : 0;
    if (meta)
        mysql_free_result(meta);
    memset(st->res, 0, sizeof st->res);
    for (unsigned c = 0; c < st->ncols && c < MAX_COLS; c++) {
        st->res[c].buffer_type = MYSQL_TYPE_STRING;
        st->res[c].buffer = st->bufs[c];
        st->res[c].buffer_length = COL_BUF;
        st->res[c].length = &st->lens[c];
        st->res[c].is_null = &st->nulls[c];
    }
    if (st->ncols > 0 && mysql_stmt_bind_result(st->s, st->res) != 0)
        die("bind result", mysql_stmt_error(st->s));
}

/* Runs st with params; fetches the first row into the buffers. Returns the
 * number of rows (0 or 1 here), affected rows in *affected, -1 on error. */
static int run(worker *w, stmt *st, MYSQL_BIND *params, uint64_t *affected)
{
    if (mysql_stmt_bind_param(st->s, params) != 0 ||
        mysql_stmt_execute(st->s) != 0)
        goto fail;
    if (affected)
        *affected = mysql_stmt_affected_rows(st->s);
    if (st->ncols == 0)
        return 0;
    if (mysql_stmt_store_result(st->s) != 0)
        goto fail;
    int rows = 0;
    for (;;) {
        int rc = mysql_stmt_fetch(st->s);
        if (rc == MYSQL_NO_DATA)
            break;
        if (rc == 1)
            goto fail;
        rows++;
    }
    mysql_stmt_free_result(st->s);
    return rows;
fail:
    if (w->first_error[0] == '\0')
        snprintf(w->first_error, sizeof w->first_error, "%s",
                 mysql_stmt_error(st->s));
    mysql_stmt_free_result(st->s);
    return -1;
}

static void bind_u64(MYSQL_BIND *b, const uint64_t *v)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = (void *)v;
    b->is_unsigned = 1;
}

static void bind_str(MYSQL_BIND *b, const char *s, unsigned long *len)
{
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)s;
    b->buffer_length = *len;
    b->length = len;
}

/* The token check: lookup by the public key, SHA-256 of the whole token
 * compared in constant time. Returns the tenant, 0 if refused. */
static uint64_t auth(worker *w)
{
    MYSQL_BIND p[1];
    unsigned long klen = 16;
    bind_str(&p[0], opt.token + 4, &klen);
    if (run(w, &w->token, p, NULL) != 1)
        return 0;
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)opt.token, strlen(opt.token), h);
    if (w->token.lens[1] != sizeof h ||
        CRYPTO_memcmp(w->token.bufs[1], h, sizeof h) != 0)
        return 0;
    return strtoull(w->token.bufs[0], NULL, 10);
}

static int load(worker *w, uint64_t id, uint64_t tenant)
{
    MYSQL_BIND p[2];
    bind_u64(&p[0], &id);
    bind_u64(&p[1], &tenant);
    return run(w, &w->load, p, NULL);
}

/* The merge of {"price": price} into the JSON object doc[0..len), by text
 * surgery: the value after "price": replaced, or the member added first.
 * (The bench's patches are all of that one form, and a real merge is the
 * application's work, not the database's.) Returns the length written to
 * out, 0 if it does not fit. */
static size_t merge_price(char *out, size_t cap, const char *doc, size_t len,
                          unsigned price)
{
    const char *k = memmem(doc, len, "\"price\":", 8);
    int n;
    if (k == NULL) {
        n = snprintf(out, cap, "{\"price\":%u%s%.*s", price, len > 2 ? "," : "",
                     (int)(len - 1), doc + 1);
    } else {
        const char *v = k + 8, *end = doc + len;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\n'))
            v++; /* MariaDB writes "price": 10 */
        const char *rest = v;
        while (rest < end && strchr("-+.0123456789eE", *rest) != NULL)
            rest++;
        n = snprintf(out, cap, "%.*s%u%.*s", (int)(v - doc), doc, price,
                     (int)(end - rest), rest);
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* One versioned write, as optimist and the peers do it: read, a stale
 * version ends there, else merge and the UPDATE that checks the version
 * read; one that lost a race reads again. Returns 200, 409 or 0. */
static int patch(worker *w, uint64_t id, uint64_t tenant, uint32_t version,
                 uint32_t *current)
{
    char doc[COL_BUF + 64];
    uint64_t v = version, affected = 0;
    MYSQL_BIND key[2], p[5];
    bind_u64(&key[0], &id);
    bind_u64(&key[1], &tenant);
    for (int round = 0; round < 3; round++) {
        if (run(w, &w->read, key, NULL) != 1)
            return 0;
        *current = (uint32_t)strtoul(w->read.bufs[R_VERSION], NULL, 10);
        if (strcmp(w->read.bufs[R_STATUS], "archived") == 0)
            return 0;
        if (*current != version || round == 2)
            return 409;
        if (w->read.lens[R_DATA] < 2 || w->read.lens[R_DATA] > COL_BUF)
            return 0; /* not an object we can hold */
        unsigned long dlen = (unsigned long)merge_price(
            doc, sizeof doc, w->read.bufs[R_DATA], w->read.lens[R_DATA],
            (unsigned)(next_rand(&w->rnd) % 100000));
        if (dlen == 0)
            return 0;
        unsigned long nlen = w->read.lens[R_NOW];
        bind_str(&p[0], doc, &dlen);
        bind_str(&p[1], w->read.bufs[R_NOW], &nlen);
        bind_u64(&p[2], &id);
        bind_u64(&p[3], &tenant);
        bind_u64(&p[4], &v);
        if (run(w, &w->patch, p, &affected) < 0)
            return 0;
        if (affected == 1) {
            *current = version + 1;
            return 200;
        }
    }
    return 409;
}

static int one_request(worker *w)
{
    uint64_t tenant = auth(w);
    if (tenant == 0)
        return 0;
    uint64_t span = opt.hi - opt.lo + 1;
    switch (opt.sc) {
    case SC_GET: {
        uint64_t id = opt.lo + next_rand(&w->rnd) % span;
        return load(w, id, tenant) == 1 ? 200 : 0;
    }
    case SC_SPREAD: {
        /* A random id among those id % threads == index. */
        uint64_t owned =
            (span + (uint64_t)opt.threads - 1) / (uint64_t)opt.threads;
        uint64_t id;
        do {
            id = opt.lo + (next_rand(&w->rnd) % owned) * (uint64_t)opt.threads +
                 (uint64_t)w->index;
        } while (id > opt.hi);
        uint32_t *v = &w->versions[id - opt.lo];
        uint32_t cur = 0;
        int st = patch(w, id, tenant, *v, &cur);
        if (cur > *v)
            *v = cur;
        return st;
    }
    case SC_HOT: {
        uint32_t cur = 0;
        int st = patch(w, opt.hot, tenant, w->hot_seen, &cur);
        if (cur > w->hot_seen)
            w->hot_seen = cur;
        return st;
    }
    }
    return 0;
}

static MYSQL *connect_db(void)
{
    MYSQL *m = mysql_init(NULL);
    if (m == NULL)
        die("mysql_init", "out of memory");
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* The session settings every peer uses (and optimist). */
    mysql_optionsv(m, MYSQL_INIT_COMMAND,
                   "SET time_zone = '+00:00', tx_isolation = 'READ-COMMITTED'");
    if (mysql_real_connect(m, NULL, opt.user, opt.password, opt.db, 0,
                           opt.socket, 0) == NULL)
        die("connect", mysql_error(m));
    return m;
}

/* Reads the current versions of the bids [lo, hi] (spread) or of the hot
 * bid, as a client would know them from its last GET. */
static void read_versions(worker *w)
{
    char q[256];
    if (opt.sc == SC_HOT)
        snprintf(q, sizeof q, "SELECT id, version FROM bids WHERE id = %llu",
                 (unsigned long long)opt.hot);
    else
        snprintf(q, sizeof q,
                 "SELECT id, version FROM bids WHERE id BETWEEN %llu AND %llu",
                 (unsigned long long)opt.lo, (unsigned long long)opt.hi);
    if (mysql_query(w->conn, q) != 0)
        die("versions", mysql_error(w->conn));
    MYSQL_RES *res = mysql_store_result(w->conn);
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res)) != NULL) {
        uint64_t id = strtoull(row[0], NULL, 10);
        uint32_t v = (uint32_t)strtoul(row[1], NULL, 10);
        if (opt.sc == SC_HOT)
            w->hot_seen = v;
        else if (id >= opt.lo && id <= opt.hi)
            w->versions[id - opt.lo] = v;
    }
    if (res)
        mysql_free_result(res);
}

static pthread_barrier_t ready;

static void *thread_main(void *arg)
{
    worker *w = arg;
    mysql_thread_init();
    w->conn = connect_db();
    prepare(w->conn, &w->token, SQL_TOKEN);
    prepare(w->conn, &w->load, SQL_LOAD);
    prepare(w->conn, &w->read, SQL_PATCH_READ);
    prepare(w->conn, &w->patch, SQL_PATCH_CHECKED);
    if (opt.sc != SC_GET) {
        w->versions = calloc(opt.hi - opt.lo + 1, sizeof *w->versions);
        if (w->versions == NULL)
            die("calloc", "out of memory");
        read_versions(w);
    }
    pthread_barrier_wait(&ready);
    while (!stop_flag) {
        double t0 = now_s();
        int st = one_request(w);
        double dt = now_s() - t0;
        if (st == 200)
            w->n200++;
        else if (st == 409)
            w->n409++;
        else
            w->nother++;
        if (w->nlat == w->caplat) {
            w->caplat = w->caplat ? w->caplat * 2 : 65536;
            w->lat = realloc(w->lat, w->caplat * sizeof *w->lat);
            if (w->lat == NULL)
                die("realloc", "out of memory");
        }
        w->lat[w->nlat++] = (uint32_t)(dt * 1e6 + 0.5);
    }
    mysql_stmt_close(w->token.s);
    mysql_stmt_close(w->load.s);
    mysql_stmt_close(w->read.s);
    mysql_stmt_close(w->patch.s);
    mysql_close(w->conn);
    free(w->versions);
    mysql_thread_end();
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: rawdb --socket S --user U [--password P] --db D "
                    "--threads N --seconds T --scenario get|spread|hot "
                    "--token TOKEN --ids LO HI [--hot ID]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (usage(), ""))
        if (!strcmp(a, "--socket"))
            opt.socket = NEXT();
        else if (!strcmp(a, "--user"))
            opt.user = NEXT();
        else if (!strcmp(a, "--password"))
            opt.password = NEXT();
        else if (!strcmp(a, "--db"))
            opt.db = NEXT();
        else if (!strcmp(a, "--token"))
            opt.token = NEXT();
        else if (!strcmp(a, "--threads"))
            opt.threads = atoi(NEXT());
        else if (!strcmp(a, "--seconds"))
            opt.seconds = atoi(NEXT());
        else if (!strcmp(a, "--hot"))
            opt.hot = strtoull(NEXT(), NULL, 10);
        else if (!strcmp(a, "--ids")) {
            opt.lo = strtoull(NEXT(), NULL, 10);
            opt.hi = strtoull(NEXT(), NULL, 10);
        } else if (!strcmp(a, "--scenario")) {
            const char *s = NEXT();
            if (!strcmp(s, "get"))
                opt.sc = SC_GET;
            else if (!strcmp(s, "spread"))
                opt.sc = SC_SPREAD;
            else if (!strcmp(s, "hot"))
                opt.sc = SC_HOT;
            else
                usage();
        } else
            usage();
#undef NEXT
    }
    if (opt.token == NULL || strlen(opt.token) < 21 || opt.threads < 1 ||
        opt.seconds < 1 || opt.lo == 0 || opt.hi < opt.lo ||
        (opt.sc == SC_HOT && opt.hot == 0))
        usage();
    if (mysql_library_init(0, NULL, NULL) != 0)
        die("mysql_library_init", "failed");

    worker *ws = calloc((size_t)opt.threads, sizeof *ws);
    pthread_t *tids = calloc((size_t)opt.threads, sizeof *tids);
    if (ws == NULL || tids == NULL)
        die("calloc", "out of memory");
    pthread_barrier_init(&ready, NULL, (unsigned)opt.threads + 1);
    for (int t = 0; t < opt.threads; t++) {
        ws[t].index = t;
        ws[t].rnd =
            0x9E3779B97F4A7C15ull * (uint64_t)(t + 1) ^ (uint64_t)time(NULL);
        pthread_create(&tids[t], NULL, thread_main, &ws[t]);
    }
    pthread_barrier_wait(&ready);
    double t0 = now_s();
    struct timespec d = {.tv_sec = opt.seconds};
    while (nanosleep(&d, &d) != 0)
        ;
    stop_flag = 1;
    for (int t = 0; t < opt.threads; t++)
        pthread_join(tids[t], NULL);
    double elapsed = now_s() - t0;

    uint64_t n200 = 0, n409 = 0, nother = 0;
    size_t n = 0;
    for (int t = 0; t < opt.threads; t++)
        n += ws[t].nlat;
    uint32_t *all = malloc((n ? n : 1) * sizeof *all);
    if (all == NULL)
        die("malloc", "out of memory");
    size_t k = 0;
    const char *err = "";
    for (int t = 0; t < opt.threads; t++) {
        n200 += ws[t].n200;
        n409 += ws[t].n409;
        nother += ws[t].nother;
        memcpy(all + k, ws[t].lat, ws[t].nlat * sizeof *all);
        k += ws[t].nlat;
        if (err[0] == '\0' && ws[t].first_error[0] != '\0')
            err = ws[t].first_error;
    }
    qsort(all, n, sizeof *all, cmp_u32);
    uint32_t p50 = n ? all[(size_t)((double)(n - 1) * 0.50)] : 0;
    uint32_t p99 = n ? all[(size_t)((double)(n - 1) * 0.99)] : 0;
    /* The error text is for a person: keep it JSON-safe. */
    char safe[256];
    size_t j = 0;
    for (const char *p = err; *p && j + 1 < sizeof safe; p++)
        safe[j++] =
            (*p == '"' || *p == '\\' || (unsigned char)*p < 32) ? ' ' : *p;
    safe[j] = '\0';
    printf("BENCH {\"requests\": %zu, \"duration_us\": %.0f, \"p50_us\": %u, "
           "\"p99_us\": %u, \"c200\": %llu, \"c409\": %llu, \"cother\": %llu, "
           "\"errors\": 0, \"first_other\": \"%s\"}\n",
           n, elapsed * 1e6, p50, p99, (unsigned long long)n200,
           (unsigned long long)n409, (unsigned long long)nother, safe);
    for (int t = 0; t < opt.threads; t++)
        free(ws[t].lat);
    free(all);
    free(ws);
    free(tids);
    mysql_library_end();
    return 0;
}
