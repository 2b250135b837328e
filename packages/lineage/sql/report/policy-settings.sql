-- Reporting settings of every policy.
select name, rpo_seconds, notify from policies order by name
