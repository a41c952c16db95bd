// A throwaway pg_auto_failover formation (Debian's postgresql-15-auto-failover, run as root):
// a monitor and two PostgreSQL 15 nodes, a primary and a synchronous standby, each kept by its
// own `pg_autoctl run` in a process group of its own so that a node can be killed whole (the
// keeper and its postmaster at once, as when a machine dies) and started again. Everything lives
// under one temporary folder and is removed by `destroy`.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const PG_BIN = '/usr/lib/postgresql/15/bin';
/**
 * The monitor decides a node is dead after `node_considered_unhealthy_timeout` and a few failed
 * health checks (defaults 20 s and 5 s apart), then gives the old primary `primary_demote_timeout`
 * (30 s) to stop by itself before it promotes the standby: about 40 s without appends per
 * failover. The suite checks every second, gives up on a node after 5 s and waits 10 s for the
 * demotion. With synchronous replication that is still safe for what was acknowledged: an old
 * primary that lives on cut off cannot commit without its standby (docs/scaling.md).
 */
const MONITOR_SETTINGS = {
  'pgautofailover.health_check_period': '1000',
  'pgautofailover.health_check_timeout': '1000',
  'pgautofailover.health_check_max_retries': '1',
  'pgautofailover.health_check_retry_delay': '500',
  'pgautofailover.node_considered_unhealthy_timeout': '5000',
  'pgautofailover.primary_demote_timeout': '10000',
};

export function requireAutoFailover() {
  try {
    execFileSync('sh', ['-c', 'command -v pg_autoctl'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'the failover suite needs pg_auto_failover: apt-get install postgresql-15-auto-failover (before any cluster starts)',
    );
  }
  if (process.getuid?.() !== 0)
    throw new Error('the failover suite runs pg_autoctl as postgres and must run as root');
}

function environment(root) {
  return {
    ...process.env,
    PATH: `${PG_BIN}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(root, 'config'),
    XDG_DATA_HOME: path.join(root, 'data'),
    XDG_RUNTIME_DIR: path.join(root, 'run'),
  };
}

/** Runs a command as the postgres user with the formation's environment. */
function asPostgres(root, command, args) {
  try {
    return execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], {
      encoding: 'utf8',
      env: environment(root),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed: ${error.stderr || error.message}`.trim(), {
      cause: error,
    });
  }
}

function psql(root, port, database, ...statements) {
  const args = ['-h', 'localhost', '-p', String(port), '-d', database, '-v', 'ON_ERROR_STOP=1', '-qAt'];
  for (const statement of statements) args.push('-c', statement);
  return asPostgres(root, 'psql', args);
}

/** Starts `pg_autoctl run` for a data folder, as the leader of a new process group. */
function startKeeper(formation, pgdata) {
  const log = path.join(formation.root, `${path.basename(pgdata)}.log`);
  const child = spawn(
    'sh',
    ['-c', `exec runuser -u postgres -- pg_autoctl run --pgdata "${pgdata}" >>"${log}" 2>&1`],
    { detached: true, stdio: 'ignore', env: environment(formation.root) },
  );
  child.unref();
  formation.keepers.set(pgdata, child.pid);
}

/** Kills a keeper's whole process group: pg_autoctl, its services and its PostgreSQL. */
function killKeeper(formation, pgdata) {
  const pid = formation.keepers.get(pgdata);
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (error) {
    if (error.code !== 'ESRCH') throw error;
  }
  formation.keepers.delete(pgdata);
}

export async function createFormation(root, basePort) {
  for (const folder of ['config', 'data', 'run']) mkdirSync(path.join(root, folder), { recursive: true });
  chownSync(root, uid('postgres'), gid('postgres'));
  for (const folder of ['config', 'data', 'run'])
    chownSync(path.join(root, folder), uid('postgres'), gid('postgres'));
  const formation = {
    root,
    keepers: new Map(),
    monitor: { pgdata: path.join(root, 'monitor'), port: basePort },
    nodes: [1, 2].map((n) => ({ name: `node${n}`, pgdata: path.join(root, `node${n}`), port: basePort + n })),
  };
  asPostgres(root, 'pg_autoctl', [
    'create',
    'monitor',
    '--pgdata',
    formation.monitor.pgdata,
    '--pgport',
    String(basePort),
    '--hostname',
    'localhost',
    '--auth',
    'trust',
    '--no-ssl',
  ]);
  startKeeper(formation, formation.monitor.pgdata);
  await waitFor(() => isReady(basePort), 30_000, 'the monitor to accept connections');
  psql(
    root,
    basePort,
    'pg_auto_failover',
    ...Object.entries(MONITOR_SETTINGS).map(([name, value]) => `alter system set ${name} = '${value}'`),
    'select pg_reload_conf()',
  );
  const monitorUri = `postgres://autoctl_node@localhost:${basePort}/pg_auto_failover?sslmode=disable`;
  for (const node of formation.nodes) {
    asPostgres(root, 'pg_autoctl', [
      'create',
      'postgres',
      '--pgdata',
      node.pgdata,
      '--pgport',
      String(node.port),
      '--hostname',
      'localhost',
      '--name',
      node.name,
      '--auth',
      'trust',
      '--no-ssl',
      '--monitor',
      monitorUri,
      '--pgctl',
      `${PG_BIN}/pg_ctl`,
    ]);
    startKeeper(formation, node.pgdata);
    // The standby is created from the primary, so the primary must be up first.
    await waitFor(
      () => states(formation).some((s) => s.nodename === node.name && s.current_group_state !== 'init'),
      60_000,
      `${node.name} to join`,
    );
  }
  await waitForSteadyState(formation);
  return formation;
}

