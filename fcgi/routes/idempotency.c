/*
 * idempotency.c -- Idempotency-Key in the worker's dispatch (see
 * idempotency.h for the design, lib/idempotency.c for the records).
 *
 * The rules, from the contract:
 *   - honoured on POST, PUT, PATCH and DELETE but /evaluate, ignored on
 *     GET; a key that is empty, longer than 255 or not printable ASCII is
 *     400 (checked only where the key is honoured);
 *   - the same key with the same method, path and body: the stored status,
 *     body and headers (ETag, Location) again, with Idempotent-Replayed:
 *     true, and nothing done; with another request: 422; while the first
 *     is in progress: 409 idempotency_key_in_use;
 *   - every final answer is stored but 5xx: after a 5xx the key is free.
 *
 * Choices where the contract is silent: the key is checked after the
 * token (a key is kept per tenant, so there is nothing to look up before);
 * requests that never reach a route (404, 405, 401, 413) do not touch the
 * key. A request whose worker died keeps its key "in use" for
 * OPTIMIST_IDEMPOTENCY_CLAIM seconds; then the same request may claim it
 * again (a different one still gets 422).
 */
#include "idempotency.h"

#include "idem_render.h"
#include "log.h"
#include "reply.h"
#include "router.h"
#include "testhook.h"

#include <openssl/sha.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PURGE_EVERY_S 60
#define PURGE_LIMIT   1000

int idem_key_valid(const char *key)
{
    if (key == NULL)
        return 0;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++, n++)
        if (*p < 0x20 || *p > 0x7E || n >= IDEM_KEY_MAX)
            return 0;
    return n > 0;
}

int idem_applies(const char *method, const char *pattern)
{
    static const char *const writes[] = {"POST", "PUT", "PATCH", "DELETE"};
    static const char evaluate[] = "/evaluate";
    int write = 0;
    if (method == NULL || pattern == NULL)
        return 0;
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
        if (strcmp(method, writes[i]) == 0)
            write = 1;
    size_t n = strlen(pattern), e = sizeof evaluate - 1;
    if (n >= e && strcmp(pattern + n - e, evaluate) == 0)
        return 0; /* a stream that outlives its client: never replayed */
    return write;
}

void idem_request_hash(const char *method, const char *path, const char *body,
                       size_t body_len, uint8_t out[REC_IDEM_HASH_LEN])
{
    /* method NUL path NUL body-digest: neither method nor path can hold a
     * NUL, so the three parts cannot be confused with one another. */
    uint8_t
        buf[16 + 1 + sizeof((http_req *)0)->path + 1 + SHA256_DIGEST_LENGTH];
    size_t ml = strlen(method), pl = strlen(path), n = 0;
    if (ml > 16)
        ml = 16; /* methods are short; longer ones never get here */
    memcpy(buf + n, method, ml);
    n += ml;
    buf[n++] = 0;
    if (pl > sizeof((http_req *)0)->path)
        pl = sizeof((http_req *)0)->path;
    memcpy(buf + n, path, pl);
    n += pl;
    buf[n++] = 0;
    SHA256((const unsigned char *)(body ? body : ""), body ? body_len : 0,
           buf + n);
    n += SHA256_DIGEST_LENGTH;
    SHA256(buf, n, out);
}

/* Forgets whatever the route put in the response, before another answer
 * replaces it. */
static void reset_answer(http_req *r)
{
    r->headers_len = 0;
    r->headers[0] = '\0';
    r->content_type_out = NULL;
}

