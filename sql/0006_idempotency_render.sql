-- 0006: stored idempotent answers stop growing with their resource.
--
-- A 2xx answer whose body is over 16 KiB is kept without its body: only
-- its status, its headers (ETag, Location) and render_path, the path of
-- the GET that renders exactly that body at that version (checked when
-- the answer is stored, fcgi/idempotency.c). A replay renders it again:
-- byte for byte the first answer while the resource is at the stored
-- version, the current representation with its own ETag after later
-- writes. Smaller bodies, and every answer that is not a 2xx, are kept
-- whole as before (render_path NULL).
ALTER TABLE idempotency_keys
  ADD COLUMN IF NOT EXISTS render_path VARBINARY(1024) NULL AFTER body;
