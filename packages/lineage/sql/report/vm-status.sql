-- Every known VM (not gone from its host) with its last good snapshot, its last run and the length
-- of its current chain.
select d.uuid::text as uuid, d.name, d.current_host, d.state, d.tags, d.last_seen,
       ls.id as snap_id, ls.ended_at as snap_at, ls.level as snap_level,
       ls.repository as snap_repository,
       lr.id as run_id, lr.status as run_status, lr.final_level as run_level,
       lr.planned_level as run_planned_level, lr.reasons as run_reasons,
       lr.error_code as run_error, lr.started_at as run_started_at,
       lr.finished_at as run_finished_at, lr.policy as run_policy,
       p.rpo_seconds,
       (select count(*)::int
          from snapshots c
         where c.domain_uuid = d.uuid and c.repository = ls.repository
           and c.status = 'committed'
           and c.started_at >= (select max(f.started_at) from snapshots f
                                 where f.domain_uuid = d.uuid and f.repository = ls.repository
                                   and f.status = 'committed' and f.level = 'full')) as chain_length
  from domains d
  left join lateral (select * from snapshots s
                      where s.domain_uuid = d.uuid and s.status = 'committed'
                      order by s.ended_at desc limit 1) ls on true
  left join lateral (select * from runs r
                      where r.domain_uuid = d.uuid
                      order by r.started_at desc, r.id desc limit 1) lr on true
  left join policies p on p.name = lr.policy
 where d.gone_at is null
 order by d.name, d.uuid
