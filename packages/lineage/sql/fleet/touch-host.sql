-- Marks a configured host as seen by its agent's inventory; never creates one, so an inventory
-- racing the host's removal (on this or another replica) cannot bring it back. No row: removed.
update hosts set last_seen = greatest(last_seen, $2::timestamptz)
where name = $1
returning name
