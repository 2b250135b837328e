-- Revokes the live token whose id is $1, else (no live token has that id) the live tokens named
-- $1: a name may look like another token's id, and one revoke must not end both.
update api_tokens
set revoked_at = $2::timestamptz
where revoked_at is null
  and (id = $1
       or (name = $1
           and not exists (select 1 from api_tokens t where t.id = $1 and t.revoked_at is null)))
returning id
