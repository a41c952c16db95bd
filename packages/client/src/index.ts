import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './generated/openapi.js';

export type { paths } from './generated/openapi.js';

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type RecordRoute = paths['/v1/executions']['post'];
type BatchRoute = paths['/v1/executions/batch']['post'];
type ReadRoute = paths['/v1/executions/{runId}']['get'];
type ListRoute = paths['/v1/projects/{projectId}/executions']['get'];

/** What `POST /v1/executions` takes: the library's execution input. */
export type ExecutionInput = Json<RecordRoute['requestBody']>;
/** A stored record, with `replayed` when it was already there. */
export type RecordedExecution = Json<RecordRoute['responses'][201]>;
export type ExecutionRecord = Json<ReadRoute['responses'][200]>;
export type BatchResult = Json<BatchRoute['responses'][200]>;
export type ExecutionPage = Json<ListRoute['responses'][200]>;
export type ListQuery = NonNullable<ListRoute['parameters']['query']>;
type WebhookRoute = paths['/v1/webhooks/{webhookId}'];
/** A webhook endpoint as `PUT /v1/webhooks/{webhookId}` answers it: with its secret, this once. */
export type CreatedWebhook = Json<WebhookRoute['put']['responses'][200]>;
/** A webhook endpoint as every later answer shows it: its delivery state, never its secret. */
export type WebhookEndpoint = Json<WebhookRoute['get']['responses'][200]>;
/** The service's error body: the library's error codes. */
export type ErrorBody = Json<RecordRoute['responses']['4XX']>;
/** The library's error codes, and two of the client's own for a request that got no answer. */
export type ClientErrorCode = ErrorBody['code'] | 'TIMEOUT' | 'NETWORK_ERROR';

export interface ClientOptions {
  /** The service's address, e.g. http://localhost:3000. */
  baseUrl: string;
  /** An API key's text; sent as `authorization: Bearer …`. */
  apiKey: string;
  /** Longest wait for one attempt's answer, in ms; default 10,000. */
  timeoutMs?: number;
  /** Attempts after the first on 429, 503 and (for idempotent requests) timeouts and network errors; default 4. */
  retries?: number;
  /** First backoff in ms when the answer has no Retry-After; doubled each attempt, with jitter; default 250. */
  retryBaseMs?: number;
  /** Longest single wait, Retry-After included; default 30,000. */
  retryMaxMs?: number;
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch;
}

/** An error answer of the service (its code, status and message), or a request that got none. */
export class LedgerClientError extends Error {
  override readonly name = 'LedgerClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** The HTTP status; 0 when no answer came. */
    readonly statusCode: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

const RETRY_STATUSES = new Set([429, 503]);
/** Requests that may be sent twice: reads, and appends (idempotent by run_id). */
const IDEMPOTENT_POSTS = [
  /^\/v1\/executions(\/batch)?$/,
  /^\/v1\/traces$/,
  /^\/v1\/projects\/[^/]+\/verify$/,
];

/**
 * The service's HTTP API, typed from its OpenAPI document. The convenience methods throw a
 * LedgerClientError on an error answer; `api` reaches every route with openapi-fetch's typed
 * calls. Every request is retried on 429 and 503 (after Retry-After when the answer has one).
 */
export class ExecutionLedgerClient {
  readonly api: Client<paths>;

  constructor(options: ClientOptions) {
    const baseFetch = options.fetch ?? globalThis.fetch;
    this.api = createClient<paths>({
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      headers: { authorization: `Bearer ${options.apiKey}` },
      fetch: retryingFetch(baseFetch, {
        timeoutMs: options.timeoutMs ?? 10_000,
        retries: options.retries ?? 4,
        retryBaseMs: options.retryBaseMs ?? 250,
        retryMaxMs: options.retryMaxMs ?? 30_000,
      }),
    });
  }

  /** Records one run; the same run again answers the stored record with `replayed: true`. */
  async recordExecution(execution: ExecutionInput): Promise<RecordedExecution> {
    const { data, error, response } = await this.api.POST('/v1/executions', { body: execution });
    return answer(data, error, response);
  }

  /** Records up to 1,000 runs; each item succeeds or fails alone. */
  async recordExecutions(executions: ExecutionInput[]): Promise<BatchResult> {
    const { data, error, response } = await this.api.POST('/v1/executions/batch', { body: { executions } });
    return answer(data, error, response);
  }

  /** A run by its id, or null when none is visible to the key. */
  async getExecution(runId: string): Promise<ExecutionRecord | null> {
    const { data, error, response } = await this.api.GET('/v1/executions/{runId}', {
      params: { path: { runId } },
    });
    if (response.status === 404 && (error as ErrorBody | undefined)?.code === 'NOT_FOUND') return null;
    return answer(data, error, response);
  }

  async listExecutions(projectId: string, query: ListQuery = {}): Promise<ExecutionPage> {
    const { data, error, response } = await this.api.GET('/v1/projects/{projectId}/executions', {
      params: { path: { projectId }, query },
    });
    return answer(data, error, response);
  }
}

function answer<T>(data: T | undefined, error: unknown, response: Response): T {
  if (data !== undefined && response.ok) return data;
  const body = error as Partial<ErrorBody> | undefined;
  throw new LedgerClientError(
    (body?.code ?? 'INTERNAL_ERROR') as ClientErrorCode,
    body?.message ?? `the service answered ${response.status} without an error body`,
    response.status,
    body?.field,
  );
}

interface RetryPolicy {
  timeoutMs: number;
  retries: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** A fetch that times out each attempt and retries what is safe to retry. */
export function retryingFetch(base: typeof fetch, policy: RetryPolicy): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const idempotent = isIdempotent(request);
    for (let attempt = 0; ; attempt += 1) {
      const last = attempt >= policy.retries;
      const signal = AbortSignal.any([AbortSignal.timeout(policy.timeoutMs), request.signal]);
      let response: Response;
      try {
        response = await base(new Request(request.clone(), { signal }));
      } catch (error) {
        if (request.signal.aborted) throw error;
        const timedOut = (error as { name?: string }).name === 'TimeoutError';
        if (!idempotent || last) {
          throw new LedgerClientError(
            timedOut ? 'TIMEOUT' : 'NETWORK_ERROR',
            timedOut
              ? `${request.method} ${new URL(request.url).pathname} got no answer within ${policy.timeoutMs} ms` +
                  (idempotent
                    ? ` (${attempt + 1} attempts)`
                    : '; not retried, as sending it twice may not be safe')
              : `${request.method} ${new URL(request.url).pathname} failed: ${(error as Error).message}`,
            0,
          );
        }
        await sleep(backoff(attempt, policy));
        continue;
      }
      if (!RETRY_STATUSES.has(response.status) || last) return response;
      const wait = retryAfterMs(response.headers.get('retry-after')) ?? backoff(attempt, policy);
      await response.body?.cancel();
      await sleep(Math.min(wait, policy.retryMaxMs));
    }
  };
}

function isIdempotent(request: Request): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return true;
  const path = new URL(request.url).pathname;
  return request.method === 'POST' && IDEMPOTENT_POSTS.some((pattern) => pattern.test(path));
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function backoff(attempt: number, policy: RetryPolicy): number {
  const full = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** attempt);
  return full / 2 + Math.random() * (full / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
