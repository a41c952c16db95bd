-- lineage_down (0019) again, cheaper for wide trees: a level comes back as tab-separated text
-- built in the statement that reads it, instead of a JSON value per run assembled from an array
-- of rows. Profiling the largest tree of bench:lineage (6,705 runs) showed half the function's
-- time in json_build_array (a type lookup per value) and in copying arrays of composite rows;
-- the client then spent as long again parsing and rebuilding them.
--
-- Same arguments; the rows change shape (level, mark, runs text):
-- - level 0, mark 'json': p_root itself, when recorded and visible, as one JSON array
--   [run_id, parent_run_id, project_id, agent_id, user_id, status, cost, created_ms];
-- - level n, mark null: the level's runs, one line each, oldest first then by run id in byte
--   order: run_id, parent_run_id, project_id, agent_id, user_id, status, cost (decimal text),
--   created_ms, separated by tabs, lines by newlines;
-- - level n, mark 'json': the same runs as comma-separated JSON arrays, used for a level where a
--   text holds a tab or a newline (the library refuses such ids; a row written by other means
--   must still read back exactly). Tabs and newlines are counted, so no field can pass for two;
-- - mark 'cycle': p_root met again under a run of the level above; runs is that run's id;
-- - mark 'depth' / 'nodes': a bound left runs of this level unread (runs null).
-- A cycle is now found from p_root's own parent, read with p_root: the walk meets p_root again
-- exactly when that parent is in the level above, whether or not a bound cuts the level.
-- The level's statement runs on a generic plan: its ordered branch is gated by v_ordered, so a
-- custom plan always looks cheaper and PL/pgSQL would plan it again for every level (a 1,000-deep
-- chain then took five times as long).

drop function execution_ledger.lineage_down(text, integer, integer, text[], boolean);

create function execution_ledger.lineage_down(p_root text, p_max_depth integer, p_max_nodes integer,
  p_projects text[], p_require_root boolean)
returns table (level integer, mark text, runs text)
language plpgsql
stable
set search_path = pg_catalog, execution_ledger, pg_temp
set jit = off
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_level text[] := array[p_root];
  v_root_parent text;
  v_depth integer := 1;
  v_nodes integer := 1;
  v_room integer;
  v_stop boolean;
  v_limit integer;
  v_ordered boolean;
  v_json boolean;
  v_found integer;
  v_text text;
  v_next text[];
begin
  select json_build_array(e.run_id, e.parent_run_id, e.project_id, e.agent_id, e.user_id, e.status,
      e.cost_total::text, floor(extract(epoch from e.created_at) * 1000)::bigint)::text,
    e.parent_run_id
  into runs, v_root_parent
  from executions e
  where e.run_id = p_root and (p_projects is null or e.project_id = any(p_projects));
  if found then
    level := 0;
    mark := 'json';
    return next;
  elsif p_require_root then
    return;
  end if;
  while cardinality(v_level) > 0 loop
    if v_root_parent = any(v_level) then
      level := v_depth;
      mark := 'cycle';
      runs := v_root_parent;
      return next;
    end if;
    v_room := p_max_nodes - v_nodes;
    v_stop := v_depth > p_max_depth or v_room = 0;
    -- One run more than there is room for tells whether runs are left out. Unordered first: a
    -- sort of the candidates is only needed when the level is cut to its oldest runs.
    v_limit := case when v_stop then 1 else v_room + 1 end;
    v_ordered := false;
    v_json := false;
    loop
      select count(*)::integer,
        string_agg(
          case when v_json then json_build_array(x.run_id, x.parent_run_id, x.project_id, x.agent_id,
              x.user_id, x.status, x.cost_total::text, x.created_ms)::text
            else x.run_id || E'\t' || x.parent_run_id || E'\t' || x.project_id || E'\t' || x.agent_id
              || E'\t' || x.user_id || E'\t' || x.status || E'\t' || x.cost_total::text || E'\t'
              || x.created_ms::text end,
          case when v_json then ',' else E'\n' end
          order by x.created_ms, x.run_id collate "C"),
        array_agg(x.run_id order by x.created_ms, x.run_id collate "C")
      into v_found, v_text, v_next
      from (
        (select l.run_id, l.parent_run_id, l.project_id, l.agent_id, l.user_id, l.status, l.cost_total,
           l.created_ms
         from run_links l
         where l.parent_run_id = any(v_level) and l.run_id <> p_root
           and (p_projects is null or l.project_id = any(p_projects)) and not v_ordered
         limit v_limit)
        union all
        (select l.run_id, l.parent_run_id, l.project_id, l.agent_id, l.user_id, l.status, l.cost_total,
           l.created_ms
         from run_links l
         where l.parent_run_id = any(v_level) and l.run_id <> p_root
           and (p_projects is null or l.project_id = any(p_projects)) and v_ordered
         order by l.created_ms, l.run_id collate "C"
         limit v_limit)) x;
      if v_stop then
        if v_found > 0 then
          level := v_depth;
          mark := case when v_depth > p_max_depth then 'depth' else 'nodes' end;
          runs := null;
          return next;
        end if;
        return;
      end if;
      exit when v_found = 0;
      if v_found > v_room then
        -- More runs than room: say so, then keep the oldest that fit.
        level := v_depth;
        mark := 'nodes';
        runs := null;
        return next;
        v_ordered := true;
        v_limit := v_room;
        continue;
      end if;
      -- Every tab and newline must be a separator: 7 tabs per line, a newline between lines.
      exit when v_json
        or (octet_length(v_text) - octet_length(replace(v_text, E'\t', '')) = 7 * v_found
          and octet_length(v_text) - octet_length(replace(v_text, E'\n', '')) = v_found - 1);
      v_json := true;
    end loop;
    exit when v_found = 0;
    level := v_depth;
    mark := case when v_json then 'json' else null end;
    runs := v_text;
    return next;
    v_level := v_next;
    v_nodes := v_nodes + v_found;
    v_depth := v_depth + 1;
  end loop;
end
$$;

revoke execute on function execution_ledger.lineage_down(text, integer, integer, text[], boolean) from public;
grant execute on function execution_ledger.lineage_down(text, integer, integer, text[], boolean)
  to execution_ledger_reader, execution_ledger_service;
