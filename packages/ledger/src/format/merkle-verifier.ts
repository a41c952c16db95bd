import { emptyTreeRoot, hashChildren, MERKLE_HASH_BYTES } from './merkle-tree.js';

/** The outcome of checking a proof: a bad proof is an expected result, never an exception. */
export type ProofCheck = { ok: true } | { ok: false; reason: string };

const OK: ProofCheck = { ok: true };

function fail(reason: string): ProofCheck {
  return { ok: false, reason };
}

function badHash(label: string, hash: Uint8Array): ProofCheck | null {
  return hash.length === MERKLE_HASH_BYTES
    ? null
    : fail(`${label} has ${hash.length} bytes, not ${MERKLE_HASH_BYTES}`);
}

function badSize(label: string, value: number): ProofCheck | null {
  return Number.isSafeInteger(value) && value >= 0
    ? null
    : fail(`${label} ${value} is not a whole number ≥ 0`);
}

function firstProblem(...checks: (ProofCheck | null)[]): ProofCheck | null {
  return checks.find((check) => check !== null) ?? null;
}

/** Shifts both counters right until the low bit of `fn` is set or `fn` is 0 (RFC 9162 wording). */
function shiftWhileEven(state: { fn: bigint; sn: bigint }): void {
  while ((state.fn & 1n) === 0n && state.fn !== 0n) {
    state.fn >>= 1n;
    state.sn >>= 1n;
  }
}

/**
 * RFC 9162 §2.1.3.2: recomputes the root from a leaf hash and its audit path and compares it.
 * Counters are bigints so an adversarial size near 2^53 cannot wrap 32-bit operators.
 */
export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): ProofCheck {
  const problem = firstProblem(
    badSize('leaf index', leafIndex),
    badSize('tree size', treeSize),
    badHash('the leaf hash', leafHash),
    badHash('the root', root),
    ...proof.map((node, index) => badHash(`proof node ${index}`, node)),
  );
  if (problem !== null) return problem;
  if (leafIndex >= treeSize) return fail(`leaf index ${leafIndex} is outside a tree of size ${treeSize}`);
  const state = { fn: BigInt(leafIndex), sn: BigInt(treeSize - 1) };
  let hash: Uint8Array = leafHash;
  for (const node of proof) {
    if (state.sn === 0n) return fail('the proof has more nodes than a tree of this size needs');
    if ((state.fn & 1n) === 1n || state.fn === state.sn) {
      hash = hashChildren(node, hash);
      shiftWhileEven(state);
    } else {
      hash = hashChildren(hash, node);
    }
    state.fn >>= 1n;
    state.sn >>= 1n;
  }
  if (state.sn !== 0n) return fail('the proof has fewer nodes than a tree of this size needs');
  return Buffer.from(hash).equals(root) ? OK : fail('the proof does not lead to the signed root');
}

/**
 * RFC 9162 §2.1.4.2: checks that the tree of `size1` leaves with root `root1` is a prefix of
 * the tree of `size2` leaves with root `root2`.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): ProofCheck {
  const problem = firstProblem(
    badSize('older size', size1),
    badSize('newer size', size2),
    badHash('the older root', root1),
    badHash('the newer root', root2),
    ...proof.map((node, index) => badHash(`proof node ${index}`, node)),
  );
  if (problem !== null) return problem;
  if (size1 > size2) return fail(`the older size ${size1} is larger than the newer size ${size2}`);
  if (size1 === size2 || size1 === 0) return verifyTrivialConsistency(size1, root1, root2, proof);
  if (proof.length === 0) return fail('the proof is empty but the sizes differ');
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  const state = { fn: BigInt(size1 - 1), sn: BigInt(size2 - 1) };
  while ((state.fn & 1n) === 1n) {
    state.fn >>= 1n;
    state.sn >>= 1n;
  }
  const [first, ...rest] = path;
  if (first === undefined) return fail('the proof is empty but the sizes differ');
  let older: Uint8Array = first;
  let newer: Uint8Array = first;
  for (const node of rest) {
    if (state.sn === 0n) return fail('the proof has more nodes than these sizes need');
    if ((state.fn & 1n) === 1n || state.fn === state.sn) {
      older = hashChildren(node, older);
      newer = hashChildren(node, newer);
      shiftWhileEven(state);
    } else {
      newer = hashChildren(newer, node);
    }
    state.fn >>= 1n;
    state.sn >>= 1n;
  }
  if (state.sn !== 0n) return fail('the proof has fewer nodes than these sizes need');
  if (!Buffer.from(older).equals(root1)) return fail('the proof does not lead to the older root');
  if (!Buffer.from(newer).equals(root2)) return fail('the proof does not lead to the newer root');
  return OK;
}

function verifyTrivialConsistency(
  size1: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): ProofCheck {
  if (proof.length !== 0) return fail('the proof must be empty for these sizes');
  if (size1 === 0) {
    return emptyTreeRoot().equals(root1) ? OK : fail('the older tree is empty but its root is not');
  }
  return Buffer.from(root1).equals(root2) ? OK : fail('equal sizes with different roots');
}

function isPowerOfTwo(value: number): boolean {
  let power = 1;
  while (power < value) power *= 2;
  return power === value;
}
