insert into api_tokens (id, name, role, secret_sha256, created_at, expires_at)
values ($1, $2, $3, $4, $5::timestamptz, $6::timestamptz)
