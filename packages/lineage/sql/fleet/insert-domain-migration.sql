insert into domain_migrations (domain_uuid, from_host, to_host, at, detected_by)
values ($1::uuid, $2, $3, $4::timestamptz, $5)
