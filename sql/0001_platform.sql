-- 0001: tenants, their API tokens, and agent sessions.
--
-- Times are DATETIME(3) in UTC (every connection sets time_zone '+00:00').
-- Every versioned table has `version INT UNSIGNED NOT NULL DEFAULT 1`,
-- bumped by exactly 1 in the same UPDATE that checks it.
-- No foreign keys: tenants are never deleted, and an FK check would take a
-- shared lock on the tenant row on every insert of every resource.

CREATE TABLE IF NOT EXISTS tenants (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  created_at DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A token is stored as the SHA-256 of the whole token; lookup_key is its
-- public part, so a lookup is one indexed read and the secret is compared
-- in constant time in the application.
CREATE TABLE IF NOT EXISTS api_tokens (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  lookup_key CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  token_hash BINARY(32) NOT NULL,
  created_at DATETIME(3) NOT NULL,
  revoked_at DATETIME(3) NULL,
  UNIQUE KEY uk_api_tokens_lookup (lookup_key),
  KEY k_api_tokens_tenant (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- messages: a JSON array of {"role", "content", "at"}. In MariaDB, JSON is
-- LONGTEXT with a JSON_VALID check; in MySQL 8 a native JSON column.
CREATE TABLE IF NOT EXISTS sessions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  version INT UNSIGNED NOT NULL DEFAULT 1,
  title VARCHAR(1000) NULL,
  messages JSON NOT NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  KEY k_sessions_tenant (tenant_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
