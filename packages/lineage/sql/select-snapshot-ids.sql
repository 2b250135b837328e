-- Every snapshot of a domain in a repository the lineage knows, whatever its status: reconcile
-- imports only manifests missing here.
select id
  from snapshots
 where repository = $1 and domain_uuid = $2::uuid
