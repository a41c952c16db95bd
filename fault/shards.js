// The sharding suite: a catalog (PL/Proxy router) and three shards on throwaway clusters of its
// own (ports 5500-5503), 16 concurrent callers appending single runs and batches over many
// projects through the router, two projects moved to another shard while the appends go on, and
// then the checks: every project's entries are on the shard its placement names (and nowhere
// else but the copy a move left behind), every acknowledged run is stored with its content,
// every chain verifies, cross-shard statistics equal a recomputation from what was
// acknowledged, and a checkpoint signed over every shard's heads verifies. One summary line.
//
//   npm run fault:shards                 # 60 s of appends
//   npm run fault:shards -- --short      # CI: 15 s
//   npm run fault:shards -- --seconds 120 --port 5500 --projects 48
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import { createLedger, createShardedLedger } from 'execution-ledger';
import { generateSigningKey } from 'execution-ledger/verify';
import { contentHash, makeRun } from './acknowledgements.js';
import { checkLedger, problemCount } from './crash-checks.js';
import { createShardSet, destroyShardSet, requireShardTools, shardedOptions, shardUrl } from './shard-set.js';

const SINGLE_CALLERS = 12;
const BATCH_CALLERS = 4;
const BATCH_ROWS_MAX = 40;
const SHARDS = 3;
const PORT_DEFAULT = 5500;

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    projects: { type: 'string', default: '48' },
    port: { type: 'string', default: String(PORT_DEFAULT) },
  },
});

function count(text, fallback, name) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`--${name} must be a whole number ≥ 1, got ${text}`);
  return value;
}

const seconds = count(values.seconds, values.short ? 15 : 60, 'seconds');
const projectCount = count(values.projects, 48, 'projects');
const basePort = count(values.port, PORT_DEFAULT, 'port');
const execFileAsync = promisify(execFile);
const progress = (line) => process.stderr.write(`${line}\n`);
const PROJECTS = Array.from({ length: projectCount }, (_, index) => `shard-test-${index}`);

/** Every acknowledged run, as the caller sent it. */
const acknowledged = [];
let stopping = false;

const pick = () => PROJECTS[Math.floor(Math.random() * PROJECTS.length)];

async function singleCaller(ledger, writer) {
  while (!stopping) {
    const run = makeRun(pick(), writer);
    await ledger.recordExecution(run);
    acknowledged.push(run);
  }
}

async function batchCaller(ledger, writer) {
  while (!stopping) {
    const runs = Array.from({ length: 1 + Math.floor(Math.random() * BATCH_ROWS_MAX) }, () =>
      makeRun(pick(), writer),
    );
    const results = await ledger.recordExecutions(runs);
    for (const result of results) {
      if (!result.ok) throw result.error;
      acknowledged.push(runs[result.index]);
    }
  }
}

/** The statistics recomputed from the acknowledged runs, in whole micro-cents. */
function recompute(agentId) {
  const costs = acknowledged
    .filter((run) => run.agent_id === agentId)
    .map((run) => Math.round(run.cost.total * 1e6));
  const total = costs.reduce((sum, value) => sum + BigInt(value), 0n);
  return {
    count: costs.length,
    total: Number(total) / 1e6,
    min: costs.length === 0 ? 0 : Math.min(...costs) / 1e6,
    max: costs.length === 0 ? 0 : Math.max(...costs) / 1e6,
  };
}

function signingKeys() {
  const key = generateSigningKey('shard-suite');
  return { privateKey: key.privateKeyText, publicKey: key.publicKeyText };
}

const CLI = new URL('../packages/server/dist/cli/main.js', import.meta.url).pathname;

/** `execution-ledger shards … move <project> --to <shard> --json`, as the owners. */
async function moveWithCli(project, to) {
  const options = shardedOptions(set, { admin: true });
  const args = [CLI, '--json', 'shards', '--catalog', options.catalog];
  for (const [name, url] of Object.entries(options.shards)) args.push('--shard', `${name}=${url}`);
  args.push('move', project, '--to', to);
  const { stdout } = await execFileAsync(process.execPath, args, { encoding: 'utf8' });
  return JSON.parse(stdout);
}

