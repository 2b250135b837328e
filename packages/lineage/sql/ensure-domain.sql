-- A domain known from manifests only (rebuild), or from a run whose agent never answered: never
-- moves current_host.
insert into domains (uuid, name, current_host, last_seen)
values ($1::uuid, $2, null, $3::timestamptz)
on conflict (uuid) do nothing
