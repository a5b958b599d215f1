/*
 * cluster.c -- the database as a list of hosts, and the Galera checks.
 *
 * OPTIMIST_DB_HOSTS is an ordered list: "host:port,host:port,/path.sock".
 * The worker connects to the first entry whose server can serve: a plain
 * MariaDB (wsrep_on = OFF) always can; a Galera node only when it says
 * wsrep_ready = ON, wsrep_cluster_status = Primary and wsrep_local_state =
 * 4 (Synced). A node outside the Primary component refuses every statement
 * that reads or writes a table with 1047, and a joiner or donor serves
 * stale or blocked data: neither is worth a connection while another node
 * can serve.
 *
 * Once per connection (wsrep_on is read once), on a Galera node only:
 *   SET SESSION wsrep_sync_wait = 1: each read (SELECT, BEGIN) first waits
 *     until the node has applied everything the cluster committed before
 *     it, so a read through one pool sees a write acknowledged through the
 *     other (read-your-writes, conditional GETs, conflict bodies). Set for
 *     the whole session rather than for chosen reads: every read of the
 *     service decides an answer, and on loopback the wait cost nothing
 *     measurable (docs/operations.md, "Running on a Galera cluster").
 *   With it, a read on a node outside the Primary component fails with
 *   1205 (lock wait timeout) rather than 1047: db.c asks the node's state
 *   after a 1205 to tell the two apart.
 *   SET SESSION wsrep_retry_autocommit = 3: a single autocommit statement
 *     that loses certification is run again by the server. Every such
 *     statement here checks in its WHERE clause what it read (a versioned
 *     UPDATE, an idempotency claim), so running it again is as correct as
 *     running it later; set explicitly, not left to the server's default.
 */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cluster_parse_hosts(const char *list, struct db_endpoint *out, unsigned max)
{
    unsigned n = 0;
    const char *p = list;
    while (p != NULL && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0) {
            if (n == max || len >= sizeof out[n].name)
                return -1;
            struct db_endpoint *e = &out[n];
            memset(e, 0, sizeof *e);
            memcpy(e->name, p, len);
            e->name[len] = '\0';
            if (e->name[0] == '/') {
                e->is_socket = 1;
            } else {
                char *colon = strrchr(e->name, ':');
                e->port = 3306;
                if (colon != NULL) {
                    char *stop;
                    unsigned long port = strtoul(colon + 1, &stop, 10);
                    if (*stop != '\0' || port == 0 || port > 65535 ||
                        colon == e->name)
                        return -1;
                    e->port = (unsigned)port;
                    len = (size_t)(colon - e->name);
                }
                memcpy(e->host, e->name, len);
                e->host[len] = '\0';
            }
            n++;
        }
        p = end ? end + 1 : NULL;
    }
    return (int)n;
}

/* Runs a constant text query on m and hands each row to fn. */
static int query_rows(MYSQL *m, const char *sql,
                      void (*fn)(MYSQL_ROW row, unsigned ncols, void *ctx),
                      void *ctx)
{
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return -1;
    MYSQL_RES *res = mysql_store_result(m);
    if (res == NULL)
        return mysql_errno(m) ? -1 : 0;
    unsigned ncols = mysql_num_fields(res);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL)
        fn(row, ncols, ctx);
    mysql_free_result(res);
    return 0;
}

static void read_wsrep_on(MYSQL_ROW row, unsigned ncols, void *ctx)
{
    if (ncols >= 1 && row[0] != NULL)
        *(int *)ctx = atoi(row[0]) != 0;
}

static void read_status(MYSQL_ROW row, unsigned ncols, void *ctx)
{
    rec_cluster_state *s = ctx;
    if (ncols < 2 || row[0] == NULL || row[1] == NULL)
        return;
    const char *name = row[0], *v = row[1];
    if (strcasecmp(name, "wsrep_ready") == 0)
        snprintf(s->ready, sizeof s->ready, "%s", v);
    else if (strcasecmp(name, "wsrep_cluster_status") == 0)
        snprintf(s->status, sizeof s->status, "%s", v);
    else if (strcasecmp(name, "wsrep_local_state") == 0)
        s->local_state = (unsigned)strtoul(v, NULL, 10);
    else if (strcasecmp(name, "wsrep_local_state_comment") == 0)
        snprintf(s->state_comment, sizeof s->state_comment, "%s", v);
    else if (strcasecmp(name, "wsrep_cluster_size") == 0)
        s->cluster_size = (unsigned)strtoul(v, NULL, 10);
}

static const char SQL_WSREP_ON[] = "SELECT @@wsrep_on";
static const char SQL_WSREP_STATUS[] =
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready',"
    " 'wsrep_cluster_status', 'wsrep_local_state',"
    " 'wsrep_local_state_comment', 'wsrep_cluster_size')";
static const char SQL_WSREP_SESSION[] =
    "SET SESSION wsrep_sync_wait = 1, wsrep_retry_autocommit = 3";

rec_status cluster_node_state(MYSQL *m, int wsrep_known, int wsrep,
                              rec_cluster_state *s, rec_err *err)
{
    memset(s, 0, sizeof *s);
    if (!wsrep_known) {
        /* A server without Galera's variables (MySQL) is a plain one. */
        if (query_rows(m, SQL_WSREP_ON, read_wsrep_on, &wsrep) != 0) {
            unsigned code = mysql_errno(m);
            if (code != 1193 /* ER_UNKNOWN_SYSTEM_VARIABLE */)
                goto fail;
            wsrep = 0;
        }
    }
    s->wsrep = wsrep;
    if (!wsrep) {
        s->usable = 1;
        return REC_OK;
    }
    if (query_rows(m, SQL_WSREP_STATUS, read_status, s) != 0)
        goto fail;
    s->usable = strcasecmp(s->ready, "ON") == 0 &&
                strcmp(s->status, "Primary") == 0 && s->local_state == 4;
    return REC_OK;
fail:
    err->code = mysql_errno(m);
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", mysql_sqlstate(m));
    snprintf(err->msg, sizeof err->msg, "node state: %s", mysql_error(m));
    return REC_UNAVAILABLE;
}

rec_status cluster_session(MYSQL *m, rec_err *err)
{
    if (mysql_real_query(m, SQL_WSREP_SESSION, sizeof SQL_WSREP_SESSION - 1) ==
        0)
        return REC_OK;
    err->code = mysql_errno(m);
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", mysql_sqlstate(m));
    snprintf(err->msg, sizeof err->msg, "wsrep session: %s", mysql_error(m));
    return REC_UNAVAILABLE;
}

int cluster_node_refuses(MYSQL *m)
{
    rec_cluster_state cs;
    rec_err ignored;
    if (m == NULL)
        return 0;
    if (cluster_node_state(m, 1, 1, &cs, &ignored) != REC_OK)
        return 1;
    return !cs.usable;
}

int db_is_refusal(unsigned code)
{
    /* 1047: "WSREP has not yet prepared node for application use";
     * 1180 with Galera: "Not connected to Primary Component". The node
     * refused the statement: another node may take it. */
    return code == 1047 || code == 1180;
}
