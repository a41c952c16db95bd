import { createHash } from 'node:crypto';
import { PAGE_ROWS_DEFAULT, PAGE_ROWS_MAX } from '../bounds.js';
import { LedgerError } from '../errors.js';
import { type FilterScope, requireLimit, scopeClauses, whereSql } from '../query/execution-filter.js';
import type { ExecutionRecord, Page, PageOptions } from '../types.js';
import type { Queryable } from './database.js';
import { type ExecutionRow, RECORD_COLUMNS, rowToRecord } from './execution-queries.js';
import { namedSql } from './named-sql.js';

/**
 * Keyset order of a list: `seq` within one project (the chain order), or `time`
 * (created_at, id) across projects. A cursor names the last row seen, so page 10,000 costs
 * what page 1 costs.
 */
export type Ordering = 'seq' | 'time';
export type Direction = 'asc' | 'desc';

interface CursorState {
  o: Ordering;
  s?: number;
  t?: string;
  i?: string;
}

export function encodeCursor(ordering: Ordering, record: ExecutionRecord): string {
  const state: CursorState =
    ordering === 'seq' ? { o: 'seq', s: record.seq } : { o: 'time', t: record.created_at, i: record.id };
  return cursorText(state);
}

/**
 * The state as JSON with a check (the first 8 hex digits of its SHA-256) beside it. Without the
 * check, changing one digit of a cursor made another well-formed cursor that a list accepted;
 * with it an edited cursor is refused (it does not guard against forging: cursors grant no
 * access, the reader's scope does).
 */
function cursorText(state: CursorState): string {
  const text = JSON.stringify(state);
  const check = createHash('sha256').update(text).digest('hex').slice(0, 8);
  return Buffer.from(JSON.stringify({ ...state, c: check }), 'utf8').toString('base64url');
}

/**
 * Accepts exactly the text encodeCursor produced and nothing else. Node's base64url decoder
 * skips characters it does not know and ignores trailing bits, so a cursor with a character
 * appended or changed can decode to the same state: the state is rebuilt from its checked
 * fields, encoded again (with its check) and compared with what the caller sent.
 */
function decodeCursor(ordering: Ordering, cursor: string): CursorState {
  const state = checkedState(ordering, parseCursor(cursor));
  if (state === undefined || cursorText(state) !== cursor) {
    throw new LedgerError(
      'INVALID_CURSOR',
      'cursor was not produced by this list; pass the next_cursor of the previous page unchanged, or omit it to start over',
      { field: 'cursor' },
    );
  }
  return state;
}

function parseCursor(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The state rebuilt from its checked fields only, or undefined when a field is missing or wrong. */
function checkedState(ordering: Ordering, value: unknown): CursorState | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { o, s, t, i } = value as Record<string, unknown>;
  if (o !== ordering) return undefined;
  if (ordering === 'seq')
    return typeof s === 'number' && Number.isSafeInteger(s) ? { o: 'seq', s } : undefined;
  const valid =
    typeof t === 'string' &&
    !Number.isNaN(Date.parse(t)) &&
    typeof i === 'string' &&
    /^[0-9a-f-]{36}$/.test(i);
  return valid ? { o: 'time', t, i } : undefined;
}

function keysetClause(
  ordering: Ordering,
  direction: Direction,
  state: CursorState,
  params: unknown[],
): string {
  const operator = direction === 'desc' ? '<' : '>';
  if (ordering === 'seq') {
    params.push(state.s);
    return `e.seq ${operator} $${params.length}`;
  }
  params.push(state.t, state.i);
  return `(e.created_at, e.id) ${operator} ($${params.length - 1}::timestamptz, $${params.length}::uuid)`;
}

function orderSql(ordering: Ordering, direction: Direction): string {
  return ordering === 'seq'
    ? `order by e.seq ${direction}`
    : `order by e.created_at ${direction}, e.id ${direction}`;
}

/** One bounded batch after `cursor` (exclusive), for lists and streams. */
export async function queryBatch(
  q: Queryable,
  scope: FilterScope,
  ordering: Ordering,
  direction: Direction,
  cursor: string | null,
  limit: number,
  offset = 0,
): Promise<ExecutionRecord[]> {
  const params: unknown[] = [];
  const clauses = scopeClauses(scope, params);
  if (cursor !== null)
    clauses.push(keysetClause(ordering, direction, decodeCursor(ordering, cursor), params));
  params.push(limit, offset);
  const rows = await q.query<ExecutionRow>(
    namedSql(`select ${RECORD_COLUMNS} from execution_ledger.executions e ${whereSql(clauses)}
     ${orderSql(ordering, direction)} limit $${params.length - 1} offset $${params.length}`),
    params,
  );
  return rows.map(rowToRecord);
}

/** Counts the runs of a scope; the caller picks how (the rollups answer most scopes). */
export type CountRuns = (q: Queryable, scope: FilterScope) => Promise<number>;

/** A page newest first, by offset (the seed's way) or by cursor. */
export async function queryPage(
  q: Queryable,
  scope: FilterScope,
  ordering: Ordering,
  options: PageOptions,
  countRuns: CountRuns,
): Promise<Page<ExecutionRecord>> {
  const limit = requireLimit(options.limit, 'limit', PAGE_ROWS_DEFAULT, PAGE_ROWS_MAX);
  const offset = options.cursor == null ? pageOffset(options.offset) : 0;
  // The page and its total are independent: on a pool they run on two connections at once.
  const [rows, total] = await Promise.all([
    queryBatch(q, scope, ordering, 'desc', options.cursor ?? null, limit + 1, offset),
    countRuns(q, scope),
  ]);
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  return {
    data,
    total,
    next_cursor: rows.length > limit && last !== undefined ? encodeCursor(ordering, last) : null,
  };
}

/** Accepts the seed's `(limit, offset)` numbers or a `{ limit, cursor, offset }` object. */
export function toPageOptions(
  limitOrOptions: number | PageOptions | undefined,
  offset: number | undefined,
): PageOptions {
  if (typeof limitOrOptions === 'object' && limitOrOptions !== null) return limitOrOptions;
  const options: PageOptions = {};
  if (limitOrOptions !== undefined) options.limit = limitOrOptions;
  if (offset !== undefined) options.offset = offset;
  return options;
}

function pageOffset(offset: number | undefined): number {
  if (offset === undefined) return 0;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new LedgerError('VALIDATION_FAILED', `offset must be a whole number of 0 or more; got ${offset}`, {
      field: 'offset',
    });
  }
  return offset;
}
