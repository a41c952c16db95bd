import { readFile, stat } from 'node:fs/promises';
import { PRICE_TABLE_FILE_BYTES_MAX } from '../bounds.js';
import { LedgerError } from '../errors.js';
import { PriceTable } from './price-table.js';

/**
 * Reads and validates a JSON price table (the PriceTableInput shape). Every problem is a
 * VALIDATION_FAILED naming the file, so a bad deploy fails at start-up, not at the first charge.
 */
export async function loadPriceTableFile(path: string | URL): Promise<PriceTable> {
  const name = String(path);
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > PRICE_TABLE_FILE_BYTES_MAX) {
      throw new LedgerError(
        'PAYLOAD_TOO_LARGE',
        `price table file ${name} is ${size} bytes, more than ${PRICE_TABLE_FILE_BYTES_MAX}; use "*" fallbacks`,
        { field: 'prices' },
      );
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof LedgerError) throw error;
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new LedgerError(
      'VALIDATION_FAILED',
      `price table file ${name} cannot be read (${reason}); pass the path of a JSON price table`,
      { field: 'prices', cause: error },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `price table file ${name} is not valid JSON (${(error as Error).message}); fix the file`,
      { field: 'prices', cause: error },
    );
  }
  try {
    return PriceTable.from(parsed, 'prices');
  } catch (error) {
    if (!(error instanceof LedgerError)) throw error;
    throw new LedgerError(error.code, `price table file ${name}: ${error.message}`, {
      field: error.field ?? 'prices',
      cause: error,
    });
  }
}
