import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connstr, present, shardingSkipReason, withDatabase } from '@execution-ledger/test-support';
import { createShardedLedger, migrateShardCatalog, type ShardedLedger } from 'execution-ledger';
import openapiTS, { astToString } from 'openapi-typescript';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, runCli, startServe } from './support/cli-process.js';

// `execution-ledger serve --catalog … --shard …` as users run it: a catalog database, three
// shard databases and the service's home database (API keys and the service's own tables) on the
// test server, PL/Proxy in the catalog, and HTTP through a client generated from the running
// service's /openapi.json. Sharding needs a server with PL/Proxy: there is no embedded run.
const runtimeUrl = process.env.TEST_DATABASE_URL;
const ownerUrl = process.env.TEST_OWNER_DATABASE_URL;
const adminUrl = process.env.TEST_ADMIN_DATABASE_URL;

const reason = await shardingSkipReason();
if (reason !== null) console.warn(`sharded-service.test.ts skipped: ${reason}`);

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const generated = path.join(here, '.generated', 'sharded-client');
const tscBin = path.resolve(here, '../../../node_modules/typescript/bin/tsc');

// The client a user writes against the generated types: it appends over every project, then
// reads each project, the merged statistics, and what a sharded service refuses.
const CLIENT_SOURCE = `
import createClient from 'openapi-fetch';
import type { paths } from './ledger-api.js';

const [baseUrl, token, plan] = process.argv.slice(2) as [string, string, string];
const { projects, runs } = JSON.parse(plan) as { projects: string[]; runs: number };
const client = createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${token}\` } });
const body = (projectId: string, index: number) => {
  const total = 10 + ((index * 37) % 113) + 0.125;
  return {
    run_id: \`svc-\${projectId}-\${index}\`, project_id: projectId, user_id: \`user-\${index % 3}\`,
    agent_id: index % 2 === 0 ? 'planner' : 'coder', intent: 'Deploy', input: { index },
    cost: { total, breakdown: { tokens: total - 2, toolCalls: 2 } },
    execution_trace: { steps: [], duration_ms: 100 + index },
    status: (index % 5 === 4 ? 'failed' : 'completed') as 'failed' | 'completed',
    ...(index % 5 === 4 ? { error_message: 'tool timed out' } : {}),
  };
};
const out: Record<string, unknown> = {};
const batch = await client.POST('/v1/executions/batch', {
  body: { executions: projects.flatMap((projectId) => Array.from({ length: runs }, (_, index) => body(projectId, index))) },
});
out.batch = { status: batch.response.status, created: batch.data?.created, failed: batch.data?.failed };
const single = await client.POST('/v1/executions', { body: body(projects[0] as string, runs) });
out.single = { status: single.response.status, seq: single.data?.seq };
const again = await client.POST('/v1/executions', { body: body(projects[0] as string, runs) });
out.again = { status: again.response.status, replayed: again.data?.replayed };
const read = await client.GET('/v1/executions/{runId}', { params: { path: { runId: \`svc-\${projects[1]}-1\` } } });
out.read = read.data;
out.perProject = {};
for (const projectId of projects) {
  const list = await client.GET('/v1/projects/{projectId}/executions', { params: { path: { projectId } } });
  const stats = await client.GET('/v1/projects/{projectId}/stats', { params: { path: { projectId } } });
  const verify = await client.POST('/v1/projects/{projectId}/verify', { params: { path: { projectId } } });
  (out.perProject as Record<string, unknown>)[projectId] = {
    listed: list.data?.data.length, total: stats.data?.total_executions, verified: verify.data?.ok,
  };
}
const agent = await client.GET('/v1/agents/{agentId}/stats', { params: { path: { agentId: 'planner' } } });
out.agent = agent.data;
const percentiles = await client.GET('/v1/projects/{projectId}/percentiles', {
  params: { path: { projectId: projects[0] as string } },
});
out.percentiles = { status: percentiles.response.status };
const tree = await client.GET('/v1/runs/{runId}/tree', { params: { path: { runId: \`svc-\${projects[1]}-1\` } } });
out.tree = { status: tree.response.status, error: tree.error };
const byAgent = await client.GET('/v1/agents/{agentId}/executions', { params: { path: { agentId: 'planner' } } });
out.byAgent = { status: byAgent.response.status, error: byAgent.error };
console.log(JSON.stringify(out));
`;

