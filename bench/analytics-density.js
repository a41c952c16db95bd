// Analytics at real density (not a test): runs spread over months from thousands of users,
// loaded straight into a throwaway ledger (bench/density-load.js), rollups rebuilt, then every
// statistic measured beside the plain SQL aggregate over the same rows in the same run. Writes
// bench/RESULTS.md's section and bench/results/analytics-density-*.json.
//
//   npm run bench:analytics                                  # 1M runs / 90 days on PostgreSQL, 100k on PGlite
//   BENCH_ENGINES=postgres BENCH_RUNS=10000000 BENCH_DAYS=365 npm run bench:analytics
//   BENCH_REUSE=1 npm run bench:analytics                    # keep the server's runs from the last time
//   BENCH_REUSE=1 BENCH_REBUILD=1 npm run bench:analytics    # keep the runs, migrate, rebuild the rollups
//   BENCH_DENSITY_ROUNDS=3 BENCH_VERIFY_ROLLUPS=0 …           # fewer plain rounds, no verifyRollups (10M)
//
// PostgreSQL needs BENCH_DATABASE_URL (the owner of a database whose name contains "bench": its
// execution_ledger schema is dropped and recreated) and BENCH_ADMIN_DATABASE_URL (a superuser on
// the same database, which loads the runs around the append path).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLedger } from 'execution-ledger';
import pg from 'pg';
import { loadDenseRuns } from './density-load.js';
import { measureDensity, recordRowsRead } from './density-measures.js';
import { formatTable, machineFacts } from './report.js';
import { writeResultsSection } from './results-section.js';
import { resetServerLedger } from './server-ledger.js';

const serverUrl =
  process.env.BENCH_DATABASE_URL ?? 'postgres://ledger:ledger@localhost:5432/ledger_bench_density';
const adminUrl =
  process.env.BENCH_ADMIN_DATABASE_URL ??
  'postgres://ledger_admin:ledger_admin@localhost:5432/ledger_bench_density';
const engines = (process.env.BENCH_ENGINES ?? 'postgres,pglite').split(',');
const DAYS = Number(process.env.BENCH_DAYS ?? 90);
const RUNS = {
  postgres: Number(process.env.BENCH_RUNS ?? 1_000_000),
  pglite: Number(process.env.BENCH_PGLITE_RUNS ?? 100_000),
};
const PROJECTS = 200;
// The data ends here; "now" for the last-30-days measures is this instant.
const END_MS = Date.parse('2026-12-01T00:00:00Z');

const results = [];
const notes = [];
const report = {
  record(engine, measure, result, detail, goal, met) {
    results.push({ engine, measure, result, detail, goal, met: met === null ? '' : met ? 'yes' : 'NO' });
    process.stderr.write(`${engine}: ${measure}: ${result} ${detail}\n`);
  },
  note(text) {
    notes.push(text);
    process.stderr.write(`${text}\n`);
  },
};

