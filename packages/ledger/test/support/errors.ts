import { LedgerError, type LedgerErrorCode } from 'execution-ledger';
import { expect } from 'vitest';

/** Runs `fn`, expects it to throw a LedgerError with `code`, and returns that error for more checks. */
export function expectLedgerError(fn: () => unknown, code: LedgerErrorCode): LedgerError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected a LedgerError ${code}`).toBeInstanceOf(LedgerError);
  expect((thrown as LedgerError).code).toBe(code);
  return thrown as LedgerError;
}

/** The async form: awaits `promise`, expects it to reject with a LedgerError with `code`. */
export async function expectLedgerRejection(
  promise: Promise<unknown>,
  code: LedgerErrorCode,
): Promise<LedgerError> {
  const thrown = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(thrown, `expected a LedgerError ${code}`).toBeInstanceOf(LedgerError);
  expect((thrown as LedgerError).code).toBe(code);
  return thrown as LedgerError;
}
