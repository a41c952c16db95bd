/**
 * node:assert's `assert` for the format layer, which imports nothing from Node but node:crypto
 * so that it runs outside Node.js: a broken invariant throws and is never caught.
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) {
    const error = new Error(message);
    error.name = 'AssertionError';
    throw error;
  }
}
