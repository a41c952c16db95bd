import assert from 'node:assert';
import { NAMED_STATEMENTS_MAX } from '../bounds.js';
import type { NamedSql, PGliteLike } from './database.js';

/**
 * Named prepared statements on PGlite. PGlite's query() parses, plans and forgets each statement
 * on every call; with no other connection to wait on, planning is most of a statistics call (a
 * range read from several rollup levels took 3 to 40 ms to plan and well under a millisecond to
 * run). Here a NamedSql is parsed once per PGlite session under its name and only bound and run
 * afterwards, as node-postgres does on a server: PostgreSQL's plan cache then plans it at most a
 * few times (five custom plans, then a generic plan when that costs no more).
 *
 * It speaks PGlite's wire protocol, under the same two locks PGlite's own query() takes, so it
 * never runs inside another caller's transaction. An instance without that API (a worker, a
 * stand-in) is answered by query() as before.
 */

/** The parts of PGlite's protocol API this uses, all optional on a caller's own instance. */
interface ProtocolPGlite {
  execProtocol(message: Uint8Array, options?: { syncToFs?: boolean }): Promise<{ messages: unknown[] }>;
  _runExclusiveQuery<T>(fn: () => Promise<T>): Promise<T>;
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
  syncToFs?(): Promise<void>;
  serializers: Record<number | string, (value: unknown) => string>;
  parsers: Record<number | string, unknown>;
}

interface ProtocolModule {
  protocol: {
    serialize: {
      parse(options: { name: string; text: string }): Uint8Array;
      describe(options: { type: 'S' | 'P'; name?: string }): Uint8Array;
      bind(options: { statement: string; values: (string | null)[] }): Uint8Array;
      execute(options: Record<string, never>): Uint8Array;
      close(options: { type: 'S'; name: string }): Uint8Array;
      sync(): Uint8Array;
    };
  };
  parse: {
    parseResults(messages: unknown[], parsers: Record<number | string, unknown>): { rows: unknown[] }[];
    parseDescribeStatementResults(messages: unknown[]): number[];
  };
}

function hasProtocol(pglite: PGliteLike): boolean {
  const candidate = pglite as unknown as Partial<ProtocolPGlite>;
  return (
    typeof candidate.execProtocol === 'function' &&
    typeof candidate._runExclusiveQuery === 'function' &&
    typeof candidate._runExclusiveTransaction === 'function' &&
    typeof candidate.serializers === 'object' &&
    typeof candidate.parsers === 'object'
  );
}

// A prepared statement whose result columns a schema change altered: PostgreSQL refuses to run it.
const RESULT_TYPE_CHANGED = /cached plan must not change result type/i;

// What each PGlite session has prepared, by instance: ledgers given the same instance share its
// one session, and a second PARSE of a name there fails ("prepared statement … already exists").
const preparedBySession = new WeakMap<ProtocolPGlite, Map<string, number[]>>();

export class PGliteStatements {
  /** Parameter type ids of each statement prepared in this session, by name. */
  private readonly prepared: Map<string, number[]>;
  private module: Promise<ProtocolModule> | undefined;
  private readonly pglite: ProtocolPGlite | undefined;

  constructor(pglite: PGliteLike) {
    this.pglite = hasProtocol(pglite) ? (pglite as unknown as ProtocolPGlite) : undefined;
    let prepared = this.pglite === undefined ? undefined : preparedBySession.get(this.pglite);
    if (prepared === undefined) {
      prepared = new Map();
      if (this.pglite !== undefined) preparedBySession.set(this.pglite, prepared);
    }
    this.prepared = prepared;
  }

  /** Whether named statements run prepared here (else the caller runs the text). */
  get available(): boolean {
    return this.pglite !== undefined;
  }

  /**
   * Runs a named statement. `inTransaction`: the caller holds PGlite's transaction (its
   * transaction() callback is running), so only the query lock is taken, and nothing is synced.
   */
  async query<Row>(sql: NamedSql, params: readonly unknown[], inTransaction: boolean): Promise<Row[]> {
    const pglite = this.pglite;
    assert(pglite !== undefined, 'PGlite protocol API missing: check available first');
    this.module ??= import('@electric-sql/pglite') as unknown as Promise<ProtocolModule>;
    const module = await this.module;
    const run = () => pglite._runExclusiveQuery(() => this.run<Row>(pglite, module, sql, params, true));
    const rows = await (inTransaction ? run() : pglite._runExclusiveTransaction(run));
    if (!inTransaction) await pglite.syncToFs?.();
    return rows;
  }

  private async run<Row>(
    pglite: ProtocolPGlite,
    module: ProtocolModule,
    sql: NamedSql,
    params: readonly unknown[],
    retry: boolean,
  ): Promise<Row[]> {
    const { serialize } = module.protocol;
    const send = async (message: Uint8Array) =>
      (await pglite.execProtocol(message, { syncToFs: false })).messages;
    let types = this.prepared.get(sql.name);
    if (types === undefined) {
      if (this.prepared.size >= NAMED_STATEMENTS_MAX) await this.closeAll(pglite, module);
      // Parse, describe and sync in one call: an error still ends at the sync, leaving nothing open.
      types = module.parse.parseDescribeStatementResults(
        await send(
          joined([
            serialize.parse({ name: sql.name, text: sql.text }),
            serialize.describe({ type: 'S', name: sql.name }),
            serialize.sync(),
          ]),
        ),
      );
      this.prepared.set(sql.name, types);
    }
    const parameterTypes = types;
    // As PGlite's query() does: each value through the serializer of its parameter's type.
    const values = params.map((value, index) => {
      if (value === null || value === undefined) return null;
      const serializer = pglite.serializers[parameterTypes[index] ?? 0];
      return serializer === undefined ? String(value) : serializer(value);
    });
    let messages: unknown[];
    try {
      // Bind, describe, execute and sync in one call, as one round trip.
      messages = await send(
        joined([
          serialize.bind({ statement: sql.name, values }),
          serialize.describe({ type: 'P' }),
          serialize.execute({}),
          serialize.sync(),
        ]),
      );
    } catch (error) {
      if (retry && RESULT_TYPE_CHANGED.test(String(error))) {
        // Prepared before a migration changed its columns: prepare it again, once.
        await this.close(pglite, module, sql.name);
        return this.run(pglite, module, sql, params, false);
      }
      throw error;
    }
    return (module.parse.parseResults(messages, pglite.parsers)[0]?.rows ?? []) as Row[];
  }

  private async close(pglite: ProtocolPGlite, module: ProtocolModule, name: string): Promise<void> {
    const { serialize } = module.protocol;
    await pglite.execProtocol(joined([serialize.close({ type: 'S', name }), serialize.sync()]), {
      syncToFs: false,
    });
    this.prepared.delete(name);
  }

  private async closeAll(pglite: ProtocolPGlite, module: ProtocolModule): Promise<void> {
    for (const name of [...this.prepared.keys()]) await this.close(pglite, module, name);
  }
}

/** Protocol messages back to back, for one call. */
function joined(messages: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(messages.reduce((length, message) => length + message.length, 0));
  let offset = 0;
  for (const message of messages) {
    out.set(message, offset);
    offset += message.length;
  }
  return out;
}