static void replay(http_req *r, const rec_idem_answer *ans)
{
    reset_answer(r);
    http_header(r, "Idempotent-Replayed", "true");
    if (ans->render_path == NULL && ans->headers_len > 0 &&
        ans->headers_len < sizeof r->headers - r->headers_len) {
        memcpy(r->headers + r->headers_len, ans->headers, ans->headers_len);
        r->headers_len += ans->headers_len;
    }
    if (ans->render_path != NULL) {
        /* Kept without its body (idem_render.h): rendered again. */
        idem_render_replay(r, ans->status, ans->headers, ans->headers_len,
                           ans->body, ans->body_len, ans->render_at,
                           ans->render_path, ans->render_path_len);
        LOG(LOG_DEBUG, "idempotency: replayed the stored %d (rendered)",
            ans->status);
        return;
    }
    jbuf *b = reply_body(r);
    if (ans->body_len > 0)
        jb_raw(b, ans->body, ans->body_len);
    reply_json(r, ans->status);
    LOG(LOG_DEBUG, "idempotency: replayed the stored %d", ans->status);
}

int idem_begin_or_reply(http_req *r, idem *s)
{
    memset(s, 0, sizeof *s);
    const struct route *rt = router_get(r->route);
    if (r->idempotency_key == NULL || rt == NULL || r->tenant_id == 0 ||
        !idem_applies(r->method, rt->pattern))
        return 0;
    if (!idem_key_valid(r->idempotency_key)) {
        reply_error(r, 400, "bad_request",
                    "Idempotency-Key must be 1 to 255 printable ASCII "
                    "characters",
                    NULL);
        return -1;
    }
    size_t klen = strlen(r->idempotency_key);
    memcpy(s->key, r->idempotency_key, klen + 1);
    s->k.tenant_id = r->tenant_id;
    s->k.key = s->key;
    s->k.key_len = klen;
    idem_request_hash(r->method, r->path, r->body, r->body_len, s->k.hash);

    rec_idem_outcome out = REC_IDEM_IN_USE;
    rec_idem_answer ans;
    rec_err err = {0};
    rec_status st =
        rec_idem_claim(r->db, &s->k, (unsigned)r->conf->idempotency_claim,
                       (unsigned)r->conf->idempotency_ttl, &out, &ans, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return -1;
    }
    switch (out) {
    case REC_IDEM_CLAIMED:
        s->active = 1;
        rec_txn_hold(r->db, 1);
        return 0;
    case REC_IDEM_REPLAY:
        replay(r, &ans);
        rec_idem_answer_free(&ans);
        return -1;
    case REC_IDEM_REUSED:
        reply_error(r, 422, "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request "
                    "(method, path or body)",
                    NULL);
        return -1;
    case REC_IDEM_IN_USE:
    default:
        http_header(r, "Retry-After", "1");
        reply_error(r, 409, "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still in "
                    "progress; retry shortly",
                    NULL);
        return -1;
    }
}

struct store_ctx {
    http_req *r;
    const idem *s;
    const char *render; /* NULL: store the body; else the GET's path */
    jbuf shell;         /* with render: the body, `null` at `at` */
    size_t at;
};

/* Stores the answer: whole, or without the resource its GET renders. */
static rec_status store_answer(rec_db *db, struct store_ctx *c, rec_err *err)
{
    if (c->render != NULL)
        return rec_idem_store_render(
            db, &c->s->k, c->r->status, c->r->headers, c->r->headers_len,
            c->shell.p, c->shell.len, c->render, strlen(c->render), c->at, err);
    return rec_idem_store(db, &c->s->k, c->r->status, c->r->headers,
                          c->r->headers_len, c->r->out.p, c->r->out.len, err);
}

/* The last statement of the held transaction: the answer itself. */
static rec_status store_in_txn(rec_db *db, void *vctx, rec_err *err)
{
    return store_answer(db, vctx, err);
}

static void release(http_req *r, idem *s)
{
    rec_err err = {0};
    if (rec_idem_release(r->db, &s->k, &err) != REC_OK)
        LOG(LOG_WARN,
            "idempotency: could not free the key (it frees "
            "itself after %d s): %s",
            r->conf->idempotency_claim, err.msg);
}

