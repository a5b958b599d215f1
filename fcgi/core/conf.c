/*
 * conf.c -- the option table and its loader. Every option is listed once,
 * here, with its type, default and whether a reload (SIGHUP) applies it;
 * the table in docs/operations.md mirrors this one (tests/e2e/test_docs.py
 * checks they agree) and optimist.conf(5) is generated from it.
 */
#include "conf.h"

#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_type { OPT_STR, OPT_INT, OPT_LEVEL };

struct opt {
    const char *name; /* environment variable and config file key */
    enum opt_type type;
    size_t offset;   /* field in struct conf */
    size_t size;     /* for strings: the field's size */
    const char *def; /* default as text; NULL = computed */
    long min, max;   /* for integers */
    int reloadable;  /* 1: SIGHUP applies a new value */
    const char *help;
};

#define STR(field) OPT_STR, offsetof(conf, field), sizeof(((conf *)0)->field)
#define INT(field) OPT_INT, offsetof(conf, field), 0

static const struct opt opts[] = {
    {"OPTIMIST_LISTEN", STR(listen), "var/run/optimist.sock", 0, 0, 0,
     "unix socket path, or host:port, to accept FastCGI on"},
    {"OPTIMIST_WORKERS", INT(workers), NULL, 1, 256, 1,
     "worker processes (default: the cores)"},
    {"OPTIMIST_MAX_REQUESTS", OPT_INT, offsetof(conf, max_requests), 0, "10000",
     0, LONG_MAX, 1,
     "requests a worker serves before it is "
     "recycled (0: never)"},
    {"OPTIMIST_INFLIGHT", INT(inflight), "8", 1, 256, 1,
     "requests a worker holds at once, each with its own database "
     "connection, so that one held by a row lock does not hold the worker "
     "(1: one at a time)"},
    {"OPTIMIST_SHUTDOWN_TIMEOUT", INT(shutdown_timeout), "10", 1, 3600, 1,
     "seconds in-flight requests get on SIGTERM before SIGKILL"},
    {"OPTIMIST_PIDFILE", STR(pidfile), "", 0, 0, 0,
     "file the master writes its pid to"},
    {"OPTIMIST_LOG_FILE", STR(log_file), "", 0, 0, 0,
     "file the pool logs to, reopened on SIGUSR1 (default: stderr)"},
    {"OPTIMIST_LOG_LEVEL", OPT_LEVEL, offsetof(conf, log_level), 0, "info", 0,
     3, 1, "error, warn, info or debug"},
    {"OPTIMIST_DB_SOCKET", STR(db_socket), "", 0, 0, 1,
     "MariaDB unix socket (wins over host/port)"},
    {"OPTIMIST_DB_HOST", STR(db_host), "localhost", 0, 0, 1, "MariaDB host"},
    {"OPTIMIST_DB_PORT", INT(db_port), "3306", 1, 65535, 1, "MariaDB port"},
    {"OPTIMIST_DB_USER", STR(db_user), "", 0, 0, 1,
     "database user (default: the OS user)"},
    {"OPTIMIST_DB_PASSWORD", STR(db_password), "", 0, 0, 1,
     "database password"},
    {"OPTIMIST_DB_NAME", STR(db_name), "optimist", 0, 0, 1, "database name"},
    {"OPTIMIST_DB_RETRIES", INT(db_retries), "5", 0, 50, 1,
     "times a deadlocked transaction is run again"},
    {"OPTIMIST_DB_HOSTS", STR(db_hosts), "", 0, 0, 1,
     "ordered database hosts, host:port or socket paths, comma-separated "
     "(wins over socket and host/port; a Galera cluster's nodes)"},
    {"OPTIMIST_DB_FAILBACK", INT(db_failback), "30", 1, 86400, 1,
     "seconds on a later host of OPTIMIST_DB_HOSTS before the earlier "
     "ones are tried again"},
    {"OPTIMIST_IDEMPOTENCY_TTL", INT(idempotency_ttl), "86400", 1, 31536000, 1,
     "seconds an Idempotency-Key and its answer are kept"},
    {"OPTIMIST_IDEMPOTENCY_CLAIM", INT(idempotency_claim), "30", 1, 3600, 1,
     "seconds a key stays in use by a request that never finished "
     "(its worker died) before it can be claimed again"},
    {"OPTIMIST_EVALUATOR", STR(evaluator), "", 0, 0, 1,
     "program that evaluates a bid (default: the built-in demo)"},
    {"OPTIMIST_EVALUATOR_TIMEOUT", INT(evaluator_timeout), "120", 1, 86400, 1,
     "seconds an evaluator may run before it is killed"},
    {"OPTIMIST_DEMO_EVAL_STEPS", INT(demo_eval_steps), "5", 1, 1000, 1,
     "progress steps of the built-in demo evaluator"},
    {"OPTIMIST_DEMO_EVAL_DELAY_MS", INT(demo_eval_delay_ms), "1000", 0, 600000,
     1, "milliseconds per step of the demo evaluator"},
    {"OPTIMIST_LEASE_SECONDS", INT(lease_seconds), "30", 1, 3600, 1,
     "an evaluation's lease; renewed by its progress"},
    {"OPTIMIST_SSE_PING_SECONDS", INT(sse_ping_seconds), "15", 1, 3600, 1,
     "seconds between ': ping' comments on an event stream"},
    {"OPTIMIST_MAX_EVALUATIONS", INT(max_evaluations), "0", 0, 256, 1,
     "evaluator processes the pool's hub runs at once (0: 64); beyond it "
     "evaluate answers 503"},
    {"OPTIMIST_MAX_EVALUATIONS_PER_TENANT", INT(max_evaluations_per_tenant),
     "0", 0, 256, 1,
     "one tenant's share of OPTIMIST_MAX_EVALUATIONS (0: "
     "half of it)"},
    {"OPTIMIST_MAX_STREAMS", INT(max_streams), "12000", 1, 1000000, 1,
     "event streams the pool holds open at once; beyond, 503 (keep it "
     "below what nginx holds: docs/streams.md)"},
    {"OPTIMIST_MAX_STREAMS_PER_TENANT", INT(max_streams_per_tenant), "0", 0,
     1000000, 1,
     "event streams one tenant may hold open on a hub (0: "
     "half of OPTIMIST_MAX_STREAMS)"},
    {"OPTIMIST_STREAM_POLL_MS", INT(stream_poll_ms), "250", 10, 10000, 1,
     "milliseconds between the hub's database polls for changes made "
     "through other hosts"},
    {"OPTIMIST_IDEMPOTENCY_PURGE", INT(idempotency_purge), "60", 1, 86400, 1,
     "seconds between the master's purges of expired Idempotency-Keys"},
    {"OPTIMIST_EVALUATOR_USER", STR(evaluator_user), "", 0, 0, 1,
     "user a root pool runs evaluators as (default: nobody; a pool that "
     "is not root ignores it: its namespaces separate the evaluator)"},
    {"OPTIMIST_EVALUATOR_WORKDIR", STR(evaluator_workdir), "", 0, 0, 1,
     "ignored: each run's only writable place is a fresh tmpfs at /tmp "
     "in its own mount namespace"},
    {"OPTIMIST_STREAM_TICKET_RATE", INT(stream_ticket_rate), "100", 1, 1000000,
     1, "stream tickets a tenant may ask for in 10 seconds (503 beyond)"},
    {"OPTIMIST_STREAM_TICKET_MAX", INT(stream_ticket_max), "1000", 1, 10000000,
     1,
     "live stream tickets a tenant may hold, each kept an hour (503 "
     "beyond)"},
    {"OPTIMIST_EVALUATION_MAX_EVENTS", INT(evaluation_max_events), "1000", 1,
     1000000, 1,
     "progress events one run may store; beyond it the run ends as "
     "failed"},
    {"OPTIMIST_EVALUATION_MAX_EVENT_BYTES", INT(evaluation_max_event_bytes),
     "4194304", 1024, 1073741824, 1,
     "bytes of progress events one run may store; beyond it the run ends "
     "as failed"},
    {"OPTIMIST_EVALUATION_EVENTS_TTL", INT(evaluation_events_ttl), "86400", 1,
     31536000, 1,
     "seconds a finished run's progress events are kept (its claimed and "
     "final events stay)"},
    {"OPTIMIST_EVALUATOR_BIND", STR(evaluator_bind), "", 0, 0, 1,
     "extra paths the evaluator may read (read-only), ':'-separated; it "
     "sees /usr, /bin, /lib*, the program and these only"},
    {"OPTIMIST_BWRAP", STR(bwrap), "/usr/bin/bwrap", 0, 0, 1,
     "the bubblewrap binary that starts every evaluator in namespaces of "
     "its own"},
    {"OPTIMIST_EVALUATOR_MEMORY_MB", INT(evaluator_memory_mb), "1024", 0,
     1048576, 1, "evaluator's address space in MiB (0: not limited)"},
    {"OPTIMIST_EVALUATOR_CPU_SECONDS", INT(evaluator_cpu_seconds), "120", 0,
     86400, 1, "evaluator's CPU seconds (0: not limited)"},
    {"OPTIMIST_EVALUATOR_PROCESSES", INT(evaluator_processes), "64", 0, 65536,
     1,
     "processes of the evaluator's user, for a root pool (a user of "
     "its own) only (0: not limited)"},
    {"OPTIMIST_EVALUATOR_FILE_MB", INT(evaluator_file_mb), "64", 0, 1048576, 1,
     "largest file the evaluator may write, MiB (0: not limited)"},
    {"OPTIMIST_EVALUATOR_OPEN_FILES", INT(evaluator_open_files), "64", 0, 65536,
     1, "evaluator's open descriptors (0: not limited)"},
    {"OPTIMIST_SESSION_MAX_MESSAGES", INT(session_max_messages), "10000", 1,
     10000000, 1, "messages a session may hold (409 document_full beyond)"},
    {"OPTIMIST_SESSION_MAX_BYTES", INT(session_max_bytes), "8388608", 1024,
     1073741824, 1,
     "bytes of a session's stored messages (409 "
     "document_full beyond)"},
    {"OPTIMIST_PAGE_MAX_BYTES", INT(page_max_bytes), "4194304", 65536,
     1073741824, 1,
     "bytes of a list page: it ends early, and next_after "
     "goes on from there"},
    {"OPTIMIST_LISTEN_GROUP", STR(listen_group), "", 0, 0, 0,
     "group of the unix socket (mode 0660; default: the pool's group)"},
    {"OPTIMIST_METRICS_TOKEN", STR(metrics_token), "", 0, 0, 1,
     "when set, GET /metrics needs Authorization: Bearer <it>"},
    {"OPTIMIST_TABLES_DIR", STR(tables_dir), "", 0, 0, 1,
     "folder of the declared tables (<name>.conf), read at start and on "
     "SIGHUP (empty: none served)"},
};

