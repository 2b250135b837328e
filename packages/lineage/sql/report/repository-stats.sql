-- Per repository: committed snapshots, logical size (every snapshot restores full disks), bytes
-- read and new chunk payload (before compression). logical / new is the dedup ratio.
select s.repository,
       count(*)::int as snapshots,
       count(distinct s.domain_uuid)::int as vms,
       coalesce(sum((select sum((d->>'virtualSize')::bigint) from jsonb_array_elements(s.disks) d)), 0)::bigint as logical_bytes,
       coalesce(sum(s.bytes_read), 0)::bigint as bytes_read,
       coalesce(sum(s.bytes_new), 0)::bigint as bytes_new
  from snapshots s
 where s.status = 'committed'
 group by s.repository
 order by s.repository
