select id, name, role, secret_sha256, created_at, expires_at, last_used_at, revoked_at
from api_tokens
order by created_at, name
