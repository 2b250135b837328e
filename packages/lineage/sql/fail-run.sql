update runs
   set status = 'failed', planned_level = $2, reasons = $3::text::jsonb, error_code = $4,
       error_message = $5, finished_at = $6::timestamptz
 where id = $1 and status = 'running'
