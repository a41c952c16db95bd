import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeEachEngine, expectLedgerError, makeExecution } from '@execution-ledger/test-support';
import { generateSigningKey } from 'execution-ledger/verify';
import { expect, it } from 'vitest';

// The heads table: one row per project, its newest entry, kept by the append in the same
// transaction. Listing every project's head reads it, never a recursive scan of the entries,
// which a distributed engine cannot run (docs/scaling.md).

const SOURCE = fileURLToPath(new URL('../src', import.meta.url));

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describeEachEngine('project heads', (context) => {
  const newestEntries = (projects: string[]) =>
    context.admin(
      `select distinct on (project_id) project_id, seq::int as seq, encode(entry_hash, 'hex') as entry_hash
       from execution_ledger.executions where project_id = any($1::text[]) order by project_id, seq desc`,
      [projects],
    );
  const heads = (projects: string[]) =>
    context.admin(
      `select project_id, seq::int as seq, encode(entry_hash, 'hex') as entry_hash
       from execution_ledger.heads where project_id = any($1::text[]) order by project_id`,
      [projects],
    );

  it('holds the newest entry of each project after single appends, batches and replays', async () => {
    const projects = [context.project(), context.project()];
    const [first, second] = projects as [string, string];
    const replayed = makeExecution(first);
    await context.ledger.recordExecution(replayed);
    await context.ledger.recordExecutions([
      makeExecution(first),
      makeExecution(second),
      makeExecution(first),
    ]);
    await context.ledger.recordExecution(replayed);
    const expected = await newestEntries(projects);
    expect(Object.fromEntries(expected.map((row) => [row.project_id, row.seq]))).toEqual({
      [first]: 3,
      [second]: 1,
    });
    expect(await heads(projects)).toEqual(expected);
  });

  it('signs checkpoints over the heads it keeps', async () => {
    const projectId = context.project();
    for (let index = 0; index < 3; index += 1) await context.ledger.recordExecution(makeExecution(projectId));
    await context.ledger.createCheckpoint({ privateKey: generateSigningKey('heads.test').signingKey });
    const proof = await context.ledger.proveProject(projectId);
    expect(proof?.head).toMatchObject({ seq: 3 });
    expect(proof?.head.entry_hash).toBe((await heads([projectId]))[0]?.entry_hash);
  });

  it('refuses to move a head back, remove it or empty the table, even for a superuser', async () => {
    const projectId = context.project();
    await context.ledger.recordExecution(makeExecution(projectId));
    await context.ledger.recordExecution(makeExecution(projectId));
    for (const statement of [
      `update execution_ledger.heads set seq = 1 where project_id = '${projectId}'`,
      `delete from execution_ledger.heads where project_id = '${projectId}'`,
      'truncate execution_ledger.heads',
    ]) {
      await expect(context.admin(statement)).rejects.toThrow(/heads only moves forward/);
    }
    expect((await heads([projectId]))[0]).toMatchObject({ seq: 2 });
    // The unscoped ledger cannot write it at all: only the append functions do.
    const database = await context.ledger.database();
    if (context.engine === 'postgres') {
      await expectLedgerError(
        database.query(`update execution_ledger.heads set seq = 9 where project_id = $1`, [projectId]),
        'PERMISSION_DENIED',
      );
    }
  });

  it('lists projects without a recursive scan: no WITH RECURSIVE in the library reads the entries', () => {
    const recursive = sourceFiles(SOURCE).filter((file) =>
      /with\s+recursive/i.test(readFileSync(file, 'utf8')),
    );
    expect(recursive.map((file) => path.relative(SOURCE, file))).toEqual([]);
  });
});
