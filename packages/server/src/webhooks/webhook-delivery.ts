import { createHmac } from 'node:crypto';
import type { ClaimedWebhook, Ledger, LedgerEvent } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';

export interface WebhookDeliveryOptions {
  /** How often due endpoints are looked for, in ms; default 1,000. */
  pollMs?: number;
  /** How long one POST may take before it counts as failed, in ms; default 10,000. */
  requestTimeoutMs?: number;
  /** The first retry waits this long; each further failure doubles it (default 1,000 ms). */
  backoffBaseMs?: number;
  /** The longest wait between retries (default 5 minutes). */
  backoffMaxMs?: number;
  /** Events delivered per endpoint per lease (default 100). */
  batchMax?: number;
  /** Called with each failed delivery (logging). */
  onError?: (endpointId: string, error: unknown) => void;
}

/** The header a receiver checks: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'execution-ledger-signature';

/** The signature of `body` sent at `timestamp` (seconds) with `secret`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/**
 * Delivers events to webhook endpoints: each endpoint is leased in the database, read from its
 * own cursor, and sent its events one at a time in order; the cursor moves only after a 2xx, so
 * delivery is at least once and survives restarts. A failure (status, timeout, refused
 * connection) waits an exponential backoff before that endpoint is tried again; other endpoints
 * and appends are never held up by it.
 */
export class WebhookDelivery {
  readonly #ledger: Ledger;
  readonly #options: Required<Omit<WebhookDeliveryOptions, 'onError'>> & {
    onError: ((endpointId: string, error: unknown) => void) | undefined;
  };
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  readonly #abort = new AbortController();

  constructor(ledger: Ledger, options: WebhookDeliveryOptions = {}) {
    this.#ledger = ledger;
    this.#options = {
      pollMs: options.pollMs ?? 1_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      backoffBaseMs: options.backoffBaseMs ?? 1_000,
      backoffMaxMs: options.backoffMaxMs ?? 300_000,
      batchMax: options.batchMax ?? 100,
      onError: options.onError,
    };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#tick();
  }

  /** Stops polling and waits for the deliveries in flight (a request in flight is abandoned). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running;
  }

  /** One pass: every due endpoint, each on its own. Exposed for tests and one-shot runs. */
  async deliverDue(): Promise<void> {
    const lease = this.#options.requestTimeoutMs * (this.#options.batchMax + 1);
    const endpoints = await this.#ledger.webhooks.claimDue(lease);
    await Promise.all(endpoints.map((endpoint) => this.#deliverEndpoint(endpoint)));
  }

  #tick(): void {
    this.#running = this.deliverDue()
      .catch((error: unknown) => this.#options.onError?.('*', error))
      .finally(() => {
        this.#running = undefined;
        if (this.#stopped) return;
        this.#timer = setTimeout(() => this.#tick(), this.#options.pollMs);
        this.#timer.unref();
      });
  }

  async #deliverEndpoint(endpoint: ClaimedWebhook): Promise<void> {
    let cursor = `e${endpoint.cursor_seq}`;
    try {
      const page = await this.#ledger.events.list({
        cursor,
        limit: this.#options.batchMax,
        ...(endpoint.project_id === null ? {} : { project_id: endpoint.project_id }),
      });
      for (const event of page.events) {
        if (this.#stopped) break;
        const failure = await this.#post(endpoint, event);
        if (failure !== null) {
          const wait = Math.min(
            this.#options.backoffMaxMs,
            this.#options.backoffBaseMs * 2 ** Math.min(endpoint.attempts, 30),
          );
          await this.#ledger.webhooks.fail(endpoint.id, failure, wait);
          this.#options.onError?.(endpoint.id, failure);
          return;
        }
        await this.#ledger.webhooks.acknowledge(endpoint.id, event.seq);
        endpoint.attempts = 0;
        cursor = `e${event.seq}`;
      }
      await this.#ledger.webhooks.release(endpoint.id);
    } catch (error) {
      this.#options.onError?.(endpoint.id, error);
      await this.#ledger.webhooks.release(endpoint.id).catch(() => undefined);
    }
  }

  /** POSTs one event; null when the receiver answered 2xx, otherwise why not. */
  async #post(endpoint: ClaimedWebhook, event: LedgerEvent): Promise<string | null> {
    const body = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    const timeout = AbortSignal.timeout(this.#options.requestTimeoutMs);
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: signWebhook(endpoint.secret, timestamp, body),
          'execution-ledger-event-id': event.id,
          'execution-ledger-event-type': event.type,
        },
        body,
        signal: AbortSignal.any([timeout, this.#abort.signal]),
        redirect: 'manual',
      });
      await response.body?.cancel().catch(() => undefined);
      return response.status >= 200 && response.status < 300 ? null : `HTTP ${response.status}`;
    } catch (error) {
      return timeout.aborted
        ? `no answer within ${this.#options.requestTimeoutMs} ms`
        : String((error as Error).message ?? error);
    }
  }
}

/** Runs webhook delivery while the server runs: started when it is ready, stopped when it closes. */
export function installWebhookDelivery(
  app: FastifyInstance,
  ledger: Ledger,
  options: WebhookDeliveryOptions,
): void {
  const delivery = new WebhookDelivery(ledger, {
    onError: (endpointId, error) =>
      app.log.warn({ webhook: endpointId, err: error }, 'webhook delivery failed'),
    ...options,
  });
  app.addHook('onReady', async () => delivery.start());
  app.addHook('onClose', async () => delivery.stop());
}
