import { createHash } from 'node:crypto';
import type { HashVersion } from './hash-versions.js';
import { sha256Hex } from './sha256-hex.js';

const ENTRY_TAG = Buffer.from('execution-ledger/entry/v1\u0000', 'utf8');
const GENESIS_TAG = Buffer.from('execution-ledger/genesis/v1\u0000', 'utf8');

export interface ChainPosition {
  projectId: string;
  seq: number;
  createdAtMs: number;
  payloadHash: Buffer;
  prevHash: Buffer;
  /** The entry's hash_version, written into the hashed bytes; 1 when omitted. */
  hashVersion?: HashVersion;
}

/** The prev_hash of a project's first entry. */
export function genesisHash(projectId: string): Buffer {
  return createHash('sha256').update(GENESIS_TAG).update(projectId, 'utf8').digest();
}

/**
 * entry_hash = SHA-256(tag ‖ 0x00 ‖ int2(version) ‖ int4(len) ‖ project_id ‖ int8(seq) ‖
 * int8(created_at ms) ‖ payload_hash ‖ prev_hash), big-endian integers. Byte for byte the same
 * as execution_ledger.entry_hash_v1() and entry_hash_v2() in SQL, which differ only in version.
 */
export function computeEntryHash(position: ChainPosition): Buffer {
  const project = Buffer.from(position.projectId, 'utf8');
  const header = Buffer.alloc(2 + 4);
  header.writeUInt16BE(position.hashVersion ?? 1, 0);
  header.writeUInt32BE(project.length, 2);
  const numbers = Buffer.alloc(16);
  numbers.writeBigInt64BE(BigInt(position.seq), 0);
  numbers.writeBigInt64BE(BigInt(position.createdAtMs), 8);
  return createHash('sha256')
    .update(ENTRY_TAG)
    .update(header)
    .update(project)
    .update(numbers)
    .update(position.payloadHash)
    .update(position.prevHash)
    .digest();
}

// seq, created_at ms, payload_hash and prev_hash: the part of the hashed bytes that changes per entry.
const ENTRY_TAIL_BYTES = 8 + 8 + 32 + 32;
const HASH_BYTES = 32;
const UINT32_RANGE = 2 ** 32;

/**
 * computeEntryHash, as hex, for the entries of one project as the verifier reads them (stored
 * hashes as hex): the tag, version and project id are encoded once, and each entry's fields
 * are written into one reused buffer instead of five new buffers and two BigInts an entry.
 * Fields computeEntryHash would encode another way (an unsafe integer, a hash that is not 32
 * bytes of hex) are handed to it, so the answer is always the same as its answer.
 */
export class ProjectEntryHasher {
  readonly projectId: string;
  readonly hashVersion: HashVersion;
  private readonly bytes: Buffer;
  private readonly tailAt: number;

  constructor(projectId: string, hashVersion: HashVersion) {
    this.projectId = projectId;
    this.hashVersion = hashVersion;
    const project = Buffer.from(projectId, 'utf8');
    this.tailAt = ENTRY_TAG.length + 2 + 4 + project.length;
    this.bytes = Buffer.alloc(this.tailAt + ENTRY_TAIL_BYTES);
    ENTRY_TAG.copy(this.bytes, 0);
    this.bytes.writeUInt16BE(hashVersion, ENTRY_TAG.length);
    this.bytes.writeUInt32BE(project.length, ENTRY_TAG.length + 2);
    project.copy(this.bytes, ENTRY_TAG.length + 6);
  }

  hashHex(seq: number, createdAtMs: number, payloadHashHex: string, prevHashHex: string): string {
    const at = this.tailAt;
    if (
      Number.isSafeInteger(seq) &&
      Number.isSafeInteger(createdAtMs) &&
      payloadHashHex.length === HASH_BYTES * 2 &&
      prevHashHex.length === HASH_BYTES * 2
    ) {
      writeInt64BE(this.bytes, seq, at);
      writeInt64BE(this.bytes, createdAtMs, at + 8);
      const written =
        this.bytes.write(payloadHashHex, at + 16, HASH_BYTES, 'hex') +
        this.bytes.write(prevHashHex, at + 16 + HASH_BYTES, HASH_BYTES, 'hex');
      if (written === HASH_BYTES * 2) return sha256Hex(this.bytes);
    }
    return computeEntryHash({
      projectId: this.projectId,
      hashVersion: this.hashVersion,
      seq,
      createdAtMs,
      payloadHash: Buffer.from(payloadHashHex, 'hex'),
      prevHash: Buffer.from(prevHashHex, 'hex'),
    }).toString('hex');
  }
}

/** A safe integer as a big-endian two's complement int8, without a BigInt. */
function writeInt64BE(bytes: Buffer, value: number, at: number): void {
  const high = Math.floor(value / UINT32_RANGE);
  bytes.writeInt32BE(high, at);
  bytes.writeUInt32BE(value - high * UINT32_RANGE, at + 4);
}
