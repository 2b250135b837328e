-- Queues one notification per webhook; an existing key means another replica (or an earlier
-- check) queued it already, and nothing is returned.
insert into notifications (dedupe_key, url, kind, domain_uuid, payload, created_at, next_at)
values ($1, $2, $3, $4::uuid, $5::text::jsonb, $6::timestamptz, $6::timestamptz)
on conflict (dedupe_key, url) do nothing
returning id
