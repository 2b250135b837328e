-- Reason codes of runs since $1, counted (one run counts once per code).
select reason, count(*)::int as runs
  from runs r, jsonb_array_elements_text(r.reasons) as reason
 where r.started_at >= $1::timestamptz
 group by reason
 order by runs desc, reason
