// Ingest benchmark: chained, validated appends, their runs folded into every rollup level, beside
// plain INSERTs of the same rows into a table with the same columns and indexes but no chain, no
// validation, no hashing, no rollups, measured in the same run on the same engine, so the ratio
// holds even when the shared machine drifts.
//
//   npm run bench:ingest                       # PostgreSQL (BENCH_DATABASE_URL) and PGlite
//   BENCH_ENGINES=pglite npm run bench:ingest  # one engine only
//   BENCH_USERS=5000 BENCH_STEP_COSTS=1 …      # every run another user's, typed steps with costs
//   BENCH_ROUNDS=3 npm run bench:ingest        # rounds per scenario (default 5; batches 3x)
//
// BENCH_DATABASE_URL names a database whose name contains "bench", owned by its user: its
// execution_ledger schema is dropped first, so the ledger starts as empty as the plain table.
//
// Each scenario runs in rounds, plain and chained back to back, the first of the two
// alternating from round to round; the row shown is the round with the median ratio, and every
// round's ratio is kept in bench/results/ingest.json. One pass of 4,000 rows is 40 batches: a
// few seconds in which this shared machine can drift by a third.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLedger } from 'execution-ledger';
import { makeRow } from './ingest-row.js';
import { PLAIN_TABLE_SQL, plainInsertMany, plainInsertOne } from './plain-baseline.js';
import { formatTable, percentile } from './report.js';
import { resetServerLedger } from './server-ledger.js';

const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://ledger:ledger@localhost:5432/ledger_bench';
const engines = (process.env.BENCH_ENGINES ?? 'postgres,pglite').split(',');
const RECORDS = Number(process.env.BENCH_RECORDS ?? 4000);
const ROW_SHAPE = {
  users: Number(process.env.BENCH_USERS ?? 50),
  stepCosts: process.env.BENCH_STEP_COSTS === '1',
};
const BATCH_ROWS = 100;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// A round of batches takes about a second, a round of single appends several: batches get more.
const BATCH_ROUNDS = 3 * ROUNDS;

