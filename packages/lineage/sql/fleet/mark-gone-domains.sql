-- Domains whose current host is $1 that its full inventory at $2 no longer lists ($3: the uuids it
-- lists, a JSON array), marked gone. Seen again anywhere, a domain loses the mark.
update domains
   set gone_at = $2::timestamptz
 where current_host = $1 and gone_at is null and last_seen < $2::timestamptz
   and uuid::text not in (select lower(jsonb_array_elements_text($3::text::jsonb)))
