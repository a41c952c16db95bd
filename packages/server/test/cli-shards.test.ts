import { describe, expect, it } from 'vitest';
import { runCli } from './support/cli-process.js';

// The shards command's own input is checked before any database is opened: each refusal names
// the flag and how to fix it, and exits 3. The commands themselves run against a PL/Proxy
// catalog and three shard servers in fault/shards.js (CI), which moves a project with this CLI.
describe('execution-ledger shards: refused input', () => {
  const CATALOG = 'postgres://nobody@127.0.0.1:1/catalog';
  const REFUSALS: [string, string[], RegExp][] = [
    [
      'a --shard without a name',
      ['--catalog', CATALOG, '--shard', 'postgres://x@h/l', 'list'],
      /--shard "postgres:\/\/x@h\/l" is not name=postgres/,
    ],
    [
      'a --shard that is no URL',
      ['--catalog', CATALOG, '--shard', 's0=db0', 'list'],
      /--shard "s0=db0" is not name=postgres/,
    ],
    [
      'a shard given twice',
      ['--catalog', CATALOG, '--shard', 's0=postgres://a@h/l', '--shard', 's0=postgres://b@h/l', 'list'],
      /--shard s0 is given twice/,
    ],
    ['no shard', ['--catalog', CATALOG, 'verify'], /--shard name=postgres:\/\/… for each/],
    [
      'no catalog',
      ['--shard', 's0=postgres://a@h/l', 'list'],
      /pass --catalog postgres:\/\/… or set EXECUTION_LEDGER_CATALOG_URL/,
    ],
  ];

  it.each(REFUSALS)('refuses %s with VALIDATION_FAILED, exit 3', async (_what, args, message) => {
    const result = await runCli(['shards', ...args], { env: { EXECUTION_LEDGER_CATALOG_URL: undefined } });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/VALIDATION_FAILED/);
    expect(result.stderr).toMatch(message);
  });

  it('refuses a move to a shard it was not given, before touching the catalog', async () => {
    const result = await runCli([
      'shards',
      '--catalog',
      CATALOG,
      '--shard',
      's0=postgres://a@127.0.0.1:1/l',
      'move',
      'p',
      '--to',
      's9',
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/there is no shard "s9" in shards/);
  });
});

// serve's sharded flags are checked before any database is opened, as the shards command's are.
describe('execution-ledger serve --shard: refused input', () => {
  const SHARD = 's0=postgres://a@127.0.0.1:1/l';
  const REFUSALS: [string, string[], RegExp][] = [
    ['--catalog without a shard', ['--catalog', 'postgres://a@127.0.0.1:1/c'], /--catalog needs every shard/],
    ['a shard without the catalog', ['--shard', SHARD], /--shard needs the shard catalog: pass --catalog/],
    [
      'a --shard that is no URL',
      ['--catalog', 'postgres://a@127.0.0.1:1/c', '--shard', 's0=db0'],
      /is not name=postgres/,
    ],
    [
      'a checkpoint key (sharded checkpoints are signed by shards checkpoint)',
      ['--catalog', 'postgres://a@127.0.0.1:1/c', '--shard', SHARD, '--checkpoint-key', 'missing.key'],
      /a sharded service signs no checkpoints of its own/,
    ],
  ];

  it.each(REFUSALS)('refuses %s with VALIDATION_FAILED, exit 3', async (_what, args, message) => {
    const result = await runCli(['--database', 'postgres://a@127.0.0.1:1/home', 'serve', ...args], {
      env: { EXECUTION_LEDGER_CATALOG_URL: undefined, EXECUTION_LEDGER_CHECKPOINT_KEY: undefined },
    });
    expect(result.stderr).toMatch(/VALIDATION_FAILED/);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(3);
  });
});
