// Part 2: crash loops of a throwaway PostgreSQL cluster under 16 concurrent writers (two
// processes of eight callers each, single appends and batches). Each round: the writers append,
// the server crashes (stop -m immediate and kill -9 of the postmaster, by turns), restarts and
// recovers while the writers retry the appends they had in flight, then the writers are killed
// and everything acknowledged is checked.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLedger } from 'execution-ledger';
import { readAcknowledgements } from './acknowledgements.js';
import { checkLedger, emptyCounts, problemCount } from './crash-checks.js';
import { crashCluster, createCluster, dropCluster, requireClusterTools, startCluster } from './pg-cluster.js';
import { killWriter, startWriter } from './writer-process.js';

const WRITER_PROCESSES = 2;
const SINGLE_CALLERS = 6;
const BATCH_CALLERS = 2;
const CRASHES_PER_PROJECT_SET = 5;
const PROJECTS_PER_SET = 4;
const WRITING_MS_MIN = 500;
const WRITING_MS_MAX = 2_500;
/** Time the writers get after the restart to retry what they had in flight. */
const RETRY_MS_MAX = 1_500;

function projectSet(crash) {
  const set = Math.floor(crash / CRASHES_PER_PROJECT_SET);
  return Array.from({ length: PROJECTS_PER_SET }, (_, index) => `server-${set}-${index}`);
}

function ackFiles(root) {
  return Array.from({ length: WRITER_PROCESSES }, (_, index) =>
    path.join(root, `acknowledged-${index}.ndjson`),
  );
}

async function readAllAcknowledgements(root) {
  const lists = await Promise.all(ackFiles(root).map((file) => readAcknowledgements(file)));
  return lists.flat();
}

async function checkServer(cluster, projects, root) {
  const ledger = createLedger({ database: cluster.url, poolSize: 2 });
  try {
    return await checkLedger(ledger, projects, await readAllAcknowledgements(root));
  } finally {
    await ledger.close();
  }
}

/** One round: write, crash, restart, let the writers retry, kill them. */
async function crashRound(cluster, root, crash, projects) {
  const writers = ackFiles(root).map((ackFile, index) =>
    startWriter({
      database: cluster.url,
      ackFile,
      projects,
      callers: SINGLE_CALLERS,
      batchCallers: BATCH_CALLERS,
      poolSize: SINGLE_CALLERS + BATCH_CALLERS,
      retry: true,
      writer: `s${crash}-${index}`,
    }),
  );
  try {
    await Promise.all(writers.map((writer) => writer.ready));
    await sleep(WRITING_MS_MIN + Math.random() * (WRITING_MS_MAX - WRITING_MS_MIN));
    const how = crash % 2 === 0 ? 'immediate' : 'kill -9';
    crashCluster(cluster, how);
    await startCluster(cluster);
    await sleep(Math.random() * RETRY_MS_MAX);
    return how;
  } finally {
    for (const writer of writers) await killWriter(writer);
  }
}

export async function runServerCrashes({ crashes, port, progress }) {
  requireClusterTools();
  const root = mkdtempSync(path.join(os.tmpdir(), 'ledger-fault-'));
  const cluster = createCluster(`faultcrash${process.pid}`, port);
  const stopOnSignal = () => {
    dropCluster(cluster);
    process.exit(130);
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const worst = emptyCounts();
  try {
    // Migrate once before the loop, so that every round starts from a ready schema.
    const setup = createLedger({ database: cluster.url });
    await setup.ready();
    await setup.close();
    const allProjects = new Set();
    for (let crash = 0; crash < crashes; crash += 1) {
      const started = Date.now();
      const projects = projectSet(crash);
      for (const project of projects) allProjects.add(project);
      const how = await crashRound(cluster, root, crash, projects);
      const { counts, problems } = await checkServer(cluster, projects, root);
      for (const key of Object.keys(worst)) worst[key] = Math.max(worst[key], counts[key]);
      for (const problem of problems) progress(`  problem: ${problem}`);
      progress(
        `server crash ${crash + 1}/${crashes} (${how}): ${counts.acknowledged} acknowledged in ` +
          `${projects.length} projects checked, ${problemCount(counts)} problems, ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    const final = await checkServer(cluster, [...allProjects], root);
    for (const problem of final.problems) progress(`  problem: ${problem}`);
    for (const key of ['lost', 'altered', 'gaps', 'forks'])
      final.counts[key] = Math.max(final.counts[key], worst[key]);
    return final.counts;
  } finally {
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
    dropCluster(cluster);
    rmSync(root, { recursive: true, force: true });
  }
}
