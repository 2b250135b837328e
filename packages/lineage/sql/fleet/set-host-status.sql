-- Contact with the host's agent at $5: $2 up|down, $3 agent version (kept when null), $4 last
-- error. Ignored when a later observation was recorded already (a poll that ended late).
update hosts
   set state = $2, agent_version = coalesce($3, agent_version), last_error = $4,
       last_contact_at = case when $2 = 'up'
                              then greatest(last_contact_at, $5::timestamptz)
                              else last_contact_at end,
       last_seen = case when $2 = 'up' then greatest(last_seen, $5::timestamptz) else last_seen end,
       status_at = $5::timestamptz
 where name = $1 and (status_at is null or status_at <= $5::timestamptz)
