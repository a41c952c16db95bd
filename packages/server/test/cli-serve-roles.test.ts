import { randomUUID } from 'node:crypto';
import { ENGINES, makeExecution, present } from '@execution-ledger/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliDatabase, type RunningServer, runCli, startServe } from './support/cli-process.js';

type Operation = (projects: { a: string; b: string }) => { method: string; path: string; body?: unknown };

/** Each operation, and which keys may perform it; every other key must be refused. */
const OPERATIONS: Record<string, Operation> = {
  'append to A': ({ a }) => ({ method: 'POST', path: '/v1/executions', body: makeExecution(a) }),
  'append to B': ({ b }) => ({ method: 'POST', path: '/v1/executions', body: makeExecution(b) }),
  'get a run of A': ({ a }) => ({ method: 'GET', path: `/v1/executions/seed-${a}` }),
  'get a run of B': ({ b }) => ({ method: 'GET', path: `/v1/executions/seed-${b}` }),
  'list A': ({ a }) => ({ method: 'GET', path: `/v1/projects/${a}/executions` }),
  'list B': ({ b }) => ({ method: 'GET', path: `/v1/projects/${b}/executions` }),
  'stats of A': ({ a }) => ({ method: 'GET', path: `/v1/projects/${a}/stats` }),
  'failed of A': ({ a }) => ({ method: 'GET', path: `/v1/projects/${a}/failed` }),
  'export A': ({ a }) => ({ method: 'GET', path: `/v1/projects/${a}/export?format=csv` }),
  'verify A': ({ a }) => ({ method: 'POST', path: `/v1/projects/${a}/verify` }),
  'list keys': () => ({ method: 'GET', path: '/v1/keys' }),
  'create a key for A': ({ a }) => ({
    method: 'POST',
    path: '/v1/keys',
    body: { name: 'x', role: 'read', projects: [a] },
  }),
};

// Keys: ingest and read bound to project A; admin bound to A and B; global admin for set-up.
const EXPECTED: Record<string, Record<string, number>> = {
  ingest: {
    'append to A': 201,
    'append to B': 403,
    'get a run of A': 403,
    'get a run of B': 403,
    'list A': 403,
    'list B': 403,
    'stats of A': 403,
    'failed of A': 403,
    'export A': 403,
    'verify A': 403,
    'list keys': 403,
    'create a key for A': 403,
  },
  read: {
    'append to A': 403,
    'append to B': 403,
    'get a run of A': 200,
    'get a run of B': 404,
    'list A': 200,
    'list B': 403,
    'stats of A': 200,
    'failed of A': 200,
    'export A': 403,
    'verify A': 403,
    'list keys': 403,
    'create a key for A': 403,
  },
  admin: {
    'append to A': 201,
    'append to B': 201,
    'get a run of A': 200,
    'get a run of B': 200,
    'list A': 200,
    'list B': 200,
    'stats of A': 200,
    'failed of A': 200,
    'export A': 200,
    'verify A': 200,
    'list keys': 200,
    'create a key for A': 201,
  },
};

describe.each(ENGINES)('execution-ledger serve with keys of each role across two projects [%s]', (engine) => {
  const projects = { a: `proj-a-${randomUUID()}`, b: `proj-b-${randomUUID()}` };
  let database: { target: string; cleanup: () => Promise<void> } = { target: '', cleanup: async () => {} };
  let server: RunningServer | undefined;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    database = await cliDatabase(engine);
    const created = await runCli([
      '--database',
      database.target,
      '--json',
      'keys',
      'create',
      '--role',
      'admin',
      '--name',
      'ops',
      '--project',
      projects.a,
      '--project',
      projects.b,
    ]);
    expect(created.code).toBe(0);
    tokens.admin = JSON.parse(created.stdout).token;
    server = await startServe(['--database', database.target]);
    for (const role of ['ingest', 'read'] as const) {
      const response = await call('admin', {
        method: 'POST',
        path: '/v1/keys',
        body: { name: role, role, projects: [projects.a] },
      });
      tokens[role] = ((await response.json()) as { token: string }).token;
    }
    for (const project of [projects.a, projects.b]) {
      const seeded = await call('admin', {
        method: 'POST',
        path: '/v1/executions',
        body: makeExecution(project, { run_id: `seed-${project}` }),
      });
      expect(seeded.status).toBe(201);
    }
  });

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await database.cleanup();
  });

  function call(
    role: string,
    operation: { method: string; path: string; body?: unknown },
  ): Promise<Response> {
    return fetch(`${present(server).url}${operation.path}`, {
      method: operation.method,
      headers: {
        authorization: `Bearer ${tokens[role]}`,
        ...(operation.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(operation.body === undefined ? {} : { body: JSON.stringify(operation.body) }),
    });
  }

  for (const role of ['ingest', 'read', 'admin']) {
    it(`lets a ${role} key do exactly what its role and projects allow`, async () => {
      const seen: Record<string, number> = {};
      for (const [name, operation] of Object.entries(OPERATIONS)) {
        const response = await call(role, operation(projects));
        seen[name] = response.status;
        await response.arrayBuffer();
      }
      expect(seen).toEqual(EXPECTED[role]);
    });
  }

  it('stops on SIGTERM with exit code 0', async () => {
    present(server).child.kill('SIGTERM');
    expect(await present(server).exited).toBe(0);
  });
});
