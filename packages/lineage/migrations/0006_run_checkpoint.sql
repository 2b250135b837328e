-- The checkpoint a run creates, recorded before it exists. A run whose outcome never reaches the
-- lineage (its snapshot committed to the repository, then the lineage's commit failed, or the
-- process died) leaves a checkpoint no row names; another repository's run would take it for an
-- orphan and remove it, and the next run of its own repository, which recovers the snapshot from
-- the repository's manifest, would find the bitmap gone and take a needless full.
alter table runs add column new_checkpoint text;