/** A login role and database for the ledger, made on the primary (the standby replays them). */
export function createLedgerDatabase(formation, name) {
  const primary = primaryNode(formation);
  psql(
    formation.root,
    primary.port,
    'postgres',
    `create role ${name} login password '${name}' createrole`,
    `create database ${name} owner ${name}`,
  );
  const hosts = formation.nodes.map((node) => `localhost:${node.port}`).join(',');
  return `postgres://${name}:${name}@${hosts}/${name}?target_session_attrs=read-write`;
}

/** What the monitor says of each node. */
export function states(formation) {
  try {
    return JSON.parse(
      asPostgres(formation.root, 'pg_autoctl', [
        'show',
        'state',
        '--pgdata',
        formation.monitor.pgdata,
        '--json',
      ]),
    );
  } catch {
    return [];
  }
}

export function primaryNode(formation) {
  const primary = states(formation).find(
    (s) => s.assigned_group_state === 'primary' && s.current_group_state === 'primary',
  );
  if (primary === undefined) throw new Error('the formation has no primary now');
  return nodeNamed(formation, primary.nodename);
}

function nodeNamed(formation, name) {
  const node = formation.nodes.find((candidate) => candidate.name === name);
  if (node === undefined)
    throw new Error(`the monitor names a node ${name} that this formation did not make`);
  return node;
}

/**
 * A primary with its synchronous standby streaming: the state a kill should start from. A node
 * that rejoins after a kill has once taken over two minutes to be reported secondary again (the
 * monitor's state, not the data: nothing was lost in that run), so the wait allows five.
 */
export async function waitForSteadyState(formation, timeoutMs = 300_000) {
  await waitFor(
    () => {
      const list = states(formation);
      return (
        list.length === formation.nodes.length &&
        list.filter((s) => s.current_group_state === 'primary' && s.assigned_group_state === 'primary')
          .length === 1 &&
        list.filter((s) => s.current_group_state === 'secondary' && s.assigned_group_state === 'secondary')
          .length === 1
      );
    },
    timeoutMs,
    'a primary and a secondary',
  );
}

/**
 * The node dies as a machine does: kill -9 of its postmaster, then of its keeper (which would
 * otherwise restart PostgreSQL in place and no failover would happen).
 */
export function killNode(formation, node) {
  const pid = Number(readFileSync(path.join(node.pgdata, 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGKILL');
  killKeeper(formation, node.pgdata);
}

/** Waits until the monitor has promoted another node (`wait_primary`: primary without standby). */
export async function waitForPromotion(formation, dead, timeoutMs = 120_000) {
  let promoted;
  await waitFor(
    () => {
      promoted = states(formation).find(
        (s) => s.nodename !== dead.name && ['wait_primary', 'primary'].includes(s.current_group_state),
      );
      return promoted !== undefined;
    },
    timeoutMs,
    `a node other than ${dead.name} to be promoted`,
  );
  return nodeNamed(formation, promoted.nodename);
}

/** Starts a killed node's keeper again: it rewinds and rejoins as the standby. */
export function restartNode(formation, node) {
  startKeeper(formation, node.pgdata);
}

export function destroyFormation(formation) {
  for (const pgdata of [...formation.keepers.keys()]) killKeeper(formation, pgdata);
  rmSync(formation.root, { recursive: true, force: true });
}

function isReady(port) {
  try {
    execFileSync(`${PG_BIN}/pg_isready`, ['-q', '-h', 'localhost', '-p', String(port)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function uid(user) {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function gid(user) {
  return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}
