insert into events (at, domain_uuid, run_id, kind, message)
values ($1::timestamptz, $2::uuid, $3, $4, $5)
