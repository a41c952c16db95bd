import { PGlite } from '@electric-sql/pglite';
import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { createLedger, type ExecutionInput, type Ledger, type RunTree } from 'execution-ledger';
import { loadMigrations, migrateDatabase } from 'execution-ledger/database';
import { describe, expect, it } from 'vitest';

/** A small seeded generator, so a failing forest can be rebuilt from the seed in the message. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cents from integer micro-cents, written out in decimal so the number is exactly that amount. */
function centsOf(micros: bigint): number {
  const whole = micros / 1_000_000n;
  const fraction = (micros % 1_000_000n).toString().padStart(6, '0');
  return Number(`${whole}.${fraction}`);
}

function run(projectId: string, runId: string, parent: string | null, micros: bigint): ExecutionInput {
  return makeExecution(projectId, {
    run_id: runId,
    parent_run_id: parent,
    cost: { total: centsOf(micros), breakdown: {} },
  });
}

async function recordAll(ledger: Ledger, inputs: ExecutionInput[]): Promise<void> {
  for (let index = 0; index < inputs.length; index += 500) {
    const results = await ledger.recordExecutions(inputs.slice(index, index + 500));
    for (const result of results) if (!result.ok) throw result.error;
  }
}

function byRunId(tree: RunTree) {
  return new Map(tree.nodes.map((node) => [node.run_id, node]));
}

