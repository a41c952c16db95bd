// The failover suite: 16 callers in two writer processes append through a multi-host URL
// (`target_session_attrs=read-write`) to a pg_auto_failover formation whose primary is killed
// (kill -9 of its postmaster and its keeper) again and again. After each kill the monitor
// promotes the synchronous standby, the writers' connections follow it and the appends they had
// in flight replay by run_id; the killed node is started again and rejoins as the standby
// (failback: the next kill hits the node that was promoted). At the end every acknowledged run
// must be stored with the acknowledged content, each chain without gap or fork, and verifyLedger
// must re-derive every hash (docs/reliability.md).
//
//   npm run fault:failover                 # 6 failovers
//   npm run fault:failover -- --short      # CI: 3 failovers
//   npm run fault:failover -- --failovers 10 --port 5480
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createLedger } from 'execution-ledger';
import { readAcknowledgements } from './acknowledgements.js';
import {
  createFormation,
  createLedgerDatabase,
  destroyFormation,
  killNode,
  primaryNode,
  requireAutoFailover,
  restartNode,
  waitForPromotion,
  waitForSteadyState,
} from './auto-failover-formation.js';
import { checkLedger, formatCounts, problemCount } from './crash-checks.js';
import { killWriter, startWriter } from './writer-process.js';

const WRITER_PROCESSES = 2;
const SINGLE_CALLERS = 6;
const BATCH_CALLERS = 2;
const PROJECTS = ['failover-0', 'failover-1', 'failover-2', 'failover-3'];
const WRITING_MS_MIN = 1_000;
const WRITING_MS_MAX = 3_000;
/** How long appends must go on after a promotion before the killed node is started again. */
const WRITING_ALONE_MS = 2_000;
/** The monitor's first port; the nodes take the next two. */
const PORT_DEFAULT = 5480;

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    failovers: { type: 'string' },
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

const failovers = count(values.failovers, values.short ? 3 : 6, 'failovers');
const basePort = count(values.port, PORT_DEFAULT, 'port');
const progress = (line) => process.stderr.write(`${line}\n`);

function ackFiles(root) {
  return Array.from({ length: WRITER_PROCESSES }, (_, index) =>
    path.join(root, `acknowledged-${index}.ndjson`),
  );
}

async function acknowledgedCount(root) {
  const lists = await Promise.all(ackFiles(root).map((file) => readAcknowledgements(file)));
  return lists.reduce((sum, list) => sum + list.length, 0);
}

/** Waits until the writers have acknowledged more runs than `before`: appends go on. */
async function waitForAppends(root, before, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await acknowledgedCount(root)) > before) return;
    await sleep(100);
  }
  throw new Error(`no append was acknowledged within ${timeoutMs} ms of the promotion`);
}

/** A writer that stopped on its own met an error other than the server being away: a finding. */
function requireWritersAlive(list) {
  for (const writer of list) {
    const how = writer.child.exitCode ?? writer.child.signalCode;
    if (how !== null)
      throw new Error(`writer ${writer.config.writer} stopped on its own (${how}); see its error above`);
  }
}

requireAutoFailover();
const started = Date.now();
const root = mkdtempSync(path.join(os.tmpdir(), 'ledger-failover-'));
// pg_autoctl runs as postgres and must reach its folders under this one.
chmodSync(root, 0o755);
const formationRoot = path.join(root, 'formation');
let formation;
const writers = [];
const stop = () => {
  for (const writer of writers) writer.child.kill('SIGKILL');
  if (formation !== undefined) destroyFormation(formation);
  rmSync(root, { recursive: true, force: true });
  process.exit(130);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

let exitCode = 1;
try {
  progress(`creating a monitor and two nodes on ports ${basePort}-${basePort + 2}`);
  formation = await createFormation(formationRoot, basePort);
  const url = createLedgerDatabase(formation, 'failover');
  const setup = createLedger({ database: url });
  await setup.ready();
  await setup.close();

  for (const [index, ackFile] of ackFiles(root).entries()) {
    writers.push(
      startWriter({
        database: url,
        ackFile,
        projects: PROJECTS,
        callers: SINGLE_CALLERS,
        batchCallers: BATCH_CALLERS,
        poolSize: SINGLE_CALLERS + BATCH_CALLERS,
        retry: true,
        writer: `f${index}`,
      }),
    );
  }
  await Promise.all(writers.map((writer) => writer.ready));

  const pauses = [];
  for (let round = 1; round <= failovers; round += 1) {
    await sleep(WRITING_MS_MIN + Math.random() * (WRITING_MS_MAX - WRITING_MS_MIN));
    requireWritersAlive(writers);
    const victim = primaryNode(formation);
    const before = await acknowledgedCount(root);
    const killedAt = Date.now();
    killNode(formation, victim);
    const promoted = await waitForPromotion(formation, victim);
    await waitForAppends(root, await acknowledgedCount(root));
    const pauseMs = Date.now() - killedAt;
    pauses.push(pauseMs);
    await sleep(WRITING_ALONE_MS);
    restartNode(formation, victim);
    await waitForSteadyState(formation);
    progress(
      `failover ${round}/${failovers}: ${victim.name} killed, ${promoted.name} promoted, appends resumed ` +
        `${(pauseMs / 1000).toFixed(1)} s after the kill; ${victim.name} back as standby; ` +
        `${(await acknowledgedCount(root)) - before} acknowledged this round`,
    );
  }
  requireWritersAlive(writers);
  for (const writer of writers) await killWriter(writer);

  const acknowledgements = (
    await Promise.all(ackFiles(root).map((file) => readAcknowledgements(file)))
  ).flat();
  const checker = createLedger({ database: url, poolSize: 2 });
  let result;
  try {
    result = await checkLedger(checker, PROJECTS, acknowledgements);
  } finally {
    await checker.close();
  }
  for (const problem of result.problems) progress(`  problem: ${problem}`);
  const worstPause = Math.max(...pauses);
  console.log(
    `${formatCounts(failovers, result.counts)}  (pg_auto_failover primary kill -9 with failback, ` +
      `16 callers, longest pause ${(worstPause / 1000).toFixed(1)} s, ${Math.round((Date.now() - started) / 1000)} s)`,
  );
  exitCode = problemCount(result.counts) > 0 ? 1 : 0;
} finally {
  for (const writer of writers) writer.child.kill('SIGKILL');
  if (formation !== undefined) destroyFormation(formation);
  rmSync(root, { recursive: true, force: true });
}
process.exitCode = exitCode;
