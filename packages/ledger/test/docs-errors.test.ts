import { readFileSync } from 'node:fs';
import { ERROR_CODES } from 'execution-ledger';
import { expect, it } from 'vitest';

const errorsDoc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

it.each(Object.entries(ERROR_CODES))(
  'documents %s in docs/errors.md with its HTTP status',
  (code, { status }) => {
    // Table cells may be padded by the formatter: match the row, not its spacing.
    expect(errorsDoc).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
    expect(errorsDoc).toContain(`- \`${code}\`:`);
  },
);
