import { makeExecution } from '@execution-ledger/test-support';
import { getExecutionByRunId, LedgerError, recordExecution } from 'execution-ledger';
import { describe, expect, it } from 'vitest';

// Vitest gives each test file its own module graph, so nothing here has initialised the ledger.
describe('the functional API before initializeExecutionLedger()', () => {
  it('refuses to record with NOT_INITIALIZED and names the call to make', () => {
    let caught: unknown;
    try {
      void recordExecution(makeExecution('proj-x'));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LedgerError);
    expect((caught as LedgerError).code).toBe('NOT_INITIALIZED');
    expect((caught as LedgerError).message).toContain('initializeExecutionLedger(client)');
  });

  it('refuses to read with the same error', () => {
    expect(() => getExecutionByRunId('run-1')).toThrowError(/not initialised/);
  });
});
