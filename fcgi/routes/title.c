/*
 * title.c -- see title.h.
 */
#include "title.h"

#include "body.h"

int title_param_or_reply(http_req *r, json_object *body, rec_param *out)
{
    const char *title;
    size_t len;
    if (body_opt_string_or_reply(r, body, "title", TITLE_MAX_CHARS, &title,
                                 &len) != 0)
        return -1;
    *out = title ? REC_S(title, len) : REC_NULLP;
    return 0;
}

void title_create(http_req *r, const vw_resource *res, const char *insert_sql)
{
    json_object *body = body_object_or_reply(r);
    rec_param title;
    if (body != NULL && title_param_or_reply(r, body, &title) == 0)
        vw_create(r, res, insert_sql, &title, 1);
}

void title_render_head(jbuf *out, const rec_rows *rows, size_t i)
{
    jb_record_head(out, rec_rows_u64(rows, i, 0), rec_rows_u64(rows, i, 1));
    jb_lit(out, ",\"title\":");
    jb_cstr(out, rec_rows_get(rows, i, 2));
}

void title_render_tail(jbuf *out, const rec_rows *rows, size_t i, unsigned at)
{
    jb_lit(out, ",\"created_at\":");
    jb_time(out, rec_rows_get(rows, i, at));
    jb_lit(out, ",\"updated_at\":");
    jb_time(out, rec_rows_get(rows, i, at + 1));
    jb_lit(out, "}");
}
