/*
 * itest.h -- what every integration test starts with: the database
 * settings from the pool's option table (fcgi/core/conf.c: the environment,
 * then OPTIMIST_CONFIG's file, each value checked), as the pool and
 * optimistctl read them; and the two helpers every test has. Include it
 * after <cmocka.h>.
 */
#ifndef OPTIMIST_ITEST_H
#define OPTIMIST_ITEST_H

#include "conf.h"

#include <stdio.h>
#include <stdlib.h>

/* Fills *cfg (its strings point into a static conf). -1 with a message on
 * stderr when the options are wrong or name no test database. */
static inline int itest_config(rec_config *cfg)
{
    static conf c;
    char why[256];
    if (conf_load(&c, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        return -1;
    }
    conf_rec_config(&c, cfg);
    if (cfg->socket == NULL && getenv("OPTIMIST_DB_HOST") == NULL) {
        fprintf(stderr,
                "OPTIMIST_DB_SOCKET is not set: run via tests/run.sh\n");
        return -1;
    }
    return 0;
}

/* A new connection, connected, or the test fails. */
static inline rec_db *itest_open(const rec_config *cfg)
{
    rec_err err = {0};
    rec_db *db = rec_db_new(cfg);
    if (rec_db_connect(db, &err) != REC_OK)
        fail_msg("connect: %s", err.msg);
    return db;
}

/* Fails the test unless st is REC_OK. */
static inline void itest_must(rec_status st, const rec_err *err,
                              const char *what)
{
    if (st != REC_OK)
        fail_msg("%s: %s (%u %s)", what, rec_status_name(st), err->code,
                 err->msg);
}

#endif
