select at, run_id, kind, message from events where domain_uuid = $1::uuid order by id
