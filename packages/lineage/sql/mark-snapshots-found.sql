-- Snapshots marked missing whose manifest is in the repository again ($3: JSON array of the ids
-- present), e.g. a repository that was not mounted for one run.
update snapshots
   set status = 'committed'
 where repository = $1 and domain_uuid = $2::uuid and status = 'missing'
   and id in (select jsonb_array_elements_text($3::text::jsonb))
returning id
