-- Domains on a host being removed keep their history but no current host.
update domains set current_host = null where current_host = $1
