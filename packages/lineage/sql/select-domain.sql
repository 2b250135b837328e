-- The lineage's owner tag, and the domain's current host (null when the domain is not recorded).
select o.tag as owner, d.current_host
from lineage_owner o
left join domains d on d.uuid = $1::uuid
