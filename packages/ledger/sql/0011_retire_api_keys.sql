-- The HTTP service's API keys moved out of the ledger's schema into the service's own migration
-- set (schema execution_ledger_keys, packages/server/sql/), whose first migration copies every row
-- of execution_ledger.api_keys. The two sets may be applied in either order, so this migration
-- never removes a key: a table that holds none is dropped; one that holds keys stays as it is,
-- and the service may no longer add or revoke keys in it, so no key or revocation can land here
-- after (or before) the copy and be missed. The owner may drop it once the copy has run.
do $$
begin
  if to_regclass('execution_ledger.api_keys') is null then
    return;
  end if;
  -- Held until commit: no older process can add a key between the check and the drop.
  lock table execution_ledger.api_keys in access exclusive mode;
  if exists (select from execution_ledger.api_keys) then
    revoke insert, update, delete, truncate on execution_ledger.api_keys from execution_ledger_service;
  else
    drop table execution_ledger.api_keys;
    drop function execution_ledger.guard_api_key_change();
  end if;
end
$$;
