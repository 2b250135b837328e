select id, checksum from schema_migrations order by id
