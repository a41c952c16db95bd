import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { beforeAll, expect, it } from 'vitest';
import { useServer } from './support/server-harness.js';

describeEachEngine('HTTP costliest users and runs', (context) => {
  const server = useServer(context);
  let project = '';
  let other = '';
  let reader = { authorization: '', id: '' };
  const runs: Record<string, string> = {};

  beforeAll(async () => {
    project = context.project();
    other = context.project();
    // Sub-cent amounts: the answers must keep the micro-cents the ledger keeps.
    const seed = [
      { user: 'user-ann', agent: 'planner', cost: 12.000001, status: 'completed' },
      { user: 'user-ann', agent: 'coder', cost: 3.5, status: 'failed' },
      { user: 'user-bob', agent: 'coder', cost: 9.25, status: 'completed' },
      { user: 'user-cid', agent: 'coder', cost: 0.000003, status: 'completed' },
    ] as const;
    for (const [index, run] of seed.entries()) {
      const recorded = await context.ledger.recordExecution(
        makeExecution(project, {
          user_id: run.user,
          agent_id: run.agent,
          cost: run.cost,
          status: run.status,
          error_message: run.status === 'failed' ? 'boom' : null,
        }),
      );
      runs[`r${index}`] = recorded.run_id;
    }
    await context.ledger.recordExecution(makeExecution(other, { user_id: 'user-elsewhere', cost: 99 }));
    reader = await server.key('read', [project]);
  });

  const get = (url: string) =>
    server.send({ method: 'GET', url, headers: { authorization: reader.authorization } });

  it('answers users by cost as getCostByUser does, exact to the micro-cent, with filters and a limit', async () => {
    const all = await get(`/v1/projects/${project}/costs/by-user`);
    expect(all.statusCode).toBe(200);
    expect(all.json()).toEqual({ data: await context.ledger.getCostByUser({ projectId: project }) });
    expect(all.json().data).toEqual([
      { user_id: 'user-ann', count: 2, total_cost: 15.500001, avg_cost: 7.750001 },
      { user_id: 'user-bob', count: 1, total_cost: 9.25, avg_cost: 9.25 },
      { user_id: 'user-cid', count: 1, total_cost: 0.000003, avg_cost: 0.000003 },
    ]);
    const coders = (await get(`/v1/projects/${project}/costs/by-user?agent_id=coder&limit=2`)).json();
    expect(coders.data.map((row: { user_id: string }) => row.user_id)).toEqual(['user-bob', 'user-ann']);
    const failed = (await get(`/v1/projects/${project}/costs/by-user?status=failed`)).json();
    expect(failed.data).toEqual([{ user_id: 'user-ann', count: 1, total_cost: 3.5, avg_cost: 3.5 }]);
    const future = new Date(Date.now() + 86_400_000).toISOString();
    const empty = (await get(`/v1/projects/${project}/costs/by-user?start=${future}`)).json();
    expect(empty).toEqual({ data: [] });
  });

  it('answers the most expensive runs as getMostExpensiveRuns does, as full records', async () => {
    const top = await get(`/v1/projects/${project}/costs/top-runs?limit=3`);
    expect(top.statusCode).toBe(200);
    const expected = await context.ledger.getMostExpensiveRuns({ projectId: project, limit: 3 });
    expect(top.json()).toEqual({ data: JSON.parse(JSON.stringify(expected)) });
    expect(top.json().data.map((run: { run_id: string }) => run.run_id)).toEqual([runs.r0, runs.r2, runs.r1]);
    expect(top.json().data[0]).toMatchObject({
      cost_json: { total: 12.000001 },
      entry_hash: expected[0]?.entry_hash,
    });
    const ann = (
      await get(`/v1/projects/${project}/costs/top-runs?user_id=user-ann&status=completed`)
    ).json();
    expect(ann.data.map((run: { run_id: string }) => run.run_id)).toEqual([runs.r0]);
    // The default is the library's: ten runs.
    expect((await get(`/v1/projects/${project}/costs/top-runs`)).json().data).toHaveLength(4);
  });

  it('refuses a bad limit, an unknown filter and another project, changing nothing', async () => {
    for (const path of ['costs/by-user', 'costs/top-runs']) {
      const zero = await get(`/v1/projects/${project}/${path}?limit=0`);
      expect(zero.statusCode, path).toBe(400);
      expect(zero.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(zero.json().message).toMatch(/limit/);
      const huge = await get(`/v1/projects/${project}/${path}?limit=1001`);
      expect(huge.statusCode, path).toBe(400);
      const parent = await get(`/v1/projects/${project}/${path}?parent_run_id=x`);
      expect(parent.statusCode, path).toBe(400);
      expect(parent.json().message).toMatch(/parent_run_id/);
      const bad = await get(`/v1/projects/${project}/${path}?status=lost`);
      expect(bad.statusCode, path).toBe(400);
      const elsewhere = await get(`/v1/projects/${other}/${path}`);
      expect(elsewhere.statusCode, path).toBe(403);
      expect(elsewhere.json()).toMatchObject({ code: 'PERMISSION_DENIED' });
      expect(JSON.stringify(elsewhere.json())).not.toContain('user-elsewhere');
    }
  });
});
