-- Runs, newest first. $1 host, $2 domain uuid or name, $3 status, $4 policy, $5 since, $6 until,
-- $7 limit, $8 run id, $9 reason or error code (each null for any).
select r.id, r.domain_uuid::text as domain_uuid, d.name as domain_name, r.repository, r.host,
       r.status, r.planned_level, r.final_level, r.reasons, r.error_code, r.error_message,
       r.snapshot_id, r.started_at, r.heartbeat_at, r.finished_at, r.policy, r.trigger, r.job_id,
       r.attempt
  from runs r join domains d on d.uuid = r.domain_uuid
 where ($1::text is null or r.host = $1)
   and ($2::text is null or r.domain_uuid::text = lower($2) or d.name = $2)
   and ($3::text is null or r.status = $3)
   and ($4::text is null or r.policy = $4)
   and ($5::timestamptz is null or r.started_at >= $5::timestamptz)
   and ($6::timestamptz is null or r.started_at < $6::timestamptz)
   and ($8::text is null or r.id = $8)
   and ($9::text is null or r.reasons @> jsonb_build_array($9::text) or r.error_code = $9)
 order by r.started_at desc, r.id desc
 limit $7::integer
