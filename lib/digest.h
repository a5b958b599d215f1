/*
 * digest.h -- SHA-256 of a buffer, for the per-request paths.
 */
#ifndef OPTIMIST_DIGEST_H
#define OPTIMIST_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define DG_SHA256_LEN 32

/* out = SHA-256(p[0..n)). Aborts if OpenSSL cannot hash (out of memory,
 * no default provider): nothing could be answered without it. */
void dg_sha256(const void *p, size_t n, uint8_t out[DG_SHA256_LEN]);

#endif
