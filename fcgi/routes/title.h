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

#endif
