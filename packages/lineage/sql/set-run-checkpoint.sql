-- The checkpoint a running run is about to create (see migration 0006).
update runs set new_checkpoint = $2 where id = $1 and status = 'running'
