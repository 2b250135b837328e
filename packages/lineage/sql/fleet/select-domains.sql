-- Domains with their last committed snapshot and last run. $1 host, $2 name regex, $3 tag,
-- $4 uuid or name (each null for any).
select d.uuid::text as uuid, d.name, d.current_host, d.last_seen, d.tags, d.state, d.transient,
       d.gone_at,
       s.repository as snap_repository, s.id as snap_id, s.level as snap_level, s.ended_at as snap_ended_at,
       r.id as run_id, r.status as run_status, r.started_at as run_started_at,
       r.finished_at as run_finished_at, r.error_code as run_error_code
  from domains d
  left join lateral (
    select repository, id, level, ended_at from snapshots
     where domain_uuid = d.uuid and status = 'committed'
     order by ended_at desc, id desc limit 1) s on true
  left join lateral (
    select id, status, started_at, finished_at, error_code from runs
     where domain_uuid = d.uuid
     order by started_at desc, id desc limit 1) r on true
 where ($1::text is null or d.current_host = $1)
   and ($2::text is null or d.name ~ $2)
   and ($3::text is null or d.tags @> jsonb_build_array($3::text))
   and ($4::text is null or d.uuid::text = lower($4) or d.name = $4)
 order by d.name, d.uuid
