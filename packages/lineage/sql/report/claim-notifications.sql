-- Takes up to $2 due notifications, pushing their next attempt out so no other replica sends
-- them meanwhile.
update notifications n
   set next_at = $1::timestamptz + interval '2 minutes', attempts = n.attempts + 1
 where n.id in (select id from notifications
                 where delivered_at is null and next_at <= $1::timestamptz and attempts < $3
                 order by next_at
                 limit $2
                   for update skip locked)
returning n.id, n.url, n.kind, n.payload, n.attempts
