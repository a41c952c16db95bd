import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import { ExecutionReader, type ExecutionRecord } from 'execution-ledger';
import { beforeAll, expect, it, vi } from 'vitest';
import { useServer } from './support/server-harness.js';

describeEachEngine('HTTP reads, statistics, export and verification', (context) => {
  const server = useServer(context);
  let project = '';
  let hidden = '';
  let reader = { authorization: '', id: '' };
  let admin = { authorization: '', id: '' };
  const runIds: string[] = [];

  beforeAll(async () => {
    project = context.project();
    hidden = context.project();
    const inputs = [
      makeExecution(project, { agent_id: 'backend', user_id: 'user-a', cost: 100 }),
      makeExecution(project, { agent_id: 'database', status: 'failed', error_message: 'boom', cost: 250.5 }),
      makeExecution(project, { agent_id: 'backend', status: 'aborted', error_message: 'budget', cost: 49.5 }),
      makeExecution(project, { agent_id: 'backend', user_id: 'user-a', cost: 0 }),
    ];
    for (const input of inputs) runIds.push((await context.ledger.recordExecution(input)).run_id);
    await context.ledger.recordExecution(makeExecution(hidden, { run_id: `secret-${hidden}` }));
    reader = await server.key('read', [project]);
    admin = await server.key('admin', [project]);
  });

  const get = (url: string, authorization = reader.authorization) =>
    server.send({ method: 'GET', url, headers: { authorization } });

  it('gets a run by id, and answers a run of another project exactly like a missing one', async () => {
    const found = await get(`/v1/executions/${runIds[0]}`);
    expect(found.statusCode).toBe(200);
    expect(found.json()).toEqual(await context.ledger.getExecutionByRunId(present(runIds[0])));
    const missing = await get('/v1/executions/no-such-run');
    const foreign = await get(`/v1/executions/secret-${hidden}`);
    expect(missing.statusCode).toBe(404);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toEqual({
      ...missing.json(),
      message: missing.json().message.replace('no-such-run', `secret-${hidden}`),
    });
    expect(foreign.json().code).toBe('NOT_FOUND');
  });

  it('finds a run within the project a caller names, and only there', async () => {
    const runId = present(runIds[1]);
    const found = await get(`/v1/executions/${runId}?project_id=${project}`);
    expect(found.statusCode).toBe(200);
    expect(found.json().run_id).toBe(runId);
    const elsewhere = await get(`/v1/executions/${runId}?project_id=${hidden}`);
    expect(elsewhere.statusCode).toBe(404);
    const bad = await get(`/v1/executions/${runId}?project_id=${encodeURIComponent('a\u0007b')}`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('project_id');
  });

  it('looks a run up within the one project a key is bound to, so a sharded deployment asks one shard', async () => {
    const runId = present(runIds[2]);
    const lookup = vi.spyOn(ExecutionReader.prototype, 'getExecutionByRunId');
    try {
      expect((await get(`/v1/executions/${runId}`)).statusCode).toBe(200);
      expect(lookup).toHaveBeenLastCalledWith(runId, { projectId: project });
      // A key bound to every project names none: the lookup is by run id alone.
      const everywhere = await server.key('read', null);
      expect((await get(`/v1/executions/${runId}`, everywhere.authorization)).statusCode).toBe(200);
      expect(lookup).toHaveBeenLastCalledWith(runId, {});
    } finally {
      lookup.mockRestore();
    }
  });

  it("lists a project's runs newest first by cursor, with status, agent, user and time filters", async () => {
    const first = await get(`/v1/projects/${project}/executions?limit=3`);
    expect(first.statusCode).toBe(200);
    const page1 = first.json();
    expect(page1.total).toBe(4);
    expect(page1.data.map((record: ExecutionRecord) => record.seq)).toEqual([4, 3, 2]);
    const second = (
      await get(`/v1/projects/${project}/executions?limit=3&cursor=${page1.next_cursor}`)
    ).json();
    expect(second.data.map((record: ExecutionRecord) => record.seq)).toEqual([1]);
    expect(second.next_cursor).toBeNull();
    const failed = (await get(`/v1/projects/${project}/executions?status=failed&status=aborted`)).json();
    expect(failed.data.map((record: ExecutionRecord) => record.status).sort()).toEqual(['aborted', 'failed']);
    const byUser = (await get(`/v1/projects/${project}/executions?user_id=user-a&agent_id=backend`)).json();
    expect(byUser.total).toBe(2);
    const future = (await get(`/v1/projects/${project}/executions?start=2999-01-01T00:00:00Z`)).json();
    expect(future.total).toBe(0);
    const past = (await get(`/v1/projects/${project}/executions?end=2999-01-01T00:00:00Z`)).json();
    expect(past.total).toBe(4);
  });

  it('refuses bad query parameters and foreign cursors with 400 and the field', async () => {
    const badLimit = await get(`/v1/projects/${project}/executions?limit=0`);
    expect(badLimit.statusCode).toBe(400);
    expect(badLimit.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'limit' });
    const badStatus = await get(`/v1/projects/${project}/executions?status=lost`);
    expect(badStatus.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'status.0' });
    const badDate = await get(`/v1/projects/${project}/executions?start=yesterday`);
    expect(badDate.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'start' });
    const badCursor = await get(`/v1/projects/${project}/executions?cursor=not-a-cursor`);
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json()).toMatchObject({ code: 'INVALID_CURSOR', field: 'cursor' });
    const cursor = (await get(`/v1/projects/${project}/executions?limit=1`)).json().next_cursor;
    for (const altered of [`${cursor}A`, `${cursor}-`, `${cursor}%3D`]) {
      const answer = await get(`/v1/projects/${project}/executions?limit=1&cursor=${altered}`);
      expect(answer.statusCode).toBe(400);
      expect(answer.json()).toMatchObject({ code: 'INVALID_CURSOR', field: 'cursor' });
    }
  });

  it("lists an agent's runs within a project, and across projects only with an all-projects key", async () => {
    const scoped = await get(`/v1/agents/backend/executions?project_id=${project}`);
    expect(scoped.json().total).toBe(3);
    const across = await get('/v1/agents/backend/executions');
    expect(across.statusCode).toBe(403);
    expect(across.json()).toMatchObject({ code: 'PERMISSION_DENIED', field: 'project_id' });
    const foreign = await get(`/v1/agents/backend/executions?project_id=${hidden}`);
    expect(foreign.statusCode).toBe(403);
    const global = await server.key('read', null);
    const all = await get(`/v1/agents/backend/executions?user_id=user-a`, global.authorization);
    expect(all.statusCode).toBe(200);
    expect(all.json().data.every((record: ExecutionRecord) => record.agent_id === 'backend')).toBe(true);
  });

  it('returns failed and aborted runs of a project', async () => {
    const response = await get(`/v1/projects/${project}/failed?limit=10`);
    expect(response.statusCode).toBe(200);
    expect(response.json().data.map((record: ExecutionRecord) => record.status)).toEqual([
      'aborted',
      'failed',
    ]);
  });

  it('returns project and agent statistics with exact costs', async () => {
    const stats = (await get(`/v1/projects/${project}/stats`)).json();
    expect(stats).toMatchObject({
      total_executions: 4,
      successful: 2,
      failed: 1,
      aborted: 1,
      total_cost: 400,
    });
    expect(stats.by_agent).toEqual({
      backend: { count: 3, cost: 149.5 },
      database: { count: 1, cost: 250.5 },
    });
    const agent = (await get(`/v1/agents/backend/stats?project_id=${project}`)).json();
    expect(agent).toMatchObject({
      agent_id: 'backend',
      project_id: project,
      count: 3,
      total_cost: 149.5,
      min_cost: 0,
      max_cost: 100,
    });
    const empty = (await get(`/v1/projects/${project}/stats?start=2999-01-01T00:00:00Z`)).json();
    expect(empty).toMatchObject({ total_executions: 0, total_cost: 0, avg_cost: 0 });
    expect((await get('/v1/agents/backend/stats')).statusCode).toBe(403);
  });

  it('returns a cost time series and percentiles that agree with the statistics', async () => {
    const start = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const end = new Date(Date.now() + 3_600_000).toISOString();
    const series = await get(
      `/v1/projects/${project}/timeseries?bucket=hour&group_by=agent&start=${start}&end=${end}&time_zone=Asia/Kolkata`,
    );
    expect(series.statusCode).toBe(200);
    const body = series.json();
    expect(body).toMatchObject({ bucket: 'hour', group_by: 'agent', time_zone: 'Asia/Kolkata' });
    const totals: Record<string, number> = {};
    for (const point of body.points) totals[point.key] = (totals[point.key] ?? 0) + point.total_cost;
    expect(totals).toEqual({ backend: 149.5, database: 250.5 });
    const percentiles = (await get(`/v1/projects/${project}/percentiles`)).json();
    expect(percentiles.count).toBe(4);
    expect(percentiles.cost.p99).toBe(250.5);
    const missing = await get(`/v1/projects/${project}/timeseries?bucket=hour&start=${start}`);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('VALIDATION_FAILED');
    expect(missing.json().message).toContain('end');
    const badZone = await get(
      `/v1/projects/${project}/timeseries?bucket=day&start=${start}&end=${end}&time_zone=Mars/Olympus`,
    );
    expect(badZone.statusCode).toBe(400);
    expect((await get(`/v1/projects/${hidden}/percentiles`)).statusCode).toBe(403);
  });

  it('streams a CSV export with the header and an NDJSON export with full records, for admin keys only', async () => {
    const csv = await get(`/v1/projects/${project}/export?format=csv`, admin.authorization);
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^seq,created_at,run_id,/);
    expect(lines).toHaveLength(5);
    const ndjson = await get(
      `/v1/projects/${project}/export?format=ndjson&status=failed`,
      admin.authorization,
    );
    expect(ndjson.headers['content-type']).toContain('application/x-ndjson');
    const records = ndjson.body
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records).toEqual([await context.ledger.getExecutionByRunId(present(runIds[1]))]);
    const denied = await get(`/v1/projects/${project}/export`, reader.authorization);
    expect(denied.statusCode).toBe(403);
    expect(denied.json().code).toBe('PERMISSION_DENIED');
  });

  it("verifies a project's chain for admin keys, and refuses a project outside the key", async () => {
    const post = (url: string, authorization: string) =>
      server.send({ method: 'POST', url, headers: { authorization } });
    const report = await post(`/v1/projects/${project}/verify`, admin.authorization);
    expect(report.statusCode).toBe(200);
    expect(report.json()).toMatchObject({
      ok: true,
      entries_checked: 4,
      first_bad_seq: null,
      head: { seq: 4 },
    });
    expect((await post(`/v1/projects/${hidden}/verify`, admin.authorization)).statusCode).toBe(403);
    expect((await post(`/v1/projects/${project}/verify`, reader.authorization)).statusCode).toBe(403);
  });
});
