import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { createLedger, type VerificationReport, type VerifyProgress } from 'execution-ledger';
import type { Database } from 'execution-ledger/database';
import fc, { type JsonValue } from 'fast-check';
import pg from 'pg';
import { expect, it } from 'vitest';
import { insertHistoricalRuns } from './support/historical-runs.js';
import { literal, tamperAsSuperuser } from './support/tamper.js';

// JSON as users send it: any keys (unicode, "__proto__", digits), nesting, and numbers whose
// text differs between writers (1e21, 0.1 + 0.2, -0): what the verifier re-canonicalises.
const jsonObjectArb = fc.dictionary(
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.jsonValue({ maxDepth: 4 }),
  {
    maxKeys: 6,
  },
);

// Text fields that JSON must escape, or that look like JSON: the payload is put together around
// them as text, so one that could close its string would change what is hashed.
const TRICKY_TEXTS = [
  'say "hi"',
  'back\\slash \\u00e9',
  'a literal \\n, \\t and \\" are no escapes',
  'line\nbreak\ttab\rreturn',
  'bell \u0007 and \u001f',
  'é 😀 \u2028 \ue000',
  '{"looks": "like json"}',
  'x","cost_json":1,"intent":"',
];

const TEXT_FIELD = fc.oneof(
  fc.constantFrom(...TRICKY_TEXTS),
  fc
    .string({ unit: 'binary', minLength: 1, maxLength: 12 })
    .filter((text) => text.isWellFormed() && !text.includes('\u0000') && text.trim() !== ''),
);

/** A report without the checkpoint comparison, which depends on what other tests sign meanwhile. */
function chainPart(report: VerificationReport): Omit<VerificationReport, 'checkpoint'> {
  const { checkpoint: _checkpoint, ...rest } = report;
  return rest;
}

