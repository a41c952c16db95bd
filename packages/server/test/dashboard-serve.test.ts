import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { ENGINES, present } from '@execution-ledger/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_PATH, cliDatabase, SERVE_PROCESS_TEST_MS } from './support/cli-process.js';

interface Served {
  child: ChildProcess;
  output: string;
  url: string;
  exited: Promise<number | null>;
}

/** `serve` on a free port with the given environment, once it says where it listens. */
async function serve(database: string, env: NodeJS.ProcessEnv): Promise<Served> {
  const singleRole =
    process.env.TEST_OWNER_DATABASE_URL === undefined && database === process.env.TEST_DATABASE_URL;
  const child = spawn(
    process.execPath,
    [
      CLI_PATH,
      '--database',
      database,
      'serve',
      '--port',
      '0',
      '--log-level',
      'silent',
      ...(singleRole ? ['--allow-privileged-role'] : []),
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    present(child.stdout).on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match !== null) resolve(present(match[1]));
    });
    present(child.stderr).on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${output}`)));
  });
  return { child, output, url, exited };
}

async function stop(served: Served): Promise<void> {
  served.child.kill('SIGTERM');
  await served.exited;
}

describe.each(ENGINES)('serve with the dashboard [%s]', (engine) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it(
    "prints the dashboard's address first, keeps sessions across a restart with the same EXECUTION_LEDGER_SESSION_SECRET only, and shows the last verification after it",
    async () => {
      const database = await cliDatabase(engine);
      cleanups.push(database.cleanup);
      const adminKey = `dashboard-serve-${randomUUID()}`;
      const secret = `secret-${randomUUID()}-${randomUUID()}`;
      const env = { EXECUTION_LEDGER_ADMIN_KEY: adminKey, EXECUTION_LEDGER_SESSION_SECRET: secret };
      const first = await serve(database.target, env);
      expect(first.output.split('\n')[0]).toBe(
        `Dashboard: ${first.url}/ (sign in with an API key of role read or admin)`,
      );
      const signIn = await fetch(`${first.url}/sign-in`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ key: adminKey }).toString(),
        redirect: 'manual',
      });
      expect(signIn.status).toBe(303);
      const cookie = present(signIn.headers.get('set-cookie')?.split(';')[0]);
      const projectId = `served-${randomUUID()}`;
      const recorded = await fetch(`${first.url}/v1/executions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          run_id: `run-${randomUUID()}`,
          project_id: projectId,
          user_id: 'user-1',
          agent_id: 'agent-1',
          intent: 'verify across a restart',
          input: {},
          cost: 1,
          execution_trace: { steps: [], duration_ms: 1 },
          status: 'completed',
        }),
      });
      expect(recorded.status).toBe(201);
      const verified = await fetch(`${first.url}/integrity/verify`, {
        method: 'POST',
        headers: { cookie, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ project: projectId }).toString(),
      });
      expect(verified.status).toBe(200);
      await stop(first);

      const again = await serve(database.target, env);
      const kept = await fetch(`${again.url}/integrity`, { headers: { cookie }, redirect: 'manual' });
      expect(kept.status).toBe(200);
      // The verification run before the restart is still the project's last one.
      const row = new RegExp(`<tr data-project="${projectId}">[\\s\\S]*?</tr>`).exec(await kept.text())?.[0];
      expect(row).toMatch(/chain intact<\/span>: 1 entries, .* by from adminKey/);
      await stop(again);

      const otherSecret = await serve(database.target, {
        ...env,
        EXECUTION_LEDGER_SESSION_SECRET: `${secret}-other`,
      });
      const lost = await fetch(`${otherSecret.url}/integrity`, { headers: { cookie }, redirect: 'manual' });
      expect(lost.status).toBe(303);
      expect(lost.headers.get('location')).toMatch(/^\/sign-in\?next=%2Fintegrity&ended=1$/);
      await stop(otherSecret);
    },
    SERVE_PROCESS_TEST_MS,
  );
});
