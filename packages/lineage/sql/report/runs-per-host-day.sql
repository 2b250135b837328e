-- Runs since $1 per host and UTC day, by outcome, with the bytes of their snapshots.
select r.host, to_char(date_trunc('day', r.started_at at time zone 'UTC'), 'YYYY-MM-DD') as day,
       count(*) filter (where r.status = 'succeeded')::int as succeeded,
       count(*) filter (where r.status = 'failed')::int as failed,
       count(*) filter (where r.status = 'abandoned')::int as abandoned,
       count(*) filter (where r.status = 'running')::int as running,
       coalesce(sum(s.bytes_read), 0)::bigint as bytes_read,
       coalesce(sum(s.bytes_new), 0)::bigint as bytes_new
  from runs r
  left join snapshots s on s.run_id = r.id and s.repository = r.repository
 where r.started_at >= $1::timestamptz
 group by 1, 2
 order by 2, 1
