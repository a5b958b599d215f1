/*
 * paging.c -- the query parameters of lists (see paging.h).
 */
#include "paging.h"

#include "reply.h"

#include "parse.h"

/* Decimal digits only, 1 to 19 of them (every u64 up to 10^19 - 1). */
static int parse_number(const char *s, uint64_t *out)
{
    size_t n = parse_u64(s, UINT64_MAX, out);
    return n == 0 || n > 19 || s[n] != '\0' ? -1 : 0;
}

int paging_parse(const char *after_s, const char *limit_s, uint64_t *after,
                 unsigned *limit)
{
    uint64_t a = 0, l = PAGING_DEFAULT_LIMIT;
    if (after_s != NULL && parse_number(after_s, &a) != 0)
        return -1;
    if (limit_s != NULL &&
        (parse_number(limit_s, &l) != 0 || l < 1 || l > PAGING_MAX_LIMIT))
        return -1;
    *after = a;
    *limit = (unsigned)l;
    return 0;
}

int paging_or_reply(http_req *r, uint64_t *after, unsigned *limit)
{
    char a[32], l[32];
    int ha = http_query_param(r, "after", a, sizeof a);
    int hl = http_query_param(r, "limit", l, sizeof l);
    if (ha < 0 || hl < 0 ||
        paging_parse(ha ? a : NULL, hl ? l : NULL, after, limit) != 0) {
        reply_error(r, 400, "bad_request",
                    "?after= must be a non-negative integer and ?limit= an "
                    "integer from 1 to 500",
                    NULL);
        return -1;
    }
    return 0;
}

void paging_reply(http_req *r, rec_rows *rows, unsigned limit, unsigned key_col,
                  paging_render_fn render)
{
    size_t n = rec_rows_count(rows);
    jbuf *b = reply_body(r);
    jb_lit(b, "{\"items\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            jb_lit(b, ",");
        render(b, rows, i);
    }
    jb_lit(b, "],\"next_after\":");
    if (n > 0 && n == limit)
        jb_u64(b, rec_rows_u64(rows, n - 1, key_col));
    else
        jb_lit(b, "null");
    jb_lit(b, "}");
    rec_rows_free(rows);
    reply_json(r, 200);
}

/* ---- a page streamed from the database ---------------------------------- */

struct stream_ctx {
    jbuf *b;
    size_t max_bytes;
    unsigned key_col;
    paging_render_fn render;
    size_t n;          /* rows on the page */
    uint64_t last_key; /* of the last row on the page */
    int cut;           /* the page ended on its byte bound */
};

static int stream_row(void *vctx, const rec_rows *row)
{
    struct stream_ctx *c = vctx;
    size_t before = c->b->len;
    if (c->n > 0)
        jb_lit(c->b, ",");
    c->render(c->b, row, 0);
    if (c->b->len > c->max_bytes && c->n > 0) {
        /* Over the bound: this row starts the next page. */
        c->b->len = before;
        c->b->p[before] = '\0';
        c->cut = 1;
        return 1;
    }
    c->n++;
    c->last_key = rec_rows_u64(row, 0, c->key_col);
    if (c->b->len > c->max_bytes) {
        /* A first row larger than a page goes alone; the server may have
         * left out the rows after it (sql/0010), so say where to go on. */
        c->cut = 1;
        return 1;
    }
    return 0;
}

void paging_stream(http_req *r, const char *sql, const rec_param *params,
                   size_t nparams, unsigned limit, unsigned key_col,
                   paging_render_fn render)
{
    jbuf *b = reply_body(r);
    jb_lit(b, "{\"items\":[");
    /* What the closing part may add: ],"next_after":<20 digits>} */
    size_t max = (size_t)r->conf->page_max_bytes;
    struct stream_ctx c = {.b = b,
                           .max_bytes = max > 40 ? max - 40 : max,
                           .key_col = key_col,
                           .render = render};
    rec_err err = {0};
    rec_status st = rec_each(r->db, sql, params, nparams, stream_row, &c, &err);
    if (st != REC_OK) {
        reply_rec(r, st, &err);
        return;
    }
    jb_lit(b, "],\"next_after\":");
    if (c.n > 0 && (c.cut || c.n == limit))
        jb_u64(b, c.last_key);
    else
        jb_lit(b, "null");
    jb_lit(b, "}");
    reply_json(r, 200);
}
