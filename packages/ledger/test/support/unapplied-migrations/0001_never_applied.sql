-- A set that the owner never applies on the test server: the runtime role finds it out of date.
create table ledger_test_unapplied.things (name text);
