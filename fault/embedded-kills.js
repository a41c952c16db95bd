// Part 1: kill -9 loops on an embedded (PGlite) folder. A writer appends; the parent kills it at
// a random moment (sometimes while it is still opening the folder), reopens the folder at once
// (the lock of a dead owner is taken over) and checks everything acknowledged so far.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLedger } from 'execution-ledger';
import { readAcknowledgements } from './acknowledgements.js';
import { checkLedger, emptyCounts, problemCount } from './crash-checks.js';
import { killWriter, startWriter } from './writer-process.js';

/** Kills per set of projects: chains see many restarts, while each check stays small. */
const KILLS_PER_PROJECT_SET = 10;
const PROJECTS_PER_SET = 3;
/** Share of kills aimed at a writer still opening the folder (recovery after recovery). */
const EARLY_KILL_SHARE = 0.2;
const EARLY_KILL_MS_MAX = 1_500;
const WRITING_KILL_MS_MAX = 2_500;

function projectSet(kill) {
  const set = Math.floor(kill / KILLS_PER_PROJECT_SET);
  return Array.from({ length: PROJECTS_PER_SET }, (_, index) => `embedded-${set}-${index}`);
}

/** Waits a random moment into the writer's life, then kills it. */
async function killAtRandom(writer) {
  if (Math.random() < EARLY_KILL_SHARE) {
    await Promise.race([sleep(Math.random() * EARLY_KILL_MS_MAX), writer.exited]);
  } else {
    await Promise.race([writer.ready, writer.exited]);
    await sleep(Math.random() * WRITING_KILL_MS_MAX);
  }
  await killWriter(writer);
}

/**
 * Reopens the folder and checks it. A folder that no longer opens is the worst finding of all:
 * it is copied aside (the loop's own folder is removed at the end) and the run stops.
 */
async function checkFolder(folder, projects, ackFile, when) {
  const ledger = createLedger({ database: folder });
  try {
    await ledger.ready();
  } catch (error) {
    const kept = `${path.dirname(folder)}-kept`;
    cpSync(path.dirname(folder), kept, { recursive: true });
    throw new Error(`${when} the embedded folder no longer opens; it is kept in ${kept}: ${error.message}`, {
      cause: error,
    });
  }
  try {
    return await checkLedger(ledger, projects, await readAcknowledgements(ackFile));
  } finally {
    await ledger.close();
  }
}

/** Runs the loop; returns the final counts (with the worst seen on the way) and the kills done. */
export async function runEmbeddedKills({ kills, progress }) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ledger-fault-'));
  const folder = path.join(root, 'ledger');
  const ackFile = path.join(root, 'acknowledged.ndjson');
  const worst = emptyCounts();
  try {
    // The folder is created once before the loop: the loop is about reopening a ledger with
    // data in it, not about a process killed during its very first initialisation.
    const setup = createLedger({ database: folder });
    await setup.ready();
    await setup.close();
    const allProjects = new Set();
    for (let kill = 0; kill < kills; kill += 1) {
      const started = Date.now();
      const projects = projectSet(kill);
      for (const project of projects) allProjects.add(project);
      const writer = startWriter({
        database: folder,
        ackFile,
        projects,
        callers: 6,
        batchCallers: 2,
        writer: `e${kill}`,
      });
      await killAtRandom(writer);
      const { counts, problems } = await checkFolder(folder, projects, ackFile, `after kill ${kill + 1}`);
      for (const key of Object.keys(worst)) worst[key] = Math.max(worst[key], counts[key]);
      for (const problem of problems) progress(`  problem: ${problem}`);
      progress(
        `embedded kill ${kill + 1}/${kills}: ${counts.acknowledged} acknowledged in ${projects.length} ` +
          `projects checked, ${problemCount(counts)} problems, ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    const final = await checkFolder(folder, [...allProjects], ackFile, 'at the end');
    for (const problem of final.problems) progress(`  problem: ${problem}`);
    for (const key of ['lost', 'altered', 'gaps', 'forks'])
      final.counts[key] = Math.max(final.counts[key], worst[key]);
    return final.counts;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
