import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  describeEachEngine,
  expectLedgerError,
  expectLedgerErrorSync,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { insertHistoricalRuns } from './support/historical-runs.js';

// The rollup levels are folded from the entries after the append (sql/0030_fold_after_append.sql):
// by a timer shortly after, by every read before it reads, by close(), and by rebuilds, which
// set the mark themselves. On the server, the test files share one database and their reads fold
// every project with entries pending, this file's too: what is pending before a fold is asserted
// on PGlite alone, where this file is the only one.
describeEachEngine('rollups folded after the append', (context) => {
  const alone = context.engine === 'pglite';

  /** The project's fold mark and head, as stored. */
  async function markAndHead(projectId: string) {
    const [row] = await context.admin(
      `select (select m.mark::int from execution_ledger.rollup_marks m where m.project_id = $1) as mark,
         (select h.seq::int from execution_ledger.heads h where h.project_id = $1) as head`,
      [projectId],
    );
    return row;
  }

  /** Runs counted by the project's hour level, as stored (no fold). */
  async function storedRuns(projectId: string): Promise<number> {
    const [row] = await context.admin(
      `select coalesce(sum(run_count), 0)::int as runs from execution_ledger.execution_rollups_hour
       where project_id = $1`,
      [projectId],
    );
    return Number(row?.runs);
  }

  it('are folded by a timer within a second or so of the append, with no read asking', async () => {
    const projectId = context.project();
    await context.ledger.recordExecution(makeExecution(projectId));
    await context.ledger.recordExecution(makeExecution(projectId, { cost: 15 }));
    const deadline = Date.now() + 10_000;
    let state = await markAndHead(projectId);
    while (state?.mark !== 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = await markAndHead(projectId);
    }
    expect(state).toEqual({ mark: 2, head: 2 });
    expect(await storedRuns(projectId)).toBe(2);
  });

  it('are folded before every statistic, so a read right after an append counts it', async () => {
    const projectId = context.project();
    for (let index = 1; index <= 5; index += 1) {
      await context.ledger.recordExecution(makeExecution(projectId, { cost: index }));
      const stats = await context.ledger.getProjectExecutionStats(projectId);
      expect(stats).toMatchObject({ total_executions: index, total_cost: (index * (index + 1)) / 2 });
      expect((await context.ledger.getCostByPart({ projectId })).total_cost).toBe((index * (index + 1)) / 2);
      expect((await context.ledger.listExecutionsByProject(projectId)).total).toBe(index);
    }
    // Across projects too: an agent's statistics fold every project with entries pending.
    const agentId = `agent-${projectId}`;
    const other = context.project();
    await context.ledger.recordExecution(makeExecution(projectId, { agent_id: agentId, cost: 7 }));
    await context.ledger.recordExecution(makeExecution(other, { agent_id: agentId, cost: 9 }));
    expect(await context.ledger.getAgentCostStats(agentId)).toMatchObject({ count: 2, total_cost: 16 });
    expect(await markAndHead(other)).toEqual({ mark: 1, head: 1 });
  });

  it('are folded for a scoped reader too, who sees only their runs', async () => {
    const projectId = context.project();
    const alice = `alice-${projectId}`;
    await context.ledger.recordExecution(makeExecution(projectId, { user_id: alice, cost: 4 }));
    await context.ledger.recordExecution(makeExecution(projectId, { cost: 5 }));
    const stats = await context.ledger.as({ userId: alice }).getProjectExecutionStats(projectId);
    expect(stats).toMatchObject({ total_executions: 1, total_cost: 4 });
    expect(await markAndHead(projectId)).toEqual({ mark: 2, head: 2 });
  });

  it('fold each entry once: folding again, or a second folder at the same time, adds nothing', async () => {
    const projectId = context.project();
    const runs = Array.from({ length: 40 }, (_, index) => ({
      createdAt: new Date(Date.UTC(2026, 0, 1 + (index % 20), index % 24)),
      cost: index + 1,
    }));
    await insertHistoricalRuns(context, projectId, runs);
    const another = context.openAnother();
    const folds = await Promise.all([
      context.ledger.foldRollups(projectId),
      another.foldRollups(projectId),
      context.ledger.foldRollups(),
    ]);
    const folded = folds.reduce((sum, fold) => sum + fold.entries, 0);
    expect(folded).toBe(alone ? 40 : Math.min(folded, 40));
    expect(await context.ledger.foldRollups(projectId)).toEqual({ projects: 0, entries: 0 });
    expect(await storedRuns(projectId)).toBe(40);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
    expect((await context.ledger.getProjectExecutionStats(projectId)).total_cost).toBe((40 * 41) / 2);
  });

  it('are left folded to the head by close(), and by a rebuild, which a later fold does not repeat', async () => {
    const projectId = context.project();
    const another = context.openAnother();
    await another.recordExecutions([makeExecution(projectId), makeExecution(projectId, { cost: 3 })]);
    await another.close();
    expect(await markAndHead(projectId)).toEqual({ mark: 2, head: 2 });

    // Entries written around the append path (as a bulk load would) wait for a fold; a rebuild
    // recomputes every level from all of them and sets the mark itself.
    await insertHistoricalRuns(
      context,
      projectId,
      [{ createdAt: new Date('2026-02-01T10:00:00Z'), cost: 100 }],
      await tipOf(projectId),
    );
    if (alone) expect(await markAndHead(projectId)).toEqual({ mark: 2, head: 3 });
    await context.ledger.rebuildRollups(projectId);
    expect(await markAndHead(projectId)).toEqual({ mark: 3, head: 3 });
    expect(await context.ledger.foldRollups(projectId)).toEqual({ projects: 0, entries: 0 });
    expect(await storedRuns(projectId)).toBe(3);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  it('keep a time zone added while entries are pending exact: the zone counts each run once', async () => {
    const projectId = context.project();
    await insertHistoricalRuns(
      context,
      projectId,
      Array.from({ length: 6 }, (_, index) => ({
        createdAt: new Date(Date.UTC(2026, 2, 1, index * 5)),
        cost: 1,
      })),
    );
    if (alone) expect(await markAndHead(projectId)).toEqual({ mark: null, head: 6 });
    await context.ledger.addRollupTimeZone(projectId, 'Asia/Kolkata');
    expect(await markAndHead(projectId)).toEqual({ mark: 6, head: 6 });
    const [zone] = await context.admin(
      `select sum(run_count)::int as runs from execution_ledger.execution_rollups_zone_day where project_id = $1`,
      [projectId],
    );
    expect(zone).toEqual({ runs: 6 });
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  it('verify the levels against the entries up to the mark, whatever is pending past it', async () => {
    const projectId = context.project();
    await context.ledger.recordExecution(makeExecution(projectId));
    await context.ledger.foldRollups(projectId);
    // Pending entries past the mark are not yet in the levels, and not a disagreement.
    await insertHistoricalRuns(
      context,
      projectId,
      [{ createdAt: new Date('2026-02-01T10:00:00Z') }],
      await tipOf(projectId),
    );
    const { verifyProjectRollups } = await import('../src/analytics/rollup-maintenance.js');
    const report = await verifyProjectRollups(await context.ledger.database(), projectId);
    expect(report).toMatchObject({ ok: true, mismatches: [] });
    if (alone) expect(report.levels.find((level) => level.level === 'hour')?.groups_checked).toBe(1);
    // verifyRollups folds first: it checks both runs.
    const folded = await context.ledger.verifyRollups(projectId);
    expect(folded.ok).toBe(true);
    expect(folded.levels.find((level) => level.level === 'hour')?.groups_checked).toBe(2);
  });

  it('refuse a bad project id with VALIDATION_FAILED and fold nothing', async () => {
    const projectId = context.project();
    await insertHistoricalRuns(context, projectId, [{ createdAt: new Date('2026-02-01T10:00:00Z') }]);
    for (const bad of ['', ' padded ', 'x'.repeat(201), 42]) {
      const error = await expectLedgerError(
        context.ledger.foldRollups(bad as string),
        'VALIDATION_FAILED',
        'projectId',
      );
      expect(error.message).toMatch(/^projectId /);
    }
    if (alone) {
      expect(await markAndHead(projectId)).toEqual({ mark: null, head: 1 });
      expect(await storedRuns(projectId)).toBe(0);
    }
  });

  it('are checked by a read that folds nothing first: entries another ledger left pending are counted', async () => {
    const projectId = context.project();
    const quiet = context.openAnother({ rollupFoldDelayMs: null });
    const results = await quiet.recordExecutions([
      makeExecution(projectId, { cost: { total: 6, breakdown: { tokens: 6 } } }),
      makeExecution(projectId, {
        cost: { total: 4, breakdown: { toolCalls: 4 } },
        execution_trace: {
          steps: [{ action: 'search', kind: 'tool', name: 'search', duration_ms: 1, cost: 4 }],
          duration_ms: 1,
        },
      }),
    ]);
    expect(results.map((result) => result.ok)).toEqual([true, true]);
    await quiet.close();
    // A statement answering no rows cannot say whether it read with entries pending: a project
    // whose only step is pending answers no tools until the read folds and reads again.
    const tools = await context.ledger.getCostByTool({ projectId });
    expect(tools.top).toEqual([expect.objectContaining({ kind: 'tool', name: 'search', steps: 1, cost: 4 })]);
    expect(await markAndHead(projectId)).toEqual({ mark: 2, head: 2 });
    expect(await context.ledger.getProjectExecutionStats(projectId)).toMatchObject({
      total_executions: 2,
      total_cost: 10,
    });
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  it('say whether anything is pending across projects as a join of heads and marks would (0033 adds them up)', async () => {
    // In one statement, so both answers read one snapshot; no mark may ever pass its head, which
    // is what lets the sums stand for the join.
    async function pendingAcross() {
      const [row] = await context.admin(
        `select execution_ledger.rollups_pending(null) as sums,
           exists (select from execution_ledger.heads h
             left join execution_ledger.rollup_marks m on m.project_id = h.project_id
             where m.mark is null or h.seq > m.mark) as joined,
           (select count(*)::int from execution_ledger.heads h
             join execution_ledger.rollup_marks m on m.project_id = h.project_id where m.mark > h.seq) as past_head`,
      );
      expect(row?.past_head).toBe(0);
      expect(row?.sums).toBe(row?.joined);
      return row?.sums as boolean;
    }
    const quiet = context.openAnother({ rollupFoldDelayMs: null });
    const folded = context.project();
    const neverFolded = context.project();
    await quiet.recordExecutions([makeExecution(folded), makeExecution(folded)]);
    await pendingAcross();
    await quiet.foldRollups(folded);
    // A project with a head and no mark at all is pending too.
    await quiet.recordExecution(makeExecution(neverFolded));
    expect(await markAndHead(neverFolded)).toEqual({ mark: null, head: 1 });
    expect(await pendingAcross()).toBe(true);
    await quiet.foldRollups();
    // On the server the other test files append meanwhile: nothing pending is certain here only.
    if (alone) expect(await pendingAcross()).toBe(false);
    else await pendingAcross();
    await quiet.recordExecution(makeExecution(folded));
    expect(await pendingAcross()).toBe(true);
    await quiet.close();
  });

  it('give every read, checked or folded first, each run acknowledged before it while appends and folds go on', async () => {
    const projectId = context.project();
    // Folds as soon as it can, so folds, appends and reads interleave.
    const writer = context.openAnother({ rollupFoldDelayMs: 0 });
    let started = 0;
    let acknowledged = 0;
    let writing = true;
    const appends = (async () => {
      try {
        for (let index = 0; index < 60; index += 1) {
          started += 1;
          await writer.recordExecution(makeExecution(projectId, { cost: 1 }));
          acknowledged += 1;
        }
      } finally {
        writing = false;
      }
    })();
    const seen: number[] = [];
    let reads = 0;
    while (writing || reads < 3) {
      const before = acknowledged;
      const stats = await context.ledger.getProjectExecutionStats(projectId);
      const after = started;
      reads += 1;
      expect(stats.total_executions).toBeGreaterThanOrEqual(before);
      expect(stats.total_executions).toBeLessThanOrEqual(after);
      expect(stats.total_cost).toBe(stats.total_executions);
      seen.push(stats.total_executions);
      // PGlite answers without a trip through the event loop: let the writer's timers run.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await appends;
    await writer.close();
    seen.push((await context.ledger.getProjectExecutionStats(projectId)).total_executions);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    // The reads saw the appends on their way, not only before and after.
    expect(new Set(seen).size).toBeGreaterThan(5);
    expect(seen.at(-1)).toBe(60);
    expect((await context.ledger.verifyRollups(projectId)).ok).toBe(true);
  });

  /** Where a project's chain stands, for runs written around the append path after it. */
  async function tipOf(projectId: string) {
    const [row] = await context.admin(
      'select seq::int as seq, entry_hash from execution_ledger.heads where project_id = $1',
      [projectId],
    );
    return { seq: Number(row?.seq), entryHash: Buffer.from(row?.entry_hash as Uint8Array) };
  }
});

describeEachEngine('the rollupFoldDelayMs option', (context) => {
  it('null leaves folding to reads: nothing is folded in the background, a read still folds', async () => {
    const projectId = context.project();
    const quiet = context.openAnother({ rollupFoldDelayMs: null });
    await quiet.recordExecution(makeExecution(projectId, { cost: 12 }));
    await quiet.close();
    if (context.engine === 'pglite') {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const [row] = await context.admin(
        'select count(*)::int as marks from execution_ledger.rollup_marks where project_id = $1',
        [projectId],
      );
      expect(row).toEqual({ marks: 0 });
    }
    expect((await context.ledger.getProjectExecutionStats(projectId)).total_cost).toBe(12);
  });

  it('refuses a delay that is not a whole number of ms from 0 to 60,000 or null, naming it', () => {
    for (const bad of [-1, 1.5, 60_001, '1000', Number.NaN]) {
      const error = expectLedgerErrorSync(
        () => context.openAnother({ rollupFoldDelayMs: bad as number }),
        'VALIDATION_FAILED',
      );
      expect(error).toMatchObject({ field: 'rollupFoldDelayMs' });
      expect(error.message).toMatch(
        /^rollupFoldDelayMs must be a whole number of milliseconds from 0 to 60000/,
      );
    }
  });
});

// A folder the ledger opens itself has no other writer (its lock keeps other processes out): a
// read folds what an earlier process left once, then only what this ledger appended.
describe('rollups of an embedded folder the ledger opened', () => {
  it('count what an earlier process left unfolded, and each run appended since, at the first read', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'ledger-fold-'));
    try {
      const first = createLedger({ database: folder, rollupFoldDelayMs: null });
      await first.recordExecutions([
        makeExecution('proj-a', { cost: 3 }),
        makeExecution('proj-b', { cost: 4 }),
      ]);
      await first.close();
      const second = createLedger({ database: folder, rollupFoldDelayMs: null });
      try {
        const database = await second.database();
        const marks = async () =>
          (
            await database.query<{ project_id: string; mark: number }>(
              'select project_id, mark::int from execution_ledger.rollup_marks order by 1',
            )
          ).map((row) => [row.project_id, row.mark]);
        // Nothing folded them: the first ledger was told not to.
        expect(await marks()).toEqual([]);
        expect(await second.getAgentCostStats('backend')).toMatchObject({ count: 2, total_cost: 7 });
        expect(await marks()).toEqual([
          ['proj-a', 1],
          ['proj-b', 1],
        ]);
        // Its own appends, folded by the read that follows each.
        for (let index = 1; index <= 3; index += 1) {
          await second.recordExecution(makeExecution('proj-a', { cost: 10 }));
          expect((await second.getProjectExecutionStats('proj-a')).total_cost).toBe(3 + 10 * index);
        }
        await second.recordExecution(makeExecution('proj-c', { cost: 5 }));
        expect(await second.getAgentCostStats('backend')).toMatchObject({ count: 6, total_cost: 42 });
        expect(await marks()).toEqual([
          ['proj-a', 4],
          ['proj-b', 1],
          ['proj-c', 1],
        ]);
        expect((await second.verifyRollups('proj-a')).ok).toBe(true);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

// What a read sends to a server: a counted pool in front of the real one.
const serverUrl = process.env.TEST_DATABASE_URL;
describe.runIf(serverUrl !== undefined)('a read of the rollup levels on a server', () => {
  it('is one statement while nothing is pending; finding entries pending, it folds and reads again', async () => {
    const url = present(serverUrl);
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const sent: string[] = [];
    const note = (sql: string | { text: string }) => sent.push(typeof sql === 'string' ? sql : sql.text);
    const counted = {
      query: (sql: string | { text: string }, params?: unknown[]) => {
        note(sql);
        return pool.query(sql as string, params);
      },
      connect: async () => {
        const client = await pool.connect();
        return {
          query: (sql: string | { text: string }, params?: unknown[]) => {
            note(sql);
            return client.query(sql as string, params);
          },
          release: (error?: Error | boolean) => client.release(error),
        };
      },
      end: () => pool.end(),
    };
    const projectId = `checked-${randomUUID()}`;
    const writer = createLedger({ database: url, rollupFoldDelayMs: null });
    const reader = createLedger({ database: counted, rollupFoldDelayMs: null });
    try {
      await reader.getProjectExecutionStats(projectId);
      const read = async () => {
        sent.length = 0;
        const stats = await reader.getProjectExecutionStats(projectId);
        const kinds = sent.map((text) =>
          text.includes('fold_rollups(')
            ? 'fold'
            : text.includes('rollups_pending(')
              ? 'checked read'
              : 'read',
        );
        return { total: stats.total_executions, kinds };
      };
      expect(await read()).toEqual({ total: 0, kinds: ['checked read'] });

      await writer.recordExecution(makeExecution(projectId, { cost: 2 }));
      // Pending: the checked read says so, the read folds and reads again; the next read folds
      // first, finds nothing left, and the one after checks again.
      expect(await read()).toEqual({ total: 1, kinds: ['checked read', 'fold', 'read'] });
      expect(await read()).toEqual({ total: 1, kinds: ['fold', 'read'] });
      expect(await read()).toEqual({ total: 1, kinds: ['checked read'] });

      // Its own appends: folded first, without a checked read that would only find them pending.
      await reader.recordExecution(makeExecution(projectId, { cost: 3 }));
      expect(await read()).toEqual({ total: 2, kinds: ['fold', 'read'] });
    } finally {
      await writer.close();
      await reader.close();
      await pool.end().catch(() => undefined);
    }
  });
});
