import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { ENGINES, expectLedgerError, makeExecution, present } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { describe, expect, it } from 'vitest';
import { parseHostList } from '../src/db/host-list.js';

const serverUrl = process.env.TEST_DATABASE_URL;

/** Opens a ledger on `database`, expects VALIDATION_FAILED on the `database` field, returns it. */
async function expectDatabaseRefused(database: string) {
  const ledger = createLedger({ database });
  try {
    return await expectLedgerError(ledger.ready(), 'VALIDATION_FAILED', 'database');
  } finally {
    await ledger.close();
  }
}

describe('multi-host URLs', () => {
  it('leaves a single-host URL without target_session_attrs to node-postgres', () => {
    expect(parseHostList('postgres://u:p@db.example:5433/ledger?sslmode=require')).toBeUndefined();
  });

  it('reads every server, default ports and the session attribute', () => {
    const list = present(
      parseHostList(
        'postgres://u:secret@a.example:5433,b.example,[::1]:6000/ledger?target_session_attrs=read-write&sslmode=disable',
      ),
    );
    expect(list.hosts).toEqual([
      { host: 'a.example', port: 5433 },
      { host: 'b.example', port: 5432 },
      { host: '[::1]', port: 6000 },
    ]);
    expect(list.targetSessionAttrs).toBe('read-write');
    expect(list.redacted).toBe('postgres://u:***@a.example:5433,b.example,[::1]:6000/ledger');
    expect(list.urlFor({ host: 'b.example', port: 5432 })).toBe(
      'postgres://u:secret@b.example:5432/ledger?sslmode=disable',
    );
  });

  it('takes the default port from a port parameter, and "any" when no attribute is given', () => {
    const list = present(parseHostList('postgresql://a,b/ledger?port=6432'));
    expect(list.hosts.map((address) => address.port)).toEqual([6432, 6432]);
    expect(list.targetSessionAttrs).toBe('any');
    expect(list.urlFor({ host: 'a', port: 6432 })).toBe('postgresql://a:6432/ledger?port=6432');
  });

  it('refuses a session attribute a writer cannot use, naming the ones it takes', async () => {
    const error = await expectDatabaseRefused('postgres://a,b/ledger?target_session_attrs=standby');
    expect(error.message).toContain('target_session_attrs=standby');
    expect(error.message).toContain('any, read-write, primary');
  });

  it('refuses a port that is not a port, without showing the password', async () => {
    const error = await expectDatabaseRefused('postgres://u:secret@a:5432,b:99999/ledger');
    expect(error.message).toContain('"99999"');
    expect(JSON.stringify(error.details)).not.toContain('secret');
  });

  it('refuses an empty host in the list', async () => {
    await expectDatabaseRefused('postgres://a,,b/ledger');
  });
});

/** A port on which nothing listens: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The test server's URL with `hosts` in place of its host, and `query` added. */
function withHosts(hosts: string, query: string): string {
  const url = new URL(present(serverUrl));
  const user = `${url.username}${url.password === '' ? '' : `:${url.password}`}@`;
  const params = new URLSearchParams(url.search);
  for (const [name, value] of new URLSearchParams(query)) params.set(name, value);
  return `${url.protocol}//${user}${hosts}${url.pathname}?${params.toString()}`;
}

function serverAddress(): string {
  const url = new URL(present(serverUrl));
  return `${url.hostname}:${url.port || '5432'}`;
}

describe.runIf(ENGINES.includes('postgres'))('a ledger on a list of servers [postgres]', () => {
  it('skips a server that refuses connections and writes to the next', async () => {
    const database = withHosts(
      `127.0.0.1:${await closedPort()},${serverAddress()}`,
      'target_session_attrs=read-write',
    );
    const ledger = createLedger({ database });
    try {
      const projectId = `multi-host-${randomUUID()}`;
      const recorded = await ledger.recordExecution(makeExecution(projectId));
      expect(recorded.seq).toBe(1);
      expect((await ledger.verifyLedger(projectId)).ok).toBe(true);
    } finally {
      await ledger.close();
    }
  });

  it('refuses read-only servers for read-write, saying what each answered, within the connect timeout', async () => {
    const down = await closedPort();
    const database = withHosts(
      `127.0.0.1:${down},${serverAddress()}`,
      'target_session_attrs=read-write&options=-c default_transaction_read_only=on',
    );
    const ledger = createLedger({ database, databaseConnectTimeoutMs: 1_000 });
    try {
      const started = Date.now();
      const error = await expectLedgerError(ledger.ready(), 'DATABASE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(error.message).toContain('read-only (a standby)');
      expect(error.message).toContain(`127.0.0.1:${down}`);
      expect(error.message).not.toContain(`:${new URL(present(serverUrl)).password}@`);
    } finally {
      await ledger.close();
    }
  });

  it('takes a read-only server when the URL asks for any', async () => {
    const database = withHosts(
      serverAddress(),
      'target_session_attrs=any&options=-c default_transaction_read_only=on',
    );
    const ledger = createLedger({ database });
    try {
      // The schema is there already, so opening only reads; a write is refused by the server.
      await ledger.ready();
      const error = await expectLedgerError(
        ledger.recordExecution(makeExecution(`multi-host-${randomUUID()}`)),
        'DATABASE_UNAVAILABLE',
      );
      expect(error.message).toContain('takes no writes now');
      expect(error.message).toContain('send the call again');
    } finally {
      await ledger.close();
    }
  });
});
