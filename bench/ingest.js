// Ingest benchmark: chained, validated appends beside plain INSERTs of the same rows into a
// table with the same columns and indexes but no chain, no validation, no hashing, measured in
// the same run on the same engine, so the ratio holds even when the shared machine drifts.
//
//   npm run bench:ingest                       # PostgreSQL (BENCH_DATABASE_URL) and PGlite
//   BENCH_ENGINES=pglite npm run bench:ingest  # one engine only
//   BENCH_USERS=5000 BENCH_STEP_COSTS=1 …      # every run another user's, typed steps with costs
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLedger } from 'execution-ledger';
import { makeRow } from './ingest-row.js';
import { PLAIN_TABLE_SQL, plainInsertMany, plainInsertOne } from './plain-baseline.js';
import { formatTable, percentile } from './report.js';

const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://ledger:ledger@localhost:5432/ledger_bench';
const engines = (process.env.BENCH_ENGINES ?? 'postgres,pglite').split(',');
const RECORDS = Number(process.env.BENCH_RECORDS ?? 4000);
const ROW_SHAPE = {
  users: Number(process.env.BENCH_USERS ?? 50),
  stepCosts: process.env.BENCH_STEP_COSTS === '1',
};
const BATCH_ROWS = 100;

const results = [];
for (const engine of engines) {
  const dataDir = engine === 'pglite' ? mkdtempSync(path.join(os.tmpdir(), 'ledger-bench-')) : undefined;
  const ledger = createLedger({ database: dataDir ?? serverUrl, poolSize: 20 });
  const database = await ledger.database();
  await database.query('drop schema if exists bench_plain cascade');
  await database.query('create schema bench_plain');
  for (const statement of PLAIN_TABLE_SQL) await database.query(statement);
  try {
    for (const callers of [1, 16]) {
      const plain = await measure(RECORDS, callers, (row) => plainInsertOne(database, row));
      const chained = await measure(RECORDS, callers, (row) => ledger.recordExecution(row));
      results.push(row(engine, `single appends, ${callers} caller${callers > 1 ? 's' : ''}`, plain, chained));
    }
    const plainBatch = await measure(RECORDS, 1, (rows) => plainInsertMany(database, rows), BATCH_ROWS);
    const chainedBatch = await measure(RECORDS, 1, (rows) => ledger.recordExecutions(rows), BATCH_ROWS);
    results.push(row(engine, `batches of ${BATCH_ROWS}, 1 caller`, plainBatch, chainedBatch));
    // What keeping every rollup level costs a batch: the same batches with the rollup triggers
    // off (runs' levels and steps' levels; the owner may switch them, this is a benchmark
    // database), measured right after.
    const ROLLUP_TRIGGERS = ['executions_rollup', 'executions_step_rollup'];
    for (const trigger of ROLLUP_TRIGGERS) {
      await database.query(`alter table execution_ledger.executions disable trigger ${trigger}`);
    }
    let bare;
    try {
      bare = await measure(RECORDS, 1, (rows) => ledger.recordExecutions(rows), BATCH_ROWS);
    } finally {
      for (const trigger of ROLLUP_TRIGGERS) {
        await database.query(`alter table execution_ledger.executions enable always trigger ${trigger}`);
      }
    }
    // Trigger on again: the upkeep compares the mean of the two runs around the one without it.
    const again = await measure(RECORDS, 1, (rows) => ledger.recordExecutions(rows), BATCH_ROWS);
    const upkeep = {
      ...row(engine, `batches of ${BATCH_ROWS}, rollup triggers off`, plainBatch, bare),
      rollup_upkeep: Number(((chainedBatch.p50 + again.p50) / 2 / bare.p50 - 1).toFixed(2)),
    };
    results.push(upkeep);
    const sample = await ledger.streamExecutions({ batchSize: 1 }).next();
    const verify = await ledger.verifyLedger(sample.value.project_id);
    if (!verify.ok) throw new Error(`chain broken after the benchmark: ${verify.reason}`);
  } finally {
    await database.query('drop schema if exists bench_plain cascade');
    await ledger.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(formatTable(results));
for (const result of results.filter((candidate) => candidate.rollup_upkeep !== undefined)) {
  console.log(
    `${result.engine}: keeping every rollup level adds ${Math.round(result.rollup_upkeep * 100)}% to a batch (p50)`,
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
  `${JSON.stringify({ machine, records: RECORDS, rows: ROW_SHAPE, results }, null, 2)}\n`,
);

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

/** Runs `records` rows through `work` from `callers` concurrent loops; latency per call. */
async function measure(records, callers, work, batchRows = 1) {
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
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rate: (calls * batchRows) / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}
