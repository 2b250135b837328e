-- The domain as seen now on host $3 (a run starting there).
insert into domains (uuid, name, current_host, last_seen)
values ($1::uuid, $2, $3, $4::timestamptz)
on conflict (uuid) do update
  set name = excluded.name, current_host = excluded.current_host, last_seen = excluded.last_seen,
      gone_at = null
