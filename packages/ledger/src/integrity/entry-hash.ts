import { createHash } from 'node:crypto';

export const HASH_VERSION = 1;
const ENTRY_TAG = Buffer.from('execution-ledger/entry/v1\u0000', 'utf8');
const GENESIS_TAG = Buffer.from('execution-ledger/genesis/v1\u0000', 'utf8');

export interface ChainPosition {
  projectId: string;
  seq: number;
  createdAtMs: number;
  payloadHash: Buffer;
  prevHash: Buffer;
}

/** The prev_hash of a project's first entry. */
export function genesisHash(projectId: string): Buffer {
  return createHash('sha256').update(GENESIS_TAG).update(projectId, 'utf8').digest();
}

/**
 * entry_hash = SHA-256(tag ‖ 0x00 ‖ int2(version) ‖ int4(len) ‖ project_id ‖ int8(seq) ‖
 * int8(created_at ms) ‖ payload_hash ‖ prev_hash), big-endian integers. Byte for byte the same
 * as execution_ledger.entry_hash_v1() in SQL.
 */
export function computeEntryHash(position: ChainPosition): Buffer {
  const project = Buffer.from(position.projectId, 'utf8');
  const header = Buffer.alloc(2 + 4);
  header.writeUInt16BE(HASH_VERSION, 0);
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
