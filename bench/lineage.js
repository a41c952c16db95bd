// Lineage benchmark (not a test): records forests of runs in random order across two projects,
// then times getRunTree on the largest tree (walked level by level in the database, one indexed
// statement per level over run_links, one round trip per walk) beside a plain recursive query
// over the entries and the same levels sent one statement at a time from here.
//
//   npm run bench:lineage                                   # PostgreSQL at BENCH_DATABASE_URL
//   BENCH_DATABASE_URL=postgres://ledger:ledger@localhost:5432/db node bench/lineage.js
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createLedger } from 'execution-ledger';
import { formatTable, machineFacts, percentile } from './report.js';

const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://ledger:ledger@localhost:5432/ledger_bench';
const RUNS = Number(process.env.BENCH_LINEAGE_RUNS ?? 10_000);
const REPEATS = Number(process.env.BENCH_LINEAGE_REPEATS ?? 30);
const CHAIN = Number(process.env.BENCH_LINEAGE_CHAIN ?? 1_000);

function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parent index per run: `rootShare` of runs start a tree, the others pick any earlier run. */
function shape(size, rootShare, random) {
  return Array.from({ length: size }, (_, index) =>
    index === 0 || random() < rootShare ? null : Math.floor(random() * index),
  );
}

function chainShape(size) {
  return Array.from({ length: size }, (_, index) => (index === 0 ? null : index - 1));
}

async function record(ledger, name, parents, random) {
  const projects = [`bench-lineage-a-${randomUUID()}`, `bench-lineage-b-${randomUUID()}`];
  const id = (index) => `${projects[0]}-${name}-${index}`;
  const runs = parents.map((parent, index) => ({
    run_id: id(index),
    project_id: projects[Math.floor(random() * 2)],
    user_id: 'user-001',
    agent_id: 'agent',
    parent_run_id: parent === null ? null : id(parent),
    intent: 'lineage benchmark',
    input: {},
    cost: { total: Math.floor(random() * 1_000_000) / 1_000, breakdown: {} },
    execution_trace: { steps: [], duration_ms: 1 },
    status: 'completed',
  }));
  for (let index = runs.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [runs[index], runs[other]] = [runs[other], runs[index]];
  }
  for (let index = 0; index < runs.length; index += 1_000) {
    for (const result of await ledger.recordExecutions(runs.slice(index, index + 1_000)))
      if (!result.ok) throw result.error;
  }
  const sizes = new Map();
  const rootOf = (index) => {
    let current = index;
    while (parents[current] !== null) current = parents[current];
    return current;
  };
  for (let index = 0; index < parents.length; index += 1) {
    const root = rootOf(index);
    sizes.set(root, (sizes.get(root) ?? 0) + 1);
  }
  const [largest, nodes] = [...sizes.entries()].sort((a, b) => b[1] - a[1])[0];
  // The deepest run of the largest tree: the walk goes all the way up, then all the way down.
  let deepest = largest;
  let deepestDepth = -1;
  for (let index = 0; index < parents.length; index += 1) {
    if (rootOf(index) !== largest) continue;
    let depth = 0;
    for (let current = index; parents[current] !== null; current = parents[current]) depth += 1;
    if (depth > deepestDepth) [deepest, deepestDepth] = [index, depth];
  }
  return { root: id(largest), deepest: id(deepest), nodes, depth: deepestDepth };
}

const RECURSIVE = `with recursive tree as (
    select e.run_id, e.parent_run_id, e.project_id, e.status, e.cost_total, 0 as depth
    from execution_ledger.executions e where e.run_id = $1
  union all
    select e.run_id, e.parent_run_id, e.project_id, e.status, e.cost_total, tree.depth + 1
    from execution_ledger.executions e join tree on e.parent_run_id = tree.run_id
    where tree.depth < 10000
  )
  select run_id, parent_run_id, project_id, status, cost_total::text as cost, depth from tree`;

// The same walk as statements sent one level at a time over run_links (what a sharded deployment
// would run on each shard): the round trips the lineage_down function saves.
const LEVEL = `select l.run_id, l.parent_run_id, l.project_id, l.agent_id, l.user_id, l.status,
    l.cost_total::text as cost, l.created_ms
  from execution_ledger.run_links l where l.parent_run_id = any($1::text[])`;

async function levelByLevel(database, root) {
  let level = [root];
  let count = 1;
  while (level.length > 0) {
    const rows = await database.query(LEVEL, [level]);
    count += rows.length;
    level = rows.map((row) => row.run_id);
  }
  return count;
}

/** The 1-minute load average when a shape's timings end: the machine may be shared. */
function machineLoad() {
  return loadavg()[0].toFixed(1);
}

async function time(fn) {
  const samples = [];
  await fn();
  for (let repeat = 0; repeat < REPEATS; repeat += 1) {
    const started = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p95: percentile(samples, 0.95) };
}

const ledger = createLedger({ database: serverUrl, poolSize: 4 });
const database = await ledger.database();
const random = seededRandom(20261206);
const results = [];
try {
  const shapes = [
    ['forest', shape(RUNS, 0.02, random)],
    ['one tree', shape(RUNS, 0, random)],
    ['chain', chainShape(CHAIN)],
  ];
  for (const [name, parents] of shapes) {
    const started = Date.now();
    const tree = await record(ledger, name.replace(' ', '-'), parents, random);
    const recordedMs = Date.now() - started;
    const answer = await ledger.getRunTree(tree.deepest, { maxDepth: 10_000, maxNodes: 100_000 });
    if (answer.node_count !== tree.nodes || !answer.complete) throw new Error(`${name}: wrong tree`);
    const baselineRows = await database.query(RECURSIVE, [tree.root]);
    if (baselineRows.length !== tree.nodes) throw new Error(`${name}: the baseline read another tree`);
    if ((await levelByLevel(database, tree.root)) !== tree.nodes)
      throw new Error(`${name}: levels read another tree`);
    const fromRoot = await time(() =>
      ledger.getDescendants(tree.root, { maxDepth: 10_000, maxNodes: 100_000 }),
    );
    const fromDeepest = await time(() =>
      ledger.getRunTree(tree.deepest, { maxDepth: 10_000, maxNodes: 100_000 }),
    );
    const baseline = await time(() => database.query(RECURSIVE, [tree.root]));
    const levels = await time(() => levelByLevel(database, tree.root));
    results.push({
      shape: name,
      runs: parents.length,
      tree_runs: tree.nodes,
      depth: tree.depth,
      record_s: (recordedMs / 1000).toFixed(1),
      'descendants p50 ms': fromRoot.p50,
      'descendants p95 ms': fromRoot.p95,
      'tree from deepest p50 ms': fromDeepest.p50,
      'tree from deepest p95 ms': fromDeepest.p95,
      'recursive query p50 ms': baseline.p50,
      'recursive query p95 ms': baseline.p95,
      'levels from client p50 ms': levels.p50,
      'levels from client p95 ms': levels.p95,
      load: machineLoad(),
    });
  }
} finally {
  await ledger.close();
}
console.log(formatTable(results));
writeFileSync(
  new URL(`./results/lineage-${Date.now()}.json`, import.meta.url),
  `${JSON.stringify({ machine: machineFacts(), repeats: REPEATS, results }, null, 2)}\n`,
);
