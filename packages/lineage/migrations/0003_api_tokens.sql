-- API tokens of the controller's HTTP API (DESIGN.md section 8). Only a SHA-256 of each token's
-- secret is stored: tokens are 256-bit random values, so a fast hash loses nothing to brute force.
create table api_tokens (
  id             text primary key,
  name           text not null unique,
  role           text not null check (role in ('viewer', 'operator', 'admin')),
  secret_sha256  text not null,
  created_at     timestamptz not null,
  expires_at     timestamptz,
  last_used_at   timestamptz,
  revoked_at     timestamptz
);
