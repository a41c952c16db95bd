import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import type { ExecutionInput } from 'execution-ledger';
import { expect, it } from 'vitest';

function run(projectId: string, runId: string, parent: string | null, cents: number): ExecutionInput {
  return makeExecution(projectId, {
    run_id: runId,
    parent_run_id: parent,
    cost: { total: cents, breakdown: {} },
  });
}

const WALK_DOWN = 'select level, mark, runs from execution_ledger.lineage_down($1, $2, $3, null, $4)';

// lineage_down's rows are an internal format between sql/0025_lineage_down_text.sql and
// src/lineage/tree-builder.ts: these tests pin it, and the text levels' fallback to JSON.
describeEachEngine('lineage levels', (context) => {
  it('returns the root as JSON and each level as tab-separated lines, oldest first, then by run id in byte order', async () => {
    const projectId = context.project();
    const id = (name: string) => `${projectId}-${name}`;
    await context.ledger.recordExecution(run(projectId, id('root'), null, 1));
    // One batch: the same created_at, so the run ids decide, byte by byte ('B' before 'a').
    const children = await context.ledger.recordExecutions([
      run(projectId, id('b'), id('root'), 2.5),
      run(projectId, id('B'), id('root'), 0.000001),
      run(projectId, id('a'), id('root'), 3),
    ]);
    for (const result of children) expect(result.ok).toBe(true);
    const stored = await context.admin(
      `select run_id, floor(extract(epoch from created_at) * 1000)::bigint::text as ms
       from execution_ledger.executions where project_id = $1`,
      [projectId],
    );
    const ms = new Map(stored.map((row) => [row.run_id, row.ms]));
    const rows = await context.admin(WALK_DOWN, [id('root'), 10, 100, true]);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ level: 0, mark: 'json' });
    expect(JSON.parse(String(present(rows[0]).runs))).toEqual([
      id('root'),
      null,
      projectId,
      'backend',
      'user-001',
      'completed',
      '1.000000',
      Number(ms.get(id('root'))),
    ]);
    expect(rows[1]).toMatchObject({ level: 1, mark: null });
    const line = (name: string, cost: string) =>
      [id(name), id('root'), projectId, 'backend', 'user-001', 'completed', cost, ms.get(id(name))].join(
        '\t',
      );
    // The batch's rows normally share created_at; should they not, time still comes first.
    const order = (['b', 'B', 'a'] as const).slice().sort((x, y) => {
      const byTime = Number(ms.get(id(x))) - Number(ms.get(id(y)));
      return byTime !== 0 ? byTime : Buffer.compare(Buffer.from(id(x)), Buffer.from(id(y)));
    });
    const costs = { b: '2.500000', B: '0.000001', a: '3.000000' };
    expect(present(rows[1]).runs).toBe(order.map((name) => line(name, costs[name])).join('\n'));
    const tree = await context.ledger.getDescendants(id('root'));
    expect(tree.nodes.map((node) => node.run_id)).toEqual([id('root'), ...order.map(id)]);
    expect(tree.total_cost).toBe(6.500001);
  });

  it('sends a level whose ids hold a tab or a newline as JSON, and reads them back exactly', async () => {
    const projectId = context.project();
    const id = (name: string) => `${projectId}-${name}`;
    await context.ledger.recordExecution(run(projectId, id('root'), null, 1));
    // The library refuses such ids; links written by other means must still read back exactly.
    const tab = id('tab\there');
    const newline = id('new\nline');
    await context.admin(
      `insert into execution_ledger.run_links
         (parent_run_id, run_id, project_id, user_id, agent_id, status, cost_total, created_ms)
       values ($1, $2, $4, 'user', 'agent', 'failed', 2, 1000), ($2, $3, $4, 'user', 'agent', 'completed', 0.5, 2000),
         ($1, $5, $4, 'user', 'agent', 'aborted', 0.25, 3000)`,
      [id('root'), tab, newline, projectId, id('plain')],
    );
    const rows = await context.admin(WALK_DOWN, [id('root'), 10, 100, true]);
    expect(rows.map((row) => [row.level, row.mark])).toEqual([
      [0, 'json'],
      [1, 'json'],
      [2, 'json'],
    ]);
    const tree = await context.ledger.getDescendants(id('root'));
    expect(tree.nodes.map((node) => [node.run_id, node.parent_run_id, node.depth])).toEqual([
      [id('root'), null, 0],
      [tab, id('root'), 1],
      [id('plain'), id('root'), 1],
      [newline, tab, 2],
    ]);
    const nodes = new Map(tree.nodes.map((node) => [node.run_id, node]));
    expect(present(nodes.get(tab))).toMatchObject({
      status: 'failed',
      created_at: '1970-01-01T00:00:01.000Z',
      subtree_cost: 2.5,
      children: [newline],
    });
    expect(tree.total_cost).toBe(3.75);
  });
});
