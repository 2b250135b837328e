-- Runs that finished in [$1, $2), for notifications: failures and chain breaks.
select r.id, r.domain_uuid::text as domain_uuid, d.name, r.host, r.status, r.final_level,
       r.planned_level, r.reasons, r.error_code, r.error_message, r.finished_at, r.policy,
       r.snapshot_id, r.repository
  from runs r
  join domains d on d.uuid = r.domain_uuid
 where r.finished_at >= $1::timestamptz and r.finished_at < $2::timestamptz
   and r.status in ('succeeded', 'failed', 'abandoned')
 order by r.finished_at, r.id
