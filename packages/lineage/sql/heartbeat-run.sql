-- No row returned: the run is no longer running (another run took it over), its lease is lost.
update runs set heartbeat_at = greatest(heartbeat_at, $2::timestamptz)
 where id = $1 and status = 'running'
returning id
