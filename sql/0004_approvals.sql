-- 0004: approvals, their outbox, and the stored answers of Idempotency-Key.
--
-- Every statement can run twice (IF NOT EXISTS): DDL commits implicitly, so
-- a half-applied file is simply applied again (lib/migrate.c).

-- An approval is decided once: the decision is one
--   UPDATE ... WHERE id = ? AND tenant_id = ? AND version = ? AND status = 'pending'
-- and the affected rows decide (lib/transition.c). action_payload is any
-- JSON value, NULL when the client sent none.
CREATE TABLE IF NOT EXISTS approvals (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  version INT UNSIGNED NOT NULL DEFAULT 1,
  status ENUM('pending', 'executed', 'rejected') NOT NULL DEFAULT 'pending',
  action_type VARCHAR(200) NOT NULL,
  action_payload JSON NULL,
  note TEXT NULL,
  created_at DATETIME(3) NOT NULL,
  decided_at DATETIME(3) NULL,
  KEY k_approvals_tenant (tenant_id, id),
  KEY k_approvals_status (tenant_id, status, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The outbox: one event per decision, written in the decision's own
-- transaction. seq only grows (AUTO_INCREMENT, persisted by InnoDB across
-- restarts); the unique key on approval_id lets the database itself refuse
-- a second event for one approval.
CREATE TABLE IF NOT EXISTS approval_events (
  seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  approval_id BIGINT UNSIGNED NOT NULL,
  type VARCHAR(32) CHARACTER SET ascii NOT NULL,
  action JSON NOT NULL,
  at DATETIME(3) NOT NULL,
  UNIQUE KEY uk_approval_events_approval (approval_id),
  KEY k_approval_events_tenant (tenant_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per tenant that has decided something: every decision locks its
-- tenant's row before it takes a seq, and keeps the lock until COMMIT. So
-- within a tenant the events commit in seq order, and a consumer that reads
-- "seq > last seen" can never miss an event that committed late with a
-- smaller seq.
CREATE TABLE IF NOT EXISTS approval_event_heads (
  tenant_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  events BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB;

-- Idempotency-Key: a claim (in_progress, until claim_until), then the
-- stored answer (done), written in the same transaction as the request's
-- effect. Kept until expires_at. request_hash is the SHA-256 of method,
-- path and body (fcgi/idempotency.c); claim_token says which request owns
-- an in_progress claim, so one whose claim was taken over cannot store.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  tenant_id BIGINT UNSIGNED NOT NULL,
  idem_key VARBINARY(255) NOT NULL,
  request_hash BINARY(32) NOT NULL,
  claim_token BIGINT UNSIGNED NOT NULL,
  state ENUM('in_progress', 'done') NOT NULL,
  claim_until DATETIME(3) NOT NULL,
  status SMALLINT UNSIGNED NULL,
  headers VARBINARY(2048) NULL,
  body LONGBLOB NULL,
  created_at DATETIME(3) NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  PRIMARY KEY (tenant_id, idem_key),
  KEY k_idempotency_keys_expires (expires_at)
) ENGINE=InnoDB;
