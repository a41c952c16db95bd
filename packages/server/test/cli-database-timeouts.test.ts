import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from './support/cli-process.js';

// A listener that accepts connections and never says a word: what a frozen server looks like
// from outside, since the kernel still completes the TCP handshake.
let silent: net.Server;
let port: number;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  port = (silent.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

it('gives up on a server that never answers after --database-connect-timeout-ms, with exit code 6', async () => {
  const started = Date.now();
  const result = await runCli([
    '--database',
    `postgres://someone:secret@127.0.0.1:${port}/ledger`,
    '--database-connect-timeout-ms',
    '500',
    'list',
    '--project',
    'proj-001',
  ]);
  expect(result.code).toBe(6);
  expect(result.stderr).toContain('did not answer a new connection within 500 ms');
  expect(result.stderr).not.toContain('secret');
  expect(Date.now() - started).toBeLessThan(15_000);
});

it('refuses a database timeout that is not a whole number of milliseconds, naming the flag', async () => {
  const result = await runCli(['--database-reply-timeout-ms', '0', 'list', '--project', 'proj-001']);
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('--database-reply-timeout-ms');
  expect(result.stderr).toContain('expected a whole number of 1 or more');
});
