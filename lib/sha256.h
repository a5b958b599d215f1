/*
 * sha256.h -- SHA-256 (FIPS 180-4), for API token hashes. Small and
 * dependency-free so that lib/ needs no crypto library.
 */
#ifndef OPTIMIST_SHA256_H
#define OPTIMIST_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

/* Writes the 32-byte digest of data[0..len) to out. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* 1 if a and b (n bytes each) are equal; the time taken does not depend
 * on where they differ. */
int ct_equal(const void *a, const void *b, size_t n);

#endif
