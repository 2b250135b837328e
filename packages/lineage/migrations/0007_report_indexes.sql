-- Indexes for the report's queries, which every replica runs each notifier tick (15 s) and each
-- /metrics scrape: without them each read every snapshot and every run of the fleet (at 10,000
-- VMs, millions of rows per tick, growing with history).
-- finished-runs-since: runs finished in a window.
create index runs_by_finish on runs (finished_at) where finished_at is not null;
-- vm-status: each domain's newest committed snapshot by end time.
create index snapshots_committed_by_end on snapshots (domain_uuid, ended_at)
  where status = 'committed';
-- vm-status: the start of each domain's current chain (its newest committed full).
create index snapshots_full_by_start on snapshots (domain_uuid, repository, started_at)
  where status = 'committed' and level = 'full';
-- runs-per-host-day: a run's snapshot.
create index snapshots_by_run on snapshots (run_id);
