import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ENGINES, present } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { cliDatabase, startServe } from './support/cli-process.js';

const run = promisify(execFile);

// The README's curl lines are what a new user types first: run them, as written, against `serve`.
it('runs the curl example of the README: it records a run and reads it back', async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const block = /```sh\n(curl[\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toContain('/v1/executions');
  const database = await cliDatabase(present(ENGINES.at(-1)));
  const key = `readme-${randomUUID()}`;
  const server = await startServe(['--database', database.target], { EXECUTION_LEDGER_ADMIN_KEY: key });
  try {
    const script = present(block).replaceAll('http://127.0.0.1:3000', server.url);
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
      env: { ...process.env, KEY: key },
    });
    const [recorded, read] = stdout
      .trim()
      .split(/\n|(?<=\})(?=\{)/)
      .map((line) => JSON.parse(line));
    expect(recorded).toMatchObject({ run_id: 'run-1', project_id: 'proj-001' });
    expect(read).toMatchObject({ run_id: 'run-1', seq: recorded.seq, entry_hash: recorded.entry_hash });
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    await database.cleanup();
  }
});
