import type { AddressInfo } from 'node:net';
import { ApiKeyStore, buildServer } from '@execution-ledger/server';
import { present } from '@execution-ledger/test-support';
import { createLedger, type Ledger } from 'execution-ledger';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliDatabase, startServe } from './support/cli-process.js';
import { holdSocket } from './support/raw-socket.js';

const timeouts = {
  requestTimeoutMs: 600,
  headersTimeoutMs: 400,
  connectionTimeoutMs: 1_500,
  keepAliveTimeoutMs: 300,
};
// Node checks request timeouts on an interval (a quarter of the header timeout here) and the
// loop of a loaded machine is late now and then: a socket counts as held past this.
const slackMs = 2_500;
let ledger: Ledger;
let app: FastifyInstance;
let port = 0;
let authorization = '';

beforeAll(async () => {
  ledger = createLedger({ database: 'memory:' });
  // Opened first: starting the embedded engine blocks the event loop for seconds, which would
  // delay Node's timeout checks and be mistaken for a held socket.
  await ledger.ready();
  app = await buildServer({ ledger, closeLedger: true, timeouts });
  authorization = `Bearer ${(await new ApiKeyStore(ledger).create({ name: 'slow client', role: 'ingest', projects: null })).token}`;
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close();
});

it('answers 408 and closes the socket of a body that never finishes, after the request timeout', async () => {
  const head = `POST /v1/executions HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
  const outcome = await holdSocket(port, `${head}{"run_id":`, timeouts.requestTimeoutMs + slackMs + 2_000);
  expect(outcome.closedAfterMs).not.toBeNull();
  expect(present(outcome.closedAfterMs)).toBeLessThan(timeouts.requestTimeoutMs + slackMs);
  expect(outcome.received).toMatch(/^HTTP\/1\.1 408/);
});

it('answers 408 and closes the socket of headers that never finish, after the headers timeout', async () => {
  const outcome = await holdSocket(
    port,
    'GET /healthz HTTP/1.1\r\nHost: x\r\n',
    timeouts.requestTimeoutMs + slackMs + 2_000,
  );
  expect(outcome.closedAfterMs).not.toBeNull();
  expect(present(outcome.closedAfterMs)).toBeLessThan(timeouts.headersTimeoutMs + slackMs);
  expect(outcome.received).toMatch(/^HTTP\/1\.1 408/);
});

it('closes a socket that connects and sends nothing', async () => {
  const outcome = await holdSocket(port, '', timeouts.connectionTimeoutMs + slackMs + 2_000);
  expect(outcome.closedAfterMs).not.toBeNull();
  expect(present(outcome.closedAfterMs)).toBeLessThan(timeouts.connectionTimeoutMs + slackMs);
});

it('closes an idle keep-alive socket after the keep-alive timeout, having answered its request', async () => {
  const outcome = await holdSocket(
    port,
    'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    timeouts.connectionTimeoutMs + slackMs,
  );
  expect(outcome.received).toMatch(/^HTTP\/1\.1 200/);
  expect(outcome.closedAfterMs).not.toBeNull();
  expect(present(outcome.closedAfterMs)).toBeLessThan(timeouts.keepAliveTimeoutMs + slackMs);
});

it('refuses timeouts that cannot work, naming the option', async () => {
  const other = createLedger({ database: 'postgres://nobody@127.0.0.1:1/never-opened' });
  await expect(buildServer({ ledger: other, timeouts: { requestTimeoutMs: 0 } })).rejects.toMatchObject({
    code: 'VALIDATION_FAILED',
    field: 'requestTimeoutMs',
  });
  await expect(
    buildServer({ ledger: other, timeouts: { requestTimeoutMs: 1_000, headersTimeoutMs: 2_000 } }),
  ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', field: 'headersTimeoutMs' });
  await other.close();
});

it('takes the timeouts from the serve flags', async () => {
  const database = await cliDatabase('pglite');
  const running = await startServe(['--database', database.target], {}, [
    '--request-timeout',
    '800',
    '--headers-timeout',
    '300',
  ]);
  try {
    const servePort = Number(new URL(running.url).port);
    const outcome = await holdSocket(
      servePort,
      'GET /healthz HTTP/1.1\r\nHost: x\r\n',
      300 + slackMs + 2_000,
    );
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408/);
    expect(present(outcome.closedAfterMs)).toBeLessThan(300 + slackMs);
  } finally {
    running.child.kill('SIGTERM');
    await running.exited;
    await database.cleanup();
  }
});
