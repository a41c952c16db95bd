import type { ServerOptions as HttpServerOptions } from 'node:http';
import { LedgerError } from 'execution-ledger';
import {
  CONNECTION_TIMEOUT_MS_DEFAULT,
  HEADERS_TIMEOUT_MS_DEFAULT,
  KEEP_ALIVE_TIMEOUT_MS_DEFAULT,
  REQUEST_TIMEOUT_MS_DEFAULT,
  TIMEOUT_CHECK_INTERVAL_MS_MAX,
} from '../bounds.js';

/** The four socket timeouts a server can be given; each defaults to its bound in bounds.ts. */
export interface SocketTimeoutOptions {
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
  connectionTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

/** Fastify's own options that carry the timeouts, plus the Node http server options under them. */
export interface FastifyTimeoutOptions {
  requestTimeout: number;
  connectionTimeout: number;
  keepAliveTimeout: number;
  http: HttpServerOptions;
}

/**
 * Fastify and Node keep a socket forever by default when a client stops sending (slowloris,
 * a body cut short by a broken proxy): every timeout here is finite. Node also requires the
 * header timeout not to exceed the request timeout, so both are checked before listening.
 */
export function socketTimeoutOptions(options: SocketTimeoutOptions): FastifyTimeoutOptions {
  const requestTimeout = positiveMs(options.requestTimeoutMs, 'requestTimeoutMs', REQUEST_TIMEOUT_MS_DEFAULT);
  const headersTimeout = positiveMs(
    options.headersTimeoutMs,
    'headersTimeoutMs',
    Math.min(HEADERS_TIMEOUT_MS_DEFAULT, requestTimeout),
  );
  if (headersTimeout > requestTimeout) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `headersTimeoutMs is ${headersTimeout}, more than requestTimeoutMs (${requestTimeout}); ` +
        'the headers are part of the request, so give them at most the request timeout',
      { field: 'headersTimeoutMs' },
    );
  }
  const checkInterval = Math.max(1, Math.min(TIMEOUT_CHECK_INTERVAL_MS_MAX, Math.floor(headersTimeout / 4)));
  return {
    requestTimeout,
    connectionTimeout: positiveMs(
      options.connectionTimeoutMs,
      'connectionTimeoutMs',
      CONNECTION_TIMEOUT_MS_DEFAULT,
    ),
    keepAliveTimeout: positiveMs(
      options.keepAliveTimeoutMs,
      'keepAliveTimeoutMs',
      KEEP_ALIVE_TIMEOUT_MS_DEFAULT,
    ),
    http: { requestTimeout, headersTimeout, connectionsCheckingInterval: checkInterval },
  };
}

function positiveMs(value: number | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} is ${String(value)}; give a whole number of milliseconds of 1 or more (timeouts cannot be turned off)`,
      { field },
    );
  }
  return value;
}
