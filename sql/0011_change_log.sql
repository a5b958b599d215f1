-- 0011: the change log of declared tables ("Your own tables", lib/table.h).
-- One row per change of a row of a declared table, written in the
-- change's own transaction: by optimist for a table that is not prepared,
-- by the triggers of `optimistctl table prepare` otherwise (for optimist's
-- writes and every other writer's alike). The hub's feeds read it; the
-- janitor purges rows older than a day. Re-runnable: IF NOT EXISTS.
--
-- table_name is the declared name (the file's, the URL's), not the SQL
-- table's. version is the row's version after the change; a deletion
-- counts as one more change (the last version plus one, deleted = 1).
-- Signed columns: a trigger must never refuse an application's write, and
-- an application's key, tenant or version column may be signed (a NULL
-- tenant is logged as 0, which owns nothing).
-- seq is assigned at insert and rows become visible at commit: a reader
-- must not skip a gap that may still fill (table.h, "the change log").
CREATE TABLE IF NOT EXISTS optimist_changes (
  seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  table_name VARCHAR(64) NOT NULL,
  row_key BIGINT NOT NULL,
  tenant_id BIGINT NOT NULL,
  version BIGINT NOT NULL,
  deleted TINYINT(1) NOT NULL DEFAULT 0,
  committed_at DATETIME(3) NOT NULL,
  KEY k_changes_table (table_name, tenant_id, seq),
  KEY k_changes_row (table_name, row_key, seq),
  KEY k_changes_time (committed_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;
