-- Whether any entry is past its project's mark (0030), for a read that checks it in its own
-- statement instead of folding first (docs/analytics.md, "When the levels are kept"). A read
-- of the levels that finds nothing pending in the snapshot it reads with is exact as it stands:
-- every entry committed before that snapshot is in the levels it reads. On a ledger nobody
-- appended to since the last fold, that spares each read the fold's statement; a read that
-- finds entries pending folds them and reads again.
--
-- Security definer, like the fold: it answers a yes or no over every project's head and mark,
-- which any ledger role may already learn by folding.

grant execution_ledger_appender to current_user;
grant create on schema execution_ledger to execution_ledger_appender;

create function execution_ledger.rollups_pending(p_project_id text) returns boolean
language plpgsql
stable
security definer
set search_path = pg_catalog, execution_ledger, pg_temp
as $$
begin
  -- A project's head without a mark has never been folded: pending.
  if p_project_id is null then
    return exists (
      select from heads h left join rollup_marks m on m.project_id = h.project_id
      where m.mark is null or h.seq > m.mark);
  end if;
  return exists (
    select from heads h left join rollup_marks m on m.project_id = h.project_id
    where h.project_id = p_project_id and (m.mark is null or h.seq > m.mark));
end
$$;

alter function execution_ledger.rollups_pending(text) owner to execution_ledger_appender;
revoke create on schema execution_ledger from execution_ledger_appender;

-- Granted while a member of the owning role (0010, 0030).
revoke execute on function execution_ledger.rollups_pending(text) from public;
grant execute on function execution_ledger.rollups_pending(text)
  to execution_ledger_writer, execution_ledger_service, execution_ledger_reader;
revoke execution_ledger_appender from current_user;
