/*
 * storefront.h -- the storefront rows that more than the routes need: the
 * draft every tenant is created with, and the version history that every
 * write of the draft extends and prunes. No HTTP; the routes are in
 * fcgi/routes/routes_storefront.c.
 */
#ifndef OPTIMIST_STOREFRONT_H
#define OPTIMIST_STOREFRONT_H

#include "rec.h"

/* Versions kept per tenant, the current one included. */
#define STOREFRONT_HISTORY 50

/* Creates the tenant's draft: version 1, config {}, and its history row.
 * Call inside the transaction that creates the tenant. */
rec_status storefront_create(rec_db *db, uint64_t tenant_id,
                             rec_err *err) REC_MUST_CHECK;

/* Copies the draft as it is now into the history and deletes the versions
 * that are no longer among the last STOREFRONT_HISTORY. Call inside
 * the transaction that wrote the draft, after the write: the write holds
 * the draft row's lock, so the copy is exactly that write's version. */
rec_status storefront_record(rec_db *db, uint64_t tenant_id,
                             rec_err *err) REC_MUST_CHECK;

#endif
