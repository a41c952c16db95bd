-- A cheaper answer from rollups_pending(null) (0031), which every read of the levels across
-- projects asks in its own statement (docs/analytics.md, "Checked, or folded first"). Nothing
-- stored changes.
--
-- A project's mark is never past its head: the fold sets it to the head it read after taking
-- the mark's lock, a rebuild to the head under the append lock (0 without one), and heads only
-- grow. So some project is past its mark exactly when the heads' seqs add up to more than the
-- marks do (a head without a mark counts its whole seq). Two sums over two small tables, read
-- in one snapshot, replace a merge join of them on project_id: 0.06 ms instead of 0.10 at 200
-- projects (bench/RESULTS.md), still linear in projects but with no text comparison per project.

grant execution_ledger_appender to current_user;

create or replace function execution_ledger.rollups_pending(p_project_id text) returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  if p_project_id is null then
    return (select coalesce(sum(h.seq), 0) from heads h) > (select coalesce(sum(m.mark), 0) from rollup_marks m);
  end if;
  -- A project's head without a mark has never been folded: pending.
  return exists (
    select from heads h left join rollup_marks m on m.project_id = h.project_id
    where h.project_id = p_project_id and (m.mark is null or h.seq > m.mark));
end
$$;

revoke execution_ledger_appender from current_user;
