select domain_uuid::text as domain_uuid, from_host, to_host, at, detected_by
  from domain_migrations
 where ($1::text is null or domain_uuid::text = $1)
 order by at, id
