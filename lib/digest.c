/*
 * digest.c -- SHA-256 with the algorithm fetched once per thread.
 *
 * OpenSSL 3's one-shot SHA256() fetches the algorithm from its provider
 * and allocates a context on every call: ten allocations and about 12,000
 * instructions for a 64-byte token, more than the whole of the rest of a
 * bid GET's own code (callgrind, BENCH.md "The pool's CPU per answer").
 * The fetched EVP_MD and one context are kept per thread and reused; the
 * digest itself is the same.
 */
#include "digest.h"

#include "xalloc.h"

#include <openssl/evp.h>

static _Thread_local EVP_MD *md;
static _Thread_local EVP_MD_CTX *ctx;

void dg_sha256(const void *p, size_t n, uint8_t out[DG_SHA256_LEN])
{
    if (md == NULL) {
        md = xnonnull(EVP_MD_fetch(NULL, "SHA256", NULL), "SHA-256");
        ctx = xnonnull(EVP_MD_CTX_new(), "SHA-256 context");
    }
    unsigned int len = 0;
    /* With the algorithm in hand, hashing fails only for want of memory. */
    int ok = EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
             EVP_DigestUpdate(ctx, p, n) == 1 &&
             EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == DG_SHA256_LEN;
    xok(ok ? 0 : -1, "SHA-256");
}
