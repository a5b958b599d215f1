-- 0012: a stream ticket dies with the token that asked for it. The ticket
-- keeps that token's public key; opening a stream by ticket joins
-- api_tokens and needs the token unrevoked (fcgi/routes_streams.c), and
-- the hub ends the open streams of a revoked token (fcgi/hub.c).
-- Tickets made before this migration have no key and open nothing: they
-- would have expired within the hour anyway. Re-runnable.
ALTER TABLE stream_tickets
  ADD COLUMN IF NOT EXISTS token_key CHAR(16) CHARACTER SET ascii
    COLLATE ascii_bin NULL;
