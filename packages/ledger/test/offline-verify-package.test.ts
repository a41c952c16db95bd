import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import { exportExecutionsToNDJSON } from 'execution-ledger';
import { generateSigningKey } from 'execution-ledger/verify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findViolations, readImportGraph } from './support/import-graph.js';

// `execution-ledger/verify` is what an auditor runs on an export, away from any database: this
// installs the built subpath alone, with its pure dependencies and neither pg nor PGlite, in an
// empty folder, and verifies a real export there in a separate Node process.
const PACKAGE_ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(PACKAGE_ROOT, 'dist');
const PURE_DEPENDENCIES = ['canonicalize', 'lossless-json'];

/** The built files verify.js reaches, and the packages they import. */
function verifyClosure(): { files: string[]; packages: Set<string> } {
  const graph = readImportGraph(DIST, '.js');
  const files = new Set(['verify.js']);
  const packages = new Set<string>();
  findViolations(graph, ['verify.js'], (target, isPackage) => {
    if (isPackage) packages.add(target);
    else files.add(target);
    return true;
  });
  return { files: [...files], packages };
}

function dependencyFolder(name: string): string {
  for (let folder = PACKAGE_ROOT; ; folder = dirname(folder)) {
    const candidate = join(folder, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(folder) === folder) throw new Error(`${name} is not installed`);
  }
}

/** An auditor's folder: node_modules holds execution-ledger's verify subset and its pure dependencies. */
function installVerifyOnly(folder: string): void {
  const { files, packages } = verifyClosure();
  expect([...packages].sort()).toEqual(['canonicalize', 'lossless-json', 'node:crypto']);
  const target = join(folder, 'node_modules', 'execution-ledger');
  for (const file of files) {
    mkdirSync(dirname(join(target, 'dist', file)), { recursive: true });
    cpSync(join(DIST, file), join(target, 'dist', file));
  }
  cpSync(join(PACKAGE_ROOT, 'package.json'), join(target, 'package.json'));
  for (const name of PURE_DEPENDENCIES)
    cpSync(dependencyFolder(name), join(folder, 'node_modules', name), { recursive: true });
}

const AUDIT_SCRIPT = `
import { readFile } from 'node:fs/promises';
import { verifyExport } from 'execution-ledger/verify';

async function loads(name) {
  try { await import(name); return true; } catch { return false; }
}
const [ndjson, checkpoint, publicKey] = process.argv.slice(2);
const report = await verifyExport({
  ndjson: await readFile(ndjson, 'utf8'),
  checkpoint: await readFile(checkpoint, 'utf8'),
  publicKey: await readFile(publicKey, 'utf8'),
});
const database = { pg: await loads('pg'), pglite: await loads('@electric-sql/pglite'), ledger: await loads('execution-ledger') };
process.stdout.write(JSON.stringify({ report, database }));
`;

const key = generateSigningKey('auditor.test');

describeEachEngine('execution-ledger/verify without a database package', (context) => {
  let folder: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'offline-verify-'));
    installVerifyOnly(folder);
    writeFileSync(join(folder, 'audit.mjs'), AUDIT_SCRIPT);
    const projectId = context.project('audited');
    for (let i = 0; i < 3; i += 1) await context.ledger.recordExecution(makeExecution(projectId));
    const checkpoint = present(
      (await context.ledger.createCheckpoint({ privateKey: key.signingKey })).checkpoint,
    );
    await context.ledger.recordExecution(makeExecution(projectId)); // after the checkpoint
    const proof = present(await context.ledger.proveProject(projectId, checkpoint));
    let text = '';
    for await (const line of exportExecutionsToNDJSON(context.ledger, projectId, { proof })) text += line;
    writeFileSync(join(folder, 'export.ndjson'), text);
    writeFileSync(join(folder, 'checkpoint.txt'), checkpoint.note);
    writeFileSync(join(folder, 'checkpoint.pub'), key.publicKeyText);
  });

  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  async function audit(ndjson: string) {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['audit.mjs', ndjson, 'checkpoint.txt', 'checkpoint.pub'],
      { cwd: folder },
    );
    return JSON.parse(stdout);
  }

  it('verifies a real export, its proof and its signed checkpoint where pg and PGlite cannot load', async () => {
    const { report, database } = await audit('export.ndjson');
    expect(database).toEqual({ pg: false, pglite: false, ledger: false });
    expect(report).toMatchObject({ ok: true, entries_checked: 4, lines_read: 5, problems: [] });
    expect(report.checkpoint).toMatchObject({ ok: true, signature: 'valid', entries_after_checkpoint: 1 });
  });

  it('names the entry whose content was changed in the file', async () => {
    const lines = readFileSync(join(folder, 'export.ndjson'), 'utf8').split('\n');
    const entry = JSON.parse(present(lines[2]));
    lines[2] = JSON.stringify({ ...entry, intent: `${entry.intent} (edited)` });
    writeFileSync(join(folder, 'edited.ndjson'), lines.join('\n'));
    const { report } = await audit('edited.ndjson');
    expect(report).toMatchObject({ ok: false, first_bad_seq: 2, first_bad_line: 3 });
  });
});
