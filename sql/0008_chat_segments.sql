-- 0008: a report's chat as segments.
--
-- Until 0007 the whole history was one JSON array in reports.chat, and
-- JSON_ARRAY_APPEND rewrote all of it on every append: an append to a
-- 9,000-message chat cost ~9,000 times one to an empty chat. Now the
-- history is a sequence of rows of report_chat_segments, each holding at
-- most 25 messages (CHAT_SEG_MAX in lib/chat.h; the curve that chose it is
-- in BENCH.md) and at most 6 KiB of content (CHAT_SEG_BYTES; a bigger
-- message is alone in its own), so an append rewrites one small row
-- whatever the length of the history.
--
-- A segment is keyed by the index of its first message in the history
-- (`first`): segment k starts where segment k-1 ends, so the message at
-- index i is in the segment with the greatest first <= i, one index dive
-- away. reports.chat_tail names the last segment (the one appends go to);
-- reports.chat_bytes counts the bytes of content of the whole history,
-- for the 256 MiB limit, without reading it.
--
-- Every statement can run again (DDL commits on its own, so a file is not
-- atomic): the move skips reports that already have segments, and runs
-- only while the old column is there.
ALTER TABLE reports
  ADD COLUMN IF NOT EXISTS chat_bytes BIGINT UNSIGNED NOT NULL DEFAULT 0
    AFTER chat_length,
  ADD COLUMN IF NOT EXISTS chat_tail INT UNSIGNED NOT NULL DEFAULT 0
    AFTER chat_bytes;

-- n mirrors JSON_LENGTH(msgs) and bytes the content bytes in it, kept in
-- the statement that appends, so that choosing between "append to the
-- tail" and "open the next segment" parses nothing.
CREATE TABLE IF NOT EXISTS report_chat_segments (
  report_id BIGINT UNSIGNED NOT NULL,
  first INT UNSIGNED NOT NULL,
  n INT UNSIGNED NOT NULL,
  bytes INT UNSIGNED NOT NULL,
  msgs JSON NOT NULL,
  PRIMARY KEY (report_id, first)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- JSON_ARRAYAGG is bounded by group_concat_max_len (1 MiB by default): a
-- segment of 25 messages of 64 KiB is 1.6 MiB.
SET SESSION group_concat_max_len = 1073741824;
SET @chat_0008_old = (SELECT COUNT(*) FROM information_schema.COLUMNS
  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'reports'
    AND COLUMN_NAME = 'chat');

-- The move: each element of the old array, with its position (ordinality)
-- and the content bytes before it in its chat, grouped into runs of at most
-- 25 messages that also start a new segment at every 6 KiB of content
-- (a segment may pass 6 KiB by its last message; it never holds more
-- than 25).
-- Both keys grow with the position, so every group is a contiguous run;
-- JSON_ARRAYAGG(... ORDER BY o) keeps the order, and JSON_COMPACT makes it
-- aggregate each element as the object it is (not as a JSON string).
EXECUTE IMMEDIATE IF(@chat_0008_old = 0, 'DO 0', '
INSERT INTO report_chat_segments (report_id, first, n, bytes, msgs)
SELECT report_id, MIN(o) - 1, COUNT(*), SUM(len),
       JSON_ARRAYAGG(JSON_COMPACT(m) ORDER BY o)
FROM (SELECT r.id AS report_id, jt.o, jt.m,
             LENGTH(jt.content) AS len,
             SUM(LENGTH(jt.content)) OVER (PARTITION BY r.id ORDER BY jt.o)
               - LENGTH(jt.content) AS before_bytes
      FROM reports r CROSS JOIN JSON_TABLE(r.chat, ''$[*]'' COLUMNS (
             o FOR ORDINALITY, m JSON PATH ''$'',
             content LONGTEXT CHARACTER SET utf8mb4 PATH ''$.content'')) jt
      WHERE r.chat_length > 0 AND NOT EXISTS (
        SELECT 1 FROM report_chat_segments x WHERE x.report_id = r.id)) t
GROUP BY report_id, FLOOR((o - 1) / 25), FLOOR(before_bytes / 6144)');

UPDATE reports r SET
  chat_bytes = (SELECT COALESCE(SUM(s.bytes), 0) FROM report_chat_segments s
                WHERE s.report_id = r.id),
  chat_tail = (SELECT COALESCE(MAX(s.first), 0) FROM report_chat_segments s
               WHERE s.report_id = r.id);

-- Nothing is dropped unless every history moved whole: the segments of
-- each report hold chat_length messages, and they tile 0..chat_length-1.
BEGIN NOT ATOMIC IF EXISTS (SELECT 1 FROM reports r WHERE r.chat_length <> (SELECT COALESCE(SUM(s.n), 0) FROM report_chat_segments s WHERE s.report_id = r.id) OR EXISTS (SELECT 1 FROM report_chat_segments s WHERE s.report_id = r.id AND s.first + s.n <> r.chat_length AND NOT EXISTS (SELECT 1 FROM report_chat_segments s2 WHERE s2.report_id = r.id AND s2.first = s.first + s.n))) THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '0008: a chat history did not move whole; reports.chat is kept'; END IF; END;

ALTER TABLE reports DROP COLUMN IF EXISTS chat;
