// The process the crash suite kills: it opens the ledger and appends runs until it dies, from several async callers at
// once (so group commit batches them) and in explicit batches (recordExecutions), and writes an
// acknowledgement line only after the ledger said the run is stored.
//
//   node fault/crash-writer.js '{"database":"…","ackFile":"…","projects":["p"],"callers":6,"batchCallers":2,"writer":"w1"}'
import { setTimeout as sleep } from 'node:timers/promises';
import { createLedger, isLedgerError } from 'execution-ledger';
import { makeRun, openAcknowledgementLog } from './acknowledgements.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const BATCH_ROWS_MAX = 40;
/** Pause before retrying an append that failed because the server was down. */
const RETRY_PAUSE_MS = 200;

const log = await openAcknowledgementLog(config.ackFile);
const ledger = createLedger({ database: config.database, poolSize: config.poolSize ?? 10 });
await ledger.ready();

/**
 * Says "writing" once the first run is acknowledged: the first appends after an open are slow
 * (cold caches), and the parent's kill should land among appends, not only before them.
 */
let announced = false;
async function acknowledge(run) {
  await log.acknowledge(run);
  if (!announced) process.stdout.write('writing\n');
  announced = true;
}

function pickProject() {
  return config.projects[Math.floor(Math.random() * config.projects.length)];
}

/**
 * The server may be down or restarting: keep retrying the same run (same run_id, same content).
 * If the lost answer hid a commit, the retry comes back replayed and the run is stored once.
 */
async function appendOne(run) {
  for (;;) {
    try {
      return await ledger.recordExecution(run);
    } catch (error) {
      if (!config.retry || !isRetryable(error)) throw error;
      await sleep(RETRY_PAUSE_MS);
    }
  }
}

function isRetryable(error) {
  return isLedgerError(error, 'DATABASE_UNAVAILABLE');
}

async function singleCaller() {
  for (;;) {
    const run = makeRun(pickProject(), config.writer);
    await appendOne(run);
    await acknowledge(run);
  }
}

async function batchCaller() {
  for (;;) {
    let pending = Array.from({ length: 1 + Math.floor(Math.random() * BATCH_ROWS_MAX) }, () =>
      makeRun(pickProject(), config.writer),
    );
    while (pending.length > 0) {
      const results = await ledger.recordExecutions(pending);
      const failed = [];
      for (const result of results) {
        const run = pending[result.index];
        if (result.ok) await acknowledge(run);
        else if (config.retry && isRetryable(result.error)) failed.push(run);
        else throw result.error;
      }
      if (failed.length > 0) await sleep(RETRY_PAUSE_MS);
      pending = failed;
    }
  }
}

const callers = [
  ...Array.from({ length: config.callers }, singleCaller),
  ...Array.from({ length: config.batchCallers }, batchCaller),
];
// Any failure other than the server being down is a finding: say it and stop with a code the
// parent reports (it would otherwise look like one more kill).
await Promise.all(callers).catch((error) => {
  process.stderr.write(`crash-writer ${config.writer}: ${error.stack ?? error}\n`);
  process.exit(3);
});
