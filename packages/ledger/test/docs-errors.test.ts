import { readFileSync } from 'node:fs';
import { ERROR_CODES } from 'execution-ledger';
import { expect, it } from 'vitest';

const errorsDoc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

it.each(Object.entries(ERROR_CODES))(
  'documents %s in docs/errors.md with its HTTP status',
  (code, { status }) => {
    expect(errorsDoc).toContain(`| \`${code}\` | ${status} |`);
    expect(errorsDoc).toContain(`- \`${code}\`:`);
  },
);
