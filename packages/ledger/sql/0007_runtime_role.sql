-- A service that connects as a runtime role (a member of execution_ledger_service that owns
-- nothing) cannot migrate; at start-up it only checks that every migration has landed, so it
-- must be able to read which ones did.
grant select on execution_ledger.migrations to execution_ledger_service;