describe.skipIf(reason !== null)('a sharded HTTP service (serve --catalog --shard)', () => {
  const base = new URL(runtimeUrl ?? 'postgres://x/ledger').pathname.slice(1).slice(0, 40);
  const names = {
    home: `${base}_svhome`,
    catalog: `${base}_svcat`,
    shards: [`${base}_sv0`, `${base}_sv1`, `${base}_sv2`],
  };
  const shardNames = ['s0', 's1', 's2'];
  const runtimeRole = decodeURIComponent(new URL(runtimeUrl ?? 'postgres://x/y').username);
  const ownerRole = decodeURIComponent(new URL(ownerUrl ?? 'postgres://x/y').username);
  const adminKey = `sharded-service-admin-${Date.now().toString(36)}-0123456789abcdef`;
  const projects = Array.from({ length: 6 }, (_, index) => `svc-p${index}`);
  const RUNS = 5;
  let admin: pg.Client;
  let server: RunningServer | undefined;
  let sharded: ShardedLedger;

  const shardFlags = (url: string) =>
    shardNames.flatMap((name, index) => [
      '--shard',
      `${name}=${withDatabase(url, present(names.shards[index]))}`,
    ]);

  async function dropAll(): Promise<void> {
    for (const database of [names.home, names.catalog, ...names.shards])
      await admin.query(`drop database if exists ${database} with (force)`);
  }

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await dropAll();
    for (const database of [names.home, names.catalog, ...names.shards])
      await admin.query(`create database ${database} owner ${ownerRole}`);
    // The home and every shard get the ledger's and the service's schema, as `migrate` gives them.
    for (const database of [names.home, ...names.shards]) {
      const migrated = await runCli([
        '--database',
        withDatabase(present(ownerUrl), database),
        'migrate',
        '--grant-runtime',
        runtimeRole,
      ]);
      expect(migrated.code, migrated.stderr).toBe(0);
    }
    // The catalog's roles are cluster-wide: sharded-ledger.test.ts may be creating them at this
    // moment on a fresh server, and the loser of that race fails once (its migration, rolled
    // back whole, then finds them).
    await migrateShardCatalog(withDatabase(present(adminUrl), names.catalog)).catch(() =>
      migrateShardCatalog(withDatabase(present(adminUrl), names.catalog)),
    );
    const catalog = new pg.Client({ connectionString: withDatabase(present(adminUrl), names.catalog) });
    await catalog.connect();
    try {
      await catalog.query(`grant execution_ledger_router to ${runtimeRole}`);
      await catalog.query(`grant execution_ledger_shard_admin to ${ownerRole}`);
    } finally {
      await catalog.end();
    }
    const owner = createShardedLedger({
      catalog: withDatabase(present(ownerUrl), names.catalog),
      shards: Object.fromEntries(
        shardNames.map((name, index) => [
          name,
          withDatabase(present(ownerUrl), present(names.shards[index])),
        ]),
      ),
      migrate: false,
    });
    try {
      for (const [index, name] of shardNames.entries())
        await owner.addShard(name, connstr(present(runtimeUrl), present(names.shards[index])));
    } finally {
      await owner.close();
    }
    sharded = createShardedLedger({
      catalog: withDatabase(present(runtimeUrl), names.catalog),
      shards: Object.fromEntries(
        shardNames.map((name, index) => [
          name,
          withDatabase(present(runtimeUrl), present(names.shards[index])),
        ]),
      ),
      migrate: false,
    });
    server = await startServe(
      ['--database', withDatabase(present(runtimeUrl), names.home)],
      { EXECUTION_LEDGER_ADMIN_KEY: adminKey },
      ['--catalog', withDatabase(present(runtimeUrl), names.catalog), ...shardFlags(present(runtimeUrl))],
    );
  }, 180_000);

  afterAll(async () => {
    if (server !== undefined) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await sharded?.close();
    if (admin !== undefined) {
      await dropAll().catch(() => undefined);
      await admin.end();
    }
  }, 60_000);

  const get = async (route: string, init: RequestInit = {}) => {
    const response = await fetch(`${present(server).url}${route}`, {
      ...init,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json', ...init.headers },
    });
    const text = await response.text();
    const json = (response.headers.get('content-type') ?? '').startsWith('application/json');
    return { status: response.status, body: json ? JSON.parse(text) : text };
  };

  it('appends and reads by project through a generated client, each project on its own shard', async () => {
    const spec = (await get('/openapi.json')).body;
    await rm(generated, { recursive: true, force: true });
    await mkdir(generated, { recursive: true });
    await writeFile(path.join(generated, 'ledger-api.ts'), astToString(await openapiTS(spec as never)));
    await writeFile(path.join(generated, 'client.ts'), CLIENT_SOURCE);
    await writeFile(path.join(generated, 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(
      path.join(generated, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          lib: ['ES2022', 'DOM'],
          types: ['node'],
        },
        files: ['client.ts'],
      }),
    );
    const compiled = await run(process.execPath, [tscBin, '-p', generated]).catch(
      (error: { stdout?: string }) => error,
    );
    expect((compiled as { stdout?: string }).stdout ?? '').toBe('');
    const { stdout } = await run(process.execPath, [
      path.join(generated, 'client.js'),
      present(server).url,
      adminKey,
      JSON.stringify({ projects, runs: RUNS }),
    ]);
    const out = JSON.parse(stdout);
    expect(out.batch).toEqual({ status: 200, created: projects.length * RUNS, failed: 0 });
    expect(out.single).toEqual({ status: 201, seq: RUNS + 1 });
    expect(out.again).toEqual({ status: 200, replayed: true });
    expect(out.read).toMatchObject({ run_id: `svc-${projects[1]}-1`, project_id: projects[1], seq: 2 });
    for (const projectId of projects) {
      const runs = projectId === projects[0] ? RUNS + 1 : RUNS;
      expect(out.perProject[projectId], projectId).toEqual({ listed: runs, total: runs, verified: true });
    }
    expect(out.percentiles.status).toBe(200);

    // Each project's runs are on the one shard the catalog places it on, and only there.
    const used = new Set<string>();
    for (const projectId of projects) {
      const shard = present(await sharded.shardOf(projectId), projectId);
      used.add(shard);
      for (const name of shardNames) {
        const page = await sharded.shard(name).listExecutions({ projectId }, { limit: 100 });
        expect(page.data.length, `${projectId} on ${name}`).toBe(
          name === shard ? (projectId === projects[0] ? RUNS + 1 : RUNS) : 0,
        );
      }
    }
    expect(used.size).toBeGreaterThan(1);

    // The merged agent statistics equal a recomputation over every run appended.
    const planner: number[] = [];
    for (const projectId of projects)
      for (let index = 0; index <= (projectId === projects[0] ? RUNS : RUNS - 1); index += 1)
        if (index % 2 === 0) planner.push(10 + ((index * 37) % 113) + 0.125);
    const micros = (value: number) => Math.round(value * 1_000_000);
    expect(out.agent).toMatchObject({
      agent_id: 'planner',
      count: planner.length,
      min_cost: Math.min(...planner),
      max_cost: Math.max(...planner),
    });
    expect(micros(out.agent.total_cost)).toBe(planner.reduce((sum, cost) => sum + micros(cost), 0));

    // What a sharded service cannot answer exactly is refused, naming what to do instead.
    expect(out.tree.status).toBe(501);
    expect(out.tree.error).toMatchObject({ code: 'NOT_SHARDED' });
    expect(out.tree.error.message).toMatch(/^lineage is not served by a sharded service: /);
    expect(out.byAgent.status).toBe(501);
    expect(out.byAgent.error).toMatchObject({ code: 'NOT_SHARDED', field: 'project_id' });
    expect(out.byAgent.error.message).toMatch(/give project_id/);
  }, 180_000);

  it('keeps serving a project moved to another shard while it runs: appends and reads go to the new shard', async () => {
    const projectId = present(projects[4]);
    const from = present(await sharded.shardOf(projectId));
    const to = present(shardNames.find((name) => name !== from));
    // The service read this project before the move, so its cached placement names the old shard.
    expect((await get(`/v1/projects/${projectId}/stats`)).body.total_executions).toBe(RUNS);
    const owner = createShardedLedger({
      catalog: withDatabase(present(ownerUrl), names.catalog),
      shards: Object.fromEntries(
        shardNames.map((name, index) => [
          name,
          withDatabase(present(ownerUrl), present(names.shards[index])),
        ]),
      ),
      migrate: false,
    });
    try {
      expect(await owner.moveProject(projectId, to)).toMatchObject({ from, to, entries: RUNS });
    } finally {
      await owner.close();
    }
    const appended = await get('/v1/executions', {
      method: 'POST',
      body: JSON.stringify({
        run_id: `svc-${projectId}-after-move`,
        project_id: projectId,
        user_id: 'user-0',
        agent_id: 'planner',
        intent: 'Deploy',
        input: {},
        cost: 5,
        execution_trace: { steps: [], duration_ms: 1 },
        status: 'completed',
      }),
    });
    expect(appended).toMatchObject({ status: 201, body: { seq: RUNS + 1 } });
    expect((await get(`/v1/projects/${projectId}/stats`)).body.total_executions).toBe(RUNS + 1);
    const listed = await get(`/v1/projects/${projectId}/executions?limit=100`);
    expect(listed.body.data.length).toBe(RUNS + 1);
    expect(
      (await get(`/v1/projects/${projectId}/verify`, { method: 'POST', body: '{}' })).body,
    ).toMatchObject({
      ok: true,
      entries_checked: RUNS + 1,
    });
    // The new run is on the new shard only; the old one keeps its copy, frozen at the switch.
    const onShard = async (name: string) =>
      (await sharded.shard(name).listExecutions({ projectId }, { limit: 100 })).data.length;
    expect(await onShard(to)).toBe(RUNS + 1);
    expect(await onShard(from)).toBe(RUNS);
  }, 120_000);

  it('answers every route either from the shards or with NOT_SHARDED, never from the empty home database', async () => {
    const spec = (await get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const values: Record<string, string> = {
      projectId: present(projects[2]),
      runId: `svc-${projects[2]}-0`,
      agentId: 'planner',
    };
    const day = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const range = `?bucket=day&start=${day}T00:00:00Z&end=${tomorrow}T00:00:00Z`;
    const queries: Record<string, string> = {
      '/v1/projects/{projectId}/timeseries': range,
      '/v1/projects/{projectId}/costs/timeseries': range,
    };
    const answers: Record<string, { status: number; code?: string }> = {};
    for (const [route, methods] of Object.entries(spec.paths)) {
      for (const method of Object.keys(methods)) {
        const url =
          route.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? '1')) +
          (queries[route] ?? '');
        const init: RequestInit = { method: method.toUpperCase() };
        if (method !== 'get' && method !== 'delete') init.body = '{}';
        const answer = await get(url, init);
        answers[`${method.toUpperCase()} ${route}`] = {
          status: answer.status,
          ...(typeof answer.body === 'object' && answer.body.code !== undefined
            ? { code: answer.body.code }
            : {}),
        };
      }
    }
    for (const [route, answer] of Object.entries(answers)) {
      expect(answer.status, route).not.toBe(500);
      if (answer.status === 501) expect(answer.code, route).toBe('NOT_SHARDED');
    }
    // Project-scoped reads answer from the project's shard.
    for (const route of [
      'GET /v1/projects/{projectId}/executions',
      'GET /v1/projects/{projectId}/stats',
      'GET /v1/projects/{projectId}/failed',
      'GET /v1/projects/{projectId}/percentiles',
      'GET /v1/projects/{projectId}/timeseries',
      'GET /v1/projects/{projectId}/costs/by-user',
      'GET /v1/projects/{projectId}/costs/by-tool',
      'GET /v1/projects/{projectId}/costs/by-model',
      'GET /v1/projects/{projectId}/costs/top-runs',
      'GET /v1/projects/{projectId}/export',
      'GET /v1/executions/{runId}',
      'GET /v1/agents/{agentId}/stats',
      'GET /healthz',
      'GET /readyz',
    ])
      expect(answers[route], route).toMatchObject({ status: 200 });
    // What keeps its state per server, or cannot be merged exactly, is refused.
    for (const route of [
      'GET /v1/runs/{runId}/tree',
      'GET /v1/runs/{runId}/ancestors',
      'GET /v1/runs/{runId}/descendants',
      'GET /v1/agents/{agentId}/executions',
      'GET /v1/budgets',
      'GET /v1/events',
      'GET /v1/webhooks',
      'GET /v1/checkpoints/latest',
      'GET /v1/projects/{projectId}/proof',
      'POST /v1/allocation/rule-sets',
    ])
      expect(answers[route], route).toMatchObject({ status: 501, code: 'NOT_SHARDED' });
    // The export is the project's whole chain, read on its shard.
    const exported = await get(`/v1/projects/${projects[2]}/export?format=ndjson`);
    expect(String(exported.body).trim().split('\n').length).toBe(RUNS);
    // API keys live in the home database and work as on one server.
    const created = await get('/v1/keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'reader', role: 'read', projects: [projects[3]] }),
    });
    expect(created.status).toBe(201);
    const scoped = await fetch(`${present(server).url}/v1/projects/${projects[3]}/stats`, {
      headers: { authorization: `Bearer ${created.body.token}` },
    });
    expect(scoped.status).toBe(200);
    expect(((await scoped.json()) as { total_executions: number }).total_executions).toBe(RUNS);
  }, 180_000);

  it('serves the dashboard: pages of one project from its shard, and no page fails with a server error', async () => {
    const signIn = await fetch(`${present(server).url}/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: adminKey }).toString(),
      redirect: 'manual',
    });
    expect(signIn.status).toBe(303);
    const cookie = present(signIn.headers.get('set-cookie')?.split(';')[0]);
    const projectId = present(projects[5]);
    const statuses: Record<string, number> = {};
    for (const page of ['/', '/agents', '/failures', '/runs', '/integrity'])
      for (const query of ['', `?project=${projectId}`]) {
        const response = await fetch(`${present(server).url}${page}${query}`, {
          headers: { cookie },
          redirect: 'manual',
        });
        statuses[`${page}${query}`] = response.status;
        const text = await response.text();
        if (query !== '' && response.status === 200 && page === '/runs')
          expect(text, page).toContain(`svc-${projectId}-0`);
        if (page === '/integrity') {
          // Every project with its entries, counted on its shard; checkpoints are the catalog's.
          expect(text).toMatch(
            new RegExp(
              `<tr data-project="${projectId}"><th scope="row">${projectId}</th>\\s*<td><data value="${RUNS}">`,
            ),
          );
          expect(text).toContain('kept in the shard catalog');
        }
      }
    expect(Object.values(statuses)).toEqual(Object.values(statuses).map(() => 200));
  }, 120_000);
});
