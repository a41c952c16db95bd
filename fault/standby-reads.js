// Reads from a real streaming standby (`serve --read-url`): a throwaway primary and a standby made
// by pg_basebackup (ports 5490 and 5491, dropped at the end), the service appending to the
// primary and reading statistics and lists from the standby. Shows that those answers come from
// the standby and state its lag, that a run just appended is read on the primary, and, with the
// standby's replay paused, that the stated lag grows while its statistics stay behind, then
// returns to 0 once replay resumes and the statistics catch up. Run as root (Debian's
// postgresql-common tools): npm run fault:standby-reads.
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createCluster, dropCluster, requireClusterTools } from './pg-cluster.js';

const VERSION = '15';
const PRIMARY = { name: 'el_reads_primary', port: 5490 };
const STANDBY = { name: 'el_reads_standby', port: 5491 };
const CLI = fileURLToPath(new URL('../packages/server/dist/cli/main.js', import.meta.url));
const ADMIN_KEY = `el_admin_${randomUUID().replaceAll('-', '')}`;
const RUNS = 20;

function run(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed: ${error.stderr || error.message}`.trim(), {
      cause: error,
    });
  }
}

function psql(port, sql) {
  return run('runuser', ['-u', 'postgres', '--', 'psql', '-p', String(port), '-Atq', '-c', sql]).trim();
}

function dataDirectory(name) {
  return run('pg_lsclusters', ['--no-header', VERSION, name]).trim().split(/\s+/)[5];
}

/** A second cluster, its data replaced by a base backup of the primary that follows it (-R). */
async function createStandby() {
  run('pg_createcluster', [VERSION, STANDBY.name, '-p', String(STANDBY.port)]);
  const directory = dataDirectory(STANDBY.name);
  rmSync(directory, { recursive: true, force: true });
  run('runuser', [
    '-u',
    'postgres',
    '--',
    'pg_basebackup',
    '-p',
    String(PRIMARY.port),
    '-D',
    directory,
    '-R',
    '-X',
    'stream',
    '-c',
    'fast',
  ]);
  run('pg_ctlcluster', [VERSION, STANDBY.name, 'start']);
  for (let attempt = 0; attempt < 120; attempt += 1) {
    try {
      if (psql(STANDBY.port, 'select pg_is_in_recovery()') === 't') return;
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  throw new Error('the standby did not come up in recovery');
}

async function startServe(primaryUrl, standbyUrl) {
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--database',
      primaryUrl,
      'serve',
      '--port',
      '0',
      '--log-level',
      'silent',
      '--allow-privileged-role',
      '--read-url',
      standbyUrl,
    ],
    { env: { ...process.env, EXECUTION_LEDGER_ADMIN_KEY: ADMIN_KEY }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match && output.includes('Reads that may lag')) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
  });
  return { child, url, output: () => output };
}

async function call(url, path, init = {}) {
  const response = await fetch(`${url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', ...init.headers },
  });
  const body = await response.text();
  return { status: response.status, headers: response.headers, body: body === '' ? null : JSON.parse(body) };
}

function execution(project, index) {
  return {
    run_id: `standby-${project}-${index}`,
    project_id: project,
    user_id: 'u-1',
    agent_id: 'reader-agent',
    intent: `run ${index}`,
    input: {},
    cost: 1,
    execution_trace: { steps: [{ action: 'think', duration_ms: 1 }], duration_ms: 1 },
    status: 'completed',
  };
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function statsUntil(url, project, total, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await call(url, `/v1/projects/${project}/stats`);
    if (stats.status === 200 && stats.body.total_executions === total) return stats;
    if (Date.now() > deadline) {
      throw new Error(
        `the standby's statistics did not reach ${total} runs in ${timeoutMs} ms: ${JSON.stringify(stats.body)}`,
      );
    }
    await sleep(100);
  }
}

