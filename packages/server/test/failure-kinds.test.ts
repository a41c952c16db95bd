import { fileURLToPath } from 'node:url';
import { plainErrorConstructions } from '@execution-ledger/test-support';
import { describe, expect, it } from 'vitest';

describe('failure kinds', () => {
  it('constructs no TypeError, RangeError or plain Error in the server but the one Fastify expects', async () => {
    const found = await plainErrorConstructions(fileURLToPath(new URL('../src', import.meta.url)));
    // Fastify's schema validator contract: an Error carrying `validation`, which the error
    // handler answers as VALIDATION_FAILED.
    expect(found.map((line) => line.split(':')[0])).toEqual(['http/validator-compiler.ts']);
  });
});
