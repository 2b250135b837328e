-- Returns no row when another run of the domain is running (runs_one_running_per_domain).
insert into runs (id, domain_uuid, repository, host, status, started_at, heartbeat_at, new_checkpoint)
values ($1, $2::uuid, $3, $4, 'running', $5::timestamptz, $5::timestamptz, $6)
on conflict (domain_uuid) where status = 'running' do nothing
returning id
