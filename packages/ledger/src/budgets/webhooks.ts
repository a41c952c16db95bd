import { DEFAULT_LIMITS } from '../bounds.js';
import type { Database } from '../db/database.js';
import { LedgerError } from '../errors.js';
import { requireId } from '../record.js';

export interface WebhookDefinition {
  /** The endpoint's name; setting it again replaces the endpoint and keeps its cursor. */
  id: string;
  /** Where events are POSTed: an http:// or https:// URL. */
  url: string;
  /** The HMAC-SHA256 key the receiver checks signatures with (16 to 200 characters). */
  secret: string;
  /** Only events of this project; every event when absent. */
  project_id?: string | null;
  /** A new endpoint starts after this event seq; default after the newest event. */
  from_seq?: number;
}

/** An endpoint as listed: never its secret. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  project_id: string | null;
  /** The seq of the last event delivered (or skipped at creation). */
  cursor_seq: number;
  attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
  delivered: number;
}

/** An endpoint leased to one deliverer, with what it needs to sign. */
export interface ClaimedWebhook {
  id: string;
  url: string;
  secret: string;
  project_id: string | null;
  cursor_seq: number;
  attempts: number;
}

const SECRET_CHARS_MIN = 16;
const SECRET_CHARS_MAX = 200;
const URL_CHARS_MAX = 2_000;

/**
 * Webhook endpoints, each reading the events table from its own cursor. Delivery itself (HTTP,
 * signatures, backoff) is the service's loop; these are the steps it takes in the database.
 */
export class LedgerWebhooks {
  constructor(private readonly ready: () => Promise<Database>) {}

  async set(definition: WebhookDefinition): Promise<WebhookEndpoint> {
    if (definition === null || typeof definition !== 'object') {
      fail('webhook', 'must be an object { id, url, secret }');
    }
    const id = requireId(definition.id, 'id', DEFAULT_LIMITS);
    const url = checkUrl(definition.url);
    if (
      typeof definition.secret !== 'string' ||
      definition.secret.length < SECRET_CHARS_MIN ||
      definition.secret.length > SECRET_CHARS_MAX
    ) {
      fail(
        'secret',
        `must be a string of ${SECRET_CHARS_MIN} to ${SECRET_CHARS_MAX} characters, e.g. 32 random bytes in hex`,
      );
    }
    const project =
      definition.project_id == null ? null : requireId(definition.project_id, 'project_id', DEFAULT_LIMITS);
    const from = definition.from_seq;
    if (from !== undefined && (!Number.isSafeInteger(from) || from < 0)) {
      fail('from_seq', 'must be a whole number, zero or more (an event seq)');
    }
    const database = await this.ready();
    await database.query('select execution_ledger.webhook_set($1, $2, $3, $4, $5::bigint)', [
      id,
      url,
      definition.secret,
      project,
      from === undefined ? null : String(from),
    ]);
    return this.get(id);
  }

  async list(): Promise<WebhookEndpoint[]> {
    const database = await this.ready();
    const rows = await database.query<Record<string, unknown>>(`${ENDPOINT_SQL} order by w.id`);
    return rows.map(toEndpoint);
  }

  async get(id: string): Promise<WebhookEndpoint> {
    const checked = requireId(id, 'webhook_id', DEFAULT_LIMITS);
    const database = await this.ready();
    const [row] = await database.query<Record<string, unknown>>(`${ENDPOINT_SQL} where w.id = $1`, [checked]);
    if (row === undefined) {
      throw new LedgerError(
        'NOT_FOUND',
        `webhook_id ${JSON.stringify(checked)} names no webhook endpoint; list them`,
        {
          field: 'webhook_id',
        },
      );
    }
    return toEndpoint(row);
  }

  async delete(id: string): Promise<boolean> {
    const checked = requireId(id, 'webhook_id', DEFAULT_LIMITS);
    const database = await this.ready();
    const [row] = await database.query<{ deleted: boolean }>(
      'select execution_ledger.webhook_delete($1) as deleted',
      [checked],
    );
    return row?.deleted === true;
  }

  /** Leases every endpoint with events to deliver and no failure waiting, for `leaseMs`. */
  async claimDue(leaseMs: number): Promise<ClaimedWebhook[]> {
    const database = await this.ready();
    const rows = await database.query<Record<string, unknown>>(
      'select * from execution_ledger.webhook_claim($1::integer)',
      [Math.round(leaseMs)],
    );
    return rows.map((row) => ({
      id: String(row.r_id),
      url: String(row.r_url),
      secret: String(row.r_secret),
      project_id: (row.r_project_id as string | null) ?? null,
      cursor_seq: Number(row.r_cursor_seq),
      attempts: Number(row.r_attempts),
    }));
  }

  async acknowledge(id: string, seq: number): Promise<void> {
    const database = await this.ready();
    await database.query('select execution_ledger.webhook_ack($1, $2::bigint)', [id, String(seq)]);
  }

  async fail(id: string, error: string, retryMs: number): Promise<void> {
    const database = await this.ready();
    await database.query('select execution_ledger.webhook_fail($1, $2, $3::integer)', [
      id,
      error,
      Math.round(retryMs),
    ]);
  }

  async release(id: string): Promise<void> {
    const database = await this.ready();
    await database.query('select execution_ledger.webhook_release($1)', [id]);
  }
}

const ENDPOINT_SQL = `select w.id, w.url, w.project_id, w.cursor_seq::text as cursor_seq, w.attempts,
  case when w.next_attempt_at = '-infinity' then null
    else to_char(w.next_attempt_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') end as next_attempt_at,
  w.last_error, w.delivered::text as delivered
  from execution_ledger.webhook_endpoints w`;

function toEndpoint(row: Record<string, unknown>): WebhookEndpoint {
  return {
    id: String(row.id),
    url: String(row.url),
    project_id: (row.project_id as string | null) ?? null,
    cursor_seq: Number(row.cursor_seq),
    attempts: Number(row.attempts),
    next_attempt_at: (row.next_attempt_at as string | null) ?? null,
    last_error: (row.last_error as string | null) ?? null,
    delivered: Number(row.delivered),
  };
}

function checkUrl(value: unknown): string {
  if (typeof value !== 'string' || value.length > URL_CHARS_MAX) {
    fail('url', `must be an http:// or https:// URL of at most ${URL_CHARS_MAX} characters`);
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    fail(
      'url',
      `${JSON.stringify(value.slice(0, 80))} is not a URL; write it like https://hooks.example.com/ledger`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    fail('url', `must use http or https, not ${parsed.protocol}`);
  }
  return value;
}

function fail(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}
