-- A package's own migration set, for tests: one table, reached only through the functions below.
create table ledger_test_notes.notes (
  body text not null,
  added_at timestamptz not null default clock_timestamp()
);
create function ledger_test_notes.add_note(note_body text) returns setof ledger_test_notes.notes
language sql
as $$ insert into ledger_test_notes.notes (body) values (note_body) returning *; $$;
create function ledger_test_notes.count_notes(note_body text) returns table (n integer)
language sql stable
as $$ select count(*)::integer from ledger_test_notes.notes where body = note_body; $$;
grant usage on schema ledger_test_notes to execution_ledger_service;
grant select, insert on ledger_test_notes.notes to execution_ledger_service;
grant select on ledger_test_notes.migrations to execution_ledger_service;
