-- Committed snapshots whose manifest is no longer in the repository ($3: JSON array of the ids present).
update snapshots
   set status = 'missing'
 where repository = $1 and domain_uuid = $2::uuid and status = 'committed'
   and id not in (select jsonb_array_elements_text($3::text::jsonb))
returning id