describeEachEngine('run lineage', (context) => {
  it('builds a tree whose children were recorded before their parent, with exact costs', async () => {
    const projectId = context.project();
    const id = (name: string) => `${projectId}-${name}`;
    // Children first: parents usually finish last.
    await recordAll(context.ledger, [
      run(projectId, id('leaf-a'), id('mid'), 1n),
      run(projectId, id('leaf-b'), id('mid'), 100_000_001n),
      run(projectId, id('mid'), id('root'), 2_500_000n),
    ]);
    const early = await context.ledger.getRunTree(id('leaf-a'));
    expect(early.root_run_id).toBe(id('root'));
    expect(early.missing_parent).toBe(id('root'));
    const placeholder = present(early.nodes[0]);
    expect(placeholder).toMatchObject({ run_id: id('root'), recorded: false, status: null, cost: 0 });
    expect(placeholder.subtree_cost).toBe(102.500002);
    expect(early.complete).toBe(true);

    await context.ledger.recordExecution({
      ...run(projectId, id('root'), null, 700_000n),
      status: 'failed',
      error_message: 'one child failed',
    });
    const tree = await context.ledger.getRunTree(id('leaf-b'));
    expect(tree.missing_parent).toBeNull();
    expect(tree.cycle).toBeNull();
    expect(tree.nodes.map((node) => [node.run_id, node.depth])).toEqual([
      [id('root'), 0],
      [id('mid'), 1],
      [id('leaf-a'), 2],
      [id('leaf-b'), 2],
    ]);
    const nodes = byRunId(tree);
    expect(present(nodes.get(id('root')))).toMatchObject({
      recorded: true,
      status: 'failed',
      cost: 0.7,
      subtree_cost: 103.200002,
      children: [id('mid')],
    });
    expect(present(nodes.get(id('mid')))).toMatchObject({ cost: 2.5, subtree_cost: 102.500002 });
    expect(present(nodes.get(id('mid'))).children).toEqual([id('leaf-a'), id('leaf-b')]);
    expect(tree.total_cost).toBe(103.200002);
    expect(tree.node_count).toBe(4);

    const ancestors = await context.ledger.getAncestors(id('leaf-a'));
    expect(ancestors.ancestors.map((node) => [node.run_id, node.depth])).toEqual([
      [id('mid'), 1],
      [id('root'), 2],
    ]);
    expect(ancestors.missing_parent).toBeNull();
    const below = await context.ledger.getDescendants(id('mid'));
    expect(below.nodes.map((node) => node.run_id)).toEqual([id('mid'), id('leaf-a'), id('leaf-b')]);
    expect(below.total_cost).toBe(102.500002);

    // Every run that names a parent has its link, written by the append transaction; the links
    // are as append-only as the entries.
    const links = await context.admin(
      `select run_id, parent_run_id, cost_total::text as cost from execution_ledger.run_links
       where project_id = $1 order by run_id`,
      [projectId],
    );
    expect(links).toEqual([
      { run_id: id('leaf-a'), parent_run_id: id('mid'), cost: '0.000001' },
      { run_id: id('leaf-b'), parent_run_id: id('mid'), cost: '100.000001' },
      { run_id: id('mid'), parent_run_id: id('root'), cost: '2.500000' },
    ]);
    await expect(
      context.admin('delete from execution_ledger.run_links where project_id = $1', [projectId]),
    ).rejects.toThrow(/append-only/);
  });

  it('sums trees beyond 2^53 micro-cents exactly', async () => {
    const projectId = context.project();
    const id = (name: string) => `${projectId}-${name}`;
    // 999,999,999,999.999999 cents is one run's largest cost; three of them pass 2^53 micro-cents.
    const big = 999_999_999_999_999_999n;
    await recordAll(context.ledger, [
      run(projectId, id('root'), null, big),
      run(projectId, id('a'), id('root'), big - 1n),
      run(projectId, id('b'), id('root'), 7n),
      run(projectId, id('c'), id('a'), big - 2n),
    ]);
    const tree = await context.ledger.getRunTree(id('c'));
    const nodes = byRunId(tree);
    expect(tree.total_cost).toBe(centsOf(big * 3n + 4n));
    expect(present(nodes.get(id('a'))).subtree_cost).toBe(centsOf(big * 2n - 3n));
    expect(present(nodes.get(id('b')))).toMatchObject({ cost: centsOf(7n), subtree_cost: centsOf(7n) });
    expect(present(nodes.get(id('c'))).cost).toBe(centsOf(big - 2n));
  });

  it('reports cycles and never loops on them', async () => {
    const projectId = context.project();
    const id = (name: string) => `${projectId}-${name}`;
    // a names b before b exists; b then names a: the links go round.
    await recordAll(context.ledger, [
      run(projectId, id('a'), id('b'), 1_000_000n),
      run(projectId, id('b'), id('a'), 2_000_000n),
      run(projectId, id('below'), id('a'), 3_000_000n),
      run(projectId, id('self'), id('self'), 4_000_000n),
    ]);
    const fromBelow = await context.ledger.getRunTree(id('below'));
    expect(fromBelow.cycle).toEqual([id('a'), id('b')]);
    expect(fromBelow.root_run_id).toBe(id('b'));
    expect(fromBelow.nodes.map((node) => node.run_id).sort()).toEqual([id('a'), id('b'), id('below')].sort());
    expect(fromBelow.total_cost).toBe(6);

    const fromA = await context.ledger.getDescendants(id('a'));
    expect(fromA.cycle).toEqual([id('b'), id('a')]);
    expect(fromA.node_count).toBe(3);
    const up = await context.ledger.getAncestors(id('below'));
    expect(up.cycle).toEqual([id('a'), id('b')]);
    expect(up.ancestors.map((node) => node.run_id)).toEqual([id('a'), id('b')]);

    const self = await context.ledger.getRunTree(id('self'));
    expect(self.cycle).toEqual([id('self')]);
    expect(self.node_count).toBe(1);
    expect(self.total_cost).toBe(4);
  });

  it('finds a three-run cycle exactly as the table stores it', async () => {
    const projectId = context.project();
    const id = (name: string) => `${projectId}-${name}`;
    await recordAll(context.ledger, [
      run(projectId, id('x'), id('z'), 1n),
      run(projectId, id('y'), id('x'), 1n),
      run(projectId, id('z'), id('y'), 1n),
    ]);
    // The guards forbid changing an entry, so the circle is written through the append path (each
    // run names a parent not recorded yet); reading the table as a superuser shows it is stored.
    const stored = await context.admin(
      'select run_id, parent_run_id from execution_ledger.executions where project_id = $1 order by run_id',
      [projectId],
    );
    expect(stored).toEqual([
      { run_id: id('x'), parent_run_id: id('z') },
      { run_id: id('y'), parent_run_id: id('x') },
      { run_id: id('z'), parent_run_id: id('y') },
    ]);
    const tree = await context.ledger.getRunTree(id('y'));
    expect(tree.cycle).toEqual([id('y'), id('x'), id('z')]);
    expect(tree.node_count).toBe(3);
    expect(tree.total_cost).toBe(0.000003);
  });

  it('stops at maxDepth and maxNodes and says so', async () => {
    const projectId = context.project();
    const id = (name: string | number) => `${projectId}-${name}`;
    const chain = Array.from({ length: 8 }, (_, index) =>
      run(projectId, id(index), index === 0 ? null : id(index - 1), 1_000_000n),
    );
    const star = Array.from({ length: 6 }, (_, index) => run(projectId, id(`s${index}`), id(0), 1_000_000n));
    await recordAll(context.ledger, [...chain, ...star]);

    const deep = await context.ledger.getRunTree(id(7), { maxDepth: 3 });
    expect(deep.depth_exceeded).toBe(true);
    expect(deep.complete).toBe(false);
    expect(deep.root_run_id).toBe(id(4));
    const whole = await context.ledger.getRunTree(id(7));
    expect(whole.complete).toBe(true);
    expect(whole.node_count).toBe(14);
    expect(whole.total_cost).toBe(14);

    const down = await context.ledger.getDescendants(id(0), { maxDepth: 2 });
    expect(down.depth_exceeded).toBe(true);
    expect(Math.max(...down.nodes.map((node) => node.depth))).toBe(2);
    const few = await context.ledger.getDescendants(id(0), { maxNodes: 4 });
    expect(few.nodes_exceeded).toBe(true);
    expect(few.node_count).toBe(4);
    const exact = await context.ledger.getDescendants(id(0), { maxNodes: 14 });
    expect(exact.nodes_exceeded).toBe(false);
    expect(exact.complete).toBe(true);

    const ancestors = await context.ledger.getAncestors(id(7), { maxDepth: 2 });
    expect(ancestors.ancestors.map((node) => node.run_id)).toEqual([id(6), id(5)]);
    expect(ancestors.depth_exceeded).toBe(true);
    const all = await context.ledger.getAncestors(id(7), { maxDepth: 7 });
    expect(all.depth_exceeded).toBe(false);
    expect(all.ancestors).toHaveLength(7);
  });

  it('links across projects only where the reader sees both', async () => {
    const top = context.project('top');
    const sub = context.project('sub');
    await recordAll(context.ledger, [
      run(top, `${top}-parent`, null, 5_000_000n),
      run(sub, `${sub}-child`, `${top}-parent`, 1_000_000n),
      run(sub, `${sub}-sibling`, `${top}-parent`, 1_000_000n),
    ]);
    const both = await context.ledger.getRunTree(`${sub}-child`);
    expect(both.root_run_id).toBe(`${top}-parent`);
    expect(both.total_cost).toBe(7);

    const subOnly = await context.ledger.getRunTree(`${sub}-child`, { projects: [sub] });
    expect(subOnly.missing_parent).toBe(`${top}-parent`);
    expect(present(subOnly.nodes[0]).recorded).toBe(false);
    expect(subOnly.total_cost).toBe(2);
    await expectLedgerError(
      context.ledger.getRunTree(`${top}-parent`, { projects: [sub] }),
      'NOT_FOUND',
      'run_id',
    );

    const reader = `reader-${sub}`;
    await context.ledger.addProjectMember(sub, reader);
    const scoped = await context.ledger.as({ userId: reader }).getRunTree(`${sub}-sibling`);
    expect(scoped.missing_parent).toBe(`${top}-parent`);
    expect(scoped.nodes.map((node) => node.run_id).sort()).toEqual(
      [`${top}-parent`, `${sub}-child`, `${sub}-sibling`].sort(),
    );
    await context.ledger.addProjectMember(top, reader);
    const full = await context.ledger.as({ userId: reader }).getRunTree(`${sub}-sibling`);
    expect(full.missing_parent).toBeNull();
    expect(full.total_cost).toBe(7);
  });

  it('refuses bad options before reading anything', async () => {
    const projectId = context.project();
    const recorded = await context.ledger.recordExecution(makeExecution(projectId));
    await expectLedgerError(context.ledger.getRunTree(''), 'VALIDATION_FAILED', 'runId');
    await expectLedgerError(
      context.ledger.getRunTree(recorded.run_id, { maxDepth: 0 }),
      'VALIDATION_FAILED',
      'maxDepth',
    );
    await expectLedgerError(
      context.ledger.getDescendants(recorded.run_id, { maxNodes: 100_001 }),
      'VALIDATION_FAILED',
      'maxNodes',
    );
    await expectLedgerError(
      context.ledger.getAncestors(recorded.run_id, { projects: 'p' as unknown as string[] }),
      'VALIDATION_FAILED',
      'projects',
    );
    await expectLedgerError(
      context.ledger.getRunTree(recorded.run_id, { projects: [''] }),
      'VALIDATION_FAILED',
      'projects[0]',
    );
    await expectLedgerError(context.ledger.getRunTree(`${projectId}-none`), 'NOT_FOUND', 'run_id');
  });

  it('answers random forests recorded in random order with the costs of a recomputation', async () => {
    const seed = Date.now() % 1_000_000;
    const random = seededRandom(seed);
    const size = 10_000;
    const projects = [context.project('forest-a'), context.project('forest-b')];
    const id = (index: number) => `${present(projects[0])}-n${index}`;
    const parents: (number | null)[] = [];
    const micros: bigint[] = [];
    const inputs: ExecutionInput[] = [];
    for (let index = 0; index < size; index += 1) {
      // About one run in fifty starts a tree; the others pick an earlier run, so trees grow big.
      const parent = index === 0 || random() < 0.02 ? null : Math.floor(random() * index);
      // A few name a parent that never gets recorded.
      const missing = parent === null && random() < 0.2;
      parents.push(parent);
      micros.push(BigInt(Math.floor(random() * 1_000_000_000)));
      inputs.push(
        run(
          present(projects[Math.floor(random() * 2)]),
          id(index),
          missing ? `${id(index)}-never` : parent === null ? null : id(parent),
          present(micros[index]),
        ),
      );
    }
    // Recorded in random order: children often before their parents.
    for (let index = inputs.length - 1; index > 0; index -= 1) {
      const other = Math.floor(random() * (index + 1));
      [inputs[index], inputs[other]] = [present(inputs[other]), present(inputs[index])];
    }
    await recordAll(context.ledger, inputs);

    const children = new Map<number, number[]>();
    parents.forEach((parent, index) => {
      if (parent !== null) children.set(parent, [...(children.get(parent) ?? []), index]);
    });
    const rootOf = (index: number): number => {
      let current = index;
      while (parents[current] !== null) current = present(parents[current]);
      return current;
    };
    // A parent always has a smaller index than its children: one pass from the end sums every subtree.
    const subtree = micros.slice();
    const depthOf = parents.map(() => 0);
    for (let index = size - 1; index > 0; index -= 1) {
      const parent = parents[index];
      if (parent !== null && parent !== undefined)
        subtree[parent] = present(subtree[parent]) + present(subtree[index]);
    }
    for (let index = 1; index < size; index += 1) {
      const parent = parents[index];
      if (parent !== null && parent !== undefined) depthOf[index] = present(depthOf[parent]) + 1;
    }
    const sizes = new Map<number, number>();
    for (let index = 0; index < size; index += 1)
      sizes.set(rootOf(index), (sizes.get(rootOf(index)) ?? 0) + 1);
    const largest = [...sizes.entries()].sort((a, b) => b[1] - a[1])[0];
    const picks = [present(largest)[0], ...Array.from({ length: 6 }, () => Math.floor(random() * size))];
    for (const pick of picks) {
      const root = rootOf(pick);
      const tree = await context.ledger.getRunTree(id(pick));
      const where = `seed ${seed}, run ${pick}`;
      expect(tree.complete, where).toBe(true);
      expect(tree.cycle, where).toBeNull();
      const recordedRoot = tree.missing_parent === null;
      expect(tree.root_run_id, where).toBe(recordedRoot ? id(root) : `${id(root)}-never`);
      expect(tree.node_count, where).toBe(present(sizes.get(root)) + (recordedRoot ? 0 : 1));
      expect(tree.total_cost, where).toBe(centsOf(present(subtree[root])));
      for (const node of tree.nodes) {
        if (!node.recorded) continue;
        const index = Number(node.run_id.slice(node.run_id.lastIndexOf('-n') + 2));
        expect(node.subtree_cost, `${where}, node ${index}`).toBe(centsOf(present(subtree[index])));
        expect(node.depth).toBe(present(depthOf[index]) + (recordedRoot ? 0 : 1));
        expect(node.cost).toBe(centsOf(present(micros[index])));
        expect(node.children.length).toBe((children.get(index) ?? []).length);
      }
    }
  }, 240_000);
});

