-- virtvault lineage, schema 4: reporting. Per-policy RPO and notification settings, and the
-- notification outbox (one row per event and webhook; the unique key makes several controller
-- replicas send each notification once).
alter table policies
  add column rpo_seconds  integer check (rpo_seconds > 0),
  add column notify       jsonb not null default '{}';   -- {"webhooks":[url], "events":[kind]}

create table notifications (
  id            bigint generated always as identity primary key,
  dedupe_key    text not null,
  url           text not null,
  kind          text not null check (kind in ('rpo-violation', 'run-failed', 'chain-break')),
  domain_uuid   uuid references domains (uuid),
  payload       jsonb not null,
  created_at    timestamptz not null,
  attempts      integer not null default 0,
  next_at       timestamptz not null,
  delivered_at  timestamptz,
  last_error    text,
  unique (dedupe_key, url)
);
create index notifications_pending on notifications (next_at) where delivered_at is null;
