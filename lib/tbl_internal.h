/*
 * tbl_internal.h -- what the files of declared tables share (introspect.c,
 * table.c, tblprep.c, tblreg.c, tbltrig.c). Not for callers: they include
 * table.h.
 */
#ifndef OPTIMIST_TBL_INTERNAL_H
#define OPTIMIST_TBL_INTERNAL_H

#include "table.h"

/* Appends `name` quoted as an SQL identifier (backticks, a backtick
 * inside doubled). Names come from information_schema only. */
void tbl_quote(jbuf *b, const char *name);

/* Appends "`schema`.`table`". */
void tbl_quote_table(jbuf *b, const tbl_table *t);

/* Appends the row condition every statement ends with: "`key` = ? AND
 * `tenant` = ?", or "`key` = ? AND ? = <tenant>" for a fixed tenant. */
void tbl_where_row(jbuf *b, const tbl_table *t);

/* A heap copy of b's text (b is left as it is). */
char *tbl_strdup(const jbuf *b);

/* tbltrig.c: the four triggers `table prepare` installs, in this order. */
enum { TBL_TRG_BU, TBL_TRG_AI, TBL_TRG_AU, TBL_TRG_AD, TBL_TRG_COUNT };

/* The name of trigger `which` of declared table `name` (at most 64
 * bytes: optimist_<name>_bu, a long name shortened with a hash). */
void tbl_trigger_name(const char *name, int which, char out[65]);

/* The body of trigger `which` for t, as information_schema's
 * ACTION_STATEMENT shows it once created; the change log lives in
 * database `logdb` (optimist's). */
void tbl_trigger_body(const tbl_table *t, const char *logdb, int which,
                      jbuf *out);

/* "BEFORE UPDATE" ... : the timing and event of a trigger. */
const char *tbl_trigger_event(int which);

/* The statement texts of t, made once its columns are known. */
void tbl_build_sql(tbl_table *t);

#endif
