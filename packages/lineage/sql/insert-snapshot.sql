-- Idempotent: a snapshot imported from its manifest and committed by its run is one row.
insert into snapshots (repository, id, domain_uuid, host, level, checkpoint, parent, status,
                       bytes_read, bytes_new, disks, reasons, started_at, ended_at, run_id, recorded_at)
values ($1, $2, $3::uuid, $4, $5, $6, $7, 'committed', $8::bigint, $9::bigint, $10::text::jsonb,
        $11::text::jsonb, $12::timestamptz, $13::timestamptz, $14, $15::timestamptz)
on conflict (repository, id) do nothing
returning id
