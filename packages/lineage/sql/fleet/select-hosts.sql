select h.name, h.address, h.max_concurrent, h.enabled, h.agent_version, h.last_contact_at,
       h.last_error, h.state, h.first_seen, h.last_seen,
       (select count(*)::int from domains d where d.current_host = h.name) as domain_count
  from hosts h
 where ($1::text is null or h.name = $1)
 order by h.name