int idem_finish(http_req *r, idem *s, int may_rerun)
{
    if (!s->active)
        return 0;
    rec_txn_hold(r->db, 0);
    rec_hold h = rec_txn_held(r->db);
    rec_err err = {0};

    if (may_rerun && h == REC_HOLD_BROKEN && rec_txn_hold_retryable(r->db)) {
        /* A conflict (on Galera: a certification failure) or a node that
         * stopped serving undid the held transaction: nothing of it
         * committed and the key is still ours, so the whole request runs
         * again, as rec_txn would run a transaction again. */
        LOG(LOG_DEBUG, "idempotency: held transaction undone by a "
                       "conflict; running the request again");
        return 1;
    }

    if (h == REC_HOLD_BROKEN && r->status < 500) {
        /* The route's transaction was undone after it succeeded (a lost
         * connection): whatever the route said, nothing happened. */
        reset_answer(r);
        err.code = 0;
        snprintf(err.msg, sizeof err.msg, "held transaction lost");
        reply_rec(r, REC_UNAVAILABLE, &err);
    }
    if (r->status >= 500) {
        rec_txn_rollback_held(r->db);
        release(r, s);
        return 0;
    }

    testhook_pause("before_commit", r);
    rec_status st;
    /* A big 2xx is kept as the GET that renders it (idem_render.h); the
     * check reads inside the held transaction, which sees the write. */
    char render[sizeof r->path];
    size_t len = 0;
    struct store_ctx c = {.r = r, .s = s, .render = NULL};
    jb_init(&c.shell);
    if (idem_render_split(r, render, sizeof render, &c.at, &len)) {
        c.render = render;
        jb_raw(&c.shell, r->out.p, c.at);
        jb_lit(&c.shell, "null");
        jb_raw(&c.shell, r->out.p + c.at + len, r->out.len - c.at - len);
    }
    if (h == REC_HOLD_OPEN)
        st = rec_txn_commit_held(r->db, store_in_txn, &c, &err);
    else
        st = store_answer(r->db, &c, &err);
    jb_free(&c.shell);
    if (st == REC_OK)
        return 0;
    if (h == REC_HOLD_OPEN && may_rerun && rec_txn_hold_retryable(r->db)) {
        /* Rolled back at COMMIT by a certification failure (or before
         * it, by a refusing node): known not committed, run it again. */
        LOG(LOG_DEBUG,
            "idempotency: COMMIT refused (%s); running the "
            "request again",
            rec_status_name(st));
        return 1;
    }
    if (h != REC_HOLD_OPEN) {
        /* No transaction was held: the answer had nothing to undo and
         * stands; only the record of it is missing. */
        LOG(LOG_WARN, "idempotency: answer %d not stored (%s): %s", r->status,
            rec_status_name(st), err.msg);
        if (st != REC_CONFLICT)
            release(r, s);
        return 0;
    }
    /* Nothing of the route committed (REC_CONFLICT, REC_RETRY), or nobody
     * knows (REC_UNAVAILABLE at COMMIT): the client must not be told it
     * succeeded. */
    reset_answer(r);
    if (st == REC_CONFLICT) {
        LOG(LOG_WARN, "idempotency: claim taken over while the request ran;"
                      " rolled back");
        http_header(r, "Retry-After", "1");
        reply_error(r, 409, "idempotency_key_in_use",
                    "this Idempotency-Key was taken over by a retry while "
                    "this request ran; nothing was done by this one",
                    NULL);
        return 0;
    }
    reply_rec(r, st, &err);
    /* Safe whatever the COMMIT's fate: a committed answer is 'done', and
     * release only deletes our own in_progress claim. */
    release(r, s);
    return 0;
}

void idem_upkeep(rec_db *db)
{
    static time_t last;
    time_t now = time(NULL);
    if (now - last < PURGE_EVERY_S)
        return;
    last = now;
    uint64_t n = 0;
    rec_err err = {0};
    if (rec_idem_purge(db, PURGE_LIMIT, &n, &err) != REC_OK)
        LOG(LOG_WARN, "idempotency: purge failed: %s", err.msg);
    else if (n > 0)
        LOG(LOG_DEBUG, "idempotency: purged %llu expired keys",
            (unsigned long long)n);
}
