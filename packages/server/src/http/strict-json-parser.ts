import { LedgerError } from 'execution-ledger';
import { isSafeNumber, parse } from 'lossless-json';

/**
 * Parses a request body as JSON and refuses what JSON.parse would silently change before the
 * ledger could hash it: a key given twice with different values (JSON.parse keeps the last,
 * other parsers the first) and a number whose text does not survive as a JS number (integers
 * beyond 2^53, more digits than a double holds, 1e400). `__proto__` stays an own data key.
 */
export function parseStrictJson(text: string): unknown {
  try {
    return parse(text, null, {
      parseNumber: parseExactNumber,
      onDuplicateKey: ({ key }) => {
        throw new LedgerError(
          'VALIDATION_FAILED',
          `body has the key ${JSON.stringify(key.slice(0, 60))} twice in one object; send each key once`,
          { field: 'body' },
        );
      },
    });
  } catch (error) {
    if (error instanceof LedgerError) throw error;
    throw new LedgerError(
      'VALIDATION_FAILED',
      `body is not valid JSON (${(error as Error).message}); send one JSON document`,
      { field: 'body' },
    );
  }
}

function parseExactNumber(text: string): number {
  if (!isSafeNumber(text)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `body has the number ${text.slice(0, 40)}, which a 64-bit float cannot hold exactly; ` +
        'send it as a string, or with fewer significant digits',
      { field: 'body' },
    );
  }
  return Number(text);
}
