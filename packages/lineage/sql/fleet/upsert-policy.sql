insert into policies (name, selector, cron, time_zone, level, retention, repository, enabled,
                      created_at, updated_at, rpo_seconds, notify)
values ($1, $2::text::jsonb, $3, $4, $5::text::jsonb, $6::text::jsonb, $7, $8::boolean,
        $9::timestamptz, $9::timestamptz, $10::integer, $11::text::jsonb)
on conflict (name) do update
  set selector = excluded.selector, cron = excluded.cron, time_zone = excluded.time_zone,
      level = excluded.level, retention = excluded.retention, repository = excluded.repository,
      enabled = excluded.enabled, updated_at = excluded.updated_at,
      rpo_seconds = excluded.rpo_seconds, notify = excluded.notify