for (const engine of engines) {
  const dataDir = engine === 'pglite' ? mkdtempSync(path.join(os.tmpdir(), 'ledger-density-')) : undefined;
  try {
    await benchEngine(engine, dataDir);
  } finally {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}
console.log(formatTable(results));
const machine = machineFacts();
writeFileSync(
  new URL(`./results/analytics-density-${Date.now()}.json`, import.meta.url),
  `${JSON.stringify({ machine, runs: RUNS, days: DAYS, notes, results }, null, 2)}\n`,
);
writeResultsSection({
  marker: 'bench:analytics-density',
  title: 'Analytics at real density (`npm run bench:analytics`)',
  intro: `Measured on ${machine.date.slice(0, 10)}: ${machine.cpus} × ${machine.cpu}, ${machine.memory_gb} GB, Node ${machine.node}. ${engines.map((engine) => `${engine}: ${RUNS[engine].toLocaleString('en')} runs over ${DAYS} days`).join('; ')}; ${PROJECTS} projects with Zipf sizes, 40 agents, 5,000 users, 20 tools, 8 models (steps with exact costs). "plain" is the same aggregate in plain SQL over the entries, same database, same run.`,
  results,
  notes,
});

async function benchEngine(engine, dataDir) {
  const total = RUNS[engine];
  let adminPool;
  if (engine === 'postgres') {
    adminPool = new pg.Pool({ connectionString: adminUrl, max: 2 });
    if (!(process.env.BENCH_REUSE === '1' && (await countRuns(adminPool)) === total)) {
      await resetServerLedger(serverUrl);
      await load(engine, createLedger({ database: serverUrl }), (sql, params) =>
        adminPool.query(sql, params),
      );
    } else if (process.env.BENCH_REBUILD === '1') {
      // The runs stay; a newer schema's migrations run and every rollup level is filled again.
      await rebuild(engine, createLedger({ database: serverUrl }));
    }
  }
  const ledger = createLedger({ database: dataDir ?? serverUrl, poolSize: 4 });
  const db = await ledger.database();
  if (engine === 'pglite') await load(engine, ledger, (sql, params) => db.query(sql, params));
  const admin = adminPool
    ? (sql, params) => adminPool.query(sql, params).then((r) => r.rows)
    : (sql, params) => db.query(sql, params);
  try {
    const cases = await measureDensity(report, engine, { ledger, db, admin, endMs: END_MS });
    await ledger.close();
    if (engine === 'postgres') await recordRowsRead(report, engine, admin, serverUrl, cases);
  } finally {
    await ledger.close();
    await adminPool?.end();
  }
}

async function load(engine, ledger, admin) {
  await ledger.database(); // migrates
  const loaded = await loadDenseRuns(admin, {
    total: RUNS[engine],
    projects: PROJECTS,
    days: DAYS,
    endMs: END_MS,
    progress: (rows, seconds) =>
      process.stderr.write(`  ${engine}: ${rows} runs in ${seconds.toFixed(0)} s\n`),
  });
  report.note(
    `${engine}: loaded ${RUNS[engine].toLocaleString('en')} runs in ${loaded.seconds.toFixed(0)} s (hashes computed, no rollup kept); largest project ${loaded.sizes[0].toLocaleString('en')} runs`,
  );
  const db = await ledger.database();
  const started = performance.now();
  await db.query('vacuum analyze execution_ledger.executions');
  report.note(
    `${engine}: vacuum analyze of the entries took ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  await rebuild(engine, ledger);
}

/** Migrates, rebuilds every rollup level of every project, and vacuum-analyzes every rollup table. */
async function rebuild(engine, ledger) {
  const db = await ledger.database(); // migrates
  const started = performance.now();
  const rebuilt = await ledger.rebuildRollups(undefined, {
    onProject: (done, total) => {
      if (done % 20 === 0 || done === total) {
        process.stderr.write(
          `${engine}: rollups rebuilt for ${done} of ${total} projects, ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
        );
      }
    },
  });
  const levels = Object.entries(rebuilt.levels).map(
    ([level, groups]) => `${level} ${groups.toLocaleString('en')}`,
  );
  report.note(
    `${engine}: rebuildRollups of ${rebuilt.projects} projects took ${((performance.now() - started) / 1000).toFixed(0)} s; rows per level: ${levels.join(', ')}; step rollup groups ${rebuilt.step_groups.toLocaleString('en')}`,
  );
  const tables = await db.query(
    `select c.relname from pg_class c
     where c.relnamespace = 'execution_ledger'::regnamespace and c.relkind = 'r'
       and (c.relname like 'execution_rollups%' or c.relname like 'step_rollups%')
     order by 1`,
  );
  for (const { relname } of tables) await db.query(`vacuum analyze execution_ledger.${relname}`);
  report.note(`${engine}: vacuum analyze of ${tables.map((table) => table.relname).join(', ')}`);
  if (engine === 'postgres') await ledger.close();
}

async function countRuns(pool) {
  try {
    const { rows } = await pool.query('select count(*)::int as runs from execution_ledger.executions');
    return rows[0].runs;
  } catch {
    return -1;
  }
}
