/*
 * cluster.h -- the host list (OPTIMIST_DB_HOSTS) and the Galera checks of
 * one connection (cluster.c). Below db.c: these work on a MYSQL handle and
 * know nothing of rec_db, so that db.c calls them and they never call
 * back. Not installed, not for callers.
 */
#ifndef OPTIMIST_CLUSTER_H
#define OPTIMIST_CLUSTER_H

#include "rec.h"

#include <mysql.h>

#define DB_MAX_HOSTS 8 /* entries of OPTIMIST_DB_HOSTS */

/* One entry of the host list (cluster.c). */
struct db_endpoint {
    char name[300]; /* as written: "host:port" or "/path/to.sock" */
    char host[256]; /* host part, when not a socket */
    unsigned port;
    int is_socket; /* name is a unix socket path */
};

/* Parses an OPTIMIST_DB_HOSTS list into out[0..max); returns how many
 * entries, or -1 if it is malformed or longer than max. */
int cluster_parse_hosts(const char *list, struct db_endpoint *out,
                        unsigned max);

/* The Galera state of the server behind m. wsrep_known: `wsrep` is
 * already known for this connection (else @@wsrep_on is read). */
rec_status cluster_node_state(MYSQL *m, int wsrep_known, int wsrep,
                              rec_cluster_state *s, rec_err *err);

/* The session settings of a Galera connection (see cluster.c). */
rec_status cluster_session(MYSQL *m, rec_err *err);

/* 1 when the Galera node behind m cannot serve now (asked after an error
 * that may mean so: a 1205 from wsrep_sync_wait on a non-Primary node). */
int cluster_node_refuses(MYSQL *m);

/* 1 for the server errors of a Galera node that cannot serve (1047,
 * 1180): the statement did not run there. */
int db_is_refusal(unsigned code);

#endif