#define NOPTS (sizeof opts / sizeof opts[0])

static int set_opt(conf *c, const struct opt *o, const char *val, char *errbuf,
                   size_t errlen)
{
    char *p = (char *)c + o->offset;

    if (o->type == OPT_STR) {
        if (strlen(val) >= o->size) {
            snprintf(errbuf, errlen, "%s: value longer than %zu bytes", o->name,
                     o->size - 1);
            return -1;
        }
        memcpy(p, val, strlen(val) + 1);
        return 0;
    }
    if (o->type == OPT_LEVEL) {
        int lv = log_parse_level(val);
        if (lv < 0) {
            snprintf(errbuf, errlen,
                     "%s: '%s' is not one of error, warn, info, debug", o->name,
                     val);
            return -1;
        }
        *(int *)p = lv;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end != '\0' || v < o->min || v > o->max) {
        snprintf(errbuf, errlen, "%s: '%s' is not an integer in %ld..%ld",
                 o->name, val, o->min, o->max);
        return -1;
    }
    if (o->offset == offsetof(conf, max_requests))
        *(long *)p = v;
    else
        *(int *)p = (int)v;
    return 0;
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len &&
            strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static int load_file(conf *c, const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int lineno = 0;

    if (f == NULL) {
        snprintf(errbuf, errlen, "OPTIMIST_CONFIG: cannot open %s: %s", path,
                 strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(errbuf, errlen, "%s:%d: line longer than %zu bytes", path,
                     lineno, sizeof line - 2);
            fclose(f);
            return -1;
        }
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strcspn(s, "\r\n");
        s[n] = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        const struct opt *o = eq ? find_opt(s, (size_t)(eq - s)) : NULL;
        if (o == NULL) {
            snprintf(errbuf, errlen, "%s:%d: unknown option '%s'", path, lineno,
                     s);
            fclose(f);
            return -1;
        }
        if (set_opt(c, o, eq + 1, errbuf, errlen) != 0) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

int conf_load(conf *c, char *errbuf, size_t errlen)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        char computed[32];
        const char *val = o->def;
        if (val == NULL) { /* OPTIMIST_WORKERS: one a core (worker.c) */
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            snprintf(computed, sizeof computed, "%ld",
                     cores > 0 ? (cores > 256 ? 256 : cores) : 2);
            val = computed;
        }
        if (set_opt(c, o, val, errbuf, errlen) != 0)
            return -1;
        const char *env = getenv(o->name);
        if (env != NULL && set_opt(c, o, env, errbuf, errlen) != 0)
            return -1;
    }
    const char *file = getenv("OPTIMIST_CONFIG");
    if (file != NULL && file[0] != '\0' &&
        load_file(c, file, errbuf, errlen) != 0)
        return -1;
    return 0;
}

void conf_keep_fixed(conf *fresh, const conf *old,
                     void (*warn)(const char *name, const char *kept))
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (o->reloadable)
            continue;
        char *to = (char *)fresh + o->offset;
        const char *from = (const char *)old + o->offset;
        size_t size = o->type == OPT_STR                          ? o->size
                      : o->offset == offsetof(conf, max_requests) ? sizeof(long)
                                                                  : sizeof(int);
        if (o->type == OPT_STR ? strcmp(to, from) == 0
                               : memcmp(to, from, size) == 0)
            continue;
        char kept[64];
        if (o->type == OPT_STR)
            snprintf(kept, sizeof kept, "%s", from);
        else if (size == sizeof(long))
            snprintf(kept, sizeof kept, "%ld", *(const long *)from);
        else
            snprintf(kept, sizeof kept, "%d", *(const int *)from);
        if (warn != NULL)
            warn(o->name, o->type == OPT_STR ? from : kept);
        memcpy(to, from, size);
    }
}