const results = [];
for (const engine of engines) {
  const dataDir = engine === 'pglite' ? mkdtempSync(path.join(os.tmpdir(), 'ledger-bench-')) : undefined;
  const open = (options = {}) => createLedger({ database: dataDir ?? serverUrl, poolSize: 20, ...options });
  // Both sides start empty: the plain table is created below, the ledger's tables here (an
  // embedded ledger is a new folder). Runs kept from earlier benchmarks would make every index
  // the ledger writes larger than the plain table's.
  if (dataDir === undefined) await resetServerLedger(serverUrl);
  let ledger = open();
  const database = await ledger.database();
  await database.query('drop schema if exists bench_plain cascade');
  await database.query('create schema bench_plain');
  for (const statement of PLAIN_TABLE_SQL) await database.query(statement);
  try {
    // The ledger's rows count every run folded into the rollup levels: the background fold runs
    // beside the appends, and the clock stops only once the project's last runs are folded too.
    const foldAll = (project) => ledger.foldRollups(project);
    for (const callers of [1, 16]) {
      const { plain, chained, ratios } = await rounds(
        () => measure(RECORDS, callers, (row) => plainInsertOne(database, row)),
        () => measure(RECORDS, callers, (row) => ledger.recordExecution(row), 1, foldAll),
      );
      results.push({
        ...row(engine, `single appends, ${callers} caller${callers > 1 ? 's' : ''}`, plain, chained),
        round_ratios: ratios,
      });
    }
    const batches = await rounds(
      () => measure(RECORDS, 1, (rows) => plainInsertMany(database, rows), BATCH_ROWS),
      () => measure(RECORDS, 1, (rows) => ledger.recordExecutions(rows), BATCH_ROWS, foldAll),
      BATCH_ROUNDS,
    );
    const plainBatch = batches.plain;
    results.push({
      ...row(engine, `batches of ${BATCH_ROWS}, 1 caller`, plainBatch, batches.chained),
      round_ratios: batches.ratios,
    });
    const sample = await ledger.streamExecutions({ batchSize: 1 }).next();
    const verify = await ledger.verifyLedger(sample.value.project_id);
    if (!verify.ok) throw new Error(`chain broken after the benchmark: ${verify.reason}`);
    await ledger.close();
    // What keeping every rollup level costs: the same batches appended by a ledger that does not
    // fold in the background (one ledger opens an embedded folder at a time), then the time one
    // fold of all their runs takes, against the time appending them took.
    ledger = open({ rollupFoldDelayMs: null });
    const unfolded = ledger;
    // Its first call opens connections and checks the migrations: not part of what is measured.
    const warmUp = `bench-warm-${randomUUID()}`;
    await unfolded.recordExecutions(Array.from({ length: BATCH_ROWS }, (_, index) => makeRow(warmUp, index)));
    let foldMs = 0;
    const bare = await measure(
      RECORDS,
      1,
      (rows) => unfolded.recordExecutions(rows),
      BATCH_ROWS,
      async (project) => {
        const started = performance.now();
        const report = await unfolded.foldRollups(project);
        foldMs = performance.now() - started;
        if (report.entries !== RECORDS) throw new Error(`folded ${report.entries} runs, not ${RECORDS}`);
      },
      false,
    );
    results.push({
      ...row(engine, `batches of ${BATCH_ROWS}, no fold`, plainBatch, bare),
      rollup_upkeep: Number((foldMs / 1000 / bare.seconds).toFixed(2)),
      fold_ms: Math.round(foldMs),
    });
    const check = await ledger.verifyRollups(bare.project);
    if (!check.ok)
      throw new Error(`rollups disagree after the benchmark: ${JSON.stringify(check.mismatches[0])}`);
  } finally {
    await (await ledger.database()).query('drop schema if exists bench_plain cascade');
    await ledger.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(formatTable(results.map(({ round_ratios, ...shown }) => shown)));
for (const result of results.filter((candidate) => candidate.round_ratios !== undefined)) {
  const sorted = [...result.round_ratios].sort((a, b) => a - b);
  console.log(
    `${result.engine}, ${result.scenario}: median of ${sorted.length} rounds ${result.ratio} ` +
      `(rounds ${sorted[0]}–${sorted[sorted.length - 1]})`,
  );
}
for (const result of results.filter((candidate) => candidate.rollup_upkeep !== undefined)) {
  console.log(
    `${result.engine}: folding ${RECORDS} runs into every rollup level took ${result.fold_ms} ms, ` +
      `${Math.round(result.rollup_upkeep * 100)}% of the time appending them took`,
  );
}
const machine = {
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  node: process.version,
  date: new Date().toISOString(),
};
writeFileSync(
  new URL('./results/ingest.json', import.meta.url),
  `${JSON.stringify({ machine, records: RECORDS, rounds: ROUNDS, batch_rounds: BATCH_ROUNDS, rows: ROW_SHAPE, results }, null, 2)}\n`,
);

/**
 * Runs `plain` and `chained` `count` times, back to back, alternating which goes first; answers
 * the pair with the median ratio and every round's ratio.
 */
async function rounds(plain, chained, count = ROUNDS) {
  const pairs = [];
  for (let round = 0; round < count; round += 1) {
    if (round % 2 === 0) {
      const p = await plain();
      pairs.push({ plain: p, chained: await chained() });
    } else {
      const c = await chained();
      pairs.push({ plain: await plain(), chained: c });
    }
  }
  const ratio = (pair) => pair.chained.rate / pair.plain.rate;
  const ratios = pairs.map((pair) => Number(ratio(pair).toFixed(2)));
  const median = [...pairs].sort((a, b) => ratio(a) - ratio(b))[Math.floor(pairs.length / 2)];
  return { ...median, ratios };
}

function row(engine, scenario, plain, chained) {
  return {
    engine,
    scenario,
    plain_rows_per_s: Math.round(plain.rate),
    chained_rows_per_s: Math.round(chained.rate),
    ratio: Number((chained.rate / plain.rate).toFixed(2)),
    plain_p50_ms: plain.p50,
    plain_p99_ms: plain.p99,
    chained_p50_ms: chained.p50,
    chained_p99_ms: chained.p99,
  };
}

/**
 * Runs `records` rows through `work` from `callers` concurrent loops; latency per call. `finish`
 * runs after the last call, inside the timed span unless `finishTimed` is false.
 */
async function measure(records, callers, work, batchRows = 1, finish = async () => {}, finishTimed = true) {
  const project = `bench-${randomUUID()}`;
  const calls = Math.ceil(records / batchRows);
  let next = 0;
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      for (;;) {
        const index = next++;
        if (index >= calls) return;
        const rows = Array.from({ length: batchRows }, (_, offset) =>
          makeRow(project, index * batchRows + offset, ROW_SHAPE),
        );
        const begin = performance.now();
        await work(batchRows === 1 ? rows[0] : rows);
        latencies.push(performance.now() - begin);
      }
    }),
  );
  if (finishTimed) await finish(project);
  const seconds = (performance.now() - started) / 1000;
  if (!finishTimed) await finish(project);
  latencies.sort((a, b) => a - b);
  return {
    project,
    seconds,
    rate: (calls * batchRows) / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}
