import { Readable } from 'node:stream';
import { LedgerError } from '../errors.js';
import type { ExecutionReader } from '../execution-reader.js';
import type { Ledger } from '../ledger.js';

/** What a read of one project holds while it runs: a shard that held the project when it began. */
export interface ProjectHold {
  name: string;
  ledger: Ledger;
  /** Whether the shard still holds the project (it did not seal it since the hold began). */
  stillHeld(): Promise<boolean>;
}

/** How the project-scoped ledger reaches the shard that holds its project (ShardedLedger). */
export interface ProjectRouting {
  projectId: string;
  /** The shard the cached placement names now, for calls that must answer synchronously. */
  current(): Ledger;
  /** The shard that holds the project, checked before the read (a stale placement is re-read). */
  hold(): Promise<ProjectHold>;
  /** Runs an asynchronous call where the project is held, checked before and after; retried after a move. */
  run<T>(call: (ledger: Ledger) => Promise<T>): Promise<T>;
}

/** Members that answer synchronously with a stream of the project's runs. */
const STREAMS = new Set(['exportStream', 'exportCsvStream', 'exportNdjsonStream']);
const GENERATORS = new Set(['streamExecutions']);
/** Members that answer synchronously with a reader, itself routed by project. */
const READERS = new Set(['as']);
/** Members that answer synchronously with something of the shard, not of the project. */
const SHARD_SYNC = new Set(['ownedSchema']);

/**
 * A Ledger whose every call goes to the shard that holds one project, from the cached placement:
 * each asynchronous call checks the shard's seal of the project before and after it runs, and
 * after a move runs again on the shard the catalog names now, so a stale placement never answers
 * a partial chain. A stream checks at its start (moving to the right shard before its first byte)
 * and at its end (a project moved while it streamed fails the stream: read it again). Sub-objects
 * other than `reads` (operations, budgets, events, webhooks, anomalies, blobs) are the shard's own.
 */
export function projectLedger(routing: ProjectRouting): Ledger {
  return routed(routing, (ledger) => ledger);
}

function routed<T extends Ledger | ExecutionReader>(
  routing: ProjectRouting,
  resolve: (ledger: Ledger) => T,
): T {
  return new Proxy(resolve(routing.current()), {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== 'string') return value;
      if (property === 'reads' && value !== null && typeof value === 'object')
        return routed(routing, (ledger) => Reflect.get(resolve(ledger), 'reads') as ExecutionReader);
      if (typeof value !== 'function') return value;
      const call = (ledger: Ledger, args: unknown[]): unknown => {
        const self = resolve(ledger);
        return Reflect.apply(Reflect.get(self, property, self) as (...a: unknown[]) => unknown, self, args);
      };
      if (SHARD_SYNC.has(property)) return (...args: unknown[]) => call(routing.current(), args);
      if (READERS.has(property))
        return (...args: unknown[]) => {
          // Validates now, as the shard's ledger would; every later call is routed.
          call(routing.current(), args);
          return routed(routing, (ledger) => call(ledger, args) as ExecutionReader);
        };
      if (STREAMS.has(property))
        return (...args: unknown[]) => {
          // Bad arguments throw here, before a stream exists, as on one server.
          const origin = routing.current();
          const first = call(origin, args) as Readable;
          const source = (ledger: Ledger): Readable => {
            if (ledger === origin) return first;
            first.destroy();
            return call(ledger, args) as Readable;
          };
          return Readable.from(heldStream(routing, source), { objectMode: false });
        };
      if (GENERATORS.has(property))
        return (...args: unknown[]) =>
          heldStream(routing, (ledger) => call(ledger, args) as AsyncIterable<unknown>);
      return (...args: unknown[]) => routing.run(async (ledger) => call(ledger, args));
    },
  });
}

async function* heldStream(
  routing: ProjectRouting,
  open: (ledger: Ledger) => AsyncIterable<unknown> | Readable,
): AsyncGenerator<unknown> {
  const hold = await routing.hold();
  const source = open(hold.ledger);
  for await (const item of source) yield item;
  if (!(await hold.stillHeld()))
    throw new LedgerError(
      'DATABASE_UNAVAILABLE',
      `project ${routing.projectId} moved off shard ${hold.name} while it was streamed, so the stream may miss ` +
        'its newest runs; read it again (the next read goes to the shard that holds it now)',
      { details: { shard: hold.name, project_id: routing.projectId } },
    );
}
