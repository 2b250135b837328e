-- Every snapshot of one domain (all repositories), for its timeline.
select s.id, s.level, s.host, s.repository, s.ended_at, s.reasons, s.status
  from snapshots s
 where s.domain_uuid = $1::uuid
 order by s.ended_at
