-- Coarse on purpose: one write per token per minute, not one per request.
update api_tokens
set last_used_at = $2::timestamptz
where id = $1 and (last_used_at is null or last_used_at < $2::timestamptz - interval '1 minute')
