/*
 * idempotency.c -- Idempotency-Key records: claim a key, store the answer,
 * give a claim up, forget expired keys. No HTTP in here: the answer is an
 * opaque status, header block and body (fcgi/routes/idempotency.c decides what
 * goes in).
 *
 * The life of a key (table idempotency_keys, sql/0004_approvals.sql):
 *
 *   (none) --claim--> in_progress --store--> done --ttl--> (expired)
 *                          |  \--release (5xx)--> (none)
 *                          \--claim_until passes--> may be claimed again
 *
 * A claim is committed on its own, before the request runs, so a second
 * request with the key sees it at once (409 in use). The answer is stored
 * inside the transaction of the request's effect, guarded by the claim's
 * random token: a request whose claim was taken over (it ran past
 * claim_until, e.g. it hung) fails to store and so cannot commit its
 * effect. A request whose worker was killed leaves its claim behind;
 * claim_until bounds how long the key stays "in use".
 */
#include "rec.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static const char SQL_INSERT[] =
    "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, "
    "claim_token, state, claim_until, created_at, expires_at) VALUES "
    "(?, ?, ?, ?, 'in_progress', UTC_TIMESTAMP(3) + INTERVAL ? SECOND, "
    "UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL ? SECOND)";
/* Takes over an expired key (any request), or a claim whose request died
 * (the same request only: a different one is still a misuse of the key). */
static const char SQL_TAKEOVER[] =
    "UPDATE idempotency_keys SET request_hash = ?, claim_token = ?, "
    "state = 'in_progress', "
    "claim_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND, "
    "created_at = UTC_TIMESTAMP(3), "
    "expires_at = UTC_TIMESTAMP(3) + INTERVAL ? SECOND, "
    "status = NULL, headers = NULL, body = NULL, render_path = NULL, "
    "render_at = NULL "
    "WHERE tenant_id = ? AND idem_key = ? AND "
    "(expires_at <= UTC_TIMESTAMP(3) OR (state = 'in_progress' AND "
    "claim_until <= UTC_TIMESTAMP(3) AND request_hash = ?))";
static const char SQL_READ[] =
    "SELECT state, request_hash, status, headers, body, render_path, "
    "render_at "
    "FROM idempotency_keys WHERE tenant_id = ? AND idem_key = ?";
static const char SQL_STORE[] =
    "UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, "
    "body = ? WHERE tenant_id = ? AND idem_key = ? AND claim_token = ? "
    "AND state = 'in_progress'";
/* An answer kept without its resource (sql/0006_idempotency_render.sql). */
static const char SQL_STORE_RENDER[] =
    "UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, "
    "body = ?, render_path = ?, render_at = ? WHERE tenant_id = ? AND "
    "idem_key = ? AND claim_token = ? AND state = 'in_progress'";
static const char SQL_RELEASE[] =
    "DELETE FROM idempotency_keys WHERE tenant_id = ? AND idem_key = ? "
    "AND claim_token = ? AND state = 'in_progress'";
static const char SQL_PURGE[] =
    "DELETE FROM idempotency_keys WHERE expires_at <= UTC_TIMESTAMP(3) "
    "LIMIT ?";

#define CLAIM_ROUNDS 4

void rec_idem_answer_free(rec_idem_answer *ans)
{
    if (ans == NULL)
        return;
    rec_rows_free(ans->rows);
    memset(ans, 0, sizeof *ans);
}

static uint64_t new_token(void)
{
    uint64_t t = 0;
    if (getrandom(&t, sizeof t, GRND_NONBLOCK) != (ssize_t)sizeof t)
        t = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&t;
    return t ? t : 1;
}

