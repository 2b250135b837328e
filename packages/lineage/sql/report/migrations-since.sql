-- Domain moves between hosts since $1.
select m.domain_uuid::text as domain_uuid, d.name, m.from_host, m.to_host, m.at, m.detected_by
  from domain_migrations m
  join domains d on d.uuid = m.domain_uuid
 where m.at >= $1::timestamptz
 order by m.at
