// A throwaway PostgreSQL 15 cluster (Debian's postgresql-common tools, run as root) that the
// crash suite may crash at will, and always drops. It never touches any other cluster.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const VERSION = '15';
/** After a kill -9 the old backends hold shared memory until they notice: keep trying to start. */
const START_WAIT_MS_MAX = 60_000;

function run(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed: ${error.stderr || error.message}`.trim(), {
      cause: error,
    });
  }
}

export function requireClusterTools() {
  try {
    execFileSync('sh', ['-c', 'command -v pg_createcluster'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      "the server part needs PostgreSQL 15 with Debian's pg_createcluster, run as root " +
        '(apt-get install postgresql-15); or skip it with --server-crashes 0',
    );
  }
  if (process.getuid?.() !== 0) throw new Error('the server part creates a cluster and must run as root');
}

export function createCluster(name, port) {
  const cluster = { name, port, url: `postgres://crash:crash@localhost:${port}/crash` };
  try {
    // A cluster made but not started (its port taken, say) is dropped too.
    run('pg_createcluster', [VERSION, name, '-p', String(port), '--start']);
    createOwner(cluster);
  } catch (error) {
    dropCluster(cluster);
    throw error;
  }
  return cluster;
}

/** An owner role like the one the ledger's own tests use: it runs the migrations. */
function createOwner(cluster) {
  run('runuser', [
    '-u',
    'postgres',
    '--',
    'psql',
    '-p',
    String(cluster.port),
    '-v',
    'ON_ERROR_STOP=1',
    '-q',
    '-c',
    "create role crash login password 'crash' createrole",
    '-c',
    'create database crash owner crash',
  ]);
}

function dataDirectory(cluster) {
  const line = run('pg_lsclusters', ['--no-header', VERSION, cluster.name]).trim();
  return line.split(/\s+/)[5];
}

/** The postmaster's pid, from the first line of postmaster.pid. */
function postmasterPid(cluster) {
  const text = readFileSync(`${dataDirectory(cluster)}/postmaster.pid`, 'utf8');
  return Number(text.split('\n')[0]);
}

/** Crashes the server: `stop -m immediate` (no shutdown checkpoint) or kill -9 of the postmaster. */
export function crashCluster(cluster, how) {
  if (how === 'immediate') {
    run('pg_ctlcluster', [VERSION, cluster.name, 'stop', '-m', 'immediate']);
  } else {
    process.kill(postmasterPid(cluster), 'SIGKILL');
  }
}

function isReady(cluster) {
  try {
    execFileSync('pg_isready', ['-q', '-h', 'localhost', '-p', String(cluster.port)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts the cluster again (crash recovery runs now) and waits until it takes connections. */
export async function startCluster(cluster) {
  const deadline = Date.now() + START_WAIT_MS_MAX;
  let lastError = null;
  while (Date.now() < deadline) {
    try {
      run('pg_ctlcluster', [VERSION, cluster.name, 'start']);
    } catch (error) {
      lastError = error;
    }
    for (let wait = 0; wait < 20; wait += 1) {
      if (isReady(cluster)) return;
      await sleep(250);
    }
  }
  throw new Error(`cluster ${cluster.name} did not start again within ${START_WAIT_MS_MAX} ms: ${lastError}`);
}

/** Stops and removes the cluster with its data; safe to call twice. */
export function dropCluster(cluster) {
  const listed = run('pg_lsclusters', ['--no-header']).split('\n');
  if (!listed.some((line) => line.split(/\s+/)[1] === cluster.name)) return;
  run('pg_dropcluster', ['--stop', VERSION, cluster.name]);
}
