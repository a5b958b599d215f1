/*
 * paging.h -- ?after= and ?limit= of every list, per the contract's
 * "Lists": limit 1..500 (default 50, anything else 400), after an id or a
 * sequence number (default 0: from the start). A list answers
 * {"items": [...], "next_after": <last id of a full page, else null>}.
 */
#ifndef OPTIMIST_PAGING_H
#define OPTIMIST_PAGING_H

#include "http.h"

#include <stddef.h>
#include <stdint.h>

#define PAGING_DEFAULT_LIMIT 50
#define PAGING_MAX_LIMIT 500

/* Parses the two values (NULL: absent). Returns 0, or -1 when one is
 * malformed or out of range (*after and *limit untouched then). Both must
 * be decimal digits only: "", "-1", "1e3" and "+5" are malformed. */
int paging_parse(const char *after_s, const char *limit_s, uint64_t *after,
                 unsigned *limit);

/* Reads ?after= and ?limit= from the request; answers 400 and returns -1
 * when they are malformed. */
int paging_or_reply(http_req *r, uint64_t *after, unsigned *limit);

/* Writes row i of a page as one JSON item. */
typedef void (*paging_render_fn)(jbuf *b, const rec_rows *rows, size_t i);

/* Answers 200 with one page of `rows` (at most `limit`, fetched with
 * ORDER BY key, either way): {"items": [render(row)...], "next_after": the key_col of
 * the last row when the page is full (there may be more), else null}.
 * Frees rows. */
void paging_reply(http_req *r, rec_rows *rows, unsigned limit,
                  unsigned key_col, paging_render_fn render);

#endif
