// A throwaway sharded set (Debian's postgresql-common and postgresql-15-plproxy, run as root):
// one cluster for the catalog (PL/Proxy router, placement, sharded checkpoints) and one per
// shard, each shard an unchanged ledger migrated with the library's own migrations. Every
// cluster made here is dropped by `destroyShardSet`, also after a failure half way.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createLedger, migrateShardCatalog } from 'execution-ledger';

const VERSION = '15';
const PLPROXY_CONTROL = '/usr/share/postgresql/15/extension/plproxy.control';

function run(command, args, input) {
  try {
    return execFileSync(command, args, {
      encoding: 'utf8',
      input,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed: ${error.stderr || error.message}`.trim(), {
      cause: error,
    });
  }
}

export function requireShardTools() {
  try {
    execFileSync('sh', ['-c', 'command -v pg_createcluster'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      "sharding needs PostgreSQL 15 with Debian's pg_createcluster: apt-get install postgresql-15",
    );
  }
  if (!existsSync(PLPROXY_CONTROL))
    throw new Error(
      'sharding needs PL/Proxy: apt-get install postgresql-15-plproxy (before any cluster starts)',
    );
  if (process.getuid?.() !== 0) throw new Error('the sharded set creates clusters and must run as root');
}

function psql(port, database, sql) {
  return run(
    'runuser',
    ['-u', 'postgres', '--', 'psql', '-p', String(port), '-d', database, '-v', 'ON_ERROR_STOP=1', '-qAt'],
    sql,
  );
}

/** Creates and starts a cluster with the ledger's owner and runtime roles and a database. */
function createCluster(name, port, database) {
  const cluster = { name, port };
  try {
    run('pg_createcluster', [
      VERSION,
      name,
      '-p',
      String(port),
      '--start',
      '--',
      '--auth-host=scram-sha-256',
    ]);
    psql(
      port,
      'postgres',
      `alter role postgres password 'postgres';
       create role ledger login password 'ledger' createrole;
       create role ledger_runtime login password 'ledger_runtime';
       create database ${database} owner ledger;`,
    );
  } catch (error) {
    dropCluster(cluster);
    throw error;
  }
  return cluster;
}

function dropCluster(cluster) {
  const listed = run('pg_lsclusters', ['--no-header']).split('\n');
  if (!listed.some((line) => line.split(/\s+/)[1] === cluster.name)) return;
  run('pg_dropcluster', ['--stop', VERSION, cluster.name]);
}

const url = (role, port, database) => `postgres://${role}:${role}@localhost:${port}/${database}`;

/**
 * Creates the catalog cluster on `basePort` (database `catalog`) and `shardCount` shard clusters
 * on the next ports, migrates every shard as its owner (granting the runtime role), migrates the
 * catalog as the superuser and registers every shard there. Returns what `shardedOptions` turns
 * into the library's options.
 */
export async function createShardSet({ prefix, basePort, shardCount, progress }) {
  const set = { clusters: [], shards: [], catalogPort: basePort, catalog: 'catalog' };
  try {
    progress?.(`creating the catalog cluster on port ${basePort} and ${shardCount} shard clusters`);
    set.clusters.push(createCluster(`${prefix}_catalog`, basePort, 'catalog'));
    for (let index = 0; index < shardCount; index += 1) {
      const port = basePort + 1 + index;
      set.clusters.push(createCluster(`${prefix}_s${index}`, port, 'ledger'));
      set.shards.push({ name: `s${index}`, port });
    }
    for (const shard of set.shards) await migrateLedger(shard.port, 'ledger');
    await prepareCatalog(set, 'catalog', set.shards);
    return set;
  } catch (error) {
    destroyShardSet(set);
    throw error;
  }
}

/** Migrates a ledger database as its owner and grants the runtime role. */
export async function migrateLedger(port, database) {
  const owner = createLedger({ database: url('ledger', port, database), poolSize: 2 });
  try {
    await owner.migrate();
    await owner.operations.grantRuntimeRole('ledger_runtime');
  } finally {
    await owner.close();
  }
}

/** A database on a cluster of the set (the single-server baseline of the benchmark). */
export function createDatabase(port, database) {
  psql(port, 'postgres', `create database ${database} owner ledger;`);
}

/**
 * Migrates a catalog database (created first unless it is the set's own) as the superuser,
 * grants the roles and registers the given shards, in order.
 */
export async function prepareCatalog(set, database, shards) {
  if (database !== 'catalog') createDatabase(set.catalogPort, database);
  await migrateShardCatalog(url('postgres', set.catalogPort, database));
  psql(
    set.catalogPort,
    database,
    `grant execution_ledger_router to ledger_runtime;
     grant execution_ledger_shard_admin to ledger;`,
  );
  for (const shard of shards) registerShard(set, shard, database);
}

/** Adds a shard to a catalog (what `addShard` does, as the superuser, for the set-up). */
export function registerShard(set, shard, database = 'catalog') {
  const connstr = `host=localhost port=${shard.port} dbname=ledger user=ledger_runtime password=ledger_runtime`;
  psql(
    set.catalogPort,
    database,
    `insert into execution_ledger_shards.shards (position, name, connstr)
     select coalesce(max(position) + 1, 0), '${shard.name}', '${connstr}' from execution_ledger_shards.shards;`,
  );
}

/** The options of createShardedLedger for the runtime role (`admin`: the owners). */
export function shardedOptions(set, { admin = false, shards = set.shards, catalog = 'catalog' } = {}) {
  const role = admin ? 'ledger' : 'ledger_runtime';
  return {
    catalog: url(role, set.catalogPort, catalog),
    shards: Object.fromEntries(shards.map((shard) => [shard.name, url(role, shard.port, 'ledger')])),
    migrate: false,
  };
}

/** A shard's URL for a direct connection (checks read each shard as its owner). */
export function shardUrl(shard, role = 'ledger', database = 'ledger') {
  return url(role, shard.port, database);
}

/** Writes out every cluster's dirty buffers now (CHECKPOINT as the superuser), one after another. */
export function checkpointClusters(set) {
  for (const cluster of set.clusters) psql(cluster.port, 'postgres', 'checkpoint;');
}

/** Stops and removes every cluster of the set; safe to call twice. */
export function destroyShardSet(set) {
  for (const cluster of set.clusters.reverse()) {
    try {
      dropCluster(cluster);
    } catch (error) {
      process.stderr.write(`could not drop cluster ${cluster.name}: ${error.message}\n`);
    }
  }
  set.clusters = [];
}
