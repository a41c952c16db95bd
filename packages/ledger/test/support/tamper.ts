import { exportExecutionsToNDJSON, type Ledger, type ProjectProof } from 'execution-ledger';
import type { EngineContext } from './engines.js';

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
    'alter table execution_ledger.executions disable trigger user',
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
