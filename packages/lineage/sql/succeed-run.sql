update runs
   set status = 'succeeded', planned_level = $2, final_level = $3, reasons = $4::text::jsonb,
       snapshot_id = $5, finished_at = $6::timestamptz
 where id = $1
