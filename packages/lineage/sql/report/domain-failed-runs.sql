-- Runs of one domain that produced no snapshot.
select r.id, r.host, r.status, coalesce(r.finished_at, r.heartbeat_at) as at, r.error_code,
       r.error_message
  from runs r
 where r.domain_uuid = $1::uuid and r.status in ('failed', 'abandoned')
 order by r.started_at
