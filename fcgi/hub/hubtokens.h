/*
 * hubtokens.h -- which of the tokens that opened the hub's streams are
 * still valid: a revoked token (or the ticket it asked for) stops reading
 * at once, so the hub asks every second and ends the streams of the
 * tokens that are gone (hub.c).
 */
#ifndef OPTIMIST_HUBTOKENS_H
#define OPTIMIST_HUBTOKENS_H

#include "rec.h"

#include <stddef.h>

#define HUBTOKENS_KEY 17 /* a token's public key, NUL-terminated */

/* Sorts keys[0..n) and drops repeats; returns the new count. */
size_t hubtokens_unique(char (*keys)[HUBTOKENS_KEY], size_t n);

/* The index of `key` in keys[0..n) as hubtokens_unique left them, or
 * -1. */
long hubtokens_find(char (*keys)[HUBTOKENS_KEY], size_t n, const char *key);

/* Sets alive[i] to 1 for each of keys[0..n) that names a token not
 * revoked, 0 for the others: one query per 64 keys. REC_OK, or the
 * first failure (then alive[] is all 1: nothing is ended on a doubt). */
rec_status hubtokens_alive(rec_db *db, char (*keys)[HUBTOKENS_KEY], size_t n,
                           unsigned char *alive, rec_err *err);

#endif
