import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { REHASH_WORKER_CLOSE_MS_MAX, REHASH_WORKERS_MAX } from '../bounds.js';
import type { ThreadConnection } from '../db/database.js';
import { translateDatabaseError } from '../db/database-errors.js';
import { LedgerError } from '../errors.js';
import type { BatchCheck } from './batch-check.js';
import type { StoredEntry } from './entry-rehash.js';

// Threads per verification, at most four. Re-deriving hashes costs more than the server spends
// producing the rows, so every core gets a thread. Given a connection string, each thread also
// opens one connection and reads its own batches; it then waits on its server part of the
// time, so one thread more than cores keeps the cores busy (REHASH_WORKERS_MAX caps both).
const CORES = Math.max(1, availableParallelism());

function defaultPoolSize(connection: ThreadConnection | undefined): number {
  return Math.min(REHASH_WORKERS_MAX, connection === undefined ? CORES : CORES + 1);
}

/** What a worker is asked: check rows read here, read and check a batch itself, or close. */
export type RehashRequest =
  | { kind: 'check'; id: number; entries: StoredEntry[] }
  | { kind: 'read'; id: number; projectId: string; afterSeq: number }
  | { kind: 'close' };

/** A worker's answer to one request; an error keeps its SQLSTATE so it can be translated here. */
export type RehashResponse = { id: number; batch: BatchCheck } | { id: number; error: WorkerError };

export interface WorkerError {
  message: string;
  code?: string;
}

interface Waiting {
  resolve: (batch: BatchCheck) => void;
  reject: (error: unknown) => void;
}

/**
 * Worker threads that check batches of a chain (batch-check.ts), so verification uses every
 * core. Given a connection, each worker also reads its own batches over its own connection,
 * so rows are never parsed on this thread nor copied between threads; without one (PGlite or
 * a caller's pool) this thread reads and hands the rows over. Requests go to the workers in
 * turn; answers are matched to requests by id.
 */
export class RehashPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private nextWorker = 0;
  private closing = false;

  constructor(
    private readonly connection: ThreadConnection | undefined,
    size = defaultPoolSize(connection),
  ) {
    for (let index = 0; index < size; index += 1) {
      const worker = new Worker(new URL('./rehash-worker.js', import.meta.url), {
        workerData: {
          databaseUrl: connection?.url,
          prepare: connection?.preparedStatements !== false,
          connectTimeoutMs: connection?.timeouts.connectTimeoutMs,
        },
      });
      worker.on('message', (response: RehashResponse) => this.settle(response));
      worker.on('error', (error) => this.failAll(error));
      worker.on('exit', (code) => {
        if (!this.closing) this.failAll(workerStopped(code));
      });
      this.workers.push(worker);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Whether workers read batches themselves (readAndCheck) rather than being sent rows (check). */
  get reads(): boolean {
    return this.connection !== undefined;
  }

  check(entries: StoredEntry[]): Promise<BatchCheck> {
    return this.send((id) => ({ kind: 'check', id, entries }));
  }

  readAndCheck(projectId: string, afterSeq: number): Promise<BatchCheck> {
    return this.send((id) => ({ kind: 'read', id, projectId, afterSeq }));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((worker) => closeWorker(worker)));
  }

  private send(request: (id: number) => RehashRequest): Promise<BatchCheck> {
    const id = this.nextId;
    this.nextId += 1;
    const worker = this.workers[this.nextWorker];
    assert(worker !== undefined, 'nextWorker stays below the number of workers');
    this.nextWorker = (this.nextWorker + 1) % this.workers.length;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage(request(id));
    });
  }

  private settle(response: RehashResponse): void {
    const waiting = this.waiting.get(response.id);
    this.waiting.delete(response.id);
    if (waiting === undefined) return;
    if ('batch' in response) waiting.resolve(response.batch);
    else waiting.reject(this.toError(response.error));
  }

  /**
   * The worker's error rebuilt here (errors do not cross threads), as the LedgerError the same
   * failure would give on this thread; one with no known meaning becomes INTERNAL_ERROR, its
   * rebuilt original kept as the cause.
   */
  private toError({ message, code }: WorkerError): LedgerError {
    const cause = Object.assign(new Error(message), code === undefined ? {} : { code });
    const translated =
      this.connection === undefined ? cause : translateDatabaseError(cause, this.connection.where);
    if (translated instanceof LedgerError) return translated;
    return new LedgerError('INTERNAL_ERROR', `a verification worker failed: ${message}`, {
      cause,
      ...(code === undefined ? {} : { details: { code } }),
    });
  }

  private failAll(error: unknown): void {
    for (const waiting of this.waiting.values()) waiting.reject(error);
    this.waiting.clear();
  }
}

/** A worker that left while checks waited: the process ran out of memory or was stopped. */
function workerStopped(code: number): LedgerError {
  return new LedgerError(
    'INTERNAL_ERROR',
    `a verification worker stopped (exit code ${code}) before it answered; verify again, and if it stops again ` +
      'look in the process error output for why the worker thread ended',
    { details: { exit_code: code } },
  );
}

/** Asks a worker to close its connection and leave; stops it if it takes too long. */
async function closeWorker(worker: Worker): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage({ kind: 'close' } satisfies RehashRequest);
  const timer = setTimeout(() => void worker.terminate(), REHASH_WORKER_CLOSE_MS_MAX);
  await exited;
  clearTimeout(timer);
}
