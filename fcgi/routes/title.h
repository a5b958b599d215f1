/*
 * title.h -- the "title" member that sessions and reports share: an
 * optional string of at most TITLE_MAX_CHARS characters; null or absent
 * is no title (SQL NULL).
 */
#ifndef OPTIMIST_TITLE_H
#define OPTIMIST_TITLE_H

#include "http.h"
#include "vwrite.h"

#include <json.h>

#define TITLE_MAX_CHARS 1000

/* body's "title" as the parameter of an INSERT or UPDATE (the text stays
 * owned by body). Answers 400 and returns -1 when it is not a string of at
 * most TITLE_MAX_CHARS characters or null. */
int title_param_or_reply(http_req *r, json_object *body, rec_param *out);

/* Answers POST of a resource whose body is {"title"?}: `insert_sql` takes
 * the tenant and the title (vw_create). */
void title_create(http_req *r, const vw_resource *res, const char *insert_sql);

/* What the answers of sessions and reports open and close with, from a row
 * of id, version, title, (the resource's own columns), created_at,
 * updated_at: `{"id":..,"version":..,"title":..` from columns 0 to 2, and
 * `,"created_at":..,"updated_at":..}` from columns `at` and `at + 1`. */
void title_render_head(jbuf *out, const rec_rows *rows, size_t i);
void title_render_tail(jbuf *out, const rec_rows *rows, size_t i, unsigned at);

#endif
