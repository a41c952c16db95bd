import { AssertionError } from 'node:assert';

/**
 * The value, which the test expects to exist: a missing one fails the test here, naming what
 * was missing, instead of surfacing later as a TypeError on undefined.
 */
export function present<T>(value: T | null | undefined, what = 'the value'): T {
  if (value === null || value === undefined) {
    throw new AssertionError({ message: `expected ${what} to be present; got ${String(value)}` });
  }
  return value;
}