void conf_rec_config(const conf *c, rec_config *out)
{
    memset(out, 0, sizeof *out);
    out->socket = c->db_socket[0] ? c->db_socket : NULL;
    out->host = c->db_host;
    out->port = (unsigned)c->db_port;
    out->user = c->db_user[0] ? c->db_user : NULL;
    out->password = c->db_password[0] ? c->db_password : NULL;
    out->database = c->db_name;
    out->connect_timeout = 3;
    out->retries = (unsigned)c->db_retries;
    out->hosts = c->db_hosts[0] ? c->db_hosts : NULL;
    out->failback_secs = (unsigned)c->db_failback;
}

void conf_dump(const conf *c, void (*line)(const char *))
{
    char buf[512];
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        const char *p = (const char *)c + o->offset;
        if (o->offset == offsetof(conf, db_password) ||
            o->offset == offsetof(conf, metrics_token))
            snprintf(buf, sizeof buf, "%s=%s", o->name, *p ? "(set)" : "");
        else if (o->type == OPT_STR)
            snprintf(buf, sizeof buf, "%s=%s", o->name, p);
        else if (o->type == OPT_LEVEL)
            snprintf(buf, sizeof buf, "%s=%d", o->name, *(const int *)p);
        else if (o->offset == offsetof(conf, max_requests))
            snprintf(buf, sizeof buf, "%s=%ld", o->name, *(const long *)p);
        else
            snprintf(buf, sizeof buf, "%s=%d", o->name, *(const int *)p);
        line(buf);
    }
}

void conf_help(void (*line)(const char *))
{
    char buf[512];
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        snprintf(buf, sizeof buf, "%-26s %-8s %s%s", o->name,
                 o->def ? (o->def[0] ? o->def : "\"\"") : "2*cores", o->help,
                 o->reloadable ? "" : " (restart to change)");
        line(buf);
    }
}
