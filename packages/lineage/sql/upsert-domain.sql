-- The domain as seen now on host $3. Returns the host it was on before (a migration when different).
insert into domains (uuid, name, current_host, last_seen)
values ($1::uuid, $2, $3, $4::timestamptz)
on conflict (uuid) do update
  set name = excluded.name, current_host = excluded.current_host, last_seen = excluded.last_seen
returning (select d.current_host from domains d where d.uuid = $1::uuid) as previous_host
