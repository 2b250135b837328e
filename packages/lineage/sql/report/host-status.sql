-- Hosts with their agent state, VM count and running jobs.
select h.name, h.address, h.state, h.enabled, h.agent_version, h.max_concurrent,
       h.last_contact_at, h.last_error, h.first_seen, h.last_seen,
       (select count(*)::int from domains d where d.current_host = h.name) as vms,
       (select count(*)::int from runs r where r.host = h.name and r.status = 'running') as running
  from hosts h
 order by h.name
