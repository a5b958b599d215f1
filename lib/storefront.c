/*
 * storefront.c -- the storefront's draft at tenant creation and its
 * version history (see storefront.h and sql/0002_storefront.sql).
 *
 * The history row is copied from the draft row by the database (INSERT
 * ... SELECT), so the history holds exactly what was written, and the
 * prune is relative to the draft's version read in the same statement:
 * nothing here depends on the caller knowing the new version (If-Match: *
 * writes do not).
 */
#include "storefront.h"

static const char SQL_CREATE[] =
    "INSERT INTO storefront_drafts (tenant_id, version, config, updated_at) "
    "VALUES (?, 1, '{}', UTC_TIMESTAMP(3))";
static const char SQL_RECORD[] =
    "INSERT INTO storefront_versions (tenant_id, version, config, updated_at) "
    "SELECT tenant_id, version, config, updated_at FROM storefront_drafts "
    "WHERE tenant_id = ?";
/* Keeps versions current-49 .. current. "version + ?" rather than
 * "current - ?": unsigned arithmetic below zero is an error in MariaDB. */
static const char SQL_PRUNE[] =
    "DELETE FROM storefront_versions WHERE tenant_id = ? AND version + ? <= "
    "(SELECT d.version FROM storefront_drafts d WHERE d.tenant_id = ?)";

rec_status storefront_create(rec_db *db, uint64_t tenant_id, rec_err *err)
{
    rec_param p[1] = {REC_U(tenant_id)};
    rec_status st = rec_exec(db, SQL_CREATE, p, 1, NULL, NULL, NULL, err);
    if (st != REC_OK)
        return st;
    return storefront_record(db, tenant_id, err);
}

rec_status storefront_record(rec_db *db, uint64_t tenant_id, rec_err *err)
{
    rec_param p[3] = {REC_U(tenant_id), REC_U(STOREFRONT_HISTORY),
                      REC_U(tenant_id)};
    uint64_t copied = 0;
    rec_status st = rec_exec(db, SQL_RECORD, p, 1, NULL, &copied, NULL, err);
    if (st != REC_OK)
        return st;
    if (copied != 1)
        return REC_NOT_FOUND; /* no draft for this tenant */
    return rec_exec(db, SQL_PRUNE, p, 3, NULL, NULL, NULL, err);
}
