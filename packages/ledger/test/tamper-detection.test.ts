import {
  describeEachEngine,
  type EngineContext,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import type { Checkpoint, ExecutionRecord, ProjectProof } from 'execution-ledger';
import { generateSigningKey, verifyExport } from 'execution-ledger/verify';
import { beforeAll, expect, it } from 'vitest';
import { exportLines, forgeRecords, literal, tamperAsSuperuser } from './support/tamper.js';

const key = generateSigningKey('ledger.test');

interface Sealed {
  projectId: string;
  records: ExecutionRecord[];
  checkpoint: Checkpoint;
  proof: ProjectProof;
}

/** A project of `count` entries sealed by a checkpoint: what an auditor keeps is note + proof. */
async function sealProject(context: EngineContext, count: number, prefix = 'sealed'): Promise<Sealed> {
  const projectId = context.project(prefix);
  const records: ExecutionRecord[] = [];
  for (let i = 0; i < count; i += 1)
    records.push(await context.ledger.recordExecution(makeExecution(projectId)));
  const checkpoint = present(
    (await context.ledger.createCheckpoint({ privateKey: key.signingKey })).checkpoint,
  );
  const proof = present(await context.ledger.proveProject(projectId, checkpoint));
  return { projectId, records, checkpoint, proof };
}

async function verifyOffline(context: EngineContext, sealed: Sealed, withCheckpoint: boolean) {
  const ndjson = await exportLines(context.ledger, sealed.projectId, sealed.proof);
  return verifyExport(
    withCheckpoint
      ? { ndjson, checkpoint: sealed.checkpoint.note, publicKey: key.publicKeyText }
      : { ndjson },
  );
}

const where = (projectId: string, seq: number) => `project_id = ${literal(projectId)} and seq = ${seq}`;

describeEachEngine('tampering by a superuser', (context) => {
  beforeAll(async () => {
    // A second project keeps every heads tree above one leaf, so proofs have nodes to check.
    await context.ledger.recordExecution(makeExecution(context.project('neighbour')));
  });

  it('an edited amount is caught online and offline at the edited entry', async () => {
    const sealed = await sealProject(context, 4);
    await tamperAsSuperuser(context, [
      `update execution_ledger.executions set cost_json = jsonb_set(cost_json, '{total}', '1')
       where ${where(sealed.projectId, 2)}`,
    ]);
    const online = await context.ledger.verifyLedger(sealed.projectId, { publicKey: key.publicKeyText });
    expect(online).toMatchObject({ ok: false, first_bad_seq: 2 });
    expect(online.reason).toMatch(/payload_hash/);
    const offline = await verifyOffline(context, sealed, true);
    expect(offline).toMatchObject({ ok: false, first_bad_seq: 2 });
  });

  it('a cut tail passes the chain check alone and is caught only with a checkpoint', async () => {
    const sealed = await sealProject(context, 5);
    await tamperAsSuperuser(context, [
      `delete from execution_ledger.executions where project_id = ${literal(sealed.projectId)} and seq >= 4`,
    ]);
    const blind = await verifyOffline(context, sealed, false);
    expect(blind).toMatchObject({ ok: true, entries_checked: 3 });
    const anchored = await verifyOffline(context, sealed, true);
    expect(anchored).toMatchObject({ ok: false, first_bad_seq: 4 });
    expect(anchored.reason).toMatch(/tail was cut/);
    const online = await context.ledger.verifyLedger(sealed.projectId);
    expect(online).toMatchObject({ ok: false, first_bad_seq: 4 });
    expect(online.problems).toHaveLength(1);
    expect(online.checkpoint?.reason).toMatch(/entries 4\.\.5 are missing/);
  });

  it('a chain rewritten with fresh hashes passes the chain check alone and is caught only with a checkpoint', async () => {
    const sealed = await sealProject(context, 3);
    await tamperAsSuperuser(context, rewriteChain(sealed.records));
    const blind = await verifyOffline(context, sealed, false);
    expect(blind).toMatchObject({ ok: true, entries_checked: 3 });
    const anchored = await verifyOffline(context, sealed, true);
    expect(anchored).toMatchObject({ ok: false, first_bad_seq: 3 });
    expect(anchored.reason).toMatch(/rewritten/);
    const online = await context.ledger.verifyLedger(sealed.projectId);
    expect(online).toMatchObject({ ok: false, first_bad_seq: 3 });
    expect(online.problems.map((problem) => problem.seq)).toEqual([3]);
  });

  it('the next checkpoint does not bless a tampered chain: it keeps the old head and names the project', async () => {
    const sealed = await sealProject(context, 3);
    await tamperAsSuperuser(context, [
      `delete from execution_ledger.executions where ${where(sealed.projectId, 3)}`,
    ]);
    await context.ledger.recordExecution(makeExecution(sealed.projectId));
    const next = await context.ledger.createCheckpoint({ privateKey: key.signingKey });
    const diverged = next.diverged.find((project) => project.project_id === sealed.projectId);
    expect(diverged?.committed_head).toEqual(sealed.proof.head);
    const proof = await context.ledger.proveProject(sealed.projectId, present(next.checkpoint));
    expect(proof?.head).toEqual(sealed.proof.head);
    expect((await context.ledger.verifyLedger(sealed.projectId)).ok).toBe(false);
  });

  it('every kind of row edit is caught online, naming the edited entry', async () => {
    const mutations = rowMutations();
    const missed: string[] = [];
    for (const [name, statements, expectedSeq] of mutations) {
      const sealed = await sealProject(context, 3, 'mutated');
      await tamperAsSuperuser(context, statements(sealed.projectId));
      const report = await context.ledger.verifyLedger(sealed.projectId, { publicKey: key.publicKeyText });
      if (report.ok || report.first_bad_seq !== expectedSeq)
        missed.push(`${name}: ${JSON.stringify(report.problems)}`);
    }
    console.log(
      `[${context.engine}] online mutations: ${mutations.length} tried, ${mutations.length - missed.length} detected`,
    );
    expect(missed).toEqual([]);
  });
});

type RowMutation = [string, (projectId: string) => string[], number];

/**
 * One edit per stored column a superuser could change. Not here: id (a storage key, not hashed
 * content) and hash_version (a check constraint pins it; the offline suite flips it).
 */
function rowMutations(): RowMutation[] {
  const update = (name: string, set: string, seq = 2): RowMutation => [
    name,
    (projectId) => [`update execution_ledger.executions set ${set} where ${where(projectId, 2)}`],
    seq,
  ];
  // A missing entry is named by the first entry after the gap ("entries 2..2 are missing").
  return [
    update('run_id', `run_id = run_id || 'x'`),
    update('project_id', `project_id = project_id || 'x'`, 3),
    update('user_id', `user_id = 'user-002'`),
    update('agent_id', `agent_id = 'frontend'`),
    update('parent_run_id', `parent_run_id = 'run-other'`),
    update('intent', `intent = intent || '.'`),
    update('input', `input = jsonb_set(input, '{version}', '"v2.1.1"')`),
    update('output', `output = '{"deployed": false}'`),
    update('cost_json', `cost_json = jsonb_set(cost_json, '{breakdown,tokens}', '301')`),
    update(
      'execution_trace_json',
      `execution_trace_json = jsonb_set(execution_trace_json, '{duration_ms}', '251')`,
    ),
    update('status', `status = 'failed', error_message = 'invented failure'`),
    update('error_message', `error_message = 'added later'`),
    update('created_at', `created_at = created_at + interval '1 millisecond'`),
    update('payload_hash', `payload_hash = sha256(payload_hash)`),
    update('prev_hash', `prev_hash = sha256(prev_hash)`),
    update('entry_hash', `entry_hash = sha256(entry_hash)`),
    [
      'deleted row',
      (projectId) => [`delete from execution_ledger.executions where ${where(projectId, 2)}`],
      3,
    ],
    [
      'swapped rows',
      (projectId) => [
        `update execution_ledger.executions set seq = 1000 where ${where(projectId, 2)}`,
        `update execution_ledger.executions set seq = 2 where ${where(projectId, 3)}`,
        `update execution_ledger.executions set seq = 3 where ${where(projectId, 1000)}`,
      ],
      2,
    ],
  ];
}

/** SQL that stores the forged chain over the real one. */
function rewriteChain(records: ExecutionRecord[]): string[] {
  return forgeRecords(records).map(
    (
      forged,
    ) => `update execution_ledger.executions set input = ${literal(JSON.stringify(forged.input))}::jsonb,
      payload_hash = '\\x${forged.payload_hash}', prev_hash = '\\x${forged.prev_hash}',
      entry_hash = '\\x${forged.entry_hash}' where ${where(forged.project_id, forged.seq)}`,
  );
}
