import assert from 'node:assert';
import type { ExecutionReader, Ledger } from 'execution-ledger';
import type { FastifyRequest } from 'fastify';
import type { ApiKeyPrincipal, Permission } from '../keys/access-policy.js';
import type { ApiKeyStore } from '../keys/api-key-store.js';
import type { KeyAuthenticator } from '../keys/key-authenticator.js';
import type { ProjectVerifier } from '../verifications/project-verifier.js';
import type { ReadLagMonitor } from './read-lag.js';
import type { ServerMetrics } from './server-metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated key; set on every route that declares a permission. */
    apiKey?: ApiKeyPrincipal;
  }
  interface FastifyContextConfig {
    /** What the calling key must be allowed to do; routes without one are public. */
    permission?: Permission;
    /**
     * The route's reads may lag the primary: they go to the read database (`--read-url`) when
     * there is one, and the answer states the lag (x-read-source, x-read-lag-ms).
     */
    readsMayLag?: boolean;
  }
}

/** What every route module needs. */
export interface ServerContext {
  ledger: Ledger;
  /** Reads that may lag: `ledger.reads` (the read database when the ledger has one). */
  reads: ExecutionReader;
  readLag: ReadLagMonitor;
  keys: ApiKeyStore;
  authenticator: KeyAuthenticator;
  metrics: ServerMetrics;
  /** Verifies chains, records each result, and tells how far a running one has come. */
  verifier: ProjectVerifier;
}

/** The key of a request on a protected route: the auth hook has run, so it is always there. */
export function callerKey(request: FastifyRequest): ApiKeyPrincipal {
  const key = request.apiKey;
  assert(key !== undefined, 'route without a permission read the caller key');
  return key;
}

/** Query-string dates as Date objects, for the ledger's [start, end) ranges. */
export function dateOrUndefined(text: string | undefined): Date | undefined {
  return text === undefined ? undefined : new Date(text);
}
