import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ENGINES, type EngineName, makeExecution, present } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliDatabase, runCli } from './support/cli-process.js';

const CLI_ENGINES: EngineName[] = ENGINES.includes('postgres') ? ['postgres'] : ['pglite'];

describe.each(CLI_ENGINES)('execution-ledger tree [%s]', (engine) => {
  const project = `proj-${randomUUID()}`;
  let database: { target: string; cleanup: () => Promise<void> } = { target: '', cleanup: async () => {} };
  const cli = (args: string[], input?: string) =>
    runCli(['--database', database.target, ...args], input === undefined ? {} : { input });

  beforeAll(async () => {
    database = await cliDatabase(engine);
    const runs = [
      makeExecution(project, { run_id: `${project}-leaf`, parent_run_id: `${project}-mid`, cost: 1 }),
      makeExecution(project, { run_id: `${project}-mid`, parent_run_id: `${project}-root`, cost: 2 }),
    ];
    expect((await cli(['record'], JSON.stringify(runs))).code).toBe(0);
  });
  afterAll(async () => {
    await database.cleanup();
  });

  it('prints the tree indented, with the missing root, and as JSON', async () => {
    const text = await cli(['tree', `${project}-leaf`]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`${project}-root  (not recorded)  subtree $0.03`);
    expect(lines[1]).toMatch(
      new RegExp(`^  ${project}-mid  completed  backend  own \\$0\\.02  subtree \\$0\\.03$`),
    );
    expect(lines[2]).toMatch(new RegExp(`^    ${project}-leaf  completed .* <$`));
    expect(text.stdout).toContain(`is named as a parent but not recorded`);
    const json = JSON.parse((await cli(['--json', 'tree', `${project}-mid`, '--below'])).stdout);
    expect(json).toMatchObject({ root_run_id: `${project}-mid`, node_count: 2, total_cost: 3 });
    const missing = await cli(['tree', 'no-such-run']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('NOT_FOUND');
    expect((await cli(['tree', `${project}-leaf`, '--max-depth', '0'])).code).toBe(2);
    const help = await runCli(['tree', '--help']);
    expect(help.stdout).toMatch(/Example:\n {2}\$ execution-ledger tree /);
  });
});

describe.each(CLI_ENGINES)('execution-ledger allocate [%s]', (engine) => {
  const project = `proj-${randomUUID()}`;
  const period = new Date().toISOString().slice(0, 7);
  let database: { target: string; cleanup: () => Promise<void> } = { target: '', cleanup: async () => {} };
  let files = '';
  const cli = (args: string[], input?: string) =>
    runCli(['--database', database.target, ...args], input === undefined ? {} : { input });

  beforeAll(async () => {
    database = await cliDatabase(engine);
    files = await mkdtemp(path.join(tmpdir(), 'execution-ledger-allocate-'));
    expect((await cli(['record'], JSON.stringify(makeExecution(project, { cost: 100 })))).code).toBe(0);
  });
  afterAll(async () => {
    await database.cleanup();
    await rm(files, { recursive: true, force: true });
  });

  it('publishes a rule set from a file and reports a month as a table, JSON and CSV', async () => {
    const rules = path.join(files, 'rules.json');
    await writeFile(
      rules,
      JSON.stringify({
        effective_from: '2026-01-01',
        rules: [
          {
            id: 'even',
            scope: { project_id: [project] },
            source: { part: 'total' },
            method: 'even',
            targets: [{ cost_center: 'a' }, { cost_center: 'b' }, { cost_center: 'c' }],
          },
        ],
      }),
    );
    const published = JSON.parse((await cli(['--json', 'allocate', '--publish', rules])).stdout);
    expect(published.hash).toMatch(/^[0-9a-f]{64}$/);
    const version = String(published.version);
    const table = await cli(['allocate', '--period', period, '--rule-set-version', version]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`rule set version ${version} (sha256 ${published.hash})`);
    const json = JSON.parse(
      (await cli(['--json', 'allocate', '--period', period, '--rule-set-version', version])).stdout,
    );
    expect(json.lines.map((line: { effective_cost: number }) => line.effective_cost)).toEqual([
      33.333334, 33.333333, 33.333333,
    ]);
    const csv = await cli(['allocate', '--period', period, '--rule-set-version', version, '--csv']);
    expect(csv.stdout.split('\r\n')[0]).toMatch(/^BillingCurrency,ChargePeriodStart,ChargePeriodEnd,/);
    const bad = await cli(['allocate', '--period', '2026-13']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('VALIDATION_FAILED');
    expect((await cli(['allocate'])).code).toBe(3);
    const help = await runCli(['allocate', '--help']);
    expect(help.stdout).toMatch(/Example:\n {2}\$ execution-ledger allocate /);
  });
});

describe.each(CLI_ENGINES)('execution-ledger replay [%s]', (engine) => {
  const project = `proj-${randomUUID()}`;
  let database: { target: string; cleanup: () => Promise<void> } = { target: '', cleanup: async () => {} };
  let runId = '';
  const cli = (args: string[]) => runCli(['--database', database.target, ...args]);

  beforeAll(async () => {
    database = await cliDatabase(engine);
    const ledger = createLedger({ database: database.target });
    try {
      const { record } = await ledger.run(
        { project_id: project, user_id: 'u', agent_id: 'a', intent: 'lookup', input: {}, capture: true },
        async (ctx) => {
          await ctx.step('prepare', () => undefined);
          return ctx.call('tool', 'lookup', { q: 'ledger' }, () => ({ answer: 42 }), {
            charge: () => ctx.accountToolCall('lookup'),
          });
        },
      );
      runId = present(record).run_id;
    } finally {
      await ledger.close();
    }
  });
  afterAll(async () => {
    await database.cleanup();
  });

  it('prints the step timeline with each captured request and response', async () => {
    const shown = await cli(['replay', runId, '--show']);
    expect(shown.code).toBe(0);
    const lines = shown.stdout.split('\n');
    expect(lines[0]).toBe(`${runId}  completed  cost 1 cents`);
    expect(lines[1]).toMatch(/^#0 {2}prepare {2}\+\d+ ms, \d+ ms, 0 cents$/);
    expect(lines[2]).toMatch(/^#1 {2}lookup \[tool\] {2}\+\d+ ms, \d+ ms, 1 cents$/);
    expect(lines[3]).toBe('    request: {"q":"ledger"}');
    expect(lines[4]).toBe('    response: {"answer":42}');
    const json = JSON.parse((await cli(['--json', 'replay', runId, '--show'])).stdout);
    expect(json.steps[1].response.value).toEqual({ answer: 42 });
    expect((await cli(['replay', runId])).code).toBe(3);
    expect((await cli(['replay', 'no-such-run', '--show'])).code).toBe(4);
  });

  it('exports the blobs only with --blobs, and verify --file proves or refuses each', async () => {
    const files = await mkdtemp(path.join(tmpdir(), 'execution-ledger-blobs-'));
    try {
      const withBlobs = path.join(files, 'with.ndjson');
      const without = path.join(files, 'without.ndjson');
      expect((await cli(['export', '--project', project, '--blobs', '--output', withBlobs])).code).toBe(0);
      expect((await cli(['export', '--project', project, '--output', without])).code).toBe(0);
      const lines = (await readFile(withBlobs, 'utf8')).split('\n').filter((line) => line !== '');
      const blobs = lines.filter((line) => line.startsWith('{"replay_blob":'));
      expect(blobs).toHaveLength(2);
      expect(await readFile(without, 'utf8')).not.toContain('replay_blob');

      const verified = await cli(['verify', '--file', withBlobs]);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toContain('blobs:       2 checked against their entries\n');
      expect(verified.stdout).toContain('result:      verified');
      const bare = await cli(['verify', '--file', without]);
      expect(bare.code).toBe(0);
      expect(bare.stdout).toContain('0 checked against their entries, 2 referenced but not in the file');

      // One byte of the response changed: {"answer":42} becomes {"answer":43}.
      const tampered = path.join(files, 'tampered.ndjson');
      const changed = lines.map((line) => {
        if (!line.startsWith('{"replay_blob":')) return line;
        const value = JSON.parse(line) as { replay_blob: { content_base64: string } };
        const content = Buffer.from(value.replay_blob.content_base64, 'base64').toString('utf8');
        if (content !== '{"answer":42}') return line;
        value.replay_blob.content_base64 = Buffer.from('{"answer":43}').toString('base64');
        return JSON.stringify(value);
      });
      expect(changed).not.toEqual(lines);
      await writeFile(tampered, `${changed.join('\n')}\n`);
      const refused = await cli(['verify', '--file', tampered]);
      expect(refused.code).toBe(5);
      expect(refused.stdout).toMatch(
        /result: {6}BROKEN at entry seq 1 \(line \d\): replay blob [0-9a-f]{64}: its content hashes to [0-9a-f]{64}; the blob was changed/,
      );

      const csv = await cli(['export', '--project', project, '--format', 'csv', '--blobs']);
      expect(csv.code).toBe(3);
      expect(csv.stderr).toContain('format csv cannot carry replay blobs');
    } finally {
      await rm(files, { recursive: true, force: true });
    }
  });
});
