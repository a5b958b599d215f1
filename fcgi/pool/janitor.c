/*
 * janitor.c -- the master's upkeep timer (see janitor.h).
 *
 * Why in the master and not only in the workers: a worker purges between
 * requests, so an idle service never purged, and the contract's 24 hours
 * became "until the next request". Why bounded: the master's loop also
 * reaps and respawns workers and handles signals; a purge of a large
 * backlog runs in turns of at most JANITOR_BUDGET_MS, one a second, until
 * it is done (a down database costs one connect attempt of at most
 * JANITOR_CONNECT_S seconds per period).
 */
#include "janitor.h"

#include "table.h"

#include "log.h"
#include "rec.h"

#include <time.h>

#define JANITOR_BATCH          1000  /* rows per DELETE ... LIMIT */
#define JANITOR_BUDGET_MS      250   /* longest turn */
#define JANITOR_AGAIN_MS       1000  /* next turn when a backlog is left */
#define JANITOR_CONNECT_S      1     /* connect timeout of the master's turn */
#define JANITOR_CHANGES_KEEP_S 86400 /* the change log keeps a day */

static const char SQL_EVENTS_PURGE[] =
    "DELETE FROM evaluation_events WHERE final IS NULL AND seq > 1 AND "
    "evaluation_id IN (SELECT id FROM evaluations WHERE outcome <> "
    "'running' AND finished_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND) LIMIT "
    "1000";

static long long next_due = -1;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void janitor_tick(const conf *c, long long now_ms)
{
    long long period = (long long)c->idempotency_purge * 1000;
    if (next_due < 0)
        next_due = now_ms + period;
    if (now_ms < next_due)
        return;

    rec_config cfg;
    conf_rec_config(c, &cfg);
    cfg.connect_timeout = JANITOR_CONNECT_S;
    rec_db *db = rec_db_new(&cfg);
    rec_err err = {0};
    uint64_t total = 0, n = JANITOR_BATCH;
    long long start = mono_ms();
    int failed = 0;
    while (n == JANITOR_BATCH && mono_ms() - start < JANITOR_BUDGET_MS) {
        n = 0;
        if (rec_idem_purge(db, JANITOR_BATCH, &n, &err) != REC_OK) {
            LOG(LOG_WARN,
                "janitor: purge of expired idempotency keys "
                "failed: %s",
                err.msg);
            failed = 1;
            break;
        }
        total += n;
    }
    /* A finished run's progress events, once its retention passed (its
     * `claimed` and final events stay: a replay still tells how it ended). */
    uint64_t events = 0, m = JANITOR_BATCH;
    while (!failed && m == JANITOR_BATCH &&
           mono_ms() - start < JANITOR_BUDGET_MS) {
        rec_param p[1] = {REC_U((uint64_t)c->evaluation_events_ttl)};
        m = 0;
        if (rec_exec(db, SQL_EVENTS_PURGE, p, 1, NULL, &m, NULL, &err) !=
            REC_OK) {
            LOG(LOG_WARN, "janitor: purge of old progress events failed: %s",
                err.msg);
            failed = 1;
            break;
        }
        events += m;
    }
    if (events > 0)
        LOG(LOG_INFO, "janitor: purged %llu progress events of old runs",
            (unsigned long long)events);
    /* The change log of declared tables: a day is kept (the contract's
     * "at least 24 hours"), one batch a turn. */
    uint64_t changes = 0;
    if (!failed && tbl_changes_purge(db, JANITOR_CHANGES_KEEP_S, JANITOR_BATCH,
                                     &changes, &err) != REC_OK)
        LOG(LOG_WARN, "janitor: purge of the change log failed: %s", err.msg);
    else if (changes > 0)
        LOG(LOG_INFO, "janitor: purged %llu changes older than a day",
            (unsigned long long)changes);
    rec_db_close(db);
    n = n == JANITOR_BATCH || m == JANITOR_BATCH || changes == JANITOR_BATCH
            ? JANITOR_BATCH
            : 0;
    int more = !failed && n == JANITOR_BATCH;
    if (total > 0 || more)
        LOG(LOG_INFO, "janitor: purged %llu expired idempotency keys%s",
            (unsigned long long)total, more ? "; more left" : "");
    next_due = mono_ms() + (more ? JANITOR_AGAIN_MS : period);
}
