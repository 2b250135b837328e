-- The lineage's owner tag (8 hex digits), made once when the schema is created and never changed.
-- Every checkpoint this lineage creates is named vv-<tag>-<ulid>, so two lineages backing up one
-- domain (two standalone state folders, or a standalone run beside a fleet) tell their checkpoints
-- apart and neither removes the other's. One row.
create table lineage_owner (
  singleton  boolean primary key default true check (singleton),
  tag        text not null check (tag ~ '^[0-9a-f]{8}$')
);

insert into lineage_owner (tag) values (substr(md5(gen_random_uuid()::text), 1, 8));
