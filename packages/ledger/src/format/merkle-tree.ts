import { createHash } from 'node:crypto';
import { LedgerError } from '../errors.js';

/** Bytes of a SHA-256 digest: every leaf hash, node hash and root. */
export const MERKLE_HASH_BYTES = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** RFC 6962 §2.1: a leaf is hashed as SHA-256(0x00 ‖ leaf), so it can never pose as a node. */
export function hashLeaf(leaf: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(leaf).digest();
}

/** RFC 6962 §2.1: an inner node is SHA-256(0x01 ‖ left ‖ right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The root of the empty tree is the hash of the empty string. */
export function emptyTreeRoot(): Buffer {
  return createHash('sha256').digest();
}

/**
 * MTH(D[n]) of RFC 6962 computed bottom-up: pairing neighbours and carrying an unpaired last
 * node up unchanged builds exactly the left-balanced tree the RFC defines recursively.
 */
export function merkleRoot(leafHashes: readonly Buffer[]): Buffer {
  let level: readonly Buffer[] = leafHashes;
  while (level.length > 1) {
    const next: Buffer[] = [];
    let left: Buffer | undefined;
    for (const node of level) {
      if (left === undefined) {
        left = node;
      } else {
        next.push(hashChildren(left, node));
        left = undefined;
      }
    }
    if (left !== undefined) next.push(left);
    level = next;
  }
  // No leaves: the loop never ran and the root is the empty tree's.
  return level[0] ?? emptyTreeRoot();
}

/** The largest power of two strictly smaller than n (n > 1): where RFC 6962 splits a tree. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * PATH(m, D[n]) of RFC 6962 §2.1.1: the audit path of leaf `index`, ordered from the leaf's
 * sibling up to the child of the root.
 */
export function inclusionProof(index: number, leafHashes: readonly Buffer[]): Buffer[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leafHashes.length) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `index ${index} is outside a tree of ${leafHashes.length} leaves; pass a whole number from 0 to ${leafHashes.length - 1}`,
      { field: 'index' },
    );
  }
  const siblings: Buffer[] = [];
  let lo = 0;
  let hi = leafHashes.length;
  let m = index;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (m < k) {
      siblings.push(merkleRoot(leafHashes.slice(lo + k, hi)));
      hi = lo + k;
    } else {
      siblings.push(merkleRoot(leafHashes.slice(lo, lo + k)));
      lo += k;
      m -= k;
    }
  }
  // The loop walks from the root down; the proof lists nodes from the leaf up.
  return siblings.reverse();
}

/**
 * PROOF(m, D[n]) of RFC 6962 §2.1.2: the nodes that show the tree of the first `size1` leaves
 * is a prefix of the tree of all leaves. Empty when the sizes are equal or size1 is 0.
 */
export function consistencyProof(size1: number, leafHashes: readonly Buffer[]): Buffer[] {
  const size2 = leafHashes.length;
  if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > size2) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `size1 ${size1} is not a tree size from 0 to the newer size ${size2}; pass the older tree's size`,
      { field: 'size1' },
    );
  }
  if (size1 === 0 || size1 === size2) return [];
  const nodes: Buffer[] = [];
  let lo = 0;
  let hi = size2;
  let m = size1;
  let complete = true;
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      nodes.push(merkleRoot(leafHashes.slice(lo + k, hi)));
      hi = lo + k;
    } else {
      nodes.push(merkleRoot(leafHashes.slice(lo, lo + k)));
      lo += k;
      m -= k;
      complete = false;
    }
  }
  // SUBPROOF(m, D[m], b) adds MTH(D[m]) only when the subtree is not the whole older tree.
  if (!complete) nodes.push(merkleRoot(leafHashes.slice(lo, hi)));
  return nodes.reverse();
}
