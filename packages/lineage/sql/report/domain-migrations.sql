-- Moves of one domain between hosts.
select m.at, m.from_host, m.to_host
  from domain_migrations m
 where m.domain_uuid = $1::uuid
 order by m.at
