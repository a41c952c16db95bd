import { MERKLE_HASH_BYTES } from './merkle-tree.js';

/**
 * The bytes a checkpoint commits to, version 1. Integers are big-endian, strings are UTF-8 with
 * their byte length (int4) in front, and every encoding starts with its own tag and a 0x00 so
 * no encoding can be read as another. docs/security.md describes them; a test pins the bytes.
 */
const HEAD_LEAF_TAG = Buffer.from('execution-ledger/head/v1\u0000', 'utf8');
const CHECKPOINT_LEAF_TAG = Buffer.from('execution-ledger/checkpoint/v1\u0000', 'utf8');

/** The prev_hash of the first checkpoint: there is nothing before it. */
export const FIRST_PREV_HASH = Buffer.alloc(MERKLE_HASH_BYTES);

/** One project's head: the leaf of the heads tree. */
export interface ProjectHead {
  project_id: string;
  seq: number;
  /** Lower-case hex, as everywhere else in the API. */
  entry_hash: string;
}

/** leaf = tag ‖ int4(len) ‖ project_id ‖ int8(seq) ‖ entry_hash. */
export function encodeHeadLeaf(head: ProjectHead): Buffer {
  const project = Buffer.from(head.project_id, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(project.length, 0);
  const seq = Buffer.alloc(8);
  seq.writeBigInt64BE(BigInt(head.seq), 0);
  return Buffer.concat([HEAD_LEAF_TAG, length, project, seq, Buffer.from(head.entry_hash, 'hex')]);
}

/** The fields of a checkpoint that its leaf in the checkpoint log covers. */
export interface CheckpointLeafFields {
  seq: number;
  createdAtMs: number;
  treeSize: number;
  root: Buffer;
  prevHash: Buffer;
}

/** leaf = tag ‖ int8(seq) ‖ int8(created_at ms) ‖ int8(tree_size) ‖ root ‖ prev_hash. */
export function encodeCheckpointLeaf(fields: CheckpointLeafFields): Buffer {
  const numbers = Buffer.alloc(24);
  numbers.writeBigInt64BE(BigInt(fields.seq), 0);
  numbers.writeBigInt64BE(BigInt(fields.createdAtMs), 8);
  numbers.writeBigInt64BE(BigInt(fields.treeSize), 16);
  return Buffer.concat([CHECKPOINT_LEAF_TAG, numbers, fields.root, fields.prevHash]);
}

/**
 * Heads are ordered by the bytes of their UTF-8 project id, the one order every engine,
 * collation and language agrees on, so a verifier can rebuild the same tree.
 */
export function compareProjectIds(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}

/** What the signed body of a checkpoint note says. */
export interface CheckpointBody {
  origin: string;
  tree_size: number;
  root: Buffer;
  seq: number;
  created_at_ms: number;
  prev_hash: Buffer;
  log_root: Buffer;
}

/**
 * The note body: the c2sp checkpoint lines (origin, tree size, base64 root) followed by
 * extension lines for the sequence number, time, previous checkpoint and checkpoint-log root.
 */
export function formatCheckpointBody(body: CheckpointBody): string {
  return [
    body.origin,
    String(body.tree_size),
    body.root.toString('base64'),
    `seq ${body.seq}`,
    `time ${new Date(body.created_at_ms).toISOString()}`,
    `prev ${body.prev_hash.toString('base64')}`,
    `log ${body.log_root.toString('base64')}`,
    '',
  ].join('\n');
}

const NUMBER_PATTERN = /^(0|[1-9][0-9]{0,15})$/;
const BASE64_HASH_PATTERN = /^[A-Za-z0-9+/]{43}=$/;

/** Parses a body strictly: one spelling per value, so two different texts never mean the same. */
export function parseCheckpointBody(text: string): CheckpointBody | string {
  const lines = text.split('\n');
  if (lines.length !== 8 || lines[7] !== '') return 'the checkpoint body must have exactly 7 lines';
  const [origin, size, root, seq, time, prev, log] = lines as [string, ...string[]];
  if (origin.length === 0 || /\s/.test(origin)) return 'line 1 (origin) must be a name without spaces';
  const treeSize = parseNumber(size);
  if (treeSize === null) return 'line 2 (tree size) must be a whole number';
  const rootHash = parseHash(root);
  if (rootHash === null) return 'line 3 (root) must be a base64 SHA-256 hash';
  const seqNumber = parseNumber(seq?.startsWith('seq ') ? seq.slice(4) : undefined);
  if (seqNumber === null || seqNumber < 1) return 'line 4 must be "seq N" with N ≥ 1';
  const createdAtMs = parseTime(time?.startsWith('time ') ? time.slice(5) : undefined);
  if (createdAtMs === null) return 'line 5 must be "time" and an ISO 8601 UTC time with milliseconds';
  const prevHash = parseHash(prev?.startsWith('prev ') ? prev.slice(5) : undefined);
  if (prevHash === null) return 'line 6 must be "prev" and a base64 SHA-256 hash';
  const logRoot = parseHash(log?.startsWith('log ') ? log.slice(4) : undefined);
  if (logRoot === null) return 'line 7 must be "log" and a base64 SHA-256 hash';
  return {
    origin,
    tree_size: treeSize,
    root: rootHash,
    seq: seqNumber,
    created_at_ms: createdAtMs,
    prev_hash: prevHash,
    log_root: logRoot,
  };
}

function parseNumber(text: string | undefined): number | null {
  if (text === undefined || !NUMBER_PATTERN.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

function parseHash(text: string | undefined): Buffer | null {
  if (text === undefined || !BASE64_HASH_PATTERN.test(text)) return null;
  const hash = Buffer.from(text, 'base64');
  return hash.length === MERKLE_HASH_BYTES && hash.toString('base64') === text ? hash : null;
}

function parseTime(text: string | undefined): number | null {
  if (text === undefined) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) || new Date(ms).toISOString() !== text ? null : ms;
}
