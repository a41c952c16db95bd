import assert from 'node:assert/strict';
import type { Queryable } from '../db/database.js';
import { toSafeNumber } from '../db/execution-queries.js';
import { type FilterScope, scopeClauses, whereSql } from '../query/execution-filter.js';

/**
 * Export reads are their own queries: every column arrives as text the export writes as it is
 * (JSON columns as jsonb text), so no JSON is parsed and serialised again in JS. A format
 * (export-formats.ts) gives the select list; each row also carries its keyset position: seq in
 * chain order, created_at to the microsecond with id otherwise (that to_char is paid only where
 * the order needs it).
 */

/** The order of an export: the chain (`seq`) within one project, `time` (created_at, id) otherwise. */
export type ExportOrder = 'seq' | 'time';

export interface ExportPosition {
  k_seq?: string;
  k_at?: string;
  k_id?: string;
}

const KEYSET_COLUMNS: Record<ExportOrder, string> = {
  seq: 'e.seq::text as k_seq',
  time: `to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as k_at, e.id::text as k_id`,
};

/** The seq of a row read in chain order. */
export function exportRowSeq(row: ExportPosition): number {
  assert(row.k_seq !== undefined, 'a row read in chain order carries k_seq');
  return toSafeNumber(row.k_seq, 'seq');
}

/**
 * One keyset batch of an export, oldest first: by seq within one project (the chain order, which
 * an offline verifier needs), by (created_at, id) otherwise.
 */
export async function queryExportBatch<Row extends ExportPosition>(
  q: Queryable,
  selectList: string,
  scope: FilterScope,
  after: ExportPosition | null,
  limit: number,
): Promise<Row[]> {
  const params: unknown[] = [];
  const clauses = scopeClauses(scope, params);
  const order: ExportOrder = scope.projectId !== undefined ? 'seq' : 'time';
  if (after !== null) {
    if (order === 'seq') {
      params.push(after.k_seq);
      clauses.push(`e.seq > $${params.length}::bigint`);
    } else {
      params.push(after.k_at, after.k_id);
      clauses.push(`(e.created_at, e.id) > ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
  }
  params.push(limit);
  return q.query<Row>(
    `select ${selectList}, ${KEYSET_COLUMNS[order]} from execution_ledger.executions e
     ${whereSql(clauses)} order by ${order === 'seq' ? 'e.seq' : 'e.created_at, e.id'} limit $${params.length}`,
    params,
  );
}

/**
 * The rows of one project with afterSeq < seq <= lastSeq, in seq order: an index range scan
 * that does not depend on any other batch, so several run at once.
 */
export async function queryExportRange<Row extends ExportPosition>(
  q: Queryable,
  selectList: string,
  scope: FilterScope,
  afterSeq: number,
  lastSeq: number,
): Promise<Row[]> {
  const params: unknown[] = [];
  const clauses = scopeClauses(scope, params);
  params.push(afterSeq, lastSeq);
  clauses.push(`e.seq > $${params.length - 1}::bigint`, `e.seq <= $${params.length}::bigint`);
  return q.query<Row>(
    `select ${selectList}, ${KEYSET_COLUMNS.seq} from execution_ledger.executions e
     ${whereSql(clauses)} order by e.seq`,
    params,
  );
}

/** The highest seq of a project's chain now (0 when it has none), where a range export stops. */
export async function queryChainHead(q: Queryable, projectId: string): Promise<number> {
  const rows = await q.query<{ head_seq: string }>(
    `select coalesce(max(e.seq), 0)::text as head_seq from execution_ledger.executions e
     where e.project_id = $1`,
    [projectId],
  );
  return toSafeNumber(rows[0]?.head_seq ?? '0', 'head seq');
}
