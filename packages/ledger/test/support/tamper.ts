import type { EngineContext } from '@execution-ledger/test-support';
import {
  type ExecutionRecord,
  exportExecutionsToNDJSON,
  type Ledger,
  type ProjectProof,
} from 'execution-ledger';
import {
  computeEntryHash,
  computePayloadHash,
  type EntryPayload,
  type HashVersion,
} from 'execution-ledger/verify';

const GUARDS = [
  'executions_append_only_row',
  'executions_append_only_statement',
  'executions_append_only_truncate',
];

/**
 * Edits executions the way a malicious superuser would: switch the append-only guards off, run
 * the statements, switch them back on (ENABLE ALWAYS). On the server it is one transaction, so
 * the ALTER TABLE lock keeps other sessions from ever seeing the guards off.
 */
export async function tamperAsSuperuser(context: EngineContext, statements: string[]): Promise<void> {
  const all = [
    // By name: other triggers (the rollup upkeep) must stay on for every other test.
    ...GUARDS.map((guard) => `alter table execution_ledger.executions disable trigger ${guard}`),
    ...statements,
    ...GUARDS.map((guard) => `alter table execution_ledger.executions enable always trigger ${guard}`),
  ];
  if (context.engine === 'postgres') {
    // Without parameters node-postgres sends one simple query: every statement, one transaction.
    await context.admin(['begin', ...all, 'commit'].join(';\n'));
    return;
  }
  for (const statement of all) await context.admin(statement);
}

/** SQL text literal: the statements above carry no parameters, so values are quoted here. */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

export async function exportLines(
  ledger: Ledger,
  projectId: string,
  proof?: ProjectProof | null,
): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of exportExecutionsToNDJSON(ledger, projectId, { proof: proof ?? null }))
    lines.push(line);
  return lines;
}

/**
 * The same entries with changed content and every hash recomputed, as an attacker who has the
 * hashing code would write them: the chain stays internally perfect.
 */
export function forgeRecords(records: readonly ExecutionRecord[]): ExecutionRecord[] {
  let prevHash: Buffer | null = null;
  return records.map((record) => {
    const input = { ...record.input, forged: true };
    const payloadHash = computePayloadHash(
      {
        run_id: record.run_id,
        project_id: record.project_id,
        user_id: record.user_id,
        agent_id: record.agent_id,
        parent_run_id: record.parent_run_id,
        intent: record.intent,
        input,
        output: record.output ?? null,
        cost_json: record.cost_json as unknown as EntryPayload['cost_json'],
        execution_trace_json: record.execution_trace_json as unknown as EntryPayload['execution_trace_json'],
        status: record.status,
        error_message: record.error_message ?? null,
      },
      record.hash_version as HashVersion,
    );
    const prev = prevHash ?? Buffer.from(record.prev_hash, 'hex');
    const entryHash = computeEntryHash({
      projectId: record.project_id,
      hashVersion: record.hash_version as HashVersion,
      seq: record.seq,
      createdAtMs: Date.parse(record.created_at),
      payloadHash,
      prevHash: prev,
    });
    prevHash = entryHash;
    return {
      ...record,
      input,
      payload_hash: payloadHash.toString('hex'),
      prev_hash: prev.toString('hex'),
      entry_hash: entryHash.toString('hex'),
    };
  });
}
