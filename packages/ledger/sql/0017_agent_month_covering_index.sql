-- Statistics of one agent across projects read the agent's rows of the `month` level: one per
-- project and month (600 rows for an agent of 200 projects over three months), each on a heap
-- page of its own, because the table is ordered by project. The index on (agent_id, month) now
-- carries the measures those reads use, so they are index-only scans of a few leaf pages: the
-- run count, the count per status (list totals filtered by agent and status) and the cost sum,
-- minimum and maximum (agent statistics). It replaces the index of the same key.
create index execution_rollups_month_agent_measures_idx on execution_ledger.execution_rollups_month
  (agent_id, month) include (run_count, completed_count, failed_count, aborted_count, cost_sum, cost_min, cost_max);
drop index execution_ledger.execution_rollups_month_agent_idx;
