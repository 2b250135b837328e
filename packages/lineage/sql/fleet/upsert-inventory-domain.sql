-- The domain as the host's inventory reports it now. Returns the host it was on before; no row
-- when a newer report of the domain was recorded already (an older poll landing late must not
-- move it back and record a migration that never happened), or when the report is a definition
-- shut off on another host than the one the domain is on, which has not lost it (not gone): a
-- live migration keeps the source's definition, and the two hosts' polls moved the domain back
-- and forth, with a migration recorded each time and backups sent to the host where it does not
-- run; and once it was shut off on its new host too, every poll of either host moved it again.
-- A shut-off definition takes the domain only from a host that no longer lists it (gone).
insert into domains (uuid, name, current_host, last_seen, tags, state, transient)
values ($1::uuid, $2, $3, $4::timestamptz, $5::text::jsonb, $6, $7::boolean)
on conflict (uuid) do update
  set name = excluded.name, current_host = excluded.current_host, last_seen = excluded.last_seen,
      tags = excluded.tags, state = excluded.state, transient = excluded.transient,
      gone_at = null
  where domains.last_seen <= excluded.last_seen
    and not (excluded.state = 'shut-off' and domains.gone_at is null
             and coalesce(domains.current_host, excluded.current_host) <> excluded.current_host)
returning (select d.current_host from domains d where d.uuid = $1::uuid) as previous_host
