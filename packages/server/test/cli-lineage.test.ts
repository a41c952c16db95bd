import { randomUUID } from 'node:crypto';
import { ENGINES, type EngineName, makeExecution } from '@execution-ledger/test-support';
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
