-- 0010: sizes kept by the database. Of each bid row, so that a list page
-- can end on a byte bound in SQL (fcgi/paging.c) without reading the large
-- JSON columns of rows it will not send; of each session's messages (below).
-- STORED generated columns: computed on every write, read as small integers
-- beside the row's id.
--
-- Re-runnable: IF NOT EXISTS.

ALTER TABLE bids ADD COLUMN IF NOT EXISTS row_bytes INT UNSIGNED
  AS (LENGTH(data) + IFNULL(LENGTH(evaluation), 0)) STORED;

-- The same for sessions: their limits (OPTIMIST_SESSION_MAX_MESSAGES and
-- _MAX_BYTES, fcgi/routes_sessions.c) are checked before every append on
-- these two small integers, computed by the write that changes messages
-- (which parses the document anyway), not by parsing it again per check.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS message_count INT UNSIGNED
  AS (JSON_LENGTH(messages)) STORED;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS messages_bytes INT UNSIGNED
  AS (LENGTH(messages)) STORED;
