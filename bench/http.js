// Appends over HTTP (the `serve` process, loopback only) at 16 and 64 connections, beside the
// library's direct append rate with as many concurrent callers, on the same PostgreSQL server in
// the same run. Prints a table and writes JSON to bench/results/. Bounded: DURATION_S per phase.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createLedger } from 'execution-ledger';
import { seedExamples } from '../packages/server/dist/cli/seed-examples.js';

const [FIRST_EXAMPLE] = seedExamples();

const DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONCURRENCY = [16, 64];
const CLI = fileURLToPath(new URL('../packages/server/dist/cli/main.js', import.meta.url));
const ADMIN_KEY = `bench-${randomUUID()}`;

if (!DATABASE_URL?.startsWith('postgres')) {
  console.error(
    'bench:http needs a PostgreSQL server: set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to postgres://…',
  );
  process.exit(1);
}

/** A realistic run of about 1 KB: the specification's first example under a fresh run id. */
function makeRun(projectId) {
  return { ...FIRST_EXAMPLE, run_id: `bench-${randomUUID()}`, project_id: projectId };
}

/** `callers` concurrent loops of recordExecution for DURATION_S: records/s and latency p99. */
async function measureDirect(callers) {
  const ledger = createLedger({ database: DATABASE_URL, poolSize: 20 });
  await ledger.ready();
  const projectId = `bench-direct-${callers}-${randomUUID()}`;
  const latenciesMs = [];
  const endAt = performance.now() + DURATION_S * 1000;
  const startedAt = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < endAt) {
        const begin = performance.now();
        await ledger.recordExecution(makeRun(projectId));
        latenciesMs.push(performance.now() - begin);
      }
    }),
  );
  const elapsedS = (performance.now() - startedAt) / 1000;
  const report = await ledger.verifyLedger(projectId);
  await ledger.close();
  latenciesMs.sort((a, b) => a - b);
  return {
    records: latenciesMs.length,
    records_per_s: latenciesMs.length / elapsedS,
    p99_ms: latenciesMs[Math.floor(latenciesMs.length * 0.99)] ?? 0,
    chain_ok: report.ok,
  };
}

async function startServer() {
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--database',
      DATABASE_URL,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--log-level',
      'silent',
      '--rate-limit',
      '100000000',
    ],
    {
      env: { ...process.env, EXECUTION_LEDGER_ADMIN_KEY: ADMIN_KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return { url, child };
}

/** autocannon against POST /v1/executions, a new run per request. */
async function measureHttp(url, connections) {
  const projectId = `bench-http-${connections}-${randomUUID()}`;
  const result = await autocannon({
    url,
    connections,
    duration: DURATION_S,
    requests: [
      {
        method: 'POST',
        path: '/v1/executions',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: JSON.stringify(makeRun(projectId)) }),
      },
    ],
  });
  const verify = await fetch(`${url}/v1/projects/${projectId}/verify`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  }).then((response) => response.json());
  return {
    records: result['2xx'],
    records_per_s: result['2xx'] / (result.duration || DURATION_S),
    p99_ms: result.latency.p99,
    non_2xx: result.non2xx + result.errors + result.timeouts,
    // Requests still in flight when autocannon stops are appended but not counted as answered.
    entries_in_chain: verify.entries_checked,
    chain_ok: verify.ok === true && verify.entries_checked >= result['2xx'],
  };
}

const rows = [];
for (const concurrency of CONCURRENCY) {
  rows.push({ concurrency, direct: await measureDirect(concurrency) });
}
const server = await startServer();
try {
  for (const row of rows) row.http = await measureHttp(server.url, row.concurrency);
} finally {
  server.child.kill('SIGTERM');
  await new Promise((resolve) => server.child.once('exit', resolve));
}

const machine = { nproc: os.availableParallelism(), node: process.version, load_avg_1m: os.loadavg()[0] };
const fixed = (value, digits = 0) => value.toFixed(digits);
console.log(`\nHTTP appends vs direct library appends, PostgreSQL server, ${DURATION_S} s per cell`);
console.log(`machine: ${machine.nproc} cores, node ${machine.node}, load ${fixed(machine.load_avg_1m, 1)}\n`);
console.log(
  'concurrency | direct rec/s | direct p99 ms | HTTP rec/s | HTTP p99 ms | HTTP/direct | non-2xx | chains',
);
console.log(
  '----------- | ------------ | ------------- | ---------- | ----------- | ----------- | ------- | ------',
);
for (const { concurrency, direct, http } of rows) {
  const chains = direct.chain_ok && http.chain_ok ? 'ok' : 'BROKEN';
  console.log(
    `${String(concurrency).padStart(11)} | ${fixed(direct.records_per_s).padStart(12)} | ${fixed(direct.p99_ms, 1).padStart(13)} | ` +
      `${fixed(http.records_per_s).padStart(10)} | ${fixed(http.p99_ms, 1).padStart(11)} | ` +
      `${fixed(http.records_per_s / direct.records_per_s, 2).padStart(11)} | ${String(http.non_2xx).padStart(7)} | ${chains}`,
  );
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const file = new URL(
  `./results/http-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  import.meta.url,
);
writeFileSync(
  file,
  `${JSON.stringify({ benchmark: 'http', duration_s: DURATION_S, machine, rows }, null, 2)}\n`,
);
console.log(`\nwritten to ${fileURLToPath(file)}`);
