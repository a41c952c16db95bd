import { access, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeExecution, present } from '@execution-ledger/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliDatabase, runCli } from './support/cli-process.js';

const PROJECT = 'proj-001';
const SECURITY_DOC = new URL('../../../docs/security.md', import.meta.url);

/** The `execution-ledger …` lines of every sh block of a page, in order, as argument lists. */
function documentedCommands(markdown: string): string[][] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => present(match[1]));
  // Blocks inside list items are indented; the commands are the same.
  const lines = blocks
    .flatMap((block) => block.split('\n').map((line) => line.trim()))
    .filter((line) => line.startsWith('execution-ledger '));
  // Split on spaces as a shell would for these lines; quoting would need a real shell.
  for (const line of lines) expect(line, 'documented commands use no quotes').not.toMatch(/['"\\$]/);
  return lines.map((line) => line.split(/\s+/).slice(1));
}

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

// Checkpoints cover every project of a database, and other test files sign and append on the
// shared server at the same time: "nothing changed" and "checkpoint 1" hold only on a database of
// this file's own, so these commands run on a fresh embedded folder.
describe('the checkpoint commands on an embedded ledger', () => {
  let database = { target: '', cleanup: async () => {} };
  let dir = '';
  const inDir = (file: string) => path.join(dir, file);
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}, input?: string) =>
    runCli(args, {
      cwd: dir,
      env: { DATABASE_URL: database.target, ...env },
      ...(input === undefined ? {} : { input }),
    });
  const record = async (projectId: string, count: number) => {
    const runs = Array.from({ length: count }, () => makeExecution(projectId));
    expect((await cli(['record'], {}, JSON.stringify(runs))).code).toBe(0);
  };
  const documented = new Map<string, CliResult>();

  beforeAll(async () => {
    database = await cliDatabase('pglite');
    dir = await mkdtemp(path.join(tmpdir(), 'execution-ledger-audit-'));
    await record(PROJECT, 3);
  });
  afterAll(async () => {
    await database.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs every command of docs/security.md as written: keys, checkpoint, proven export, offline and live verify', async () => {
    const commands = documentedCommands(await readFile(SECURITY_DOC, 'utf8'));
    expect(commands.map((args) => args.slice(0, 2).join(' '))).toEqual([
      'signing-key create',
      'signing-key rotate',
      'checkpoint --private-key',
      'export --project',
      'verify --file',
      'verify --project',
    ]);
    for (const args of commands) {
      const result = await cli(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      documented.set(args.slice(0, 2).join(' '), result);
    }
    expect((await readFile(inDir('checkpoint.pub'), 'utf8')).trim().split('\n')).toHaveLength(2);
    expect(await readFile(inDir('cp-1.txt'), 'utf8')).toMatch(/^execution-ledger\n1\n\S{44}\nseq 1\n/);
    const [proofLine, ...entries] = (await readFile(inDir('export.ndjson'), 'utf8')).trimEnd().split('\n');
    expect(JSON.parse(present(proofLine)).inclusion_proof).toMatchObject({
      project_id: PROJECT,
      checkpoint_seq: 1,
    });
    expect(entries.map((line) => JSON.parse(line).seq)).toEqual([1, 2, 3]);
    expect(present(documented.get('verify --file')).stdout).toContain(
      'checkpoint:  1 (signature valid, commits to seq 3, 0 entries after it)\nresult:      verified',
    );
    expect(present(documented.get('verify --project')).stdout).toMatch(
      /proj-001\s+verified\s+3\s+\S+\s+1, signature valid/,
    );
  });

  it('verify --file exits 5 naming the entry of a changed line, the cut tail of a truncated export, or a forged note', async () => {
    const verify = (file: string, note = 'cp-1.txt') =>
      cli(['verify', '--file', file, '--checkpoint', note, '--public-key', 'checkpoint.pub']);
    const lines = (await readFile(inDir('export.ndjson'), 'utf8')).split('\n');
    await writeFile(
      inDir('changed.ndjson'),
      lines
        .map((line, index) => (index === 2 ? line.replace('"intent":"Deploy', '"intent":"Undo') : line))
        .join('\n'),
    );
    const changed = await verify('changed.ndjson');
    expect(changed.code).toBe(5);
    expect(changed.stdout).toContain(
      'result:      BROKEN at entry seq 2 (line 3): payload_hash does not match',
    );
    await writeFile(inDir('cut.ndjson'), `${lines.slice(0, 3).join('\n')}\n`);
    const cut = await verify('cut.ndjson');
    expect(cut.code).toBe(5);
    expect(cut.stdout).toContain(
      'BROKEN at entry seq 3: the chain ends at seq 2 but checkpoint 1 commits to seq 3',
    );
    const cutJson = JSON.parse(
      (
        await cli([
          '--json',
          'verify',
          '--file',
          'cut.ndjson',
          '--checkpoint',
          'cp-1.txt',
          '--public-key',
          'checkpoint.pub',
        ])
      ).stdout,
    );
    expect(cutJson).toMatchObject({
      ok: false,
      first_bad_seq: 3,
      entries_checked: 2,
      checkpoint: { ok: false },
    });
    const note = await readFile(inDir('cp-1.txt'), 'utf8');
    await writeFile(inDir('forged.txt'), note.replace(/^execution-ledger\n1\n/, 'execution-ledger\n2\n'));
    const forged = await verify('export.ndjson', 'forged.txt');
    expect(forged.code).toBe(5);
    expect(forged.stdout).toMatch(
      /checkpoint:\s+rejected \(signature invalid\)\nresult:\s+BROKEN: checkpoint note: the signature/,
    );
  });

  it('verify --file opens no database: nothing is created where the ledger would be', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'execution-ledger-offline-'));
    try {
      const args = [
        'verify',
        '--file',
        inDir('export.ndjson'),
        '--checkpoint',
        inDir('cp-1.txt'),
        '--public-key',
        inDir('checkpoint.pub'),
      ];
      const offline = await runCli(args, { cwd: empty, env: { DATABASE_URL: undefined } });
      expect(offline.code).toBe(0);
      expect(offline.stderr).toMatch(/verify: ([\d,]+) \/ \1 bytes \(100%\).*done in/);
      const named = await runCli(['--database', path.join(empty, 'ledger'), ...args], { cwd: empty });
      expect(named.code).toBe(0);
      expect(await readdir(empty)).toEqual([]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('checkpoint --if-changed signs nothing while no head moved; the key may come from EXECUTION_LEDGER_CHECKPOINT_KEY', async () => {
    const viaVariable = { EXECUTION_LEDGER_CHECKPOINT_KEY: 'checkpoint.key' };
    const unchanged = await cli(['checkpoint', '--if-changed', '--json'], viaVariable);
    expect(JSON.parse(unchanged.stdout)).toMatchObject({
      created: false,
      heads_changed: 0,
      checkpoint: { seq: 1 },
    });
    await record(PROJECT, 1);
    const signed = await cli(['checkpoint', '--private-key', 'checkpoint.key']);
    expect(signed.code).toBe(0);
    expect(signed.stderr).toContain('checkpoint 2 signed by execution-ledger');
    expect(signed.stdout).toMatch(
      /^execution-ledger\n1\n\S{44}\nseq 2\n[\s\S]*\n\n— execution-ledger \S+\n$/,
    );
    const again = await cli(['checkpoint', '--if-changed', '--out', 'cp-latest.txt'], viaVariable);
    expect(again.stdout).toContain('no project head moved since checkpoint 2; nothing signed');
    expect(await readFile(inDir('cp-latest.txt'), 'utf8')).toBe(signed.stdout);
  });

  it('after a rotation older notes still verify and new ones use the new key; another key makes verify exit 5', async () => {
    const rotated = JSON.parse(
      (
        await cli([
          '--json',
          'signing-key',
          'rotate',
          '--private-key',
          'checkpoint.key',
          '--public-key',
          'checkpoint.pub',
        ])
      ).stdout,
    );
    expect(rotated.key_id).not.toBe(rotated.previous_key_id);
    const old = await cli([
      'verify',
      '--file',
      'export.ndjson',
      '--checkpoint',
      'cp-1.txt',
      '--public-key',
      'checkpoint.pub',
    ]);
    expect(old.code).toBe(0);
    await record(PROJECT, 1);
    const next = JSON.parse((await cli(['--json', 'checkpoint', '--private-key', 'checkpoint.key'])).stdout);
    expect(next.checkpoint.key_id).toBe(rotated.key_id);
    expect((await cli(['verify', '--project', PROJECT, '--public-key', 'checkpoint.pub'])).code).toBe(0);
    await cli(['signing-key', 'create', '--private-key', 'other.key', '--public-key', 'other.pub']);
    const foreign = await cli(['--json', 'verify', '--project', PROJECT, '--public-key', 'other.pub']);
    expect(foreign.code).toBe(5);
    expect(JSON.parse(foreign.stdout)).toMatchObject({ ok: false, checkpoint: { signature: 'invalid' } });
  });

  it('export --proof refuses what it cannot prove before writing anything: exit 4 for a missing proof or checkpoint, 3 for CSV', async () => {
    await record('proj-late', 1);
    const refusals: [string[], number, string][] = [
      [
        ['--project', 'proj-late', '--proof'],
        4,
        'PROOF_NOT_FOUND: checkpoint 3 holds no head of project "proj-late"',
      ],
      [
        ['--project', PROJECT, '--checkpoint', '999'],
        4,
        'CHECKPOINT_NOT_FOUND: checkpoint 999 does not exist',
      ],
      [
        ['--project', PROJECT, '--proof', '--format', 'csv'],
        3,
        'VALIDATION_FAILED: --proof cannot go with --format csv',
      ],
      [
        ['--project', PROJECT, '--proof', '--since', '2026-01-01'],
        3,
        'VALIDATION_FAILED: --proof cannot go with --since',
      ],
    ];
    for (const [args, code, message] of refusals) {
      const refused = await cli(['export', ...args, '--output', 'refused.ndjson']);
      expect(refused.code, args.join(' ')).toBe(code);
      expect(refused.stderr).toContain(message);
      expect(await exists(inDir('refused.ndjson'))).toBe(false);
    }
  });

  it('checkpoint refuses a missing or malformed key before it opens the database (exit 3 INVALID_KEY)', async () => {
    const ghost = path.join(dir, 'no-ledger-here');
    await writeFile(inDir('bad.key'), 'PRIVATE+KEY+execution-ledger+00000000+AAAA\n');
    const refusals: [string[], string][] = [
      [
        [],
        'INVALID_KEY: checkpoint needs the signing key: pass --private-key <file> or set EXECUTION_LEDGER_CHECKPOINT_KEY',
      ],
      [['--private-key', 'bad.key'], 'INVALID_KEY: bad.key is not a private key file'],
      [['--private-key', 'missing.key'], 'INVALID_KEY: --private-key missing.key cannot be read (ENOENT)'],
    ];
    for (const [args, message] of refusals) {
      const refused = await cli(['--database', ghost, 'checkpoint', ...args], {
        EXECUTION_LEDGER_CHECKPOINT_KEY: undefined,
      });
      expect(refused.code, args.join(' ')).toBe(3);
      expect(refused.stderr).toContain(message);
      expect(refused.stderr).toContain('execution-ledger signing-key create');
    }
    expect(await exists(ghost)).toBe(false);
  });
});

describe('execution-ledger signing-key', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'execution-ledger-keys-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const cli = (args: string[]) => runCli(args, { cwd: dir, env: { DATABASE_URL: undefined } });

  it('writes a private key only its owner may read and never overwrites a key (KEY_FILE_EXISTS, exit 3)', async () => {
    const args = [
      'signing-key',
      'create',
      '--private-key',
      'signing.key',
      '--public-key',
      'signing.pub',
      '--name',
      'audit.example',
    ];
    const created = JSON.parse((await cli(['--json', ...args])).stdout);
    expect(created.key_id).toMatch(/^[0-9a-f]{8}$/);
    expect((await stat(path.join(dir, 'signing.key'))).mode & 0o777).toBe(0o600);
    const publicText = await readFile(path.join(dir, 'signing.pub'), 'utf8');
    expect(publicText).toBe(`${created.public_key}\n`);
    expect(publicText).toMatch(new RegExp(`^audit\\.example\\+${created.key_id}\\+`));
    const privateText = await readFile(path.join(dir, 'signing.key'), 'utf8');
    const again = await cli(args);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('KEY_FILE_EXISTS: --private-key signing.key already exists');
    expect(await readFile(path.join(dir, 'signing.key'), 'utf8')).toBe(privateText);
    expect(await readFile(path.join(dir, 'signing.pub'), 'utf8')).toBe(publicText);
    expect(
      (await cli(['signing-key', 'rotate', '--private-key', 'nope.key', '--public-key', 'signing.pub'])).code,
    ).toBe(3);
    expect((await readdir(dir)).sort()).toEqual(['signing.key', 'signing.pub']);
  });
});
