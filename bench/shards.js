// Sharding benchmark: appends of createShardedLedger (straight to each project's shard from the
// placement it read once from the catalog) to 1, 2 and 3 shards beside the same appends to one
// server, in the same run on throwaway clusters of its own (catalog on port 5500, shards on
// 5501-5503; the single server is a database on the first shard's cluster, idle while the
// sharded runs go). Same machine: the figure is the sharded library's overhead and the WAL and
// lock parallelism of separate servers, not CPU scale-out. Every cluster is checkpointed before
// each configuration's run. Every chain is verified after.
//
//   npm run bench:shards                        # 2 rounds
//   npm run bench:shards -- --rounds 3 --records 8000 --projects 32
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createLedger, createShardedLedger } from 'execution-ledger';
import {
  checkpointClusters,
  createDatabase,
  createShardSet,
  destroyShardSet,
  migrateLedger,
  prepareCatalog,
  requireShardTools,
  shardedOptions,
  shardUrl,
} from '../fault/shard-set.js';
import { makeRow } from './ingest-row.js';
import { formatTable, machineFacts, percentile } from './report.js';

const CALLERS = 16;
const BATCH_ROWS = 100;
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    records: { type: 'string', default: '4000' },
    projects: { type: 'string', default: '32' },
    port: { type: 'string', default: '5500' },
  },
});
const ROUNDS = Number(values.rounds);
const RECORDS = Number(values.records);
const PROJECTS = Number(values.projects);
const progress = (line) => process.stderr.write(`${line}\n`);

/**
 * CPU time used so far on the whole machine and by this process, in ms (/proc/stat: every
 * state but idle and iowait). The configurations share two cores, so CPU per row says what a
 * configuration costs where its rate cannot; the busy share says whether the machine was the limit.
 */
function cpuNow() {
  const own = process.cpuUsage();
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks;
  return {
    node: (own.user + own.system) / 1000,
    busy: ((user + nice + system + irq + softirq + steal) * 1000) / CLOCK_TICKS,
    all: ((user + nice + system + idle + iowait + irq + softirq + steal) * 1000) / CLOCK_TICKS,
  };
}
const CLOCK_TICKS = 100;

/**
 * `records` rows from CALLERS concurrent loops, each call one row (batchRows 1) or a batch of one
 * project's rows; projects are picked round-robin from a fresh set, so every configuration appends
 * to the same number of projects.
 */
