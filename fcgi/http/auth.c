/*
 * auth.c -- bearer tokens. The token is looked up by its public key and
 * its SHA-256 compared in constant time (lib/tenant.c); an unknown and a
 * revoked token answer the same 401.
 *
 * Each worker remembers the tokens it verified in the last
 * AUTH_CACHE_TTL_MS, keyed by the SHA-256 of the whole token, so that a
 * client sending many requests costs one token query per worker every
 * couple of seconds instead of one per request (a query is a round trip
 * to the database: on a busy machine the dearest part of a read). Only
 * successes are remembered: an unknown token is looked up every time, so
 * a token made a moment ago works at once. The price is stated in
 * docs/operations.md, "Tenants": a token revoked in the database
 * (revoked_at set) goes on working for at most AUTH_CACHE_TTL_MS in the
 * workers that had just verified it.
 */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "digest.h"
#include "reply.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#define AUTH_CACHE_TTL_MS 2000
#define AUTH_CACHE_SLOTS  64 /* power of two; one entry per slot */

struct cached_token {
    uint8_t hash[SHA256_DIGEST_LENGTH]; /* SHA-256 of the whole token */
    uint64_t tenant_id;                 /* 0: the slot is empty */
    int64_t expires_ms; /* CLOCK_MONOTONIC time it stops counting */
};

/* Per worker process (each has its own copy after fork). */
static struct cached_token cache[AUTH_CACHE_SLOTS];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct cached_token *slot_of(const uint8_t hash[SHA256_DIGEST_LENGTH])
{
    return &cache[(hash[0] | (unsigned)hash[1] << 8) & (AUTH_CACHE_SLOTS - 1)];
}

void auth_init(void)
{
    memset(cache, 0, sizeof cache);
}

/* The tenant of token[0..len) from the cache or the database. */
static rec_status token_tenant(http_req *r, const char *tok, size_t len,
                               uint64_t *tenant, rec_err *err)
{
    uint8_t hash[SHA256_DIGEST_LENGTH];
    dg_sha256(tok, len, hash);
    struct cached_token *c = slot_of(hash);
    int64_t now = now_ms();
    if (c->tenant_id != 0 && now < c->expires_ms &&
        CRYPTO_memcmp(c->hash, hash, sizeof hash) == 0) {
        *tenant = c->tenant_id;
        return REC_OK;
    }
    rec_status st = rec_token_tenant(r->db, tok, len, tenant, err);
    if (st == REC_OK && *tenant != 0) {
        memcpy(c->hash, hash, sizeof hash);
        c->tenant_id = *tenant;
        c->expires_ms = now + AUTH_CACHE_TTL_MS;
    }
    return st;
}

int auth_tenant_or_reply(http_req *r)
{
    const char *h = r->authorization;
    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        const char *tok = h + 7;
        while (*tok == ' ')
            tok++;
        size_t len = strlen(tok);
        while (len > 0 && tok[len - 1] == ' ')
            len--;
        uint64_t tenant = 0;
        rec_err err = {0};
        rec_status st = token_tenant(r, tok, len, &tenant, &err);
        if (st == REC_OK) {
            r->tenant_id = tenant;
            /* The token's public key (after "opt_"): what a ticket it
             * asks for, and the streams it opens, are bound to. */
            if (len >= 4 + sizeof r->token_key - 1)
                snprintf(r->token_key, sizeof r->token_key, "%.*s",
                         (int)(sizeof r->token_key - 1), tok + 4);
            return 0;
        }
        if (st != REC_NOT_FOUND) {
            reply_rec(r, st, &err);
            return -1;
        }
    }
    http_header(r, "WWW-Authenticate", "Bearer");
    reply_error(r, 401, "unauthorized",
                h ? "unknown or revoked token"
                  : "send Authorization: Bearer <token>",
                NULL);
    return -1;
}
