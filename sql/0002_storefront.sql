-- 0002: the storefront -- one draft per tenant, its published copy, and
-- the draft's last 50 versions.
--
-- Every tenant has exactly one draft, so the draft is keyed by tenant_id
-- alone (rec_versioned_write_by_tenant). Each write of the draft inserts
-- its new version into storefront_versions and prunes versions older than
-- the last 50 in the same transaction; the current version is always in
-- the history. Configs are JSON objects (LONGTEXT with a JSON_VALID check
-- in MariaDB), stored as the service serialised them.
--
-- Every statement can run again (IF NOT EXISTS, INSERT IGNORE): a file
-- that stopped half way is simply applied again.

CREATE TABLE IF NOT EXISTS storefront_drafts (
  tenant_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  version INT UNSIGNED NOT NULL DEFAULT 1,
  config JSON NOT NULL,
  updated_at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The published copy: the config of draft version draft_version, copied
-- by one statement whose WHERE carries that version. No row: nothing
-- published yet.
CREATE TABLE IF NOT EXISTS storefront_published (
  tenant_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  draft_version INT UNSIGNED NOT NULL,
  config JSON NOT NULL,
  published_at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS storefront_versions (
  tenant_id BIGINT UNSIGNED NOT NULL,
  version INT UNSIGNED NOT NULL,
  config JSON NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  PRIMARY KEY (tenant_id, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Tenants made before this migration get what rec_tenant_create now gives
-- a new one: draft version 1 with {} and its history row. IGNORE skips
-- the tenants that already have them (a second run, or a tenant created
-- by a new binary while this ran); the values are constants, so nothing
-- else can be ignored.
INSERT IGNORE INTO storefront_drafts (tenant_id, version, config, updated_at)
  SELECT id, 1, '{}', UTC_TIMESTAMP(3) FROM tenants;

INSERT IGNORE INTO storefront_versions (tenant_id, version, config, updated_at)
  SELECT tenant_id, version, config, updated_at FROM storefront_drafts;