async function measure(ledger, records, batchRows) {
  const projects = Array.from({ length: PROJECTS }, () => `bench-${randomUUID().slice(0, 8)}`);
  const calls = Math.ceil(records / batchRows);
  let next = 0;
  const latencies = [];
  const cpuBefore = cpuNow();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      for (;;) {
        const index = next++;
        if (index >= calls) return;
        const project = projects[index % projects.length];
        const rows = Array.from({ length: batchRows }, (_, offset) =>
          makeRow(project, index * batchRows + offset),
        );
        const begin = performance.now();
        if (batchRows === 1) await ledger.recordExecution(rows[0]);
        else {
          for (const result of await ledger.recordExecutions(rows)) if (!result.ok) throw result.error;
        }
        latencies.push(performance.now() - begin);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = cpuNow();
  latencies.sort((a, b) => a - b);
  const rows = calls * batchRows;
  return {
    rate: rows / seconds,
    node_cpu_us_per_row: Math.round(((cpuAfter.node - cpuBefore.node) * 1000) / rows),
    machine_cpu_us_per_row: Math.round(((cpuAfter.busy - cpuBefore.busy) * 1000) / rows),
    busy: Number(((cpuAfter.busy - cpuBefore.busy) / (cpuAfter.all - cpuBefore.all)).toFixed(2)),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

requireShardTools();
const basePort = Number(values.port);
let set = { clusters: [] };
const opened = [];
let exitCode = 1;
const results = [];
const load = [];
try {
  set = await createShardSet({ prefix: 'ledger_shards_bench', basePort, shardCount: 3, progress });
  // The single server: a plain ledger database on the first shard's cluster.
  createDatabase(set.shards[0].port, 'single');
  await migrateLedger(set.shards[0].port, 'single');
  // One catalog per shard count, each routing to the first k shards.
  for (const count of [1, 2]) await prepareCatalog(set, `catalog${count}`, set.shards.slice(0, count));
  const configurations = [
    {
      name: 'one server',
      ledger: createLedger({
        database: shardUrl(set.shards[0], 'ledger_runtime', 'single'),
        migrate: false,
        poolSize: CALLERS,
      }),
    },
    ...[1, 2, 3].map((count) => ({
      name: `${count} shard${count > 1 ? 's' : ''}`,
      ledger: createShardedLedger({
        ...shardedOptions(set, {
          shards: set.shards.slice(0, count),
          catalog: count === 3 ? 'catalog' : `catalog${count}`,
        }),
        poolSize: CALLERS,
      }),
    })),
  ];
  for (const configuration of configurations) opened.push(configuration.ledger);
  // Warm every connection pool (the placements of the measured projects are read during the runs).
  for (const configuration of configurations) await measure(configuration.ledger, 400, 1);

  for (let round = 1; round <= ROUNDS; round += 1) {
    load.push(os.loadavg()[0]);
    for (const [workload, batchRows, records] of [
      ['single appends, 16 callers', 1, RECORDS],
      [`batches of ${BATCH_ROWS}, 16 callers`, BATCH_ROWS, RECORDS * 4],
    ]) {
      const measured = [];
      // Each round starts with another configuration, so none is always measured first (the
      // load of a shared machine drifts within a round); the table keeps the configurations' order.
      const offset = (round - 1) % configurations.length;
      for (const configuration of [...configurations.slice(offset), ...configurations.slice(0, offset)]) {
        // Each configuration starts from written-out clusters: it does not pay for the writes the
        // one before it left in shared buffers, whichever cluster that one appended to.
        checkpointClusters(set);
        const result = await measure(configuration.ledger, records, batchRows);
        measured.push({ configuration: configuration.name, ...result });
        progress(`round ${round}, ${workload}, ${configuration.name}: ${Math.round(result.rate)} rows/s`);
      }
      measured.sort(
        (a, b) =>
          configurations.findIndex((item) => item.name === a.configuration) -
          configurations.findIndex((item) => item.name === b.configuration),
      );
      const base = measured[0].rate;
      for (const item of measured) {
        results.push({
          round,
          workload,
          configuration: item.configuration,
          rows_per_s: Math.round(item.rate),
          vs_one_server: Number((item.rate / base).toFixed(2)),
          p50_ms: item.p50,
          p99_ms: item.p99,
          node_cpu_us_per_row: item.node_cpu_us_per_row,
          machine_cpu_us_per_row: item.machine_cpu_us_per_row,
          busy: item.busy,
        });
      }
    }
  }
  load.push(os.loadavg()[0]);

  // Every chain verifies: the single server's and every shard's (through the 3-shard catalog).
  const sharded = { projects: 0, entries: 0 };
  for (const configuration of configurations.slice(1)) {
    const report = await configuration.ledger.verifyAll();
    if (!report.ok)
      throw new Error(`${report.failures.length} chains fail verification (${configuration.name})`);
    sharded.projects += report.projects;
    sharded.entries += report.entries;
  }
  let singleOk = 0;
  const single = configurations[0].ledger;
  for (const project of await single.operations.listProjects()) {
    const report = await single.verifyLedger(project.project_id);
    if (!report.ok) throw new Error(`chain ${project.project_id} fails verification on the single server`);
    singleOk += 1;
  }
  console.log(formatTable(results));
  // The median ratio of each configuration and workload over the rounds, and its median CPU
  // time per row (this process and every PostgreSQL process).
  const medians = [];
  const median = (values) =>
    percentile(
      [...values].sort((a, b) => a - b),
      0.5,
    );
  for (const workload of new Set(results.map((row) => row.workload)))
    for (const configuration of configurations) {
      const rows = results.filter(
        (row) => row.workload === workload && row.configuration === configuration.name,
      );
      const ratios = rows.map((row) => row.vs_one_server).sort((a, b) => a - b);
      medians.push({
        workload,
        configuration: configuration.name,
        median_vs_one_server: percentile(ratios, 0.5),
        range: `${ratios[0]}–${ratios[ratios.length - 1]}`,
        node_cpu_us_per_row: median(rows.map((row) => row.node_cpu_us_per_row)),
        machine_cpu_us_per_row: median(rows.map((row) => row.machine_cpu_us_per_row)),
        busy: median(rows.map((row) => row.busy)),
      });
    }
  console.log(formatTable(medians));
  console.log(
    `load average (1 min) ${load.map((value) => value.toFixed(1)).join(' → ')}; chains verified: ` +
      `${sharded.projects} on the shards (${sharded.entries} entries), ${singleOk} on the single server`,
  );
  writeFileSync(
    new URL(`./results/shards-${Date.now()}.json`, import.meta.url),
    `${JSON.stringify({ machine: machineFacts(), load, records: RECORDS, projects: PROJECTS, results, medians }, null, 2)}\n`,
  );
  exitCode = 0;
} catch (error) {
  progress(`bench:shards failed: ${error.stack ?? error}`);
} finally {
  await Promise.allSettled(opened.map((ledger) => ledger.close()));
  destroyShardSet(set);
}
process.exit(exitCode);
