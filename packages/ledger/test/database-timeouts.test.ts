import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { ENGINES, expectLedgerError, makeExecution, present } from '@execution-ledger/test-support';
import { createLedger, type Ledger } from 'execution-ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A TCP relay in front of the test server that can freeze: it stops passing bytes either way
 * and leaves new connections unanswered, as a server stopped with SIGSTOP does (the kernel
 * still accepts connections). Closing a client closes its server side, so the server rolls
 * back what that connection had begun.
 */
class FreezingRelay {
  private frozen = false;
  private readonly sockets = new Set<net.Socket>();
  private readonly waiting: (() => void)[] = [];
  private readonly server = net.createServer((client) => this.relay(client));

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  freeze(): void {
    this.frozen = true;
    for (const socket of this.sockets) socket.pause();
  }

  thaw(): void {
    this.frozen = false;
    for (const socket of this.sockets) socket.resume();
    for (const start of this.waiting.splice(0)) start();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private relay(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    const start = () => {
      const upstream = net.connect(this.target.port, this.target.host);
      this.sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => {
        this.sockets.delete(upstream);
        client.destroy();
      });
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.frozen) {
        client.pause();
        upstream.pause();
      }
    };
    if (this.frozen) {
      client.pause();
      this.waiting.push(start);
    } else {
      start();
    }
  }
}

const serverUrl = process.env.TEST_DATABASE_URL;
const REPLY_TIMEOUT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 1_500;
// The reply timeout, one probe, and room for a loaded machine; far below "forever".
const GIVE_UP_WITHIN_MS = REPLY_TIMEOUT_MS + CONNECT_TIMEOUT_MS + 3_000;

describe.runIf(ENGINES.includes('postgres'))('a PostgreSQL server that stops answering [postgres]', () => {
  let relay: FreezingRelay;
  let ledger: Ledger;
  const projectId = `frozen-${randomUUID()}`;

  beforeAll(async () => {
    const url = new URL(present(serverUrl));
    relay = new FreezingRelay({ host: url.hostname, port: Number(url.port || 5432) });
    url.hostname = '127.0.0.1';
    url.port = String(await relay.listen());
    ledger = createLedger({
      database: url.toString(),
      poolSize: 4,
      databaseReplyTimeoutMs: REPLY_TIMEOUT_MS,
      databaseConnectTimeoutMs: CONNECT_TIMEOUT_MS,
    });
    await ledger.ready();
  });

  afterAll(async () => {
    relay.thaw();
    await ledger.close();
    await relay.close();
  });

  it('fails appends and reads within a bounded time, then works again and has lost nothing', async () => {
    const acknowledged = [];
    for (let index = 0; index < 5; index += 1)
      acknowledged.push(await ledger.recordExecution(makeExecution(projectId)));
    const inFlight = makeExecution(projectId);

    relay.freeze();
    for (const call of [
      () => ledger.recordExecution(inFlight),
      () => ledger.getExecutionByRunId(inFlight.run_id),
    ]) {
      const started = Date.now();
      const error = await expectLedgerError(call(), 'DATABASE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(GIVE_UP_WITHIN_MS);
      expect(error.message).toMatch(/did not answer/);
    }

    relay.thaw();
    // The run in flight may or may not have been committed: sent again, it is recorded once.
    const again = await ledger.recordExecution(inFlight);
    expect(again.run_id).toBe(inFlight.run_id);
    await ledger.recordExecution(makeExecution(projectId));
    for (const record of acknowledged) {
      expect(await ledger.getExecutionByRunId(record.run_id)).toMatchObject({
        seq: record.seq,
        entry_hash: record.entry_hash,
      });
    }
    expect(await ledger.verifyLedger(projectId)).toMatchObject({ ok: true, entries_checked: 7 });
  });

  it('waits for a busy server that still answers, however long the statement runs', async () => {
    const database = await ledger.database();
    const rows = await database.query<{ slept: string }>("select pg_sleep(3)::text || 'done' as slept");
    expect(rows).toEqual([{ slept: 'done' }]);
  });

  it('refuses a timeout that is not a whole number of milliseconds, naming the option', async () => {
    const bad = createLedger({ database: present(serverUrl), databaseReplyTimeoutMs: 0 });
    const error = await expectLedgerError(bad.ready(), 'VALIDATION_FAILED');
    expect(error.message).toContain('databaseReplyTimeoutMs must be a whole number of milliseconds');
    await bad.close().catch(() => undefined);
  });
});
