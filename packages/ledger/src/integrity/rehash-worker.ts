import { parentPort, workerData } from 'node:worker_threads';
import type pg from 'pg';
import { BatchChecker, checkBatch } from './batch-check.js';
import { chainBatchStatement } from './chain-batch-query.js';
import { EntryRehasher, type StoredEntry } from './entry-rehash.js';
import type { RehashRequest, RehashResponse, WorkerError } from './rehash-pool.js';

// A verification worker: checks the batches it is sent, or reads them over its own connection.
const rehasher = new EntryRehasher();
const { databaseUrl, prepare, connectTimeoutMs } = (workerData ?? {}) as {
  databaseUrl?: string;
  prepare?: boolean;
  connectTimeoutMs?: number;
};

interface Connection {
  client: pg.Client;
  Query: typeof pg.Query;
}
let connection: Promise<Connection> | undefined;

/** One connection per worker, opened on first use. */
function connect(): Promise<Connection> {
  connection ??= (async () => {
    const { default: driver } = await import('pg');
    const client = new driver.Client({
      connectionString: databaseUrl,
      keepAlive: true,
      ...(connectTimeoutMs === undefined ? {} : { connectionTimeoutMillis: connectTimeoutMs }),
    });
    // A connection lost while idle: the next query fails and reports it.
    client.on('error', () => undefined);
    await client.connect();
    return { client, Query: driver.Query };
  })();
  return connection;
}

type ReadRequest = Extract<RehashRequest, { kind: 'read' }>;
const reads: ReadRequest[] = [];
let reading = false;

/**
 * Reads the requested batches one after another on the connection, hashing each row as it
 * arrives (while the server still sends the rest) and keeping none: rows die young, which
 * spares the garbage collector from copying whole batches.
 */
function readNext(): void {
  if (reading) return;
  const request = reads.shift();
  if (request === undefined) return;
  reading = true;
  const settle = (response: () => RehashResponse): void => {
    reading = false;
    answer(request.id, response);
    readNext();
  };
  connect().then(
    ({ client, Query }) => {
      const { text, values } = chainBatchStatement(request.projectId, request.afterSeq);
      const checker = new BatchChecker(rehasher);
      let failure: unknown;
      // Named: prepared once per connection, not parsed and planned again for every batch
      // (unless the ledger was told that its server cannot keep prepared statements).
      const query = client.query(
        new Query<StoredEntry>(
          prepare === false ? { text, values } : { name: 'execution-ledger/chain-batch', text, values },
        ),
      );
      query.on('row', (row: StoredEntry) => {
        if (failure !== undefined) return;
        try {
          checker.add(row);
        } catch (error) {
          failure = error;
        }
      });
      query.on('error', (error) => settle(() => ({ id: request.id, error: describe(error) })));
      query.on('end', () =>
        settle(() =>
          failure === undefined
            ? { id: request.id, batch: checker.finish() }
            : { id: request.id, error: describe(failure) },
        ),
      );
    },
    (error: unknown) => settle(() => ({ id: request.id, error: describe(error) })),
  );
}

function answer(id: number, response: () => RehashResponse): void {
  let message: RehashResponse;
  try {
    message = response();
  } catch (error) {
    message = { id, error: describe(error) };
  }
  parentPort?.postMessage(message);
}

function describe(error: unknown): WorkerError {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? { message, code } : { message };
}

parentPort?.on('message', (request: RehashRequest) => {
  if (request.kind === 'check') {
    answer(request.id, () => ({ id: request.id, batch: checkBatch(request.entries, rehasher) }));
  } else if (request.kind === 'read') {
    reads.push(request);
    readNext();
  } else {
    void (connection ?? Promise.resolve(undefined))
      .then((open) => open?.client.end())
      .catch(() => undefined)
      .finally(() => process.exit(0));
  }
});
