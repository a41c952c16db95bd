import type { Ledger, ReadLag } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { READ_LAG_MEASURE_MS } from '../bounds.js';

/** Response headers stating where a read that may lag was served from, and how far behind it was. */
export const READ_SOURCE_HEADER = 'x-read-source';
export const READ_LAG_HEADER = 'x-read-lag-ms';

/**
 * The lag of the ledger's read database (`--read-url`), measured at most once per
 * READ_LAG_MEASURE_MS however many requests ask, stated on the answers of routes whose reads may
 * lag (`config.readsMayLag`) and in /metrics.
 */
export class ReadLagMonitor {
  private last: { atMs: number; lag: Promise<ReadLag> } | undefined;

  constructor(
    private readonly ledger: Ledger,
    registry: Registry,
  ) {
    const monitor = this;
    new Gauge({
      name: 'execution_ledger_read_lag_seconds',
      help:
        'How far the read database (--read-url) is behind the primary, by source (standby, or primary: 0); ' +
        'statistics, lists and exports are read there. -1 when a standby has replayed nothing yet.',
      labelNames: ['source'],
      registers: [registry],
      async collect() {
        this.reset();
        const lag = await monitor.current().catch(() => undefined);
        if (lag !== undefined) this.set({ source: lag.source }, lag.lag_ms === null ? -1 : lag.lag_ms / 1000);
      },
    });
  }

  /** The newest measurement, measured again when it is older than READ_LAG_MEASURE_MS. */
  current(): Promise<ReadLag> {
    const now = Date.now();
    if (this.last === undefined || now - this.last.atMs >= READ_LAG_MEASURE_MS) {
      const lag = this.ledger.readLag();
      const entry = { atMs: now, lag };
      this.last = entry;
      // A failed measurement is not kept: the next request measures again.
      lag.catch(() => {
        if (this.last === entry) this.last = undefined;
      });
    }
    return this.last.lag;
  }

  /** Sets the two headers on the answers of routes declaring `readsMayLag`. */
  install(app: FastifyInstance): void {
    app.addHook('preHandler', async (request, reply) => {
      if (request.routeOptions.config?.readsMayLag !== true) return;
      const lag = await this.current();
      reply.header(READ_SOURCE_HEADER, lag.source);
      reply.header(READ_LAG_HEADER, lag.lag_ms === null ? 'unknown' : String(lag.lag_ms));
    });
  }
}
