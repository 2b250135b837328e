-- No status guard, unlike fail-run.sql: this runs in the transaction that inserts the snapshot the
-- run committed to the repository, so the run succeeded whatever another process concluded meanwhile
-- (a run marked abandoned after a long stall that then finished is a success, and its snapshot is real).
update runs
   set status = 'succeeded', planned_level = $2, final_level = $3, reasons = $4::text::jsonb,
       snapshot_id = $5, finished_at = $6::timestamptz
 where id = $1
