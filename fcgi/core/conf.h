/*
 * conf.h -- the pool's options: one table (name, type, default, reloadable),
 * read from the environment and then from the file named by
 * OPTIMIST_CONFIG (KEY=VALUE lines), which SIGHUP reads again.
 */
#ifndef OPTIMIST_CONF_H
#define OPTIMIST_CONF_H

#include "rec.h"

typedef struct conf {
    char listen[256];      /* OPTIMIST_LISTEN: unix socket path, or
                              host:port */
    int workers;           /* OPTIMIST_WORKERS: default the cores */
    long max_requests;     /* OPTIMIST_MAX_REQUESTS: 0 = never recycle */
    int inflight;          /* OPTIMIST_INFLIGHT: requests a worker holds at
                              once (fcgi/pool/fiber.c) */
    int shutdown_timeout;  /* OPTIMIST_SHUTDOWN_TIMEOUT: seconds */
    char pidfile[256];     /* OPTIMIST_PIDFILE: "" = none */
    char log_file[256];    /* OPTIMIST_LOG_FILE: "" = stderr as given */
    int log_level;         /* OPTIMIST_LOG_LEVEL: enum log_level */
    char db_socket[256];   /* OPTIMIST_DB_SOCKET */
    char db_host[256];     /* OPTIMIST_DB_HOST */
    int db_port;           /* OPTIMIST_DB_PORT */
    char db_user[128];     /* OPTIMIST_DB_USER */
    char db_password[128]; /* OPTIMIST_DB_PASSWORD */
    char db_name[128];     /* OPTIMIST_DB_NAME */
    int db_retries;        /* OPTIMIST_DB_RETRIES: txn re-runs */
    char db_hosts[1024];   /* OPTIMIST_DB_HOSTS: ordered host list */
    int db_failback;       /* OPTIMIST_DB_FAILBACK: seconds */
    int idempotency_ttl;   /* OPTIMIST_IDEMPOTENCY_TTL: seconds a key
                              and its answer are kept */
    int idempotency_claim; /* OPTIMIST_IDEMPOTENCY_CLAIM: seconds before
                              an unfinished claim may be taken over */
    /* ---- bids' evaluations (routes_evaluate.c) ---- */
    char evaluator[512];    /* OPTIMIST_EVALUATOR: program; "" = demo */
    int evaluator_timeout;  /* OPTIMIST_EVALUATOR_TIMEOUT: seconds */
    int demo_eval_steps;    /* OPTIMIST_DEMO_EVAL_STEPS */
    int demo_eval_delay_ms; /* OPTIMIST_DEMO_EVAL_DELAY_MS: per step */
    int lease_seconds;      /* OPTIMIST_LEASE_SECONDS */
    int sse_ping_seconds;   /* OPTIMIST_SSE_PING_SECONDS */
    int max_evaluations;    /* OPTIMIST_MAX_EVALUATIONS: 0 = automatic */
    int max_evaluations_per_tenant; /* OPTIMIST_MAX_EVALUATIONS_PER_TENANT */
    int stream_poll_ms;         /* OPTIMIST_STREAM_POLL_MS: the hub's poll */
    int max_streams;            /* OPTIMIST_MAX_STREAMS */
    int max_streams_per_tenant; /* OPTIMIST_MAX_STREAMS_PER_TENANT */
    int idempotency_purge;      /* OPTIMIST_IDEMPOTENCY_PURGE: seconds between
                                   the master's purges of expired keys */
    /* ---- the evaluator's sandbox (sandbox.c) ---- */
    char evaluator_user[64];     /* OPTIMIST_EVALUATOR_USER: "" = the pool's */
    char evaluator_workdir[256]; /* OPTIMIST_EVALUATOR_WORKDIR: "" = $TMPDIR */
    char evaluator_bind[512];    /* OPTIMIST_EVALUATOR_BIND: read-only paths */
    char bwrap[256];             /* OPTIMIST_BWRAP: the bubblewrap binary */
    int evaluation_max_events;   /* OPTIMIST_EVALUATION_MAX_EVENTS */
    int evaluation_max_event_bytes; /* OPTIMIST_EVALUATION_MAX_EVENT_BYTES */
    int evaluation_events_ttl;      /* OPTIMIST_EVALUATION_EVENTS_TTL: s */
    int stream_ticket_rate;         /* OPTIMIST_STREAM_TICKET_RATE: per 10 s */
    int stream_ticket_max;          /* OPTIMIST_STREAM_TICKET_MAX: live */
    int evaluator_memory_mb;   /* OPTIMIST_EVALUATOR_MEMORY_MB: RLIMIT_AS */
    int evaluator_cpu_seconds; /* OPTIMIST_EVALUATOR_CPU_SECONDS */
    int evaluator_processes;   /* OPTIMIST_EVALUATOR_PROCESSES: RLIMIT_NPROC */
    int evaluator_file_mb;     /* OPTIMIST_EVALUATOR_FILE_MB: RLIMIT_FSIZE */
    int evaluator_open_files;  /* OPTIMIST_EVALUATOR_OPEN_FILES */
    /* ---- document limits (limits.c) ---- */
    int session_max_messages;   /* OPTIMIST_SESSION_MAX_MESSAGES */
    int session_max_bytes;      /* OPTIMIST_SESSION_MAX_BYTES */
    int page_max_bytes;         /* OPTIMIST_PAGE_MAX_BYTES: a list page */
    char listen_group[64];      /* OPTIMIST_LISTEN_GROUP: "" = the pool's */
    char metrics_token[128];    /* OPTIMIST_METRICS_TOKEN: "" = none */
    char tables_dir[256];       /* OPTIMIST_TABLES_DIR: "" = no declared
                                   tables */
    int trust_proxy_request_id; /* always 1: REQUEST_ID param is used */
} conf;

/* Loads defaults, the environment, then OPTIMIST_CONFIG's file.
 * On failure returns -1 and writes a message naming the option to
 * errbuf; *c is then unspecified (keep the old one on reload). */
int conf_load(conf *c, char *errbuf, size_t errlen);

/* For a reload: every option of `fresh` that a reload does not apply
 * (not reloadable in the table) gets the value of `old` back; `warn` (may
 * be NULL) is told each one that differed, with the value kept. */
void conf_keep_fixed(conf *fresh, const conf *old,
                     void (*warn)(const char *name, const char *kept));

/* Fills a rec_config whose strings point into *c. */
void conf_rec_config(const conf *c, rec_config *out);

/* Prints every option with its value (password hidden), one a line. */
void conf_dump(const conf *c, void (*line)(const char *));

/* Name, default and description of each option, for --help and the man
 * page. */
void conf_help(void (*line)(const char *));

#endif
