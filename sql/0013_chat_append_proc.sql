-- 0013: chat_append_one, the append of one message in one round trip.
--
-- lib/chat.c appended one message with six round trips: START TRANSACTION,
-- the SELECT ... FOR UPDATE of the report row, the INSERT of the id into
-- report_chat_ids, the UPDATE of the tail segment (or the INSERT of the
-- next one), the UPDATE of the report's counters, COMMIT. Each cost the
-- pool ~25-30 us of system calls and task switches and the server a
-- statement; the procedure runs the same statements in the server, and
-- the pool sends one CALL (docs/design.md, "One round trip for one
-- message").
--
-- The statements and the order are lib/chat.c's (read the comments there):
-- lock the report row first (every append to one report takes its turn;
-- nothing below can deadlock), claim the id (1 affected row: new; 0:
-- seen), check the limits (refused: nothing written), append to the tail
-- when the message fits there or open the next segment at the history's
-- length, move the counters. `at` is taken by the statement that writes
-- the message, which starts once the row is locked (in a procedure the
-- server fixes UTC_TIMESTAMP per statement, not per CALL): it never goes
-- backwards along the history.
--
-- The limits come as parameters from lib/chat.h (CHAT_SEG_MAX,
-- CHAT_SEG_BYTES, CHAT_MAX_HISTORY, CHAT_MAX_BYTES), defined there only.
--
-- p_own = 1: no transaction is open on the connection, and the procedure
-- makes its own (START TRANSACTION .. COMMIT, or ROLLBACK on any error or
-- a refusal), so the whole append is one round trip. p_own = 0: it runs
-- in the caller's transaction (a request under an Idempotency-Key holds
-- one), which rolls back on a refusal or an error.
--
-- The answer is one row: state (0 done, 1 no such report for the tenant,
-- 2 refused for a limit), appended (1 or 0: a duplicate id), and the
-- history's length and bytes after the call (on a refusal, before it).
-- It is sent after the COMMIT, so a row means the append is durable.
--
-- SQL SECURITY INVOKER: the pool's account already has the rights on the
-- tables, and the procedure does not depend on the migrating account.
-- DROP + CREATE: running the file again gives the same procedure (on
-- Galera both statements replicate in total order, as all DDL).
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
      UPDATE report_chat_segments SET msgs = JSON_ARRAY_APPEND(msgs, '$',
          JSON_OBJECT('id', p_id, 'role', p_role, 'content', p_content,
            'at', CONCAT(LEFT(DATE_FORMAT(UTC_TIMESTAMP(3),
                                          '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z'))),
        n = n + 1, bytes = bytes + p_bytes
        WHERE report_id = p_report AND first = v_tail;
    ELSE
      SET v_tail = v_length;
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
