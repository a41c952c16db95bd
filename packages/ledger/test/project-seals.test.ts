import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
  suiteFolderLedger,
} from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
// The built module: its errors are the package's LedgerError, as a caller sees them.
import { exportEntries, importEntries, sealProject, unsealProject } from '../dist/sharding/shard-queries.js';

// A project moved to another shard is sealed on the shard it left (migration 0024). The seal is
// checked by append_batch and import_entries themselves, after they take the project's lock
// (migration 0026): an append that would store entries of a sealed project is refused with
// SQLSTATE EL005 naming the shard the project went to, and stores nothing; only the import of a
// move back, naming the project in execution_ledger.import_project, continues its chain.
describeEachEngine('project seals: checked by the append and import functions', (context) => {
  const origin = suiteFolderLedger('ledger-seals-');

  async function seal(projectId: string, movedTo: string): Promise<void> {
    const owner = await context.ownerDatabase();
    await owner.transaction((tx) => sealProject(tx, projectId, movedTo));
  }

  async function stored(projectId: string): Promise<{ count: number; head: number | null }> {
    const [row] = await context.admin(
      `select (select count(*) from execution_ledger.executions e where e.project_id = $1)::int as count,
         (select h.seq from execution_ledger.heads h where h.project_id = $1)::int as head`,
      [projectId],
    );
    return { count: Number(row?.count), head: row?.head == null ? null : Number(row.head) };
  }

  it('refuses new entries of a sealed project, naming its shard, stores nothing, and still answers replays', async () => {
    const projectId = context.project('sealed');
    const first = makeExecution(projectId);
    const stored1 = await context.ledger.recordExecution(first);
    await context.ledger.recordExecution(makeExecution(projectId));
    await seal(projectId, 's7');

    const refused = await expectLedgerError(
      context.ledger.recordExecution(makeExecution(projectId)),
      'DATABASE_UNAVAILABLE',
    );
    expect(refused.details?.sqlstate).toBe('EL005');
    expect(refused.message).toMatch(/project \S+ moved to shard s7/);
    const batch = await context.ledger.recordExecutions([makeExecution(projectId), makeExecution(projectId)]);
    expect(batch.map((item) => item.ok)).toEqual([false, false]);
    expect(await stored(projectId)).toEqual({ count: 2, head: 2 });

    // A replay stores nothing, so the sealed shard still gives the stored entry's answer.
    const replayed = await context.ledger.recordExecution(first);
    expect(replayed.id).toBe(stored1.id);
    expect(replayed.seq).toBe(1);

    // Unsealed (the project came back), the chain goes on from its head.
    const owner = await context.ownerDatabase();
    expect(await owner.transaction((tx) => unsealProject(tx, projectId))).toBe(true);
    const next = await context.ledger.recordExecution(makeExecution(projectId));
    expect(next.seq).toBe(3);
    expect((await context.ledger.verifyLedger(projectId)).ok).toBe(true);
  });

  it('leaves other projects alone', async () => {
    const sealed = context.project('sealed');
    const open = context.project('open');
    await context.ledger.recordExecution(makeExecution(sealed));
    await seal(sealed, 's2');
    const records = await context.ledger.recordExecutions([makeExecution(open), makeExecution(open)]);
    expect(records.map((item) => item.ok)).toEqual([true, true]);
    expect(await stored(open)).toEqual({ count: 2, head: 2 });
  });

  it('lets only the import that names the project continue a sealed chain', async () => {
    const projectId = context.project('moved-back');
    for (let index = 0; index < 3; index += 1) await origin().recordExecution(makeExecution(projectId));
    const source = await origin().database();
    const owner = await context.ownerDatabase();
    const firstEntry = await exportEntries(source, projectId, 0, 1);
    expect(await importEntries(owner, projectId, firstEntry.text)).toBe(1);
    await seal(projectId, 's1');

    // The move back names the project in the transaction-local setting: the chain goes on.
    const second = await exportEntries(source, projectId, 1, 1);
    expect(await importEntries(owner, projectId, second.text)).toBe(2);

    // An import that does not name it is refused like an append, and stores nothing.
    const third = await exportEntries(source, projectId, 2, 1);
    const unnamed = await expectLedgerError(
      owner.transaction((tx) =>
        tx.query('select execution_ledger.import_entries($1, $2::jsonb)', [projectId, third.text]),
      ),
      'DATABASE_UNAVAILABLE',
    );
    expect(unnamed.details?.sqlstate).toBe('EL005');
    expect(unnamed.message).toMatch(/moved to shard s1/);
    // Naming another project does not lift it either.
    const other = await expectLedgerError(
      owner.transaction(async (tx) => {
        await tx.query("select set_config('execution_ledger.import_project', $1, true)", [
          `${projectId}-other`,
        ]);
        await tx.query('select execution_ledger.import_entries($1, $2::jsonb)', [projectId, third.text]);
      }),
      'DATABASE_UNAVAILABLE',
    );
    expect(other.details?.sqlstate).toBe('EL005');
    expect(await stored(projectId)).toEqual({ count: 2, head: 2 });
    expect(await importEntries(owner, projectId, third.text)).toBe(3);
    expect(await stored(projectId)).toEqual({ count: 3, head: 3 });
  });

  it('an append that waited for a seal under way sees the seal', async () => {
    const projectId = context.project('race');
    await context.ledger.recordExecution(makeExecution(projectId));
    const owner = await context.ownerDatabase();
    let append: Promise<unknown> | undefined;
    const head = await owner.transaction(async (tx) => {
      const sealed = await sealProject(tx, projectId, 's3');
      // The append starts while the seal holds the project's lock, uncommitted; a handler is
      // attached at once, so its refusal is not an unhandled rejection while the seal waits.
      append = context.ledger.recordExecution(makeExecution(projectId));
      append.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return sealed;
    });
    expect(present(head).seq).toBe(1);
    const refused = await expectLedgerError(present(append), 'DATABASE_UNAVAILABLE');
    expect(refused.details?.sqlstate).toBe('EL005');
    expect(await stored(projectId)).toEqual({ count: 1, head: 1 });
  });
});
