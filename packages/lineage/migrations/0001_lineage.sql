-- virtvault lineage, schema 1 (DESIGN.md section 4). The database is the truth about chains;
-- libvirt's checkpoint metadata is a cache rebuilt from it. Runs unchanged on Postgres and PGlite.

create table hosts (
  name        text primary key,
  first_seen  timestamptz not null,
  last_seen   timestamptz not null
);

create table domains (
  uuid          uuid primary key,
  name          text not null,
  current_host  text references hosts (name),
  last_seen     timestamptz not null
);

create table disks (
  domain_uuid   uuid not null references domains (uuid),
  target        text not null,
  source        text not null,
  format        text not null,
  virtual_size  bigint not null,
  last_seen     timestamptz not null,
  primary key (domain_uuid, target)
);

-- Our checkpoints only (vv-<ulid>); other tools' checkpoints are never recorded.
create table checkpoints (
  domain_uuid       uuid not null references domains (uuid),
  name              text not null check (name like 'vv-%'),
  repository        text not null,
  host              text not null,
  created_at        timestamptz not null,
  xml               text not null,
  disks             jsonb not null,             -- [{"target":"vda","bitmap":"vv-…"}]
  state             text not null default 'live' check (state in ('live', 'broken', 'deleted')),
  state_reason      text,
  state_changed_at  timestamptz,
  primary key (domain_uuid, name)
);

create table snapshots (
  repository    text not null,
  id            text not null,
  domain_uuid   uuid not null references domains (uuid),
  host          text not null,
  level         text not null check (level in ('full', 'incremental', 'differential')),
  checkpoint    text,
  parent        text,
  status        text not null check (status in ('committed', 'incomplete', 'missing', 'deleted')),
  verify_state  text not null default 'unverified' check (verify_state in ('unverified', 'ok', 'failed')),
  bytes_read    bigint not null,
  bytes_new     bigint not null,
  disks         jsonb not null,                 -- manifest disks
  reasons       jsonb not null,                 -- reason codes
  started_at    timestamptz not null,
  ended_at      timestamptz not null,
  run_id        text,
  recorded_at   timestamptz not null,
  primary key (repository, id)
);
create index snapshots_by_domain on snapshots (domain_uuid, repository, started_at);

create table runs (
  id             text primary key,
  domain_uuid    uuid not null references domains (uuid),
  repository     text not null,
  host           text not null,
  status         text not null check (status in ('running', 'succeeded', 'failed', 'abandoned')),
  planned_level  text,
  final_level    text,
  reasons        jsonb not null default '[]',
  error_code     text,
  error_message  text,
  snapshot_id    text,
  started_at     timestamptz not null,
  heartbeat_at   timestamptz not null,
  finished_at    timestamptz
);
-- The per-domain concurrency guard: works on Postgres and on PGlite (where advisory locks are not real).
create unique index runs_one_running_per_domain on runs (domain_uuid) where status = 'running';
create index runs_by_domain on runs (domain_uuid, started_at);

create table events (
  id           bigint generated always as identity primary key,
  at           timestamptz not null,
  domain_uuid  uuid not null references domains (uuid),
  run_id       text references runs (id),
  kind         text not null,
  message      text not null
);
create index events_by_domain on events (domain_uuid, at);
