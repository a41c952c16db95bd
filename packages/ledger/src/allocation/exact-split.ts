import assert from 'node:assert/strict';

/**
 * Splits `amount` (integer micro-cents) by `weights` so the shares add up to `amount` exactly:
 * each share is the floor of its exact quota, and the micro-cents left over go one each to the
 * largest remainders (ties to the earlier target), the largest remainder (Hamilton) method. When
 * every weight is zero the split is even.
 */
export function splitExactly(amount: bigint, weights: readonly bigint[]): bigint[] {
  assert(amount >= 0n && weights.length > 0, 'a split needs an amount of zero or more and a target');
  assert(
    weights.every((weight) => weight >= 0n),
    'weights are never negative',
  );
  const used = weights.some((weight) => weight > 0n) ? weights : weights.map(() => 1n);
  const total = used.reduce((sum, weight) => sum + weight, 0n);
  const shares = used.map((weight) => (amount * weight) / total);
  let left = amount - shares.reduce((sum, share) => sum + share, 0n);
  // At most one micro-cent per target is left over: the remainders are below `total` each.
  const order = used
    .map((weight, index) => ({ index, remainder: (amount * weight) % total }))
    .sort((a, b) => (a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1));
  for (const { index } of order) {
    if (left === 0n) break;
    shares[index] = (shares[index] ?? 0n) + 1n;
    left -= 1n;
  }
  assert(left === 0n, 'the largest remainders absorb what the floors left');
  return shares;
}
