-- Runs of the domain whose process stopped sending heartbeats before $2.
update runs
   set status = 'abandoned', error_code = 'RUN_ABANDONED',
       error_message = 'no heartbeat since ' || heartbeat_at::text, finished_at = $3::timestamptz
 where domain_uuid = $1::uuid and status = 'running' and heartbeat_at <= $2::timestamptz
returning id
