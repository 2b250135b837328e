-- Serialises migration runners of several controllers (transaction-scoped).
select pg_advisory_xact_lock(hashtext('virtvault.lineage.migrations'))