requireShardTools();
const started = Date.now();
let set = { clusters: [] };
const stop = () => {
  destroyShardSet(set);
  process.exit(130);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

let exitCode = 1;
const opened = [];
try {
  set = await createShardSet({ prefix: 'ledger_shards', basePort, shardCount: SHARDS, progress });
  const router = createShardedLedger({ ...shardedOptions(set), poolSize: SINGLE_CALLERS + BATCH_CALLERS });
  const admin = createShardedLedger({ ...shardedOptions(set, { admin: true }), poolSize: 4 });
  opened.push(router, admin);
  await router.ready();
  await admin.ready();

  progress(
    `appending for ${seconds} s: ${SINGLE_CALLERS} single and ${BATCH_CALLERS} batch callers over ${PROJECTS.length} projects`,
  );
  const callers = [
    ...Array.from({ length: SINGLE_CALLERS }, (_, index) => singleCaller(router, `s${index}`)),
    ...Array.from({ length: BATCH_CALLERS }, (_, index) => batchCaller(router, `b${index}`)),
  ];
  const failed = Promise.all(callers).catch((error) => {
    stopping = true;
    throw error;
  });
  failed.catch(() => undefined);

  // Two moves under load, a third of the way in and two thirds of the way in.
  const moves = [];
  for (const [index, project] of [PROJECTS[0], PROJECTS[1]].entries()) {
    await sleep((seconds * 1000) / 3);
    if (stopping) break;
    const from = await admin.shardOf(project);
    const shards = await admin.shardList();
    const to = shards[(shards.findIndex((shard) => shard.name === from) + 1 + index) % shards.length].name;
    // The first through the library, the second through the CLI, as an operator would.
    const report = index === 0 ? await admin.moveProject(project, to) : await moveWithCli(project, to);
    progress(
      `moved ${project} from ${report.from} to ${report.to}: ${report.entries} entries, appends paused ${report.paused_ms} ms`,
    );
    moves.push(report);
  }
  await sleep(Math.max(0, started + seconds * 1000 - Date.now()));
  stopping = true;
  await failed;
  progress(`stopped: ${acknowledged.length} runs acknowledged`);

  // 1. Projects landed on their shard, and nowhere else but a copy a move left behind.
  const placement = new Map();
  for (const project of PROJECTS) placement.set(project, await admin.shardOf(project));
  const movedFrom = new Map(moves.map((move) => [move.project_id, move.from]));
  const perShard = new Map();
  let misplaced = 0;
  for (const shard of set.shards) {
    const direct = createLedger({ database: shardUrl(shard), migrate: false, poolSize: 2 });
    opened.push(direct);
    const projects = await direct.operations.listProjects();
    for (const project of projects) {
      if (placement.get(project.project_id) === shard.name) continue;
      if (movedFrom.get(project.project_id) === shard.name) continue;
      misplaced += 1;
      progress(
        `${project.project_id}: ${project.entries} entries on ${shard.name}, placed on ${placement.get(project.project_id)}`,
      );
    }
    perShard.set(shard.name, direct);
  }

  // 2. Every acknowledged run stored with its content; chains without gap or fork, verified.
  const totals = { acknowledged: 0, lost: 0, altered: 0, gaps: 0, forks: 0 };
  for (const shard of set.shards) {
    const mine = PROJECTS.filter((project) => placement.get(project) === shard.name);
    const { counts, problems } = await checkLedger(
      perShard.get(shard.name),
      mine,
      acknowledged.map((run) => ({ project_id: run.project_id, run_id: run.run_id, hash: contentHash(run) })),
    );
    for (const problem of problems.slice(0, 20)) progress(problem);
    for (const key of Object.keys(totals)) totals[key] += counts[key];
  }
  const verification = await router.verifyAll();

  // 3. Cross-shard statistics equal a recomputation from what was acknowledged.
  const statsProblems = [];
  for (const agentId of ['backend', 'database', 'devops']) {
    const merged = await router.getAgentCostStats(agentId);
    const wanted = recompute(agentId);
    for (const [field, key] of [
      ['count', 'count'],
      ['total_cost', 'total'],
      ['min_cost', 'min'],
      ['max_cost', 'max'],
    ]) {
      if (Math.abs(merged[field] - wanted[key]) > 1e-9)
        statsProblems.push(`${agentId} ${field}: merged ${merged[field]}, recomputed ${wanted[key]}`);
    }
  }
  const byPart = await router.getCostByPart();
  if (byPart.count !== acknowledged.length)
    statsProblems.push(`cost by part counts ${byPart.count} runs, ${acknowledged.length} were acknowledged`);
  const listed = await router.listProjects();
  const listedEntries = listed.reduce((sum, project) => sum + project.entries, 0);
  if (listedEntries !== acknowledged.length)
    statsProblems.push(
      `listProjects counts ${listedEntries} entries, ${acknowledged.length} were acknowledged`,
    );
  for (const problem of statsProblems) progress(problem);

  // 4. A checkpoint over every shard's heads, signed and verified.
  const keys = signingKeys();
  const { checkpoint } = await admin.createCheckpoint({ privateKey: keys.privateKey });
  const check = await router.verifyCheckpoint(keys.publicKey);
  for (const problem of check.problems) progress(`checkpoint: ${problem}`);

  const bad =
    misplaced +
    problemCount(totals) +
    (verification.ok ? 0 : verification.failures.length) +
    statsProblems.length +
    (check.ok ? 0 : 1);
  const pausedMax = Math.max(0, ...moves.map((move) => move.paused_ms));
  console.log(
    `shards ${set.shards.length}, projects ${listed.length}, acknowledged ${totals.acknowledged}, lost ${totals.lost}, ` +
      `altered ${totals.altered}, gaps ${totals.gaps}, forks ${totals.forks}, misplaced ${misplaced}, ` +
      `chains verified ${verification.projects - verification.failures.length}/${verification.projects}, ` +
      `stats ${statsProblems.length === 0 ? 'equal' : 'DIFFER'}, moves ${moves.length} (paused ≤ ${pausedMax} ms), ` +
      `checkpoint ${check.ok ? `ok (${checkpoint.tree_size} heads)` : 'FAILED'}, ${Math.round((Date.now() - started) / 1000)} s`,
  );
  exitCode = bad === 0 ? 0 : 1;
} catch (error) {
  stopping = true;
  progress(`sharding suite failed: ${error.stack ?? error}`);
} finally {
  await Promise.allSettled(opened.map((ledger) => ledger.close()));
  destroyShardSet(set);
}
process.exit(exitCode);
