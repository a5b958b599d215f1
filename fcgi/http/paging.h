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
#define PAGING_MAX_LIMIT     500

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
 * ORDER BY key, either way): {"items": [render(row)...], "next_after": the
 * key_col of the last row when the page is full (there may be more), else
 * null}. Frees rows. */
void paging_reply(http_req *r, rec_rows *rows, unsigned limit, unsigned key_col,
                  paging_render_fn render);

/* The same page, streamed: runs `sql` (its rows ORDER BY the key, LIMIT
 * `limit`) with rec_each and renders each row as it arrives, so the
 * result set is never held whole. The page also ends before the row that
 * would make the answer larger than OPTIMIST_PAGE_MAX_BYTES (a first row
 * larger than that is sent alone); next_after is then the last key sent,
 * as for a full page. */
void paging_stream(http_req *r, const char *sql, const rec_param *params,
                   size_t nparams, unsigned limit, unsigned key_col,
                   paging_render_fn render);

#endif
