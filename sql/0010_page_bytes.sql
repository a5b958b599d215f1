-- 0010: the size of each bid row, kept by the database, so that a list
-- page can end on a byte bound in SQL (fcgi/paging.c) without reading the
-- large JSON columns of rows it will not send. A STORED generated column:
-- computed on every write, read as a small integer beside the row's id.
--
-- Re-runnable: IF NOT EXISTS.

ALTER TABLE bids ADD COLUMN IF NOT EXISTS row_bytes INT UNSIGNED
  AS (LENGTH(data) + IFNULL(LENGTH(evaluation), 0)) STORED;
