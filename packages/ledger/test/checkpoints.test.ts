import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import { type Checkpoint, isLedgerError } from 'execution-ledger';
import {
  generateSigningKey,
  verifyCheckpointNote,
  verifyConsistencyProof,
  verifyExport,
  verifyProjectProof,
} from 'execution-ledger/verify';
import { describe, expect, it } from 'vitest';
import { exportLines } from './support/tamper.js';

const key = generateSigningKey('ledger.test');

type Admin = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * What "nothing was written or changed" means on a database other test files write to at the
 * same time: the checkpoints that existed are all there, byte for byte, and no checkpoint
 * signed with `keyId` (this file's key, or the refused one) appeared.
 */
async function checkpointState(admin: Admin, keyId: string) {
  const rows = await admin(
    `select coalesce(max(seq), 0)::int as newest,
       (select count(*)::int from execution_ledger.checkpoints where key_id = $1) as by_key
     from execution_ledger.checkpoints`,
    [keyId],
  );
  const newest = Number(rows[0]?.newest);
  return { newest, byKey: Number(rows[0]?.by_key), kept: await checkpointsUpTo(admin, newest) };
}

/** How many checkpoints and heads exist up to `seq`, and a digest of their notes. */
async function checkpointsUpTo(admin: Admin, seq: number) {
  const rows = await admin(
    `select count(*)::int as n,
       encode(sha256(convert_to(coalesce(string_agg(note, '' order by seq), ''), 'UTF8')), 'hex') as notes,
       (select count(*)::int from execution_ledger.checkpoint_heads where checkpoint_seq <= $1) as heads
     from execution_ledger.checkpoints where seq <= $1`,
    [seq],
  );
  return rows[0];
}

async function expectNothingWritten(
  admin: Admin,
  keyId: string,
  before: Awaited<ReturnType<typeof checkpointState>>,
) {
  const after = await checkpointState(admin, keyId);
  expect(after.byKey).toBe(before.byKey);
  expect(await checkpointsUpTo(admin, before.newest)).toEqual(before.kept);
}

describeEachEngine('signed checkpoints', (context) => {
  async function recordMany(projectId: string, count: number) {
    const records = [];
    for (let i = 0; i < count; i += 1)
      records.push(await context.ledger.recordExecution(makeExecution(projectId)));
    return records;
  }

  it('commits to every project head, and each head is proven against the signed note', async () => {
    const [a, b] = [context.project(), context.project()];
    const headA = present((await recordMany(a, 3)).at(-1));
    const headB = present((await recordMany(b, 1)).at(-1));
    const { created, checkpoint } = await context.ledger.createCheckpoint({ privateKey: key.privateKeyText });
    expect(created).toBe(true);
    const note = verifyCheckpointNote(present(checkpoint).note, key.publicKeyText);
    if (!note.ok) throw new Error(note.reason);
    expect(note.checkpoint.seq).toBe(present(checkpoint).seq);
    for (const head of [headA, headB]) {
      const proof = await context.ledger.proveProject(head.project_id, present(checkpoint));
      expect(proof?.head).toEqual({ seq: head.seq, entry_hash: head.entry_hash });
      expect(verifyProjectProof(proof, note.checkpoint)).toEqual({ ok: true });
    }
  });

  it('each checkpoint names the previous one, and a consistency proof shows the newer extends the older', async () => {
    await recordMany(context.project(), 1);
    const older = present((await context.ledger.createCheckpoint({ privateKey: key.signingKey })).checkpoint);
    await recordMany(context.project(), 1);
    const newer = present((await context.ledger.createCheckpoint({ privateKey: key.signingKey })).checkpoint);
    const previous = await context.ledger.getCheckpoint(newer.seq - 1);
    expect(newer.prev_hash).toBe(previous.checkpoint_hash);
    const proof = await context.ledger.proveConsistency(older, newer);
    expect(verifyConsistencyProof(older.note, newer.note, proof, key.publicKeyText)).toEqual({ ok: true });
    expect(verifyConsistencyProof(newer.note, older.note, proof, key.publicKeyText).ok).toBe(false);
    const forged = { ...proof, path: proof.path.length > 0 ? proof.path.slice(1) : ['00'.repeat(32)] };
    expect(verifyConsistencyProof(older.note, newer.note, forged, key.publicKeyText).ok).toBe(false);
  });

  // Other test files append on the shared server database at the same time, so "nothing moved"
  // can only be arranged on the per-file PGlite.
  it.skipIf(context.engine !== 'pglite')(
    'makes no checkpoint when asked to skip one with no moved head',
    async () => {
      await recordMany(context.project(), 1);
      const first = await context.ledger.createCheckpoint({ privateKey: key.signingKey });
      const again = await context.ledger.createCheckpoint({
        privateKey: key.signingKey,
        onlyIfChanged: true,
      });
      expect(again).toMatchObject({ created: false, heads_changed: 0 });
      expect(again.checkpoint?.seq).toBe(first.checkpoint?.seq);
      await recordMany(context.project(), 1);
      const moved = await context.ledger.createCheckpoint({
        privateKey: key.signingKey,
        onlyIfChanged: true,
      });
      expect(moved).toMatchObject({ created: true, heads_changed: 1 });
    },
  );

  it('a project with no entry at the checkpoint gets no proof in it', async () => {
    const checkpoint = present(
      (await context.ledger.createCheckpoint({ privateKey: key.signingKey })).checkpoint,
    );
    const late = context.project('late');
    await recordMany(late, 1);
    expect(await context.ledger.proveProject(late, checkpoint)).toBeNull();
  });

  it('CHECKPOINT_NOT_FOUND for a checkpoint that does not exist, and nothing is written', async () => {
    const before = await checkpointState(context.admin, key.signingKey.keyId);
    const newest = await context.ledger.getCheckpoint();
    for (const call of [
      () => context.ledger.getCheckpoint(newest.seq + 1_000_000),
      () => context.ledger.proveProject(context.project(), newest.seq + 1_000_000),
      () => context.ledger.proveConsistency(1, newest.seq + 1_000_000),
    ]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(isLedgerError(error, 'CHECKPOINT_NOT_FOUND')).toBe(true);
    }
    await expectNothingWritten(context.admin, key.signingKey.keyId, before);
  });

  it('INVALID_KEY for a malformed private key, and no checkpoint is written', async () => {
    await recordMany(context.project(), 1);
    const before = await checkpointState(context.admin, '00000000');
    const error = await context.ledger
      .createCheckpoint({ privateKey: 'PRIVATE+KEY+x+00000000+AAAA' })
      .catch((caught: unknown) => caught);
    expect(isLedgerError(error, 'INVALID_KEY') && error.field).toBe('privateKey');
    await expectNothingWritten(context.admin, '00000000', before);
  });

  it('checkpoint tables refuse UPDATE, DELETE and TRUNCATE, from the owner, a superuser and replica mode', async () => {
    await context.ledger.createCheckpoint({ privateKey: key.signingKey });
    const before = await checkpointState(context.admin, key.signingKey.keyId);
    const database = await context.ledger.database();
    const attempts: [string, () => Promise<unknown>][] = [];
    for (const table of ['checkpoints', 'checkpoint_heads']) {
      for (const sql of [
        `update execution_ledger.${table} set seq = seq`,
        `delete from execution_ledger.${table}`,
        `truncate execution_ledger.${table}`,
      ]) {
        attempts.push([`owner: ${sql}`, () => database.query(sql)]);
        attempts.push([`superuser: ${sql}`, () => context.admin(sql)]);
      }
    }
    const replica = `set session_replication_role = replica; delete from execution_ledger.checkpoints`;
    if (context.engine === 'postgres') attempts.push(['replica mode', () => context.admin(replica)]);
    const allowed: string[] = [];
    for (const [name, attempt] of attempts) {
      const outcome = await attempt().then(
        () => 'allowed',
        (error: unknown) => String((error as Error).message),
      );
      if (!/append-only|permission denied/.test(outcome)) allowed.push(`${name}: ${outcome}`);
    }
    expect(allowed).toEqual([]);
    await expectNothingWritten(context.admin, key.signingKey.keyId, before);
  });

  it('verifyLedger compares the chain with the newest checkpoint and checks its signature', async () => {
    const projectId = context.project();
    await recordMany(projectId, 2);
    await context.ledger.createCheckpoint({ privateKey: key.signingKey });
    await recordMany(projectId, 1);
    const report = await context.ledger.verifyLedger(projectId, { publicKey: key.publicKeyText });
    expect(report).toMatchObject({ ok: true, entries_checked: 3 });
    expect(report.checkpoint).toMatchObject({ ok: true, signature: 'valid', entries_after_checkpoint: 1 });
    const stranger = generateSigningKey('ledger.test');
    const foreign = await context.ledger.verifyLedger(projectId, { publicKey: stranger.publicKeyText });
    expect(foreign.ok).toBe(false);
    expect(foreign.checkpoint).toMatchObject({ ok: false, signature: 'invalid' });
  });

  it('an NDJSON export with its proof verifies offline against the signed note', async () => {
    const projectId = context.project();
    await recordMany(projectId, 3);
    const checkpoint: Checkpoint = present(
      (await context.ledger.createCheckpoint({ privateKey: key.signingKey })).checkpoint,
    );
    const proof = await context.ledger.proveProject(projectId, checkpoint);
    await recordMany(projectId, 2);
    const lines = await exportLines(context.ledger, projectId, proof);
    expect(lines).toHaveLength(6);
    const report = await verifyExport({
      ndjson: lines,
      checkpoint: checkpoint.note,
      publicKey: key.publicKeyText,
    });
    expect(report).toMatchObject({ ok: true, entries_checked: 5, problems: [] });
    expect(report.checkpoint).toMatchObject({ ok: true, signature: 'valid', entries_after_checkpoint: 2 });
    const whole = await verifyExport({
      ndjson: lines.join(''),
      checkpoint: checkpoint.note,
      publicKey: key.publicKeyText,
    });
    expect(whole.ok).toBe(true);
    // The auditor's way from docs/security.md: files on disk, read line by line.
    const folder = await mkdtemp(path.join(tmpdir(), 'ledger-audit-'));
    try {
      await writeFile(path.join(folder, 'export.ndjson'), lines.join(''));
      await writeFile(path.join(folder, 'cp.txt'), checkpoint.note);
      await writeFile(path.join(folder, 'key.pub'), key.publicKeyText);
      const fromFiles = await verifyExport({
        ndjson: createReadStream(path.join(folder, 'export.ndjson')),
        checkpoint: await readFile(path.join(folder, 'cp.txt'), 'utf8'),
        publicKey: await readFile(path.join(folder, 'key.pub'), 'utf8'),
      });
      expect(fromFiles).toMatchObject({ ok: true, entries_checked: 5, lines_read: 6 });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('verifyExport without a database', () => {
  it('names the first bad line of an export that is not entries at all, without throwing', async () => {
    const lines = ['{"seq": 1', '[1, 2]', '{"seq": 1, "project_id": "p"}', ''];
    const report = await verifyExport({ ndjson: lines });
    expect(report).toMatchObject({ ok: false, first_bad_line: 1, first_bad_seq: 1, entries_checked: 0 });
    expect(report.problems.map((problem) => problem.reason)).toEqual([
      'line 1: not valid JSON',
      'line 2: is not a JSON object',
      'line 3: id must be a string',
    ]);
  });
});
