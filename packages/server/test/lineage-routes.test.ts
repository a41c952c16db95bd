import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { beforeAll, expect, it } from 'vitest';
import { useServer } from './support/server-harness.js';

describeEachEngine('HTTP run lineage', (context) => {
  const server = useServer(context);
  let top = '';
  let sub = '';
  let both = { authorization: '', id: '' };
  let subOnly = { authorization: '', id: '' };

  beforeAll(async () => {
    top = context.project('top');
    sub = context.project('sub');
    // The child first, the parent later: the usual order.
    await context.ledger.recordExecution(
      makeExecution(sub, { run_id: `${sub}-child`, parent_run_id: `${top}-root`, cost: 1.25 }),
    );
    await context.ledger.recordExecution(makeExecution(top, { run_id: `${top}-root`, cost: 2 }));
    both = await server.key('read', [top, sub]);
    subOnly = await server.key('read', [sub]);
  });

  const get = (url: string, key = both) =>
    server.send({ method: 'GET', url, headers: { authorization: key.authorization } });

  it('answers the tree, ancestors and descendants as the library does', async () => {
    const tree = await get(`/v1/runs/${sub}-child/tree`);
    expect(tree.statusCode).toBe(200);
    expect(tree.json()).toEqual(await context.ledger.getRunTree(`${sub}-child`));
    expect(tree.json()).toMatchObject({ root_run_id: `${top}-root`, total_cost: 3.25, complete: true });
    const up = await get(`/v1/runs/${sub}-child/ancestors?max_depth=1`);
    expect(up.json().ancestors.map((node: { run_id: string }) => node.run_id)).toEqual([`${top}-root`]);
    const down = await get(`/v1/runs/${top}-root/descendants?max_nodes=1`);
    expect(down.json()).toMatchObject({ node_count: 1, nodes_exceeded: true, complete: false });
  });

  it('shows a parent in a project the key is not bound to as not recorded', async () => {
    const tree = (await get(`/v1/runs/${sub}-child/tree`, subOnly)).json();
    expect(tree.missing_parent).toBe(`${top}-root`);
    expect(tree.nodes[0]).toMatchObject({ run_id: `${top}-root`, recorded: false, project_id: null });
    expect(tree.total_cost).toBe(1.25);
    const hidden = await get(`/v1/runs/${top}-root/tree`, subOnly);
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json().code).toBe('NOT_FOUND');
  });

  it('refuses bad bounds and keys without read', async () => {
    const deep = await get(`/v1/runs/${sub}-child/tree?max_depth=0`);
    expect(deep.statusCode).toBe(400);
    expect(deep.json().code).toBe('VALIDATION_FAILED');
    const extra = await get(`/v1/runs/${sub}-child/ancestors?max_nodes=5`);
    expect(extra.statusCode).toBe(400);
    const ingest = await server.key('ingest', [sub]);
    const refused = await get(`/v1/runs/${sub}-child/tree`, ingest);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('PERMISSION_DENIED');
  });
});
