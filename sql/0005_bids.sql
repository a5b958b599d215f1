-- 0005: bids and their evaluation runs.
--
-- A bid's status only ever changes through the guarded UPDATEs of
-- lib/bids.c, whose WHERE clauses name the statuses a change may start
-- from; the state machine is written out there. Re-runnable: IF NOT EXISTS.
--
-- data_version counts the edits of `data` (PATCH). A run's worker keeps
-- the data_version it claimed at, so its finish can tell "data unchanged"
-- (apply) from "edited meanwhile" (superseded) without comparing JSON.
-- lease_owner is the id of the evaluations row that holds the claim;
-- lease_until is when another run may take the claim over.

CREATE TABLE IF NOT EXISTS bids (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  version INT UNSIGNED NOT NULL DEFAULT 1,
  status ENUM('open', 'evaluating', 'decided', 'archived') NOT NULL DEFAULT 'open',
  data JSON NOT NULL,
  data_version INT UNSIGNED NOT NULL DEFAULT 1,
  evaluation JSON NULL,
  lease_owner BIGINT UNSIGNED NULL,
  lease_until DATETIME(3) NULL,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  KEY k_bids_tenant (tenant_id, id),
  KEY k_bids_tenant_status (tenant_id, status, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per claim. outcome 'running' until the run's worker finishes it,
-- or until another claim takes the bid over ('expired'). A 'running' row
-- whose lease has passed is answered as 'expired' even before that.
CREATE TABLE IF NOT EXISTS evaluations (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  bid_id BIGINT UNSIGNED NOT NULL,
  tenant_id BIGINT UNSIGNED NOT NULL,
  kind ENUM('quick_scan', 'full') NOT NULL,
  outcome ENUM('running', 'applied', 'superseded', 'failed', 'expired') NOT NULL DEFAULT 'running',
  result JSON NULL,
  detail VARCHAR(255) NULL,
  started_at DATETIME(3) NOT NULL,
  finished_at DATETIME(3) NULL,
  KEY k_evaluations_bid (bid_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
