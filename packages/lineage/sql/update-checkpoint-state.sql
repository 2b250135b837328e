-- A deleted checkpoint stays deleted.
update checkpoints
   set state = $3, state_reason = $4, state_changed_at = $5::timestamptz
 where domain_uuid = $1::uuid and name = $2 and state <> 'deleted'
