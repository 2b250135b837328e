-- A host named by an agent's inventory; never changes its configuration.
insert into hosts (name, first_seen, last_seen)
values ($1, $2::timestamptz, $2::timestamptz)
on conflict (name) do update set last_seen = greatest(hosts.last_seen, excluded.last_seen)
