insert into checkpoints (domain_uuid, name, repository, host, created_at, xml, disks, state)
values ($1::uuid, $2, $3, $4, $5::timestamptz, $6, $7::text::jsonb, 'live')
on conflict (domain_uuid, name) do nothing
