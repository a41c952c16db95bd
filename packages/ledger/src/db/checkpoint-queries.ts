import assert from 'node:assert/strict';
import type { ProjectHead } from '../format/checkpoint-encoding.js';
import type { Queryable } from './database.js';
import { toSafeNumber } from './execution-queries.js';

/** One stored checkpoint, typed the same on both engines (hex hashes, numbers, ISO time). */
export interface CheckpointRow {
  seq: number;
  created_at: string;
  created_at_ms: number;
  tree_size: number;
  root: string;
  prev_hash: string;
  log_root: string;
  origin: string;
  key_id: string;
  note: string;
  checkpoint_hash: string;
}

const CHECKPOINT_COLUMNS = `
  c.seq::text as seq,
  to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at,
  c.tree_size::text as tree_size, encode(c.root, 'hex') as root, encode(c.prev_hash, 'hex') as prev_hash,
  encode(c.log_root, 'hex') as log_root, c.origin, c.key_id, c.note,
  encode(c.checkpoint_hash, 'hex') as checkpoint_hash`;

type RawCheckpointRow = Omit<CheckpointRow, 'seq' | 'tree_size' | 'created_at_ms'> & {
  seq: string;
  tree_size: string;
};

function toCheckpointRow(row: RawCheckpointRow): CheckpointRow {
  return {
    ...row,
    seq: toSafeNumber(row.seq, 'checkpoint seq'),
    tree_size: toSafeNumber(row.tree_size, 'tree_size'),
    created_at_ms: Date.parse(row.created_at),
  };
}

/** Same keys as append_checkpoint(): the library reads the state it builds on under the lock. */
export async function lockCheckpoints(tx: Queryable): Promise<void> {
  await tx.query('select pg_advisory_xact_lock(1162626372, 1129009236)');
}

/** Every checkpoint, oldest first: the leaves of the checkpoint log. */
export async function queryCheckpointHistory(q: Queryable, throughSeq?: number): Promise<CheckpointRow[]> {
  const rows = await q.query<RawCheckpointRow>(
    `select ${CHECKPOINT_COLUMNS} from execution_ledger.checkpoints c
     where $1::bigint is null or c.seq <= $1::bigint order by c.seq`,
    [throughSeq ?? null],
  );
  return rows.map(toCheckpointRow);
}

export async function queryCheckpoint(q: Queryable, seq: number | null): Promise<CheckpointRow | null> {
  const rows = await q.query<RawCheckpointRow>(
    `select ${CHECKPOINT_COLUMNS} from execution_ledger.checkpoints c
     where $1::bigint is null or c.seq = $1::bigint order by c.seq desc limit 1`,
    [seq],
  );
  return rows[0] === undefined ? null : toCheckpointRow(rows[0]);
}

interface RawHead {
  project_id: string;
  seq: string;
  entry_hash: string;
}

function toHead(row: RawHead): ProjectHead {
  return { project_id: row.project_id, seq: toSafeNumber(row.seq, 'seq'), entry_hash: row.entry_hash };
}

/**
 * The newest entry of every project, from the heads table the append keeps (one row per
 * project): no scan of the entries, and nothing a distributed engine cannot run.
 */
export async function queryCurrentHeads(q: Queryable): Promise<ProjectHead[]> {
  const rows = await q.query<RawHead>(
    `select h.project_id, h.seq::text as seq, encode(h.entry_hash, 'hex') as entry_hash
     from execution_ledger.heads h order by h.project_id`,
  );
  return rows.map(toHead);
}

/** The heads checkpoint `seq` committed to: per project, the newest stored row up to it. */
export async function queryCheckpointHeads(q: Queryable, seq: number): Promise<ProjectHead[]> {
  const rows = await q.query<RawHead>(
    `select distinct on (h.project_id) h.project_id, h.seq::text as seq, encode(h.entry_hash, 'hex') as entry_hash
     from execution_ledger.checkpoint_heads h where h.checkpoint_seq <= $1
     order by h.project_id, h.checkpoint_seq desc`,
    [seq],
  );
  return rows.map(toHead);
}

/** The stored entry_hash at each (project, seq), or null where the entry is gone. */
export async function queryEntryHashes(
  q: Queryable,
  heads: readonly ProjectHead[],
): Promise<Map<string, string | null>> {
  const rows = await q.query<{ project_id: string; entry_hash: string | null }>(
    `select w.project_id, encode(e.entry_hash, 'hex') as entry_hash
     from unnest($1::text[], $2::bigint[]) as w(project_id, seq)
     left join execution_ledger.executions e on e.project_id = w.project_id and e.seq = w.seq`,
    [heads.map((head) => head.project_id), heads.map((head) => String(head.seq))],
  );
  return new Map(rows.map((row) => [row.project_id, row.entry_hash]));
}

export interface CheckpointInsert {
  seq: number;
  createdAtMs: number;
  treeSize: number;
  root: Buffer;
  prevHash: Buffer;
  logRoot: Buffer;
  origin: string;
  keyId: string;
  note: string;
  changedHeads: readonly ProjectHead[];
}

/** Writes through the SECURITY DEFINER function; returns the checkpoint hash it computed. */
export async function insertCheckpoint(tx: Queryable, checkpoint: CheckpointInsert): Promise<string> {
  const rows = await tx.query<{ checkpoint_hash: string }>(
    `select execution_ledger.append_checkpoint($1::bigint, $2::bigint, $3::bigint, $4::bytea, $5::bytea,
       $6::bytea, $7::text, $8::text, $9::text, $10::jsonb) as checkpoint_hash`,
    [
      String(checkpoint.seq),
      String(checkpoint.createdAtMs),
      String(checkpoint.treeSize),
      checkpoint.root,
      checkpoint.prevHash,
      checkpoint.logRoot,
      checkpoint.origin,
      checkpoint.keyId,
      checkpoint.note,
      JSON.stringify(checkpoint.changedHeads),
    ],
  );
  const row = rows[0];
  assert(row !== undefined, 'insert … returning gives the inserted row');
  return row.checkpoint_hash;
}

export async function queryEntryHashAt(q: Queryable, projectId: string, seq: number): Promise<string | null> {
  const rows = await q.query<{ entry_hash: string }>(
    `select encode(e.entry_hash, 'hex') as entry_hash from execution_ledger.executions e
     where e.project_id = $1 and e.seq = $2`,
    [projectId, String(seq)],
  );
  return rows[0]?.entry_hash ?? null;
}
