/*
 * tableset.h -- the declared tables this process serves (OPTIMIST_TABLES_DIR,
 * lib/table.h), each as two resource descriptors (resource.h) handed to
 * the registry as its run-time set:
 *
 *   "tables/<name>"         its rows: record feeds (.../{id}/events), the
 *                           write loop of vwrite.h, hub notifications
 *   "tables/<name>/events"  its change feed (.../events): per tenant, the
 *                           cursor is the change log's seq
 *
 * Loaded by the master before it forks (the workers and the hub inherit
 * the set), by the master again at each reload before the new workers are
 * forked, and by the hub at its own reload. A reload whose folder has a
 * declaration that is refused keeps the set served before and logs one
 * line per refused file naming it and the reason; every load logs one
 * "tables:" line saying what is served.
 */
#ifndef OPTIMIST_TABLESET_H
#define OPTIMIST_TABLESET_H

#include "conf.h"
#include "resource.h"
#include "table.h"

/* Loads c->tables_dir. db: a connection to use, or NULL to open one for
 * the call (the master keeps none). initial: nothing is served yet, so
 * the valid declarations are served even if others are refused. 0 when
 * the new set is served; -1 when the old one is kept (logged);
 * TSET_NO_DB when the database could not be reached (the old set is
 * kept, logged). */
#define TSET_NO_DB (-2)
int tset_load(const conf *c, rec_db *db, int initial);

/* --check: every declaration of c->tables_dir against the database; each
 * refusal printed to stderr ("<file>: <reason>"). 0 when all pass. */
int tset_check(const conf *c);

/* The served table called name[0..n), or NULL. */
tbl_table *tset_find(const char *name, size_t n);

/* The descriptors of a served table (NULL if none). */
const struct resource *tset_rows(const char *name, size_t n);
const struct resource *tset_changes(const char *name, size_t n);

/* The table behind a descriptor of this set (its ctx), or NULL. */
tbl_table *tset_table_of(const struct resource *res);

#endif
