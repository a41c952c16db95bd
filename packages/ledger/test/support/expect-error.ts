import { LedgerError, type LedgerErrorCode } from 'execution-ledger';
import { expect } from 'vitest';

/** Awaits `action`, expects a LedgerError with `code`, and returns it for further checks. */
export async function expectLedgerError(
  action: Promise<unknown> | (() => unknown),
  code: LedgerErrorCode,
  field?: string,
): Promise<LedgerError> {
  let caught: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a LedgerError ${code}`).toBeInstanceOf(LedgerError);
  const error = caught as LedgerError;
  expect(error.code, error.message).toBe(code);
  if (field !== undefined) {
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
  }
  return error;
}
