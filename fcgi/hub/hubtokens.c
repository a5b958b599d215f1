/*
 * hubtokens.c -- the revocation check of the hub's streams (hubtokens.h).
 * Cost: one indexed query per 64 distinct tokens every second, however
 * many streams each opened (10,000 streams of a few tokens: one query).
 */
#include "hubtokens.h"

#include <stdlib.h>
#include <string.h>

#define PER_QUERY 64 /* bound parameters: lib/stmt.c allows 256 */
#define IN8       "?,?,?,?,?,?,?,?"
#define IN64      IN8 "," IN8 "," IN8 "," IN8 "," IN8 "," IN8 "," IN8 "," IN8

static const char SQL_ALIVE[] =
    "SELECT lookup_key FROM api_tokens WHERE revoked_at IS NULL "
    "AND lookup_key IN (" IN64 ")";

static int cmp_key(const void *a, const void *b)
{
    return strcmp(a, b);
}

size_t hubtokens_unique(char (*keys)[HUBTOKENS_KEY], size_t n)
{
    if (n == 0)
        return 0;
    qsort(keys, n, HUBTOKENS_KEY, cmp_key);
    size_t out = 1;
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i], keys[out - 1]) != 0)
            memcpy(keys[out++], keys[i], HUBTOKENS_KEY);
    return out;
}

long hubtokens_find(char (*keys)[HUBTOKENS_KEY], size_t n, const char *key)
{
    char(*hit)[HUBTOKENS_KEY] = bsearch(key, keys, n, HUBTOKENS_KEY, cmp_key);
    return hit != NULL ? (long)(hit - keys) : -1;
}

rec_status hubtokens_alive(rec_db *db, char (*keys)[HUBTOKENS_KEY], size_t n,
                           unsigned char *alive, rec_err *err)
{
    memset(alive, 1, n);
    for (size_t at = 0; at < n; at += PER_QUERY) {
        size_t k = n - at < PER_QUERY ? n - at : PER_QUERY;
        rec_param p[PER_QUERY];
        for (size_t i = 0; i < PER_QUERY; i++)
            p[i] = REC_CSTR(keys[at + (i < k ? i : 0)]);
        rec_rows *rows = NULL;
        rec_status st =
            rec_exec(db, SQL_ALIVE, p, PER_QUERY, &rows, NULL, NULL, err);
        if (st != REC_OK) {
            memset(alive, 1, n);
            return st;
        }
        for (size_t i = 0; i < k; i++)
            alive[at + i] = 0;
        for (size_t r = 0; r < rec_rows_count(rows); r++) {
            const char *got = rec_rows_get(rows, r, 0);
            char(*hit)[HUBTOKENS_KEY] =
                bsearch(got, keys + at, k, HUBTOKENS_KEY, cmp_key);
            if (hit != NULL)
                alive[hit - keys] = 1;
        }
        rec_rows_free(rows);
    }
    return REC_OK;
}
