-- Records an attempt of one claim (notification $1, claimed as attempt $5): delivered, or the
-- error and when to try again. Nothing when the notification was claimed again since (the claim
-- ran out: another replica took it) or delivered meanwhile: a late failure of a stale claim undid
-- a delivery, and the notification was sent once more.
update notifications
   set delivered_at = $2::timestamptz, last_error = $3, next_at = coalesce($4::timestamptz, next_at)
 where id = $1 and attempts = $5 and delivered_at is null
returning id
