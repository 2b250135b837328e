-- Records an attempt: delivered, or the error and when to try again.
update notifications
   set delivered_at = $2::timestamptz, last_error = $3, next_at = coalesce($4::timestamptz, next_at)
 where id = $1
