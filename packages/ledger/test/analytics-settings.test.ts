import { describeEachEngine } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { queryWithSettings } from '../src/analytics/analytics-query.js';

describeEachEngine('settings of one analytics statement', (context) => {
  it('turn JIT off for that statement alone where the engine has JIT, and skip it where it has none', async () => {
    const database = await context.ledger.database();
    const [available] = await database.query<{ available: boolean }>(
      'select pg_jit_available() as available',
    );
    const [inside] = await queryWithSettings<{ jit: string; work_mem: string }>(
      database,
      { jit: 'off', work_mem: '64MB' },
      `select current_setting('jit') as jit, current_setting('work_mem') as work_mem`,
      [],
    );
    // PGlite is built without JIT: the setting is left alone there, work_mem is applied anyway.
    expect(inside).toEqual({ jit: context.engine === 'pglite' ? 'on' : 'off', work_mem: '64MB' });
    if (context.engine === 'pglite') expect(available?.available).toBe(false);
    // Transaction-local: the next statement on any connection has the defaults again.
    const [after] = await database.query<{ jit: string; work_mem: string }>(
      `select current_setting('jit') as jit, current_setting('work_mem') as work_mem`,
    );
    expect(after?.work_mem).not.toBe('64MB');
  });
});
