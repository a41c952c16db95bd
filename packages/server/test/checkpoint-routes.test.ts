import { buildServer } from '@execution-ledger/server';
import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import type { Checkpoint } from 'execution-ledger';
import { generateSigningKey, verifyCheckpointNote, verifyProjectProof } from 'execution-ledger/verify';
import { beforeAll, expect, it } from 'vitest';
import { useServer } from './support/server-harness.js';

const key = generateSigningKey('routes.test');

function verifiedNote(note: string) {
  const opened = verifyCheckpointNote(note, key.publicKeyText);
  if (!opened.ok) throw new Error(opened.reason);
  return opened.checkpoint;
}

describeEachEngine('HTTP checkpoints and proofs', (context) => {
  const server = useServer(context);
  let [mine, other] = ['', ''];
  let reader = { authorization: '', id: '' };
  const get = (url: string, authorization = reader.authorization) =>
    server.send({ method: 'GET', url, headers: { authorization } });
  const record = (projectId: string) => context.ledger.recordExecution(makeExecution(projectId));
  const sign = async (): Promise<Checkpoint> =>
    present((await context.ledger.createCheckpoint({ privateKey: key.signingKey })).checkpoint);

  beforeAll(async () => {
    [mine, other] = [context.project(), context.project()];
    reader = await server.key('read', [mine]);
  });

  // Other test files sign checkpoints on the shared server database: "none yet" exists only on PGlite.
  it.skipIf(context.engine !== 'pglite')(
    'answers 404 CHECKPOINT_NOT_FOUND for the latest checkpoint and for a proof before any checkpoint exists',
    async () => {
      await record(mine);
      for (const url of ['/v1/checkpoints/latest', `/v1/projects/${mine}/proof`]) {
        const response = await get(url);
        expect(response.statusCode, url).toBe(404);
        expect(response.json()).toMatchObject({ code: 'CHECKPOINT_NOT_FOUND', field: 'checkpoint' });
        expect(response.json().message).toContain('execution-ledger checkpoint');
      }
    },
  );

  it('serves a checkpoint by seq exactly as stored, and the newest one, with a note that verifies', async () => {
    await record(mine);
    await record(other);
    const signed = await sign();
    const bySeq = await get(`/v1/checkpoints/${signed.seq}`);
    expect(bySeq.statusCode).toBe(200);
    expect(bySeq.json()).toEqual(signed);
    expect(verifiedNote(bySeq.json().note).seq).toBe(signed.seq);
    const latest = await get('/v1/checkpoints/latest');
    expect(latest.statusCode).toBe(200);
    expect(latest.json().seq).toBeGreaterThanOrEqual(signed.seq);
    expect(latest.json()).toEqual(await context.ledger.getCheckpoint(latest.json().seq));
  });

  it("gives a read key its project's proof, which verifies offline against the note; ?checkpoint picks one", async () => {
    const older = await sign();
    const head = await record(mine);
    const newer = await sign();
    for (const [checkpoint, seq] of [
      [older, head.seq - 1],
      [newer, head.seq],
    ] as const) {
      const response = await get(`/v1/projects/${mine}/proof?checkpoint=${checkpoint.seq}`);
      expect(response.statusCode).toBe(200);
      const proof = response.json();
      expect(proof).toMatchObject({ project_id: mine, checkpoint_seq: checkpoint.seq, head: { seq } });
      expect(verifyProjectProof(proof, verifiedNote(checkpoint.note))).toEqual({ ok: true });
    }
    expect(
      verifyProjectProof(
        (await get(`/v1/projects/${mine}/proof?checkpoint=${older.seq}`)).json(),
        verifiedNote(newer.note),
      ).ok,
    ).toBe(false);
    const newest = (await get(`/v1/projects/${mine}/proof`)).json();
    expect(newest.checkpoint_seq).toBeGreaterThanOrEqual(newer.seq);
    expect(newest.head).toEqual({ seq: head.seq, entry_hash: head.entry_hash });
  });

  it("answers another project's proof exactly like a project the checkpoint does not hold: 404 PROOF_NOT_FOUND", async () => {
    const checkpoint = await sign();
    const global = await server.key('read', null);
    const held = await get(`/v1/projects/${other}/proof?checkpoint=${checkpoint.seq}`, global.authorization);
    expect(held.statusCode).toBe(200);
    const unheld = context.project('never-recorded');
    const foreign = await get(`/v1/projects/${other}/proof?checkpoint=${checkpoint.seq}`);
    const missing = await get(`/v1/projects/${unheld}/proof?checkpoint=${checkpoint.seq}`);
    expect(foreign.statusCode).toBe(404);
    expect(missing.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ code: 'PROOF_NOT_FOUND', field: 'project_id' });
    expect(foreign.json()).toEqual({
      ...missing.json(),
      message: missing.json().message.replace(unheld, other),
    });
    expect(foreign.body).not.toContain(held.json().head.entry_hash);
  });

  it('answers 404 CHECKPOINT_NOT_FOUND for an unknown checkpoint and 400 for one that is not a number ≥ 1', async () => {
    const beyond = (await context.ledger.getCheckpoint()).seq + 1_000_000;
    for (const url of [`/v1/checkpoints/${beyond}`, `/v1/projects/${mine}/proof?checkpoint=${beyond}`]) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(404);
      expect(response.json()).toMatchObject({ code: 'CHECKPOINT_NOT_FOUND', field: 'checkpoint' });
      expect(response.json().message).toContain(`checkpoint ${beyond} does not exist`);
    }
    for (const url of [
      '/v1/checkpoints/0',
      '/v1/checkpoints/abc',
      `/v1/projects/${mine}/proof?checkpoint=-1`,
    ]) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(400);
      expect(response.json().code).toBe('VALIDATION_FAILED');
    }
  });

  it('refuses checkpoints and proofs to an ingest key (403) and to a request without a key (401)', async () => {
    const ingest = await server.key('ingest', [mine]);
    for (const url of ['/v1/checkpoints/latest', `/v1/projects/${mine}/proof`]) {
      expect((await get(url, ingest.authorization)).statusCode, url).toBe(403);
      expect((await server.send({ method: 'GET', url })).statusCode, url).toBe(401);
    }
  });

  it("includes the newest checkpoint's comparison in the verify answer", async () => {
    await sign();
    const admin = await server.key('admin', [mine]);
    const response = await server.send({
      method: 'POST',
      url: `/v1/projects/${mine}/verify`,
      headers: { authorization: admin.authorization },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ ok: true, checkpoint: { ok: true, signature: 'not_checked' } });
  });

  it('documents the proof answer in /openapi.json from the schema that shapes it', async () => {
    const spec = (await server.send({ method: 'GET', url: '/openapi.json' })).json();
    const proof = spec.paths['/v1/projects/{projectId}/proof'].get;
    expect(proof.responses['200'].content['application/json'].schema).toMatchObject({
      required: ['project_id', 'checkpoint_seq', 'tree_size', 'leaf_index', 'head', 'path'],
    });
    expect(proof.parameters.map((parameter: { name: string }) => parameter.name).sort()).toEqual([
      'checkpoint',
      'projectId',
    ]);
  });

  it('refuses a malformed signing key (INVALID_KEY) and an interval out of bounds (VALIDATION_FAILED) at build', async () => {
    await expectLedgerError(
      buildServer({ ledger: context.ledger, checkpoints: { privateKey: 'PRIVATE+KEY+x' } }),
      'INVALID_KEY',
      'checkpoints.privateKey',
    );
    for (const intervalMs of [0, 1.5, 24 * 60 * 60 * 1000 + 1]) {
      await expectLedgerError(
        buildServer({ ledger: context.ledger, checkpoints: { privateKey: key.signingKey, intervalMs } }),
        'VALIDATION_FAILED',
        'checkpoints.intervalMs',
      );
    }
  });
});
