update api_tokens
set revoked_at = $2::timestamptz
where (id = $1 or name = $1) and revoked_at is null
returning id
