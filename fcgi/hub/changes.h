/*
 * changes.h -- a declared table's change feed (RES_FEED_CHANGES), from
 * the change log (lib/table.h): `event: change`, id = seq, data {"id",
 * "version", "row"}, in commit order as far as the log can tell it.
 */
#ifndef OPTIMIST_CHANGES_H
#define OPTIMIST_CHANGES_H

#include "conn.h"

/* Moves the horizon (changes.c) forward: once per poll. */
void changes_horizon(void);

/* Sends c the changes after its cursor, up to the horizon. */
void changes_catch_up(struct conn *c);

#endif
