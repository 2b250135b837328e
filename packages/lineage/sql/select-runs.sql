select id, repository, host, status, planned_level, final_level, reasons, error_code, error_message,
       snapshot_id, started_at, heartbeat_at, finished_at
  from runs
 where domain_uuid = $1::uuid
 order by started_at, id
