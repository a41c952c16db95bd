import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EngineName, prepareServerDatabase, present } from '@execution-ledger/test-support';
import { afterAll, beforeAll } from 'vitest';

/** The built CLI, run as users run it. */
/**
 * A test that starts `serve` on a fresh embedded folder waits for initdb, migrations and a
 * child process: seconds on a quiet machine, and past the suite's default minute when the
 * machine's two cores are shared with other work.
 */
export const SERVE_PROCESS_TEST_MS = 150_000;

export const CLI_PATH = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to its end. An env entry set to undefined is removed from the environment. */
export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<CliResult> {
  const env = { ...process.env, ...options.env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI_PATH, ...args],
      { env, maxBuffer: 64 * 1024 * 1024, ...(options.cwd === undefined ? {} : { cwd: options.cwd }) },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

export interface RunningServer {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

/** Starts `serve` (with `serveArgs` after it) on a free loopback port and waits for the address it prints. */
export async function startServe(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  serveArgs: string[] = [],
): Promise<RunningServer> {
  // Without TEST_OWNER_DATABASE_URL the server suite connects as the owner, which serve refuses
  // unless told: say so, as an operator who chose a single role would.
  const singleRole =
    process.env.TEST_OWNER_DATABASE_URL === undefined && args.includes(process.env.TEST_DATABASE_URL ?? '');
  const child = spawn(
    process.execPath,
    [
      CLI_PATH,
      ...args,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--log-level',
      'silent',
      ...(singleRole ? ['--allow-privileged-role'] : []),
      ...serveArgs,
    ],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    present(child.stdout).on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match !== null) resolve(present(match[1]));
    });
    present(child.stderr).on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code} before listening: ${output}`)));
  });
  return { url, child, exited };
}

/** Where CLI processes keep the ledger: the PostgreSQL server, or a fresh embedded folder. */
export async function cliDatabase(
  engine: EngineName,
): Promise<{ target: string; cleanup: () => Promise<void> }> {
  if (engine === 'postgres') {
    // CLI processes connect as the runtime role, which finds the schema migrated by the owner.
    await prepareServerDatabase();
    return { target: present(process.env.TEST_DATABASE_URL), cleanup: async () => undefined };
  }
  const folder = await mkdtemp(path.join(tmpdir(), 'execution-ledger-cli-'));
  return { target: folder, cleanup: () => rm(folder, { recursive: true, force: true }) };
}

/**
 * A CLI database for the enclosing describe block (made before its tests, removed after) and a
 * `cli(args, input?)` that runs the CLI against it.
 */
export function useCliDatabase(engine: EngineName) {
  let database: { target: string; cleanup: () => Promise<void> } = { target: '', cleanup: async () => {} };
  beforeAll(async () => {
    database = await cliDatabase(engine);
  });
  afterAll(async () => {
    await database.cleanup();
  });
  const cli = (args: string[], input?: string) =>
    runCli(['--database', database.target, ...args], input === undefined ? {} : { input });
  /** The database the commands run against (a URL or a folder), for set-up a command cannot do. */
  return Object.assign(cli, { target: () => database.target });
}
