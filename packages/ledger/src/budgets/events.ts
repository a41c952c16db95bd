import { DEFAULT_LIMITS, EVENT_PAGE_ROWS_DEFAULT, PAGE_ROWS_MAX } from '../bounds.js';
import type { Database } from '../db/database.js';
import { LedgerError } from '../errors.js';
import type { JsonObject } from '../plain-json.js';
import { requireId } from '../record.js';
import { checkUuid } from './budget-input.js';

/** Something the ledger noticed: a budget threshold crossed, a reservation blocked, an anomaly, a dismissal. */
export interface LedgerEvent {
  /** Position in the events table: events are numbered in commit order, so a cursor never skips one. */
  seq: number;
  id: string;
  type: string;
  project_id: string | null;
  agent_id: string | null;
  user_id: string | null;
  run_id: string | null;
  budget_id: string | null;
  payload: JsonObject;
  created_at: string;
}

export interface EventListOptions {
  /** The next_cursor of the previous page; absent for the oldest events. */
  cursor?: string | null;
  /** Events per page, 1 to 1,000; default 100. */
  limit?: number;
  /** Only events of this type (e.g. 'budget.threshold'). */
  type?: string;
  /** Only events about this project. */
  project_id?: string;
}

export interface EventPage {
  events: LedgerEvent[];
  /** Pass it back to read on; it is returned even on the last page, so a poller resumes there. */
  next_cursor: string;
}

export const EVENT_RESOLUTIONS = ['dismissed', 'resolved'] as const;
export type EventResolution = (typeof EVENT_RESOLUTIONS)[number];

const CURSOR = /^e(\d{1,18})$/;

/** The append-only events table: read in order with a cursor; dismissing is another event. */
export class LedgerEvents {
  constructor(private readonly ready: () => Promise<Database>) {}

  async list(options: EventListOptions = {}): Promise<EventPage> {
    if (options === null || typeof options !== 'object') {
      throw new LedgerError('VALIDATION_FAILED', 'options must be an object such as { cursor, limit }', {
        field: 'options',
      });
    }
    const after = parseCursor(options.cursor);
    const limit = options.limit ?? EVENT_PAGE_ROWS_DEFAULT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > PAGE_ROWS_MAX) {
      throw new LedgerError('VALIDATION_FAILED', `limit must be a whole number from 1 to ${PAGE_ROWS_MAX}`, {
        field: 'limit',
      });
    }
    const type = options.type === undefined ? null : requireId(options.type, 'type', DEFAULT_LIMITS);
    const project =
      options.project_id === undefined ? null : requireId(options.project_id, 'project_id', DEFAULT_LIMITS);
    const database = await this.ready();
    const rows = await database.query<Record<string, unknown>>(
      `select e.seq::text as seq, e.id::text as id, e.type, e.project_id, e.agent_id, e.user_id, e.run_id,
         e.budget_id, e.payload, to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at
       from execution_ledger.events e
       where e.seq > $1::bigint and ($2::text is null or e.type = $2) and ($3::text is null or e.project_id = $3)
       order by e.seq limit $4`,
      [after.toString(), type, project, limit],
    );
    const events = rows.map(toEvent);
    const last = events.at(-1);
    return { events, next_cursor: `e${last === undefined ? after : last.seq}` };
  }

  /** Records that an event was dismissed (or resolved); once per event and kind. Returns the new event, or null if already done. */
  async dismiss(
    eventId: string,
    options: { resolution?: EventResolution; note?: string } = {},
  ): Promise<LedgerEvent | null> {
    const id = checkUuid(eventId, 'event_id');
    const resolution = options.resolution ?? 'dismissed';
    if (!(EVENT_RESOLUTIONS as readonly string[]).includes(resolution)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `resolution must be 'dismissed' or 'resolved'; got ${JSON.stringify(resolution)}`,
        {
          field: 'resolution',
        },
      );
    }
    const note = options.note ?? null;
    if (note !== null && (typeof note !== 'string' || note.length > DEFAULT_LIMITS.intent_chars_max)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `note must be a string of at most ${DEFAULT_LIMITS.intent_chars_max} characters`,
        {
          field: 'note',
        },
      );
    }
    const database = await this.ready();
    const [row] = await database.query<{ seq: string | null }>(
      'select execution_ledger.event_dismiss($1::uuid, $2, $3)::text as seq',
      [id, resolution, note],
    );
    if (row?.seq === '-1') {
      throw new LedgerError('EVENT_NOT_FOUND', `event_id ${id} names no event; list events to find its id`, {
        field: 'event_id',
      });
    }
    if (row?.seq == null) return null;
    const [event] = (
      await database.query<Record<string, unknown>>(
        `select e.seq::text as seq, e.id::text as id, e.type, e.project_id, e.agent_id, e.user_id, e.run_id,
           e.budget_id, e.payload, to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at
         from execution_ledger.events e where e.seq = $1::bigint`,
        [row.seq],
      )
    ).map(toEvent);
    return event ?? null;
  }
}

function parseCursor(cursor: unknown): bigint {
  if (cursor === undefined || cursor === null || cursor === '') return 0n;
  const match = typeof cursor === 'string' ? CURSOR.exec(cursor) : null;
  if (match?.[1] === undefined) {
    throw new LedgerError(
      'INVALID_CURSOR',
      'cursor was not produced by events.list(); pass its next_cursor back',
      {
        field: 'cursor',
      },
    );
  }
  return BigInt(match[1]);
}

function toEvent(row: Record<string, unknown>): LedgerEvent {
  const payload =
    typeof row.payload === 'string' ? (JSON.parse(row.payload) as JsonObject) : (row.payload as JsonObject);
  return {
    seq: Number(row.seq),
    id: String(row.id),
    type: String(row.type),
    project_id: (row.project_id as string | null) ?? null,
    agent_id: (row.agent_id as string | null) ?? null,
    user_id: (row.user_id as string | null) ?? null,
    run_id: (row.run_id as string | null) ?? null,
    budget_id: (row.budget_id as string | null) ?? null,
    payload,
    created_at: String(row.created_at),
  };
}
