-- 0003 and 0004 revoked EXECUTE from PUBLIC on rebuild_rollups and append_checkpoint only after
-- handing each function to its owning role. A migrating role that is not a superuser no longer
-- owned them by then, so PostgreSQL only warned, changed nothing, and PUBLIC kept EXECUTE: any role
-- with USAGE on the schema could rebuild rollups or store a checkpoint row (on Supabase that is
-- every signed-in user once the schema is exposed to them). Done again here as a member of the
-- owning roles, whose grants PostgreSQL records as the owner's.
grant execution_ledger_appender, execution_ledger_checkpointer to current_user;
revoke execute on function execution_ledger.rebuild_rollups(text) from public;
grant execute on function execution_ledger.rebuild_rollups(text) to execution_ledger_writer;
revoke execute on function execution_ledger.append_checkpoint(bigint, bigint, bigint, bytea, bytea, bytea, text, text, text, jsonb)
  from public;
grant execute on function execution_ledger.append_checkpoint(bigint, bigint, bigint, bytea, bytea, bytea, text, text, text, jsonb)
  to execution_ledger_writer;
revoke execution_ledger_appender, execution_ledger_checkpointer from current_user;
