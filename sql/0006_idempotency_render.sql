-- 0006: stored idempotent answers stop growing with their resource.
--
-- An answer whose body is over 16 KiB and holds the resource as its GET
-- renders it (the whole body of a 2xx, the "current" of a refusal) is
-- kept with those bytes replaced by `null` at render_at, and render_path,
-- the GET that renders them (checked when the answer is stored,
-- fcgi/idem_render.c). A replay renders them again: byte for byte the
-- first answer while the resource is at the stored version. Other answers
-- are kept whole as before (render_path NULL).
ALTER TABLE idempotency_keys
  ADD COLUMN IF NOT EXISTS render_path VARBINARY(1024) NULL AFTER body,
  ADD COLUMN IF NOT EXISTS render_at INT UNSIGNED NULL AFTER render_path;
