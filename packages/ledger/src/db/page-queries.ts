import { countFromRollups } from '../analytics/execution-stats.js';
import { PAGE_ROWS_DEFAULT, PAGE_ROWS_MAX } from '../bounds.js';
import { LedgerError } from '../errors.js';
import type { ExecutionFilter, ExecutionRecord, Page, PageOptions } from '../types.js';
import type { Queryable } from './database.js';
import {
  type ExecutionRow,
  filterClauses,
  RECORD_COLUMNS,
  rowToRecord,
  whereSql,
} from './execution-queries.js';
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

function cursorText(state: CursorState): string {
  return Buffer.from(JSON.stringify(state), 'utf8').toString('base64url');
}

/**
 * Accepts exactly the text encodeCursor produced and nothing else. Node's base64url decoder
 * skips characters it does not know and ignores trailing bits, so a cursor with a character
 * appended or changed can decode to the same state: the state is rebuilt from its checked
 * fields, encoded again and compared with what the caller sent.
 */
function decodeCursor(ordering: Ordering, cursor: string): CursorState {
  let state: CursorState | undefined;
  try {
    state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as CursorState;
  } catch {
    state = undefined;
  }
  const valid =
    state !== undefined &&
    state !== null &&
    state.o === ordering &&
    (ordering === 'seq'
      ? Number.isSafeInteger(state.s)
      : typeof state.t === 'string' &&
        !Number.isNaN(Date.parse(state.t)) &&
        typeof state.i === 'string' &&
        /^[0-9a-f-]{36}$/.test(state.i)) &&
    cursorText(ordering === 'seq' ? { o: 'seq', s: state.s! } : { o: 'time', t: state.t!, i: state.i! }) ===
      cursor;
  if (!valid) {
    throw new LedgerError(
      'INVALID_CURSOR',
      'cursor was not produced by this list; pass the next_cursor of the previous page unchanged, or omit it to start over',
      { field: 'cursor' },
    );
  }
  return state as CursorState;
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
  filter: ExecutionFilter,
  ordering: Ordering,
  direction: Direction,
  cursor: string | null,
  limit: number,
  offset = 0,
): Promise<ExecutionRecord[]> {
  const params: unknown[] = [];
  const clauses = filterClauses(filter, params);
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

/**
 * The number of runs a list filter matches. Every filter but a parent run is a rollup dimension,
 * so the rollup levels answer it without counting rows; a parent run needs the plain count.
 */
export async function countExecutions(q: Queryable, filter: ExecutionFilter): Promise<number> {
  if (filter.parentRunId === undefined) return countFromRollups(q, filter);
  const params: unknown[] = [];
  const rows = await q.query<{ total: string }>(
    `select count(*)::text as total from execution_ledger.executions e ${whereSql(filterClauses(filter, params))}`,
    params,
  );
  return Number(rows[0]?.total ?? 0);
}

/** A page newest first, by offset (the seed's way) or by cursor. */
export async function queryPage(
  q: Queryable,
  filter: ExecutionFilter,
  ordering: Ordering,
  options: PageOptions,
): Promise<Page<ExecutionRecord>> {
  const limit = pageLimit(options.limit);
  const offset = options.cursor == null ? pageOffset(options.offset) : 0;
  // The page and its total are independent: on a pool they run on two connections at once.
  const [rows, total] = await Promise.all([
    queryBatch(q, filter, ordering, 'desc', options.cursor ?? null, limit + 1, offset),
    countExecutions(q, filter),
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

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return PAGE_ROWS_DEFAULT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > PAGE_ROWS_MAX) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `limit must be a whole number from 1 to ${PAGE_ROWS_MAX}; got ${limit}`,
      {
        field: 'limit',
      },
    );
  }
  return limit;
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
