/*
 * tenant.c -- tenants and their API tokens.
 *
 * A token is "opt_" + 16 hex digits (its public lookup key) + "_" + 43
 * base64url characters (256 random bits). Only the SHA-256 of the whole
 * token is stored; a lookup finds the row by its key and compares the
 * hash in constant time, so neither the database nor the timing of the
 * comparison gives the secret away.
 */
#include "rec.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "digest.h"
#include "storefront.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define KEY_HEX    16
#define SECRET_B64 43
#define TOKEN_LEN  (4 + KEY_HEX + 1 + SECRET_B64)

static const char SQL_TENANT_INSERT[] =
    "INSERT INTO tenants (name, created_at) VALUES (?, UTC_TIMESTAMP(3))";
static const char SQL_TOKEN_INSERT[] =
    "INSERT INTO api_tokens (tenant_id, lookup_key, token_hash, created_at) "
    "VALUES (?, ?, ?, UTC_TIMESTAMP(3))";
static const char SQL_TOKEN_FIND[] =
    "SELECT tenant_id, token_hash FROM api_tokens "
    "WHERE lookup_key = ? AND revoked_at IS NULL";

static int fill_random(void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void make_token(char *out, const uint8_t key[8], const uint8_t sec[32])
{
    static const char hex[] = "0123456789abcdef";
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *p = out;
    memcpy(p, "opt_", 4);
    p += 4;
    for (int i = 0; i < 8; i++) {
        *p++ = hex[key[i] >> 4];
        *p++ = hex[key[i] & 15];
    }
    *p++ = '_';
    /* 32 bytes -> 43 base64url characters (no padding). */
    uint32_t acc = 0;
    int bits = 0;
    for (int i = 0; i < 32; i++) {
        acc = (acc << 8) | sec[i];
        bits += 8;
        while (bits >= 6) {
            *p++ = b64[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0)
        *p++ = b64[(acc << (6 - bits)) & 63];
    *p = '\0';
}

/* A fresh token: its text (TOKEN_LEN + 1 bytes) and its public key
 * (KEY_HEX + 1 bytes). Returns 0, or -1 if the system has no randomness. */
static int new_token(char *token, char *key)
{
    uint8_t k[8], sec[32];
    if (fill_random(k, sizeof k) || fill_random(sec, sizeof sec))
        return -1;
    make_token(token, k, sec);
    memcpy(key, token + 4, KEY_HEX);
    key[KEY_HEX] = '\0';
    return 0;
}

/* Stores the hash of `token` (public part `key`) for tenant_id. */
static rec_status insert_token(rec_db *db, uint64_t tenant_id,
                               const char *token, const char *key, rec_err *err)
{
    uint8_t hash[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, TOKEN_LEN, hash);
    rec_param kp[3] = {REC_U(tenant_id), REC_S(key, KEY_HEX),
                       REC_B((const char *)hash, sizeof hash)};
    return rec_exec(db, SQL_TOKEN_INSERT, kp, 3, NULL, NULL, NULL, err);
}

struct create_ctx {
    const char *name;
    char token[TOKEN_LEN + 1];
    char key[KEY_HEX + 1];
    uint64_t tenant_id;
};

static rec_status create_body(rec_db *db, void *vctx, rec_err *err)
{
    struct create_ctx *c = vctx;
    rec_param tp[1] = {REC_CSTR(c->name)};
    rec_status st =
        rec_exec(db, SQL_TENANT_INSERT, tp, 1, NULL, NULL, &c->tenant_id, err);
    if (st != REC_OK)
        return st;
    st = insert_token(db, c->tenant_id, c->token, c->key, err);
    if (st != REC_OK)
        return st;
    /* The contract: a storefront is created with its tenant (draft
     * version 1, {}), so no route ever meets a tenant without one. */
    return storefront_create(db, c->tenant_id, err);
}

rec_status rec_tenant_create(rec_db *db, const char *name, uint64_t *tenant_id,
                             char *token_out, rec_err *err)
{
    struct create_ctx c = {.name = name};
    if (new_token(c.token, c.key) != 0) {
        snprintf(err->msg, sizeof err->msg, "getrandom failed");
        return REC_ERROR;
    }
    rec_status st = rec_txn(db, create_body, &c, err);
    if (st != REC_OK)
        return st;
    *tenant_id = c.tenant_id;
    memcpy(token_out, c.token, TOKEN_LEN + 1);
    return REC_OK;
}

static const char SQL_TENANT_EXISTS[] = "SELECT 1 FROM tenants WHERE id = ?";

struct token_ctx {
    uint64_t tenant_id;
    char token[TOKEN_LEN + 1];
    char key[KEY_HEX + 1];
};

static rec_status token_body(rec_db *db, void *vctx, rec_err *err)
{
    struct token_ctx *c = vctx;
    rec_param p[1] = {REC_U(c->tenant_id)};
    rec_rows *rows = NULL;
    rec_status st = rec_exec_row(db, SQL_TENANT_EXISTS, p, 1, &rows, err);
    rec_rows_free(rows);
    if (st == REC_NOT_FOUND)
        snprintf(err->msg, sizeof err->msg, "no tenant %llu",
                 (unsigned long long)c->tenant_id);
    if (st != REC_OK)
        return st;
    return insert_token(db, c->tenant_id, c->token, c->key, err);
}

rec_status rec_token_create(rec_db *db, uint64_t tenant_id, char *token_out,
                            char *key_out, rec_err *err)
{
    struct token_ctx c = {.tenant_id = tenant_id};
    if (new_token(c.token, c.key) != 0) {
        snprintf(err->msg, sizeof err->msg, "getrandom failed");
        return REC_ERROR;
    }
    rec_status st = rec_txn(db, token_body, &c, err);
    if (st != REC_OK)
        return st;
    memcpy(token_out, c.token, TOKEN_LEN + 1);
    memcpy(key_out, c.key, KEY_HEX + 1);
    return REC_OK;
}

static int well_formed(const char *t, size_t len)
{
    if (len != TOKEN_LEN || memcmp(t, "opt_", 4) != 0 || t[4 + KEY_HEX] != '_')
        return 0;
    for (size_t i = 4; i < 4 + KEY_HEX; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return 0;
    for (size_t i = 4 + KEY_HEX + 1; i < len; i++) {
        char ch = t[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

rec_status rec_token_tenant(rec_db *db, const char *token, size_t len,
                            uint64_t *tenant_id, rec_err *err)
{
    if (!well_formed(token, len)) {
        snprintf(err->msg, sizeof err->msg, "malformed token");
        return REC_NOT_FOUND;
    }
    rec_param p[1] = {REC_S(token + 4, KEY_HEX)};
    rec_rows *rows = NULL;
    rec_status st = rec_exec(db, SQL_TOKEN_FIND, p, 1, &rows, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    uint8_t hash[SHA256_DIGEST_LENGTH];
    dg_sha256(token, len, hash);
    int ok = rec_rows_count(rows) == 1 &&
             rec_rows_len(rows, 0, 1) == sizeof hash &&
             CRYPTO_memcmp(rec_rows_get(rows, 0, 1), hash, sizeof hash) == 0;
    if (ok)
        *tenant_id = rec_rows_u64(rows, 0, 0);
    rec_rows_free(rows);
    if (!ok) {
        snprintf(err->msg, sizeof err->msg, "unknown or revoked token");
        return REC_NOT_FOUND;
    }
    return REC_OK;
}
