-- virtvault lineage, schema 2: the fleet (DESIGN.md section 6). Hosts the controller dispatches to,
-- inventory state of domains, backup policies, and who asked for each run.

alter table hosts
  add column address          text,
  add column max_concurrent   integer not null default 2 check (max_concurrent > 0),
  add column enabled          boolean not null default true,
  add column agent_version    text,
  add column last_contact_at  timestamptz,
  add column last_error       text,
  add column state            text not null default 'unknown' check (state in ('up', 'down', 'unknown'));

alter table domains
  add column tags       jsonb not null default '[]',
  add column state      text check (state in ('running', 'paused', 'shut-off')),
  add column transient  boolean not null default false;
create index domains_by_host on domains (current_host);

create table policies (
  name        text primary key,
  selector    jsonb not null,                   -- {"nameGlob"?, "host"?, "tag"?}
  cron        text not null,
  time_zone   text not null default 'UTC',
  level       jsonb not null,                   -- core LevelPolicy
  retention   jsonb,                            -- {"keepLast","keepDaily","keepWeekly","keepMonthly"}
  repository  text not null,
  enabled     boolean not null default true,
  created_at  timestamptz not null,
  updated_at  timestamptz not null
);

alter table runs
  add column policy   text,
  add column trigger  text check (trigger in ('schedule', 'manual', 'retry')),
  add column job_id   text,
  add column attempt  integer;
create index runs_by_start on runs (started_at);

-- A domain seen on another host than before (the inventory or a dispatcher found it there).
create table domain_migrations (
  id           bigint generated always as identity primary key,
  domain_uuid  uuid not null references domains (uuid),
  from_host    text,
  to_host      text not null,
  at           timestamptz not null,
  detected_by  text not null
);
create index domain_migrations_by_domain on domain_migrations (domain_uuid, at);
