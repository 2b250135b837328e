update runs set heartbeat_at = greatest(heartbeat_at, $2::timestamptz)
 where id = $1 and status = 'running'
