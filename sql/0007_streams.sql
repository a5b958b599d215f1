-- 0007: live streams (fcgi/hub.c): the events of every evaluation run,
-- stored so that a stream can be replayed from any host of the pool, and
-- the tickets browsers open streams with. Re-runnable: IF NOT EXISTS.
--
-- evaluation_events: seq 1 is `claimed` (written in the claim's
-- transaction), then one row per progress line, then exactly one final
-- row (`result`, `conflict` or `error`), marked final = 1: the unique key
-- (evaluation_id, final) lets only one final row in, whoever writes it
-- (the run's own finish, or the sweep that expires a run whose runner
-- died), and the primary key makes two writers of the same seq keep one.
CREATE TABLE IF NOT EXISTS evaluation_events (
  evaluation_id BIGINT UNSIGNED NOT NULL,
  seq INT UNSIGNED NOT NULL,
  event VARCHAR(16) NOT NULL,
  data LONGTEXT NOT NULL,
  final TINYINT NULL,
  PRIMARY KEY (evaluation_id, seq),
  UNIQUE KEY uk_evaluation_events_final (evaluation_id, final)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The sweep looks for runs still 'running'.
ALTER TABLE evaluations ADD KEY IF NOT EXISTS k_evaluations_outcome (outcome, id);

-- A ticket is stored as the SHA-256 of its text: the table, like the log,
-- never holds a usable ticket.
CREATE TABLE IF NOT EXISTS stream_tickets (
  hash BINARY(32) NOT NULL PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  path VARCHAR(255) NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  KEY k_stream_tickets_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