requireClusterTools();
let serve;
const primary = { ...PRIMARY, url: `postgres://crash:crash@localhost:${PRIMARY.port}/crash` };
try {
  dropCluster(STANDBY);
  dropCluster(PRIMARY);
  createCluster(PRIMARY.name, PRIMARY.port);
  await createStandby();
  const standbyUrl = `postgres://crash:crash@localhost:${STANDBY.port}/crash`;
  run(process.execPath, [CLI, '--database', primary.url, 'migrate']);
  serve = await startServe(primary.url, standbyUrl);
  console.log(
    serve
      .output()
      .trim()
      .split('\n')
      .find((line) => line.startsWith('Reads that may lag')),
  );
  const project = `standby-${randomUUID()}`;

  for (let index = 0; index < RUNS; index += 1) {
    const appended = await call(serve.url, '/v1/executions', {
      method: 'POST',
      body: JSON.stringify(execution(project, index)),
    });
    check(appended.status === 201, `append ${index} answered ${appended.status}`);
  }
  const caughtUp = await statsUntil(serve.url, project, RUNS, 30_000);
  check(caughtUp.headers.get('x-read-source') === 'standby', 'statistics are read on the standby');
  console.log(
    `caught up: ${RUNS} runs read on the standby, x-read-lag-ms ${caughtUp.headers.get('x-read-lag-ms')}`,
  );

  // Replay paused: the standby receives WAL but applies none of it.
  psql(STANDBY.port, 'select pg_wal_replay_pause()');
  const pausedAt = Date.now();
  for (let index = RUNS; index < 2 * RUNS; index += 1) {
    const appended = await call(serve.url, '/v1/executions', {
      method: 'POST',
      body: JSON.stringify(execution(project, index)),
    });
    check(appended.status === 201, `append ${index} answered ${appended.status}`);
  }
  // Read-your-writes: a run just appended is read on the primary.
  const justAppended = await call(serve.url, `/v1/executions/standby-${project}-${2 * RUNS - 1}`);
  check(justAppended.status === 200, 'a run just appended is found (read on the primary)');
  await sleep(1_500);
  const behind = await call(serve.url, `/v1/projects/${project}/stats`);
  const lagMs = Number(behind.headers.get('x-read-lag-ms'));
  check(behind.body.total_executions === RUNS, `paused standby still answers ${RUNS} runs`);
  check(lagMs >= 1_000, `the stated lag (${lagMs} ms) shows the paused replay`);
  const metrics = await (await fetch(`${serve.url}/metrics`)).text();
  const gauge = /execution_ledger_read_lag_seconds\{source="standby"\} ([0-9.e+-]+)/.exec(metrics);
  check(gauge !== null && Number(gauge[1]) >= 1, `/metrics states the lag (${gauge?.[1]})`);
  console.log(
    `replay paused ${Date.now() - pausedAt} ms: standby answers ${behind.body.total_executions} of ${2 * RUNS} runs, ` +
      `x-read-lag-ms ${lagMs}, /metrics ${gauge[1]} s`,
  );

  psql(STANDBY.port, 'select pg_wal_replay_resume()');
  const resumedAt = Date.now();
  const after = await statsUntil(serve.url, project, 2 * RUNS, 30_000);
  // Once it has replayed all it received, the standby's lag is 0 (measured at most once a second).
  await sleep(1_100);
  const settled = await call(serve.url, `/v1/projects/${project}/stats`);
  check(Number(settled.headers.get('x-read-lag-ms')) === 0, 'the lag is 0 once replay caught up');
  console.log(
    `replay resumed: ${after.body.total_executions} runs on the standby after ${Date.now() - resumedAt} ms, ` +
      `x-read-lag-ms ${settled.headers.get('x-read-lag-ms')}`,
  );
  console.log('standby reads: ok');
} finally {
  if (serve !== undefined) {
    serve.child.kill('SIGTERM');
    await new Promise((resolve) => serve.child.once('exit', resolve));
  }
  dropCluster(STANDBY);
  dropCluster(PRIMARY);
}