rec_status rec_idem_claim(rec_db *db, rec_idem_key *k, unsigned claim_secs,
                          unsigned ttl_secs, rec_idem_outcome *out,
                          rec_idem_answer *ans, rec_err *err)
{
    rec_status st = REC_ERROR;
    memset(ans, 0, sizeof *ans);
    k->token = new_token();
    rec_param kp = REC_B(k->key, k->key_len);
    rec_param hp = REC_B((const char *)k->hash, sizeof k->hash);

    /* Each round is one statement that either wins or tells why not; a
     * key that vanished between two of them (released after a 5xx) or a
     * deadlock between two first inserts sends us round again. */
    for (int round = 0; round < CLAIM_ROUNDS; round++) {
        rec_param ins[6] = {
            REC_U(k->tenant_id), kp, hp, REC_U(k->token), REC_U(claim_secs),
            REC_U(ttl_secs)};
        st = rec_exec(db, SQL_INSERT, ins, 6, NULL, NULL, NULL, err);
        if (st == REC_OK) {
            *out = REC_IDEM_CLAIMED;
            return REC_OK;
        }
        if (st == REC_RETRY)
            continue;
        if (st != REC_DUPLICATE)
            return st;

        uint64_t affected = 0;
        rec_param up[7] = {hp,
                           REC_U(k->token),
                           REC_U(claim_secs),
                           REC_U(ttl_secs),
                           REC_U(k->tenant_id),
                           kp,
                           hp};
        st = rec_exec(db, SQL_TAKEOVER, up, 7, NULL, &affected, NULL, err);
        if (st == REC_RETRY)
            continue;
        if (st != REC_OK)
            return st;
        if (affected > 0) {
            *out = REC_IDEM_CLAIMED;
            return REC_OK;
        }

        rec_param rp[2] = {REC_U(k->tenant_id), kp};
        rec_rows *rows = NULL;
        st = rec_exec(db, SQL_READ, rp, 2, &rows, NULL, NULL, err);
        if (st != REC_OK)
            return st;
        if (rec_rows_count(rows) == 0) {
            rec_rows_free(rows);
            continue;
        }
        const char *state = rec_rows_get(rows, 0, 0);
        if (rec_rows_len(rows, 0, 1) != sizeof k->hash ||
            memcmp(rec_rows_get(rows, 0, 1), k->hash, sizeof k->hash) != 0) {
            rec_rows_free(rows);
            *out = REC_IDEM_REUSED;
            return REC_OK;
        }
        if (state == NULL || strcmp(state, "done") != 0) {
            rec_rows_free(rows);
            *out = REC_IDEM_IN_USE;
            return REC_OK;
        }
        ans->rows = rows;
        ans->status = (int)rec_rows_u64(rows, 0, 2);
        ans->headers = rec_rows_get(rows, 0, 3);
        ans->headers_len = rec_rows_len(rows, 0, 3);
        ans->body = rec_rows_get(rows, 0, 4);
        ans->body_len = rec_rows_len(rows, 0, 4);
        ans->render_path = rec_rows_get(rows, 0, 5);
        ans->render_path_len = rec_rows_len(rows, 0, 5);
        ans->render_at = (size_t)rec_rows_u64(rows, 0, 6);
        *out = REC_IDEM_REPLAY;
        return REC_OK;
    }
    /* The key keeps changing hands under us: as good as in use. */
    *out = REC_IDEM_IN_USE;
    return REC_OK;
}

static rec_status affected_or_conflict(rec_status st, uint64_t affected,
                                       rec_err *err)
{
    if (st != REC_OK)
        return st;
    if (affected == 0) {
        snprintf(err->msg, sizeof err->msg, "idempotency claim no longer ours");
        err->code = 0;
        return REC_CONFLICT;
    }
    return REC_OK;
}

rec_status rec_idem_store(rec_db *db, const rec_idem_key *k, int status,
                          const char *headers, size_t headers_len,
                          const char *body, size_t body_len, rec_err *err)
{
    uint64_t affected = 0;
    rec_param p[6] = {REC_U((unsigned)status),
                      REC_B(headers ? headers : "", headers_len),
                      REC_B(body ? body : "", body_len),
                      REC_U(k->tenant_id),
                      REC_B(k->key, k->key_len),
                      REC_U(k->token)};
    rec_status st = rec_exec(db, SQL_STORE, p, 6, NULL, &affected, NULL, err);
    return affected_or_conflict(st, affected, err);
}

rec_status rec_idem_store_render(rec_db *db, const rec_idem_key *k, int status,
                                 const char *headers, size_t headers_len,
                                 const char *body, size_t body_len,
                                 const char *path, size_t path_len,
                                 size_t render_at, rec_err *err)
{
    uint64_t affected = 0;
    rec_param p[8] = {REC_U((unsigned)status),
                      REC_B(headers ? headers : "", headers_len),
                      REC_B(body ? body : "", body_len),
                      REC_B(path, path_len),
                      REC_U(render_at),
                      REC_U(k->tenant_id),
                      REC_B(k->key, k->key_len),
                      REC_U(k->token)};
    rec_status st =
        rec_exec(db, SQL_STORE_RENDER, p, 8, NULL, &affected, NULL, err);
    return affected_or_conflict(st, affected, err);
}

rec_status rec_idem_release(rec_db *db, const rec_idem_key *k, rec_err *err)
{
    rec_param p[3] = {REC_U(k->tenant_id), REC_B(k->key, k->key_len),
                      REC_U(k->token)};
    return rec_exec(db, SQL_RELEASE, p, 3, NULL, NULL, NULL, err);
}

rec_status rec_idem_purge(rec_db *db, unsigned limit, uint64_t *deleted,
                          rec_err *err)
{
    uint64_t n = 0;
    rec_param p[1] = {REC_U(limit)};
    rec_status st = rec_exec(db, SQL_PURGE, p, 1, NULL, &n, NULL, err);
    if (deleted != NULL)
        *deleted = n;
    return st;
}
