// Loads the real-density runs straight into the executions table, bypassing the append path (the
// benchmark measures reads, and the append path would stamp every run with the current time).
// Every hash is computed exactly as the ledger does, so chains verify; no rollup is kept while the
// rows go in (the levels are folded after appends, and nothing reads meanwhile), and the caller
// rebuilds the rollups afterwards, which sets every project's fold mark. Superuser connections
// only, in a throwaway database or folder.
import { DEFAULT_LIMITS } from 'execution-ledger';
import { normalizeExecution } from 'execution-ledger/validation';
import { computeEntryHash, computePayloadHash, genesisHash } from 'execution-ledger/verify';
import { projectId, projectRuns, userCounts, zipfSizes } from './density-data.js';

const BATCH_ROWS = 2_000;
const IN_FLIGHT_MAX = 2;

const INSERT = `insert into execution_ledger.executions (id, run_id, project_id, user_id, agent_id,
    parent_run_id, intent, input, output, cost_json, execution_trace_json, status, error_message,
    created_at, seq, hash_version, payload_hash, prev_hash, entry_hash)
  select gen_random_uuid(), x.run_id, x.project_id, x.user_id, x.agent_id, x.parent_run_id, x.intent,
    x.input, nullif(x.output, 'null'::jsonb), x.cost_json, x.execution_trace_json, x.status,
    x.error_message, x.created_at, x.seq, 1, decode(x.payload_hash, 'hex'), decode(x.prev_hash, 'hex'),
    decode(x.entry_hash, 'hex')
  from jsonb_to_recordset($1::jsonb) as x(run_id text, project_id text, user_id text, agent_id text,
    parent_run_id text, intent text, input jsonb, output jsonb, cost_json jsonb, execution_trace_json jsonb,
    status text, error_message text, created_at timestamptz, seq bigint, payload_hash text, prev_hash text,
    entry_hash text)`;

/**
 * Loads `total` runs over [endMs - days, endMs) through `admin` (a superuser `query(sql, params)`)
 * and reports the load's seconds and the project sizes.
 */
export async function loadDenseRuns(admin, { total, projects, days, endMs, progress }) {
  const sizes = zipfSizes(total, projects);
  const users = userCounts(sizes);
  const fromMs = endMs - days * 86_400_000;
  const started = performance.now();
  const inFlight = new Set();
  let loaded = 0;
  const send = async (rows) => {
    while (inFlight.size >= IN_FLIGHT_MAX) await Promise.race(inFlight);
    const promise = admin(INSERT, [JSON.stringify(rows)]).then(() => {
      inFlight.delete(promise);
      loaded += rows.length;
      if (loaded % 100_000 < rows.length) progress?.(loaded, (performance.now() - started) / 1000);
    });
    inFlight.add(promise);
  };
  let firstUser = 0;
  for (const [project, size] of sizes.entries()) {
    const id = projectId(project);
    let prevHash = genesisHash(id);
    let seq = 0;
    let rows = [];
    for (const { createdAtMs, execution } of projectRuns(
      project,
      size,
      users[project],
      firstUser,
      fromMs,
      endMs,
    )) {
      const payload = normalizeExecution(execution, DEFAULT_LIMITS);
      seq += 1;
      const payloadHash = computePayloadHash(payload);
      const entryHash = computeEntryHash({ projectId: id, seq, createdAtMs, payloadHash, prevHash });
      rows.push({
        ...payload,
        created_at: new Date(createdAtMs).toISOString(),
        seq,
        payload_hash: payloadHash.toString('hex'),
        prev_hash: prevHash.toString('hex'),
        entry_hash: entryHash.toString('hex'),
      });
      prevHash = entryHash;
      if (rows.length === BATCH_ROWS) {
        await send(rows);
        rows = [];
      }
    }
    if (rows.length > 0) await send(rows);
    firstUser += users[project];
  }
  await Promise.all(inFlight);
  // The rows went around append_batch: set every project's head (0022) as the append keeps it.
  await admin(`insert into execution_ledger.heads as h (project_id, seq, entry_hash, created_at)
    select distinct on (e.project_id) e.project_id, e.seq, e.entry_hash, e.created_at
    from execution_ledger.executions e order by e.project_id, e.seq desc
    on conflict (project_id) do update
      set seq = excluded.seq, entry_hash = excluded.entry_hash, created_at = excluded.created_at`);
  return { seconds: (performance.now() - started) / 1000, sizes };
}
