insert into schema_migrations (id, checksum) values ($1, $2)
