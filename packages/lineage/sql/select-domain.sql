select uuid::text as uuid, name, current_host from domains where uuid = $1::uuid
