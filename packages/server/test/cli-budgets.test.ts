import { randomUUID } from 'node:crypto';
import { ENGINES, type EngineName, makeExecution } from '@execution-ledger/test-support';
import { describe, expect, it } from 'vitest';
import { useCliDatabase } from './support/cli-process.js';

const CLI_ENGINES: EngineName[] = ENGINES.includes('postgres') ? ['postgres'] : ['pglite'];

describe.each(CLI_ENGINES)('execution-ledger budgets and events [%s]', (engine) => {
  const project = `proj-${randomUUID()}`;
  const cli = useCliDatabase(engine);

  it('sets a budget, shows its status and list, prints events, and refuses a bad one', async () => {
    const budget = `cli-${project}`;
    const set = await cli([
      'budgets',
      'set',
      budget,
      '--project',
      project,
      '--period',
      'week',
      '--time-zone',
      'America/New_York',
      '--limit-cents',
      '1000',
      '--thresholds',
      '10,90',
      '--action',
      'warn',
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain(`budget ${budget} (project ${project}, week, warn): spent 0 of 1000 cents`);
    const run = makeExecution(project, { cost: { total: 150, breakdown: { tokens: 150 } } });
    expect((await cli(['record'], JSON.stringify(run))).code).toBe(0);

    const status = JSON.parse((await cli(['--json', 'budgets', 'status', budget])).stdout);
    expect(status).toMatchObject({
      id: budget,
      spent_cents: 150,
      remaining_cents: 850,
      thresholds: [10, 90],
    });
    const table = await cli(['budgets', 'list']);
    expect(table.stdout).toMatch(new RegExp(`${budget}.*week.*warn.*1000.*150`));

    const events = JSON.parse((await cli(['--json', 'events', '--project', project])).stdout);
    expect(events.events.map((event: { type: string }) => event.type)).toEqual(['budget.threshold']);
    const printed = await cli(['events', '--project', project, '--cursor', events.next_cursor]);
    expect(printed.stdout).toContain(`next cursor: ${events.next_cursor}`);

    const refused = await cli(['budgets', 'set', budget, '--period', 'day', '--limit-cents', '5']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('VALIDATION_FAILED');
    const hook = await cli([
      'webhooks',
      'add',
      `hook-${project}`,
      '--url',
      'https://hooks.example.com/ledger',
      '--secret',
      'whsec-0123456789abcdef',
      '--project',
      project,
    ]);
    expect(hook.code, hook.stderr).toBe(0);
    const hooks = JSON.parse((await cli(['--json', 'webhooks', 'list'])).stdout) as {
      id: string;
      url: string;
    }[];
    expect(hooks.find((endpoint) => endpoint.id === `hook-${project}`)).toMatchObject({
      url: 'https://hooks.example.com/ledger',
    });
    expect(JSON.stringify(hooks)).not.toContain('whsec-');
    expect((await cli(['webhooks', 'remove', `hook-${project}`])).code).toBe(0);
    const gone = await cli(['webhooks', 'remove', `hook-${project}`]);
    expect(gone.stderr).toContain('NOT_FOUND');
    const badHook = await cli([
      'webhooks',
      'add',
      'x',
      '--url',
      'ftp://x',
      '--secret',
      'whsec-0123456789abcdef',
    ]);
    expect(badHook.stderr).toContain('VALIDATION_FAILED');

    // The settings are the database's, shared by the suite: read them, and refuse a bad change.
    const settings = JSON.parse((await cli(['anomalies'])).stdout);
    expect(Object.keys(settings).sort()).toEqual([
      'daily_days',
      'daily_min_days',
      'enabled',
      'min_sample',
      'threshold',
      'window_runs',
    ]);
    expect((await cli(['anomalies', '--threshold', '-1'])).stderr).toContain('VALIDATION_FAILED');

    const missing = await cli(['budgets', 'status', 'no-such-budget']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('BUDGET_NOT_FOUND');
  });
});
