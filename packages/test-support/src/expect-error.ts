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

/** The synchronous form: runs `fn`, expects it to throw a LedgerError with `code`. */
export function expectLedgerErrorSync(fn: () => unknown, code: LedgerErrorCode): LedgerError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a LedgerError ${code}`).toBeInstanceOf(LedgerError);
  expect((caught as LedgerError).code).toBe(code);
  return caught as LedgerError;
}

/** Awaits `promise` and expects a rejection with a LedgerError with `code`. */
export function expectLedgerRejection(
  promise: Promise<unknown>,
  code: LedgerErrorCode,
): Promise<LedgerError> {
  return expectLedgerError(promise, code);
}
