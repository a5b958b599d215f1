/*
 * hublink.h -- the channel from the pool's workers to its hub (hub.c).
 *
 * One SOCK_SEQPACKET socket pair, made by main() before the master forks
 * anyone: every worker sends on one end, the hub reads the other. The
 * master keeps both ends open, so the channel outlives a hub that dies:
 * what workers send meanwhile waits in the socket for the next hub.
 *
 * Two kinds of message:
 * - a handoff: a worker that has authorised a stream (or claimed a bid
 *   for an evaluation) sends its FastCGI connection (the accepted socket,
 *   SCM_RIGHTS) with what the hub needs to answer it, then forgets it;
 * - a notify: a worker that committed a write names what it changed, so
 *   that the hub polls that now instead of at its next tick.
 */
#ifndef OPTIMIST_HUBLINK_H
#define OPTIMIST_HUBLINK_H

#include "bidstate.h"
#include "http.h"
#include "resource.h"

#include <stdint.h>

enum hub_msg_type { HUB_NOTIFY = 1, HUB_FEED, HUB_EVAL_RUN };

typedef struct hub_msg {
    uint32_t magic;
    uint8_t type;     /* enum hub_msg_type */
    uint8_t sse;      /* HUB_EVAL_RUN: 1 event stream, 0 wait */
    uint8_t quick;    /* HUB_EVAL_RUN: kind quick_scan */
    uint8_t reset;    /* HUB_FEED of a change feed: send `event: reset`
                         first (its Last-Event-ID is no longer kept) */
    uint16_t fcgi_id; /* the FastCGI request id on the connection */
    int32_t slot;     /* HUB_EVAL_RUN: the evaluation slot it holds */
    uint64_t tenant_id;
    uint64_t id;     /* the row (a per_tenant resource's: unused) */
    uint64_t cursor; /* the last event id the client has (0: none) */
    /* What a stream follows or a notify names: a resource's name (the
     * key both processes share, resource.h); "" for none. */
    char resource[RESOURCE_NAME_MAX];
    bid_claim claim; /* HUB_EVAL_RUN */
    char request_id[64];
    char token_key[17]; /* the token the stream was opened with (directly
                           or by a ticket): the hub ends the stream when
                           it is revoked */
} hub_msg;

#define HUB_MAGIC 0x6f687562u

/* main(): makes the pair. 0, or -1 with errno. */
int hublink_init(void);

/* The hub's end (-1 before hublink_init). */
int hublink_hub_fd(void);

/* A worker: hands r's connection and *m to the hub. The request's input
 * is read to its end first; on success the worker's copy of the
 * connection is replaced by /dev/null (libfcgi's closing writes go
 * nowhere) and r is marked answered (streamed, 200). Returns 0, or -1
 * (the hub's queue stayed full for 2 s, or no channel): nothing was
 * handed over and r may still be answered. */
int hublink_handoff(http_req *r, hub_msg *m);

/* Names `res` in m (its name: the key the hub resolves). */
void hub_msg_resource(hub_msg *m, const struct resource *res);

/* A worker, after a successful write of request r: "this changed" -- the
 * resource its router row names (r->res) and its key. Nothing when the
 * row names none that is followed, or for a create (no id yet: nobody
 * follows it). Never blocks; lost if the queue is full: the hub's next
 * poll finds the change anyway. */
void hublink_notify(const http_req *r);

/* May a stream of the hub follow row `key` of `res` (or a row of a
 * resource its `also` names)? followed.h; 1 when unsure. */
int hublink_followed(const struct resource *res, uint64_t tenant, uint64_t key);

/* What a write to resource `res` (the route's ids: nids of them, ids[0]
 * first) changes, as the key the hub's watches use (a per_tenant
 * resource's: the tenant). 0 when nothing followed changed. Pure: for
 * the unit tests. */
int hublink_changed(const struct resource *res, const uint64_t *ids, int nids,
                    uint64_t tenant, uint64_t *key);

/* The hub: receives one message without waiting. Returns 1 (with *fd the
 * handed connection, or -1 for a notify), 0 when none is waiting, -1 on
 * error. */
int hublink_recv(hub_msg *m, int *fd);

#endif
