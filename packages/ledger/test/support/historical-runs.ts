import { randomUUID } from 'node:crypto';
import type { EngineContext } from '@execution-ledger/test-support';
import { DEFAULT_LIMITS, type ExecutionCost, type ExecutionStatus } from 'execution-ledger';
import { normalizeExecution } from 'execution-ledger/validation';
import { computeEntryHash, computePayloadHash, genesisHash } from 'execution-ledger/verify';

/** What an analytics test varies about a run; everything else is a fixed valid execution. */
export interface HistoricalRun {
  createdAt: Date;
  runId?: string;
  agentId?: string;
  userId?: string;
  status?: ExecutionStatus;
  cost?: number | ExecutionCost;
  durationMs?: number;
  intent?: string;
  errorMessage?: string;
  /** The trace's steps; one free-form step when absent. */
  steps?: Record<string, unknown>[];
}

/** Where a project's chain stands, so later batches continue it. */
export interface ChainTip {
  seq: number;
  entryHash: Buffer;
}

/**
 * Appends runs with chosen timestamps to a project's chain, as a superuser in one INSERT
 * statement. The append function always stamps the current time, and analytics need runs spread
 * over hours, days and daylight-saving changes; every hash is computed exactly as the ledger
 * does, so the chain verifies and the rollup trigger sees one ordinary multi-row statement.
 * `replica` runs the insert under session_replication_role = replica; `corruptSeq` stores that
 * entry with a payload_hash that does not match its content (its entry_hash still links), as a
 * rewritten entry would look. Runs must come in time order.
 */
export async function insertHistoricalRuns(
  context: Pick<EngineContext, 'admin'>,
  projectId: string,
  runs: HistoricalRun[],
  tip: ChainTip = { seq: 0, entryHash: genesisHash(projectId) },
  options: { replica?: boolean; corruptSeq?: number } = {},
): Promise<ChainTip> {
  let { seq, entryHash } = tip;
  const rows = runs.map((run) => {
    const payload = normalizeExecution(historicalExecution(projectId, run), DEFAULT_LIMITS);
    seq += 1;
    const payloadHash = computePayloadHash(
      seq === options.corruptSeq ? { ...payload, intent: 'rewritten' } : payload,
    );
    const prevHash = entryHash;
    const createdAtMs = run.createdAt.getTime();
    entryHash = computeEntryHash({ projectId, seq, createdAtMs, payloadHash, prevHash });
    return {
      ...payload,
      created_at: run.createdAt.toISOString(),
      seq,
      payload_hash: payloadHash.toString('hex'),
      prev_hash: prevHash.toString('hex'),
      entry_hash: entryHash.toString('hex'),
    };
  });
  if (rows.length === 0) return tip;
  const data = JSON.stringify(rows);
  if (data.includes('$data$')) throw new Error('test data must not contain the quoting tag $data$');
  if (projectId.includes('$project$'))
    throw new Error('a project id must not contain the quoting tag $project$');
  // One statement without parameters (a DO block), so SET LOCAL and the insert share a transaction
  // on both engines, and the data travels as a dollar-quoted literal.
  await context.admin(`do $do$ begin
    ${options.replica ? 'set local session_replication_role = replica;' : ''}
    insert into execution_ledger.executions (id, run_id, project_id, user_id, agent_id, parent_run_id,
      intent, input, output, cost_json, execution_trace_json, status, error_message, created_at, seq,
      hash_version, payload_hash, prev_hash, entry_hash)
    select gen_random_uuid(), x.run_id, x.project_id, x.user_id, x.agent_id, x.parent_run_id, x.intent,
      x.input, nullif(x.output, 'null'::jsonb), x.cost_json, x.execution_trace_json, x.status,
      x.error_message, x.created_at, x.seq, 1, decode(x.payload_hash, 'hex'), decode(x.prev_hash, 'hex'),
      decode(x.entry_hash, 'hex')
    from jsonb_to_recordset($data$${data}$data$::jsonb) as x(run_id text, project_id text, user_id text,
      agent_id text, parent_run_id text, intent text, input jsonb, output jsonb, cost_json jsonb,
      execution_trace_json jsonb, status text, error_message text, created_at timestamptz, seq bigint,
      payload_hash text, prev_hash text, entry_hash text)
    order by x.seq;
    -- The append reads a project's tip from its heads row (0022), which append_batch keeps; rows
    -- written around it must move the head too, as the migration's backfill did for history.
    insert into execution_ledger.heads as h (project_id, seq, entry_hash, created_at)
    select e.project_id, e.seq, e.entry_hash, e.created_at from execution_ledger.executions e
    where e.project_id = $project$${projectId}$project$ order by e.seq desc limit 1
    on conflict (project_id) do update
      set seq = excluded.seq, entry_hash = excluded.entry_hash, created_at = excluded.created_at;
  end $do$`);
  return { seq, entryHash };
}

/** The execution input a historical run stands for: sending it again replays that run. */
export function historicalExecution(projectId: string, run: HistoricalRun) {
  const status = run.status ?? 'completed';
  return {
    run_id: run.runId ?? `run-${randomUUID()}`,
    project_id: projectId,
    user_id: run.userId ?? 'user-001',
    agent_id: run.agentId ?? 'backend',
    intent: run.intent ?? 'Deploy microservice to production',
    input: { service: 'user-api' },
    cost: run.cost ?? { total: 850, breakdown: { tokens: 300, toolCalls: 450, externalRequests: 100 } },
    execution_trace: {
      steps: run.steps ?? [{ action: 'deploy', duration_ms: run.durationMs ?? 250 }],
      duration_ms: run.durationMs ?? 250,
    },
    status,
    error_message: run.errorMessage ?? (status === 'completed' ? null : `the run ${status}`),
  };
}