describeEachEngine('verifyLedger', (context) => {
  it('re-derives the hash of any recorded JSON content exactly as it was computed at append', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(jsonObjectArb, fc.jsonValue({ maxDepth: 4 })), { minLength: 1, maxLength: 4 }),
        async (contents) => {
          const projectId = context.project('json');
          const results = await context.ledger.recordExecutions(
            contents.map(([input, output]) => makeExecution(projectId, { input, output })),
          );
          const refused = results.filter((result) => !result.ok);
          // Content the ledger refuses (a NUL character, say) never reaches the chain.
          const report = await context.ledger.verifyLedger(projectId);
          expect(report).toMatchObject({ ok: true, entries_checked: results.length - refused.length });
        },
      ),
      {
        numRuns: 30,
        // Shapes a shortcut could confuse: no keys against one empty key, a "__proto__" key, -0, 1e21.
        examples: [
          [[[{ '': {} }, {}]]],
          [[[{ a: { '': [] } }, { '': null }]]],
          [[[JSON.parse('{"__proto__":{"x":1},"b":-0}') as Record<string, JsonValue>, [1e21, 0.1 + 0.2]]]],
        ],
      },
    );
  });

  it('hashes long chains on worker threads and still reports the one rewritten entry, in order', async () => {
    const projectId = context.project('long');
    const runs = Array.from({ length: 2_500 }, (_, index) => ({
      createdAt: new Date(Date.UTC(2026, 1, 13, 10, 0, 0, index)),
      cost: index % 7,
    }));
    await insertHistoricalRuns(context, projectId, runs, undefined, { corruptSeq: 1_500 });
    const report = await context.ledger.verifyLedger(projectId);
    expect(report).toMatchObject({
      ok: false,
      entries_checked: 2_500,
      first_bad_seq: 1_500,
      reason: 'payload_hash does not match the stored content (content was changed after it was recorded)',
      head: { seq: 2_500 },
    });
    expect(report.problems).toHaveLength(1);
  });

  it('reports its progress after each batch, in order, ending with every entry checked', async () => {
    const projectId = context.project('progress');
    const runs = Array.from({ length: 2_500 }, (_, index) => ({
      createdAt: new Date(Date.UTC(2026, 1, 13, 11, 0, 0, index)),
    }));
    await insertHistoricalRuns(context, projectId, runs);
    const seen: VerifyProgress[] = [];
    const report = await context.ledger.verifyLedger(projectId, { onProgress: (p) => seen.push(p) });
    expect(report).toMatchObject({ ok: true, entries_checked: 2_500 });
    // Batches of 1,000 are linked in seq order, whether workers or this thread read them.
    expect(seen).toEqual(
      [0, 1_000, 2_000, 2_500].map((checked) => ({
        project_id: projectId,
        entries_checked: checked,
        entries_total: 2_500,
      })),
    );
    // A chain of one batch, and a project without entries, report the start and the end.
    const short = context.project('progress-short');
    await context.ledger.recordExecutions([makeExecution(short), makeExecution(short)]);
    const shortSeen: VerifyProgress[] = [];
    await context.ledger.verifyLedger(short, { onProgress: (p) => shortSeen.push(p) });
    expect(shortSeen.map((p) => [p.entries_checked, p.entries_total])).toEqual([
      [0, 2],
      [2, 2],
    ]);
    const emptySeen: VerifyProgress[] = [];
    await context.ledger.verifyLedger(context.project('progress-empty'), {
      onProgress: (p) => emptySeen.push(p),
    });
    expect(emptySeen.map((p) => [p.entries_checked, p.entries_total])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it('refuses an onProgress that is not a function, and stops with the error a callback throws', async () => {
    const projectId = context.project('progress-bad');
    await context.ledger.recordExecution(makeExecution(projectId));
    const refused = await expectLedgerError(
      context.ledger.verifyLedger(projectId, { onProgress: 'every batch' as never }),
      'VALIDATION_FAILED',
      'onProgress',
    );
    expect(refused.message).toMatch(/onProgress must be a function/);
    const long = context.project('progress-throws');
    await insertHistoricalRuns(
      context,
      long,
      Array.from({ length: 1_500 }, (_, index) => ({
        createdAt: new Date(Date.UTC(2026, 1, 13, 12, 0, 0, index)),
      })),
    );
    const stop = new Error('stop here');
    await expect(
      context.ledger.verifyLedger(long, {
        onProgress: (p) => {
          if (p.entries_checked > 0) throw stop;
        },
      }),
    ).rejects.toBe(stop);
    // The worker threads were released: the next verification runs as usual.
    expect(await context.ledger.verifyLedger(long)).toMatchObject({ ok: true, entries_checked: 1_500 });
  });

  it('re-derives the hash of any intent and error message, however JSON must escape it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(TEXT_FIELD, TEXT_FIELD), { minLength: 1, maxLength: 4 }),
        async (texts) => {
          const projectId = context.project('text');
          const results = await context.ledger.recordExecutions(
            texts.map(([intent, errorMessage]) =>
              makeExecution(projectId, { intent, status: 'failed', error_message: errorMessage }),
            ),
          );
          expect(results.every((result) => result.ok)).toBe(true);
          const report = await context.ledger.verifyLedger(projectId);
          expect(report).toMatchObject({ ok: true, entries_checked: texts.length });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('reads a long chain with gaps as one reader would, and names each gap once, in order', async () => {
    const projectId = context.project('gaps');
    const runs = Array.from({ length: 3_400 }, (_, index) => ({
      createdAt: new Date(Date.UTC(2026, 1, 13, 10, 0, 0, index)),
      intent: present(TRICKY_TEXTS[index % TRICKY_TEXTS.length]),
    }));
    await insertHistoricalRuns(context, projectId, runs);
    // Gaps in the second and third batches: every batch after them starts at another seq than
    // a reader that assumes no gap would ask for.
    await tamperAsSuperuser(context, [
      `delete from execution_ledger.executions where project_id = ${literal(projectId)}
         and (seq = 1200 or seq between 2000 and 2002)`,
    ]);
    const report = await context.ledger.verifyLedger(projectId);
    const relink = 'prev_hash does not match the previous entry_hash (the chain is broken or reordered)';
    expect(chainPart(report)).toEqual({
      ok: false,
      project_id: projectId,
      entries_checked: 3_396,
      head: { seq: 3_400, entry_hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      first_bad_seq: 1_201,
      reason: 'entries 1200..1200 are missing (seq jumps from 1199 to 1201)',
      problems: [
        { seq: 1_201, reason: 'entries 1200..1200 are missing (seq jumps from 1199 to 1201)' },
        { seq: 1_201, reason: relink },
        { seq: 2_003, reason: 'entries 2000..2002 are missing (seq jumps from 1999 to 2003)' },
        { seq: 2_003, reason: relink },
      ],
    });
    if (context.engine !== 'postgres') return;
    // Through a caller's pool the workers cannot connect on their own: this thread reads the
    // batches and hands them over. The report must be the same, byte for byte.
    const pool = new pg.Pool({ connectionString: process.env.TEST_DATABASE_URL, max: 2 });
    const overPool = createLedger({ database: pool, migrate: false });
    try {
      expect(chainPart(await overPool.verifyLedger(projectId))).toEqual(chainPart(report));
    } finally {
      await overPool.close();
      await pool.end();
    }
    // Workers that may not keep prepared statements (a pooler in transaction mode) read the same.
    const unprepared = createLedger({
      database: present(process.env.TEST_DATABASE_URL),
      migrate: false,
      preparedStatements: false,
    });
    try {
      expect(chainPart(await unprepared.verifyLedger(projectId))).toEqual(chainPart(report));
    } finally {
      await unprepared.close();
    }
  });

  it.skipIf(context.engine !== 'postgres')(
    'fails with DATABASE_UNAVAILABLE when a worker cannot open its own connection',
    async () => {
      const projectId = context.project('unreachable');
      const runs = Array.from({ length: 1_500 }, (_, index) => ({
        createdAt: new Date(Date.UTC(2026, 1, 13, 10, 0, 0, index)),
      }));
      await insertHistoricalRuns(context, projectId, runs);
      const database = await context.ledger.database();
      const url = new URL(present(process.env.TEST_DATABASE_URL));
      url.pathname = '/no_such_database_for_verification';
      // The pool works; the connection string handed to the workers names no database.
      const misdirected: Database = {
        engine: 'postgres',
        query: (sql, params) => database.query(sql, params),
        transaction: (fn) => database.transaction(fn),
        session: (fn) => database.session(fn),
        close: async () => undefined,
        threadConnection: () => ({
          url: url.toString(),
          where: 'the misdirected test server',
          preparedStatements: true,
          timeouts: { replyTimeoutMs: 10_000, connectTimeoutMs: 5_000 },
        }),
      };
      const ledger = createLedger({ database: misdirected, migrate: false });
      const error = await expectLedgerError(ledger.verifyLedger(projectId), 'DATABASE_UNAVAILABLE');
      expect(error.message).toContain('the misdirected test server');
    },
  );
});
