select id, level, host, checkpoint, parent, status, verify_state, disks, started_at, ended_at
  from snapshots
 where repository = $1 and domain_uuid = $2::uuid
 order by started_at, id
