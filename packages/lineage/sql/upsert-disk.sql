insert into disks (domain_uuid, target, source, format, virtual_size, last_seen)
values ($1::uuid, $2, $3, $4, $5::bigint, $6::timestamptz)
on conflict (domain_uuid, target) do update
  set source = excluded.source, format = excluded.format,
      virtual_size = excluded.virtual_size, last_seen = excluded.last_seen
