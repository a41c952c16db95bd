import { randomUUID } from 'node:crypto';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeExecution, present } from '@execution-ledger/test-support';
import { createSigningKeyFiles } from 'execution-ledger';
import { verifyCheckpointNote, verifyProjectProof } from 'execution-ledger/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliDatabase, runCli, SERVE_PROCESS_TEST_MS, startServe } from './support/cli-process.js';

// "None when nothing changed" needs a database no other test file appends to: a fresh embedded folder.
describe('execution-ledger serve --checkpoint-key', () => {
  let dir = '';
  let publicKey = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'execution-ledger-serve-checkpoints-'));
    await createSigningKeyFiles({
      privateKeyFile: path.join(dir, 'checkpoint.key'),
      publicKeyFile: path.join(dir, 'checkpoint.pub'),
    });
    publicKey = await readFile(path.join(dir, 'checkpoint.pub'), 'utf8');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(
    'signs at start and after new entries, none while nothing changes, and stops cleanly on SIGTERM',
    async () => {
      const database = await cliDatabase('pglite');
      const adminKey = `checkpoint-serve-${randomUUID()}`;
      const server = await startServe(
        ['--database', database.target],
        { EXECUTION_LEDGER_ADMIN_KEY: adminKey },
        ['--checkpoint-key', path.join(dir, 'checkpoint.key'), '--checkpoint-interval', '1'],
      );
      const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
      const latest = async () => {
        const response = await fetch(`${server.url}/v1/checkpoints/latest`, { headers });
        return response.status === 200
          ? ((await response.json()) as { seq: number; tree_size: number; note: string })
          : null;
      };
      const waitForSeq = async (seq: number) => {
        const deadline = Date.now() + 20_000;
        let current = await latest();
        while ((current?.seq ?? 0) < seq && Date.now() < deadline) {
          await sleep(100);
          current = await latest();
        }
        return current;
      };
      try {
        // The ledger is empty at start: the first checkpoint commits to no head at all.
        expect(await waitForSeq(1)).toMatchObject({ seq: 1, tree_size: 0 });
        const project = `proj-${randomUUID()}`;
        const appended = await fetch(`${server.url}/v1/executions`, {
          method: 'POST',
          headers,
          body: JSON.stringify(makeExecution(project)),
        });
        expect(appended.status).toBe(201);
        const second = await waitForSeq(2);
        expect(second).toMatchObject({ seq: 2, tree_size: 1 });
        await sleep(2_500);
        expect((await latest())?.seq).toBe(2);
        const proof = await (await fetch(`${server.url}/v1/projects/${project}/proof`, { headers })).json();
        const note = verifyCheckpointNote(present(second).note, publicKey);
        if (!note.ok) throw new Error(note.reason);
        expect(verifyProjectProof(proof, note.checkpoint)).toEqual({ ok: true });
      } finally {
        server.child.kill('SIGTERM');
        expect(await server.exited).toBe(0);
        await database.cleanup();
      }
    },
    SERVE_PROCESS_TEST_MS,
  );

  it('refuses an interval without a key and an unreadable key (exit 3) before it opens the database; a bad interval is a usage error', async () => {
    const ghost = path.join(dir, 'no-ledger-here');
    const serve = (args: string[]) =>
      runCli(['--database', ghost, 'serve', '--port', '0', ...args], {
        env: { EXECUTION_LEDGER_CHECKPOINT_KEY: undefined },
      });
    const noKey = await serve(['--checkpoint-interval', '5']);
    expect(noKey.code).toBe(3);
    expect(noKey.stderr).toContain('VALIDATION_FAILED: --checkpoint-interval needs a signing key');
    const badKey = await serve(['--checkpoint-key', path.join(dir, 'missing.key')]);
    expect(badKey.code).toBe(3);
    expect(badKey.stderr).toContain('INVALID_KEY: --checkpoint-key');
    for (const interval of ['0', '86401', 'soon']) {
      expect(
        (
          await serve([
            '--checkpoint-key',
            path.join(dir, 'checkpoint.key'),
            '--checkpoint-interval',
            interval,
          ])
        ).code,
      ).toBe(2);
    }
    const created = await access(ghost).then(
      () => true,
      () => false,
    );
    expect(created).toBe(false);
  });
});
