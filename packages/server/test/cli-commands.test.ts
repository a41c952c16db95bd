import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ENGINES, type EngineName, makeExecution } from '@execution-ledger/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, cliDatabase, runCli } from './support/cli-process.js';
import { tamperIntent } from './support/tamper.js';

// Each command is a new process, and opening the embedded database costs each one a few seconds:
// the commands run on the server when there is one. The end-to-end serve tests cover both engines.
const CLI_ENGINES: EngineName[] = ENGINES.includes('postgres') ? ['postgres'] : ['pglite'];

describe.each(CLI_ENGINES)('the execution-ledger commands [%s]', (engine) => {
  const project = `proj-${randomUUID()}`;
  let database: { target: string; cleanup: () => Promise<void> } = { target: '', cleanup: async () => {} };
  let files = '';
  const cli = (args: string[], input?: string) =>
    runCli(['--database', database.target, ...args], input === undefined ? {} : { input });

  beforeAll(async () => {
    database = await cliDatabase(engine);
    files = await mkdtemp(path.join(tmpdir(), 'execution-ledger-files-'));
  });
  afterAll(async () => {
    await database.cleanup();
    await rm(files, { recursive: true, force: true });
  });

  it('records from stdin and from a file, replays the same run, and exits 3 on refused input', async () => {
    const first = makeExecution(project, { run_id: `first-${project}`, cost: 100 });
    const fromStdin = await cli(['--json', 'record'], JSON.stringify(first));
    expect(fromStdin.code).toBe(0);
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ seq: 1, replayed: false });
    const file = path.join(files, 'runs.json');
    const failed = makeExecution(project, { status: 'failed', error_message: 'boom', cost: 50 });
    await writeFile(file, JSON.stringify([first, failed]));
    const fromFile = await cli(['--json', 'record', file]);
    expect(
      JSON.parse(fromFile.stdout).map((result: { record: { replayed: boolean } }) => result.record.replayed),
    ).toEqual([true, false]);
    const refused = await cli(['record'], '{"run_id":"x","run_id":"y"}');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('VALIDATION_FAILED');
  });

  it('gets, lists, shows failed runs and statistics as tables and as JSON; exits 4 for a missing run', async () => {
    const got = await cli(['--json', 'get', `first-${project}`]);
    expect(JSON.parse(got.stdout)).toMatchObject({ run_id: `first-${project}`, project_id: project });
    const table = await cli(['get', `first-${project}`]);
    expect(table.stdout).toMatch(/^seq\s+created_at\s+run_id/);
    const listed = JSON.parse((await cli(['--json', 'list', '--project', project, '--limit', '1'])).stdout);
    expect(listed.total).toBe(2);
    expect(listed.next_cursor).not.toBeNull();
    const failed = JSON.parse((await cli(['--json', 'failed', '--project', project])).stdout);
    expect(failed.map((record: { status: string }) => record.status)).toEqual(['failed']);
    const stats = JSON.parse((await cli(['--json', 'stats', '--project', project])).stdout);
    expect(stats).toMatchObject({ total_executions: 2, failed: 1, total_cost: 150 });
    // Behind a pooler that cannot keep prepared statements: the same answers without them.
    const unprepared = await cli(['--no-prepared-statements', '--json', 'stats', '--project', project]);
    expect(unprepared.code).toBe(0);
    expect(JSON.parse(unprepared.stdout)).toEqual(stats);
    const missing = await cli(['get', 'no-such-run']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('NOT_FOUND');
  });

  it('exports CSV and NDJSON with progress on stderr, and imports the NDJSON idempotently into another project', async () => {
    const csvFile = path.join(files, 'out.csv');
    const csv = await cli(['export', '--project', project, '--format', 'csv', '--output', csvFile]);
    expect(csv.code).toBe(0);
    expect(csv.stderr).toMatch(/export: 2 \/ 2 records \(100%\), [\d,]+\/s, ETA .*done in/);
    expect((await readFile(csvFile, 'utf8')).split('\r\n')[0]).toMatch(/^seq,created_at,run_id/);
    const ndjson = await cli(['export', '--project', project]);
    const records = ndjson.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(records.map((record) => record.seq)).toEqual([1, 2]);

    const copy = `${project}-copy`;
    const moved = records.map((record) =>
      JSON.stringify({ ...record, run_id: `copy-${record.run_id}`, project_id: copy }),
    );
    const importFile = path.join(files, 'import.ndjson');
    await writeFile(importFile, `${moved.join('\n')}\n{"run_id":\n`);
    const first = await cli(['--json', 'import', importFile, '--batch-size', '1']);
    expect(first.code).toBe(3);
    expect(JSON.parse(first.stdout)).toEqual({ created: 2, replayed: 0, refused: 1 });
    expect(first.stderr).toContain('line 3 refused');
    const again = await cli(['--json', 'import', importFile]);
    expect(JSON.parse(again.stdout)).toEqual({ created: 0, replayed: 2, refused: 1 });
  });

  it('ends quietly with exit 0 when the reader of its output stops early (| head)', async () => {
    const big = `big-${project}`;
    // More than a pipe holds (64 KiB), so the export is still writing when the reader goes.
    const runs = Array.from({ length: 4 }, () =>
      makeExecution(big, { input: { note: 'x'.repeat(100_000) } }),
    );
    expect((await cli(['--json', 'record'], JSON.stringify(runs))).code).toBe(0);
    const child = spawn(
      process.execPath,
      [CLI_PATH, '--database', database.target, 'export', '--project', big],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const firstChunk = await new Promise<Buffer>((resolve) => child.stdout.once('data', resolve));
    expect(firstChunk.length).toBeGreaterThan(0);
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|\n\s+at /);
  });

  it('resumes an interrupted import after the last recorded batch', async () => {
    const importFile = path.join(files, 'resume.ndjson');
    const lines = [1, 2, 3].map((index) =>
      JSON.stringify(makeExecution(`${project}-resume`, { run_id: `resume-${index}-${project}` })),
    );
    await writeFile(importFile, `${lines.join('\n')}\n`);
    // The state an import leaves after its first batch of two lines, as if it had been killed then.
    const size = Buffer.byteLength(`${lines.join('\n')}\n`);
    await writeFile(`${importFile}.import-state.json`, JSON.stringify({ file_bytes: size, lines_done: 2 }));
    const resumed = await cli(['--json', 'import', importFile]);
    expect(resumed.stderr).toContain('resuming after line 2');
    expect(JSON.parse(resumed.stdout)).toEqual({ created: 1, replayed: 0, refused: 0 });
    const whole = await cli(['--json', 'import', importFile]);
    expect(JSON.parse(whole.stdout)).toEqual({ created: 2, replayed: 1, refused: 0 });
  });

  it('creates, lists and revokes keys; exits 4 for an unknown key', async () => {
    const created = JSON.parse(
      (await cli(['--json', 'keys', 'create', '--role', 'read', '--name', 'cli', '--project', project]))
        .stdout,
    );
    expect(created).toMatchObject({ role: 'read', projects: [project], revoked_at: null });
    const listed = await cli(['--json', 'keys', 'list']);
    expect(listed.stdout).toContain(created.id);
    expect(listed.stdout).not.toContain(created.token);
    const revoked = JSON.parse((await cli(['--json', 'keys', 'revoke', created.id])).stdout);
    expect(revoked.revoked_at).not.toBeNull();
    expect((await cli(['keys', 'revoke', 'nope'])).code).toBe(4);
  });

  it('verifies a chain (exit 0), then finds a rewritten entry (exit 5 and its seq)', async () => {
    const good = await cli(['--json', 'verify', '--project', project]);
    expect(good.code).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ ok: true, entries_checked: 2 });
    await tamperIntent(database.target, `first-${project}`);
    const bad = await cli(['--json', 'verify', '--all']);
    expect(bad.code).toBe(5);
    const reports = JSON.parse(bad.stdout) as { project_id: string; ok: boolean; first_bad_seq: number }[];
    expect(reports.find((report) => report.project_id === project)).toMatchObject({
      ok: false,
      first_bad_seq: 1,
    });
    expect(bad.stderr).toMatch(/verify: .* entries/);
  });

  it('migrates (nothing left to apply) and runs the demo, which replays on a second run', async () => {
    const migrated = await cli(['--json', 'migrate']);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ applied: [] });
    const first = JSON.parse((await cli(['--json', 'demo', '--runs', '40'])).stdout);
    expect(first.created + first.replayed).toBe(43);
    expect(first.projects.every((project: { verified: boolean }) => project.verified)).toBe(true);
    const second = JSON.parse((await cli(['--json', 'demo', '--runs', '40'])).stdout);
    expect(second).toMatchObject({ created: 0, replayed: 43 });
    // As a table: the first project's agents, then what each model cost (the runs' typed steps).
    const table = await cli(['demo', '--runs', '40']);
    expect(table.stdout).toContain('Recorded 0 new runs (43 were already there).');
    expect(table.stdout).toMatch(
      /By model in proj-001:\nmodel +steps +tokens +cost\n[- ]+\n(o3|gpt-4o|gpt-4o-mini|claude-sonnet) +\d+ +\d+ +\$\d+\.\d{2}/,
    );
  });

  it('refuses to serve with a too short EXECUTION_LEDGER_ADMIN_KEY, naming the variable (exit 3)', async () => {
    const refused = await runCli(['--database', database.target, 'serve'], {
      env: { EXECUTION_LEDGER_ADMIN_KEY: 'short' },
    });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('EXECUTION_LEDGER_ADMIN_KEY must be 32 to 200 printable characters');
  });

  it('exits 2 on usage errors and prints help with an example for every command', async () => {
    expect((await cli(['list', '--limit', 'zero'])).code).toBe(2);
    expect((await cli(['no-such-command'])).code).toBe(2);
    const commands = [
      'serve',
      'migrate',
      'record',
      'get',
      'list',
      'failed',
      'stats',
      'export',
      'import',
      'verify',
      'keys',
      'keys create',
      'keys list',
      'keys revoke',
      'checkpoint',
      'signing-key',
      'signing-key create',
      'signing-key rotate',
      'demo',
    ];
    const helps = await Promise.all(commands.map((command) => runCli([...command.split(' '), '--help'])));
    helps.forEach((help, index) => {
      expect(help.code, commands[index]).toBe(0);
      expect(help.stdout, commands[index]).toMatch(/Example:\n {2}\$ (\S+=\S+ )?execution-ledger /);
    });
  });
});
