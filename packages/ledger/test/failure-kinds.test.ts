import { fileURLToPath } from 'node:url';
import { expectLedgerErrorSync, plainErrorConstructions } from '@execution-ledger/test-support';
import { consistencyProof, hashLeaf, inclusionProof } from 'execution-ledger/verify';
import { describe, expect, it } from 'vitest';
import { LedgerError as SourceLedgerError } from '../src/errors.js';
import { decimalTextToMicros } from '../src/money.js';

const LEAVES = [hashLeaf(Buffer.from('a')), hashLeaf(Buffer.from('b'))];

describe('failure kinds', () => {
  it('refuses a leaf index outside the tree with VALIDATION_FAILED naming index, not a RangeError', () => {
    for (const index of [-1, 2, 0.5, Number.NaN]) {
      const error = expectLedgerErrorSync(() => inclusionProof(index, LEAVES), 'VALIDATION_FAILED');
      expect(error.field).toBe('index');
      expect(error.message).toContain('from 0 to 1');
    }
    expect(inclusionProof(1, LEAVES)).toHaveLength(1);
  });

  it('refuses an older tree size beyond the newer one with VALIDATION_FAILED naming size1', () => {
    for (const size1 of [-1, 3, 1.5]) {
      const error = expectLedgerErrorSync(() => consistencyProof(size1, LEAVES), 'VALIDATION_FAILED');
      expect(error.field).toBe('size1');
    }
    expect(consistencyProof(1, LEAVES)).toHaveLength(1);
  });

  it('refuses text that is not a decimal amount with VALIDATION_FAILED naming amount, not a TypeError', () => {
    for (const text of ['', 'abc', '-1', '1,5', '0x10', '1e']) {
      // Money arithmetic is internal (not in any entry point), so its LedgerError is the source
      // module's class rather than the built package's.
      expect(() => decimalTextToMicros(text)).toThrow(
        expect.objectContaining({
          constructor: SourceLedgerError,
          code: 'VALIDATION_FAILED',
          field: 'amount',
        }),
      );
    }
    expect(decimalTextToMicros('12.5')).toBe(12_500_000n);
  });

  it('constructs no TypeError, RangeError or plain Error in the library but three that never reach a caller', async () => {
    const found = await plainErrorConstructions(fileURLToPath(new URL('../src', import.meta.url)));
    expect(found.map((line) => line.split(':')[0])).toEqual([
      // The format layer's stand-in for node:assert (it imports nothing from Node but crypto).
      'format/invariant.ts',
      // Thrown and caught inside the jsonb text scanner to hand a text to the general path.
      'format/jsonb-text-scanner.ts',
      // A worker thread's error rebuilt as the cause of the LedgerError the caller gets.
      'integrity/rehash-pool.ts',
    ]);
  });
});
