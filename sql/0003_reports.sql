-- 0003: reports and their chat history.
--
-- chat is one JSON array of {"id", "role", "content", "at"}, appended to
-- inside the database under the report row's lock (lib/chat.c); chat_length
-- mirrors JSON_LENGTH(chat), kept in the same UPDATE, so that reading the
-- report or checking the 10,000-message limit never parses the history.
-- Appends do not touch version or updated_at: those belong to the title.
CREATE TABLE IF NOT EXISTS reports (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  version INT UNSIGNED NOT NULL DEFAULT 1,
  title VARCHAR(1000) NULL,
  chat JSON NOT NULL,
  chat_length INT UNSIGNED NOT NULL DEFAULT 0,
  created_at DATETIME(3) NOT NULL,
  updated_at DATETIME(3) NOT NULL,
  KEY k_reports_tenant (tenant_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The message ids already in a report's chat: the primary key is what makes
-- a retry or a double click append once. An append inserts each id here in
-- the transaction that appends the message, after locking the report row,
-- so concurrent appends to one report take turns and the affected-row count
-- of each insert says whether the id is new: an indexed lookup per message,
-- whatever the length of the history. Ids are compared byte for byte
-- (ascii_bin): "1", "01" and "1.0" are three ids, "a" and "A" two.
CREATE TABLE IF NOT EXISTS report_chat_ids (
  report_id BIGINT UNSIGNED NOT NULL,
  msg_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  PRIMARY KEY (report_id, msg_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;
