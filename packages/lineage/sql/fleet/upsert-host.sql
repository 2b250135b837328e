-- A host of the fleet as configured (config file or API).
insert into hosts (name, first_seen, last_seen, address, max_concurrent, enabled)
values ($1, $2::timestamptz, $2::timestamptz, $3, $4::integer, $5::boolean)
on conflict (name) do update
  set address = excluded.address, max_concurrent = excluded.max_concurrent, enabled = excluded.enabled
