-- When a domain's current host stopped listing it (undefined, or a transient domain that ended):
-- kept with its history, but out of the report's per-VM figures and of policies' fan-out. A VM
-- deleted from libvirt stayed in /metrics forever, its RPO violated, alerting for ever.
alter table domains add column gone_at timestamptz;
