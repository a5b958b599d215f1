-- 0014: chat_append_one again, without validating the tail segment's
-- whole JSON on every append.
--
-- report_chat_segments.msgs is MariaDB's JSON: LONGTEXT with a CHECK
-- (json_valid(msgs)), which the server evaluates on every write of the
-- row, over the whole segment (up to CHAT_SEG_BYTES of content and 25
-- messages), after JSON_ARRAY_APPEND has already parsed it to append.
-- In make bench that second parse was ~35 us of the ~340 us of MariaDB
-- CPU an append cost (BENCH.md, "The JSON check of the tail segment").
--
-- The procedure's two writes of msgs skip the check for that statement
-- only (SET STATEMENT check_constraint_checks = 0 FOR ...), because what
-- they write is the output of the server's own JSON functions:
-- JSON_ARRAY_APPEND of a valid document (msgs is checked on every other
-- write) and a JSON_ARRAY of one JSON_OBJECT, whose strings the server
-- escapes. The column keeps its CHECK for everything else (lib/chat.c's
-- batch path, migrations, an operator's SQL), and the variable is back to
-- the session's value after the statement. Changing the column to
-- LONGTEXT instead would rebuild the table (ALGORITHM=COPY) on upgrade.
--
-- Everything else is 0013's procedure, unchanged (read its comments);
-- 0013 stays as it was: a migration that ran is history.
DROP PROCEDURE IF EXISTS chat_append_one;

DELIMITER //
CREATE PROCEDURE chat_append_one(
  IN p_report BIGINT UNSIGNED, IN p_tenant BIGINT UNSIGNED,
  IN p_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin,
  IN p_role VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
  IN p_content MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
  IN p_bytes INT UNSIGNED, IN p_own TINYINT,
  IN p_seg_max INT UNSIGNED, IN p_seg_bytes INT UNSIGNED,
  IN p_max_history INT UNSIGNED, IN p_max_bytes BIGINT UNSIGNED)
  MODIFIES SQL DATA SQL SECURITY INVOKER
BEGIN
  DECLARE v_found TINYINT DEFAULT 1;
  DECLARE v_state TINYINT DEFAULT 0;
  DECLARE v_new INT DEFAULT 0;
  DECLARE v_length INT UNSIGNED DEFAULT 0;
  DECLARE v_bytes BIGINT UNSIGNED DEFAULT 0;
  DECLARE v_tail INT UNSIGNED DEFAULT 0;
  DECLARE v_tail_n INT UNSIGNED DEFAULT NULL;
  DECLARE v_tail_bytes INT UNSIGNED DEFAULT NULL;
  -- A deadlock, a lock wait timeout, a Galera conflict: undo what this
  -- call did and pass the error on (the pool runs the append again).
  DECLARE EXIT HANDLER FOR SQLEXCEPTION
  BEGIN
    IF p_own THEN ROLLBACK; END IF;
    RESIGNAL;
  END;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = 0;

  IF p_own THEN START TRANSACTION; END IF;
  SELECT r.chat_length, r.chat_bytes, r.chat_tail, s.n, s.bytes
    INTO v_length, v_bytes, v_tail, v_tail_n, v_tail_bytes
    FROM reports r LEFT JOIN report_chat_segments s
      ON s.report_id = r.id AND s.first = r.chat_tail
    WHERE r.id = p_report AND r.tenant_id = p_tenant FOR UPDATE;
  IF v_found = 0 THEN
    SET v_state = 1;
  ELSE
    -- Not INSERT IGNORE: that would also turn a truncation into a warning.
    INSERT INTO report_chat_ids (report_id, msg_id) VALUES (p_report, p_id)
      ON DUPLICATE KEY UPDATE msg_id = msg_id;
    SET v_new = ROW_COUNT();
  END IF;
  IF v_new = 1 AND (v_length + 1 > p_max_history
                    OR v_bytes + p_bytes > p_max_bytes) THEN
    SET v_state = 2;
  ELSEIF v_new = 1 THEN
    IF v_tail_n IS NOT NULL AND v_tail_n + 1 <= p_seg_max
       AND v_tail_bytes + p_bytes <= p_seg_bytes THEN
      SET STATEMENT check_constraint_checks = 0 FOR
      UPDATE report_chat_segments SET msgs = JSON_ARRAY_APPEND(msgs, '$',
          JSON_OBJECT('id', p_id, 'role', p_role, 'content', p_content,
            'at', CONCAT(LEFT(DATE_FORMAT(UTC_TIMESTAMP(3),
                                          '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z'))),
        n = n + 1, bytes = bytes + p_bytes
        WHERE report_id = p_report AND first = v_tail;
    ELSE
      SET v_tail = v_length;
      SET STATEMENT check_constraint_checks = 0 FOR
      INSERT INTO report_chat_segments (report_id, first, n, bytes, msgs)
        VALUES (p_report, v_tail, 1, p_bytes, JSON_ARRAY(JSON_OBJECT(
          'id', p_id, 'role', p_role, 'content', p_content,
          'at', CONCAT(LEFT(DATE_FORMAT(UTC_TIMESTAMP(3),
                                        '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z'))));
    END IF;
    -- The rows are locked by this transaction: they cannot have gone.
    IF ROW_COUNT() <> 1 THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'chat_append_one: the tail segment did not change';
    END IF;
    UPDATE reports SET chat_length = chat_length + 1,
        chat_bytes = chat_bytes + p_bytes, chat_tail = v_tail
      WHERE id = p_report;
    IF ROW_COUNT() <> 1 THEN
      SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'chat_append_one: the report row did not change';
    END IF;
    SET v_length = v_length + 1, v_bytes = v_bytes + p_bytes;
  END IF;
  IF p_own AND v_state = 0 THEN
    COMMIT;
  ELSEIF p_own THEN
    ROLLBACK;
  END IF;
  SELECT v_state, v_new, v_length, v_bytes;
END//
DELIMITER ;
