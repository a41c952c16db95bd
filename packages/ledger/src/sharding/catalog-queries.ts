import type { Queryable } from '../db/database.js';

/** A shard as routers see it (its connect string is the catalog's secret). */
export interface ShardRow {
  position: number;
  name: string;
  takes_new_projects: boolean;
}

export interface PlacementRow {
  project_id: string;
  shard: number;
}

export interface ShardCheckpointRow {
  seq: number;
  created_at_ms: number;
  tree_size: number;
  root: string;
  prev_hash: string;
  log_root: string;
  checkpoint_hash: string;
  origin: string;
  key_id: string;
  note: string;
  heads: ShardHead[];
}

/** A project's head as a sharded checkpoint commits to it, with the shard that held it. */
export interface ShardHead {
  project_id: string;
  seq: number;
  entry_hash: string;
  shard: string;
}

export async function selectShards(q: Queryable): Promise<ShardRow[]> {
  const rows = await q.query<ShardRow>(
    `select s.position, s.name, s.takes_new_projects
     from execution_ledger_shards.shards s order by s.position`,
  );
  return rows.map((row) => ({ ...row, position: Number(row.position) }));
}

export async function selectPlacements(q: Queryable): Promise<PlacementRow[]> {
  const rows = await q.query<PlacementRow>(
    'select p.project_id, p.shard from execution_ledger_shards.placement p order by p.project_id',
  );
  return rows.map((row) => ({ project_id: row.project_id, shard: Number(row.shard) }));
}

export async function selectPlacement(q: Queryable, projectId: string): Promise<number | null> {
  const rows = await q.query<{ shard: number }>(
    'select p.shard from execution_ledger_shards.placement p where p.project_id = $1',
    [projectId],
  );
  return rows[0] === undefined ? null : Number(rows[0].shard);
}

/** The project's shard, placing it first if it was never appended to (catalog's shard_for). */
export async function shardFor(q: Queryable, projectId: string): Promise<number> {
  const rows = await q.query<{ shard: number }>('select execution_ledger_shards.shard_for($1) as shard', [
    projectId,
  ]);
  return Number(rows[0]?.shard);
}

/** Shards that still hold entries of a project placed elsewhere (left behind by a move). */
export async function selectLeftCopyShards(q: Queryable): Promise<Set<number>> {
  const rows = await q.query<{ shard: number }>(
    'select distinct l.shard from execution_ledger_shards.left_copies l',
  );
  return new Set(rows.map((row) => Number(row.shard)));
}

export async function insertShard(
  q: Queryable,
  name: string,
  connstr: string,
  takesNewProjects: boolean,
): Promise<number> {
  const rows = await q.query<{ position: number }>(
    `insert into execution_ledger_shards.shards (position, name, connstr, takes_new_projects)
     select coalesce(max(s.position) + 1, 0), $1, $2, $3 from execution_ledger_shards.shards s
     returning position`,
    [name, connstr, takesNewProjects],
  );
  return Number(rows[0]?.position);
}

/**
 * Takes the project's move lock until the transaction ends (appends to it wait in shard_for()
 * meanwhile) and returns its shard, placing a project never appended to first.
 */
export async function lockPlacement(tx: Queryable, projectId: string): Promise<number> {
  const rows = await tx.query<{ shard: number | null }>(
    'select execution_ledger_shards.hold_project($1) as shard',
    [projectId],
  );
  const held = rows[0]?.shard;
  if (held !== null && held !== undefined) return Number(held);
  const placed = await tx.query<{ shard: number }>('select execution_ledger_shards.shard_for($1) as shard', [
    projectId,
  ]);
  return Number(placed[0]?.shard);
}

export async function switchPlacement(
  tx: Queryable,
  projectId: string,
  from: number,
  to: number,
): Promise<void> {
  await tx.query(
    'update execution_ledger_shards.placement set shard = $2, placed_at = now() where project_id = $1',
    [projectId, to],
  );
  await tx.query(
    `insert into execution_ledger_shards.left_copies (project_id, shard) values ($1, $2)
     on conflict (project_id, shard) do nothing`,
    [projectId, from],
  );
}

/** One checkpoint writer at a time, until the transaction ends ("ELED", "SHCP"). */
export async function lockShardCheckpoints(tx: Queryable): Promise<void> {
  await tx.query('select pg_advisory_xact_lock(1162626372, 1397244752)');
}

export async function selectShardCheckpoints(q: Queryable): Promise<ShardCheckpointRow[]> {
  const rows = await q.query<ShardCheckpointRow>(
    `select c.seq, c.created_at_ms, c.tree_size, c.root, c.prev_hash, c.log_root, c.checkpoint_hash,
       c.origin, c.key_id, c.note, c.heads
     from execution_ledger_shards.checkpoints c order by c.seq`,
  );
  return rows.map((row) => ({
    ...row,
    seq: Number(row.seq),
    created_at_ms: Number(row.created_at_ms),
    tree_size: Number(row.tree_size),
  }));
}

export async function insertShardCheckpoint(tx: Queryable, row: ShardCheckpointRow): Promise<void> {
  await tx.query(
    `insert into execution_ledger_shards.checkpoints (seq, created_at_ms, tree_size, root, prev_hash,
       log_root, checkpoint_hash, origin, key_id, note, heads)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)`,
    [
      row.seq,
      row.created_at_ms,
      row.tree_size,
      row.root,
      row.prev_hash,
      row.log_root,
      row.checkpoint_hash,
      row.origin,
      row.key_id,
      row.note,
      JSON.stringify(row.heads),
    ],
  );
}
