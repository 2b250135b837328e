select name, selector, cron, time_zone, level, retention, repository, enabled, created_at, updated_at,
       rpo_seconds, notify
  from policies
 where ($1::text is null or name = $1)
 order by name
