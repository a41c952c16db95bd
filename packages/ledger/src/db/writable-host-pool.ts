import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { LedgerError } from '../errors.js';
import type { PgQueryConfig, PoolClientLike, PoolLike } from './database.js';
import type { HostAddress, HostList } from './host-list.js';

/** A node-postgres pool for one server, as `openDatabase` makes them. */
export interface HostPool extends PoolLike {
  on(event: 'error', listener: () => void): unknown;
}

/** Pause between two passes over a host list in which no server was writable yet. */
const HOST_PASS_PAUSE_MS = 250;
/** SQLSTATE 25006: a write reached a server that has become a standby (database-errors.ts). */
const READ_ONLY_SQL_TRANSACTION = '25006';

/**
 * A pool over the servers of a multi-host URL that lends connections of the server the URL's
 * `target_session_attrs` accepts, as libpq does: each new connection is asked once whether it
 * may write, and the server that answered yes is tried first next time. After a failover the
 * old primary refuses connections or turns out read-only, and the next connection goes to the
 * promoted standby; until one is promoted, connecting keeps trying every server for the connect
 * timeout, then fails with DATABASE_UNAVAILABLE naming what each server answered.
 */
export class WritableHostPool implements PoolLike {
  readonly #pools = new Map<number, HostPool>();
  /** Connections already checked: the question is asked once per connection, not per use. */
  readonly #checked = new WeakSet<PoolClientLike>();
  #current = 0;

  constructor(
    private readonly list: HostList,
    private readonly makePool: (url: string) => HostPool,
    private readonly connectTimeoutMs: number,
  ) {}

  /** The single-host URL of the server connections currently go to (worker threads use it). */
  currentUrl(): string {
    return this.list.urlFor(this.address(this.#current));
  }

  async connect(): Promise<PoolClientLike> {
    const deadline = Date.now() + this.connectTimeoutMs;
    const answers = new Map<string, string>();
    for (;;) {
      for (let step = 0; step < this.list.hosts.length; step += 1) {
        const index = (this.#current + step) % this.list.hosts.length;
        const client = await this.tryHost(index, answers);
        if (client !== undefined) {
          this.#current = index;
          return client;
        }
      }
      if (Date.now() + HOST_PASS_PAUSE_MS >= deadline) throw this.noHost(answers);
      await sleep(HOST_PASS_PAUSE_MS);
    }
  }

  async query(sql: string | PgQueryConfig, params?: unknown[]): Promise<{ rows: unknown[] }> {
    const client = await this.connect();
    try {
      const result = await client.query(sql, params);
      client.release();
      return result;
    } catch (error) {
      client.release(error instanceof Error ? error : true);
      throw error;
    }
  }

  async end(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.end()));
  }

  private async tryHost(index: number, answers: Map<string, string>): Promise<PoolClientLike | undefined> {
    const name = formatHost(this.address(index));
    let client: PoolClientLike;
    try {
      client = await this.pool(index).connect();
    } catch (error) {
      answers.set(name, error instanceof Error ? error.message : String(error));
      return undefined;
    }
    if (!this.#checked.has(client)) {
      let refusal: string | undefined;
      try {
        refusal = await this.refusal(client);
      } catch (error) {
        client.release(error instanceof Error ? error : true);
        answers.set(name, error instanceof Error ? error.message : String(error));
        return undefined;
      }
      if (refusal !== undefined) {
        client.release(true);
        answers.set(name, refusal);
        return undefined;
      }
      this.#checked.add(client);
    }
    return watchReadOnly(client);
  }

  /** Why this connection's server is not the one `target_session_attrs` asks for, if it is not. */
  private async refusal(client: PoolClientLike): Promise<string | undefined> {
    switch (this.list.targetSessionAttrs) {
      case 'any':
        return undefined;
      case 'read-write': {
        const { rows } = await client.query('show transaction_read_only');
        const [row] = rows as { transaction_read_only: string }[];
        return row?.transaction_read_only === 'off' ? undefined : 'read-only (a standby)';
      }
      case 'primary': {
        const { rows } = await client.query('select pg_catalog.pg_is_in_recovery() as standby');
        const [row] = rows as { standby: boolean }[];
        return row?.standby === false ? undefined : 'in recovery (a standby)';
      }
    }
  }

  private pool(index: number): HostPool {
    let pool = this.#pools.get(index);
    if (pool === undefined) {
      pool = this.makePool(this.list.urlFor(this.address(index)));
      // An idle client that loses its server emits 'error'; without a listener Node would crash.
      pool.on('error', () => undefined);
      this.#pools.set(index, pool);
    }
    return pool;
  }

  private address(index: number): HostAddress {
    const address = this.list.hosts[index];
    assert(address !== undefined, `host ${index} is outside the list`);
    return address;
  }

  private noHost(answers: Map<string, string>): LedgerError {
    const said = [...answers].map(([host, answer]) => `${host}: ${answer}`).join('; ');
    return new LedgerError(
      'DATABASE_UNAVAILABLE',
      `no server of ${this.list.redacted} accepted a ${this.list.targetSessionAttrs} connection within ` +
        `${this.connectTimeoutMs} ms (${said}); during a failover this lasts until the standby is promoted: ` +
        'send the call again (an append replays by run_id), or raise databaseConnectTimeoutMs',
      {
        details: {
          connect_timeout_ms: this.connectTimeoutMs,
          target_session_attrs: this.list.targetSessionAttrs,
          hosts: Object.fromEntries(answers),
        },
      },
    );
  }
}

function formatHost(address: HostAddress): string {
  return `${address.host}:${address.port}`;
}

/**
 * A server that was a primary when the connection was checked and refuses a write now has been
 * demoted: the connection is destroyed on release, so the next one finds the new primary.
 */
function watchReadOnly(client: PoolClientLike): PoolClientLike {
  let demoted = false;
  return {
    query: async (sql, params) => {
      try {
        return await client.query(sql, params);
      } catch (error) {
        if ((error as { code?: unknown }).code === READ_ONLY_SQL_TRANSACTION) demoted = true;
        throw error;
      }
    },
    release: (error) => client.release(demoted ? true : error),
  };
}
