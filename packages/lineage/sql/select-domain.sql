-- The lineage's owner tag, the domain's current host (null when the domain is not recorded), and,
-- as JSON text, the checkpoints of the domain's runs whose outcome never reached the lineage: a run
-- still running or abandoned, one that failed to record its committed snapshot, or one that lost
-- its agent (a stream cut, a silent agent, a call cancelled), whose agent may have committed
-- before the loss (one query, not two: this is on every backup's critical path).
select o.tag as owner, d.current_host,
       (select coalesce(json_agg(json_build_object('name', r.new_checkpoint,
                                                   'repository', r.repository,
                                                   'running', r.status = 'running')), '[]')::text
          from runs r
         where r.domain_uuid = $1::uuid
           and r.new_checkpoint is not null
           and (r.status in ('running', 'abandoned')
                or (r.status = 'failed' and r.error_code in ('LINEAGE_COMMIT_FAILED',
                    'AGENT_UNAVAILABLE', 'AGENT_TIMEOUT', 'AGENT_CANCELLED', 'AGENT_ERROR')))
           and not exists (select 1 from checkpoints c
                            where c.domain_uuid = r.domain_uuid and c.name = r.new_checkpoint)
       ) as unconfirmed
from lineage_owner o
left join domains d on d.uuid = $1::uuid