describe('run links of runs recorded before migration 0019', () => {
  it('are backfilled by the migration, so their trees read as before', async () => {
    const ledger = createLedger({ database: new PGlite(), migrate: false });
    try {
      const database = await ledger.database();
      const migrations = await loadMigrations();
      await migrateDatabase(
        database,
        migrations.filter((migration) => migration.id < 19),
      );
      await recordAll(ledger, [
        run('old', 'old-child', 'old-root', 2_000_000n),
        run('old', 'old-root', null, 1_000_000n),
        run('old', 'old-grandchild', 'old-child', 3n),
      ]);
      await migrateDatabase(database, migrations);
      const links = await database.query(
        'select run_id, parent_run_id from execution_ledger.run_links order by run_id',
      );
      expect(links).toEqual([
        { run_id: 'old-child', parent_run_id: 'old-root' },
        { run_id: 'old-grandchild', parent_run_id: 'old-child' },
      ]);
      const tree = await ledger.getRunTree('old-grandchild');
      expect(tree.nodes.map((node) => [node.run_id, node.depth])).toEqual([
        ['old-root', 0],
        ['old-child', 1],
        ['old-grandchild', 2],
      ]);
      expect(tree.total_cost).toBe(3.000003);
    } finally {
      await ledger.close();
    }
  }, 120_000);
});
