select name, repository, host, created_at, xml, disks, state, state_reason
  from checkpoints
 where domain_uuid = $1::uuid
 order by created_at, name
