import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { describeEachEngine, makeExecution, present, readAll } from '@execution-ledger/test-support';
import { createLedger, type ExecutionReader, type ExecutionRecord, type Ledger } from 'execution-ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHAIN_READS_IN_FLIGHT_MAX } from '../src/bounds.js';
import { insertHistoricalRuns } from './support/historical-runs.js';
import {
  isRangeRead,
  type ObservedDatabaseOptions,
  observeDatabase,
  rangeOf,
} from './support/observed-database.js';

async function collect(records: AsyncIterable<ExecutionRecord>): Promise<ExecutionRecord[]> {
  const all: ExecutionRecord[] = [];
  for await (const record of records) all.push(record);
  return all;
}

function seqsOf(ndjson: string): number[] {
  return ndjson
    .trimEnd()
    .split('\n')
    .map((line) => (JSON.parse(line) as ExecutionRecord).seq);
}

function oneTo(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index + 1);
}

/** The ranges (afterSeq, lastSeq] that cover seqs 1…head in slices of batchSize. */
function slices(head: number, batchSize: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let after = 0; after < head; after += batchSize)
    ranges.push([after, Math.min(head, after + batchSize)]);
  return ranges;
}

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 10_000) throw new Error('condition not reached within 10 s');
    await delay(5);
  }
}

describeEachEngine('chain reads in seq ranges', (context) => {
  // A server reads several ranges at once on separate connections; PGlite has one connection.
  const width = context.engine === 'postgres' ? CHAIN_READS_IN_FLIGHT_MAX : 1;
  const opened: Ledger[] = [];
  afterAll(async () => {
    for (const ledger of opened) await ledger.close();
  });

  /** A ledger on the suite's database whose every query is logged (and may be held or failed). */
  async function observed(options?: ObservedDatabaseOptions) {
    const { database, log } = observeDatabase(await context.ledger.database(), options);
    const ledger = createLedger({ database, migrate: false });
    opened.push(ledger);
    return { ledger, log };
  }

  const small = context.project('ranges');
  const member = `member-${small}`;
  // A member's scoped reader sees the whole project and reads it by keyset only: the reference.
  let keyset: ExecutionReader;
  beforeAll(async () => {
    await insertHistoricalRuns(
      context,
      small,
      oneTo(23).map((seq) => ({
        createdAt: new Date(Date.UTC(2026, 1, 13, 9, 0, seq)),
        status: seq % 5 === 4 ? ('failed' as const) : ('completed' as const),
        intent: `step ${seq}: "quoted", back\\slash, line\nbreak`,
      })),
    );
    await context.ledger.addProjectMember(small, member);
    keyset = context.ledger.as({ userId: member });
  });

  it('yield every entry once, in seq order, at any batch size: the bytes of a keyset read', async () => {
    const ndjson = await readAll(keyset.exportNdjsonStream({ projectId: small }));
    const csv = await readAll(keyset.exportCsvStream({ projectId: small }));
    const records = await collect(keyset.streamExecutions({ projectId: small }));
    expect(seqsOf(ndjson)).toEqual(oneTo(23));
    const { ledger, log } = await observed();
    for (const batchSize of [1, 2, 5, 10, 22, 23, 24, 1_000]) {
      log.started.length = 0;
      expect(await readAll(ledger.exportNdjsonStream({ projectId: small, batchSize }))).toBe(ndjson);
      // Consecutive slices of batchSize seqs up to the head, none empty, none twice.
      const ranges = log.started.filter((query) => isRangeRead(query.sql)).map((q) => rangeOf(q.params));
      expect(ranges).toEqual(slices(23, batchSize));
      expect(await readAll(ledger.exportCsvStream({ projectId: small, batchSize }))).toBe(csv);
      expect(await collect(ledger.streamExecutions({ projectId: small, batchSize }))).toEqual(records);
    }
  });

  it('hand batches over in seq order even when later ranges finish first', async () => {
    const expected = await readAll(keyset.exportNdjsonStream({ projectId: small }));
    const rangeDone = (log: { started: { sql: string }[]; finished: number[] }) =>
      log.finished.some((index) => isRangeRead(log.started[index]?.sql ?? ''));
    // On a server the first range waits until another one has finished; PGlite reads one at a time.
    const { ledger, log } = await observed({
      gate: (sql, params) =>
        context.engine === 'postgres' && isRangeRead(sql) && rangeOf(params)[0] === 0
          ? until(() => rangeDone(log))
          : undefined,
    });
    expect(await readAll(ledger.exportNdjsonStream({ projectId: small, batchSize: 5 }))).toBe(expected);
    const finishedRanges = log.finished
      .map((index) => present(log.started[index]))
      .filter((query) => isRangeRead(query.sql))
      .map((query) => rangeOf(query.params)[0]);
    expect([...finishedRanges].sort((a, b) => a - b)).toEqual([0, 5, 10, 15, 20]);
    if (context.engine === 'postgres') expect(finishedRanges[0]).not.toBe(0);
  });

  it('read a narrowed filter, and a scoped reader, by keyset as before', async () => {
    const { ledger, log } = await observed();
    const failed = await readAll(
      ledger.exportNdjsonStream({ projectId: small, status: 'failed', batchSize: 2 }),
    );
    expect(seqsOf(failed)).toEqual([4, 9, 14, 19]);
    const records = await collect(
      ledger.streamExecutions({ projectId: small, status: 'failed', batchSize: 2 }),
    );
    expect(records.map((record) => record.seq)).toEqual([4, 9, 14, 19]);
    const scoped = await readAll(ledger.as({ userId: member }).exportNdjsonStream({ projectId: small }));
    expect(seqsOf(scoped)).toEqual(oneTo(23));
    // Neither looked for the chain's head nor read a range.
    expect(log.started.filter((query) => isRangeRead(query.sql) || /max\(e\.seq\)/.test(query.sql))).toEqual(
      [],
    );
  });

  it('deliver entries appended during an export, after the head it started from, by keyset', async () => {
    const growing = context.project('growing');
    await insertHistoricalRuns(
      context,
      growing,
      oneTo(30).map((seq) => ({ createdAt: new Date(Date.UTC(2026, 1, 13, 9, 0, seq)) })),
    );
    let appended: () => void = () => undefined;
    const appendsDone = new Promise<void>((resolve) => {
      appended = resolve;
    });
    // The last range before the head is held until the appends are done.
    const { ledger, log } = await observed({
      gate: (sql, params) => (isRangeRead(sql) && rangeOf(params)[1] === 30 ? appendsDone : undefined),
    });
    const text = readAll(ledger.exportNdjsonStream({ projectId: growing, batchSize: 10 }));
    await until(() => log.started.some((query) => isRangeRead(query.sql) && rangeOf(query.params)[1] === 30));
    for (let index = 0; index < 3; index += 1) {
      await context.ledger.recordExecution(makeExecution(growing));
    }
    appended();
    expect(seqsOf(await text)).toEqual(oneTo(33));
    const ranges = log.started.filter((query) => isRangeRead(query.sql)).map((q) => rangeOf(q.params));
    expect(ranges).toEqual(slices(30, 10));
  });

  describe('with a consumer that waits or stops', () => {
    const big = context.project('wide');
    const intent = 'x'.repeat(1_900);
    beforeAll(async () => {
      await insertHistoricalRuns(
        context,
        big,
        oneTo(200).map((seq) => ({ createdAt: new Date(Date.UTC(2026, 1, 13, 10, 0, seq)), intent })),
      );
    });

    it('run at most CHAIN_READS_IN_FLIGHT_MAX reads at once (PGlite one), and none while the consumer waits', async () => {
      const { ledger, log } = await observed();
      const stream = ledger.exportNdjsonStream({ projectId: big, batchSize: 10 });
      await once(stream, 'readable');
      await delay(300);
      const paused = { started: log.started.length, rowsRead: log.rowsRead, buffered: stream.readableLength };
      await delay(200);
      expect(log.started.length).toBe(paused.started);
      expect(stream.readableEnded).toBe(false);
      const lines = (await readAll(stream)).trimEnd().split('\n');
      expect(lines).toHaveLength(200);
      // Rows read beyond what the stream holds for its reader are at most the reads in flight
      // (plus the one row of the head query): memory stays bounded at any chain length.
      const rowsBuffered = Math.floor(paused.buffered / Math.min(...lines.map((line) => line.length + 1)));
      expect(paused.rowsRead).toBeLessThanOrEqual(rowsBuffered + width * 10 + 1);
      expect(log.maxInFlight).toBe(width);
    });

    it('leave no read running once the stream of a consumer that stopped early has closed', async () => {
      // Ranges after the first take a while, so some are in flight when the consumer stops.
      const { ledger, log } = await observed({
        gate: (sql, params) => (isRangeRead(sql) && rangeOf(params)[0] > 0 ? delay(100) : undefined),
      });
      const stream = ledger.exportNdjsonStream({ projectId: big, batchSize: 10 });
      await once(stream, 'readable');
      expect(stream.read()).not.toBeNull();
      expect(log.inFlight).toBeGreaterThan(0);
      stream.destroy();
      await once(stream, 'close');
      expect(log.inFlight).toBe(0);
      const started = log.started.length;
      await delay(150);
      expect(log.started.length).toBe(started);
    });

    it('leave no read running once a record stream the consumer left has returned', async () => {
      // Streams read by keyset, one batch ahead: every read after the first takes a while.
      let reads = 0;
      const { ledger, log } = await observed({
        gate: () => (reads++ > 0 ? delay(100) : undefined),
      });
      for await (const record of ledger.streamExecutions({ projectId: big, batchSize: 10 })) {
        expect(record.seq).toBe(1);
        expect(log.inFlight).toBe(1);
        break;
      }
      expect(log.inFlight).toBe(0);
      expect(log.started.filter((query) => isRangeRead(query.sql))).toEqual([]);
    });

    it("fail the stream with a range read's error, with no other read left running", async () => {
      const failure = new Error('range (10, 20] failed');
      const { ledger, log } = await observed({
        gate: (sql, params) => (isRangeRead(sql) && rangeOf(params)[0] > 10 ? delay(50) : undefined),
        failure: (sql, params) => (isRangeRead(sql) && rangeOf(params)[0] === 10 ? failure : undefined),
      });
      await expect(readAll(ledger.exportNdjsonStream({ projectId: big, batchSize: 10 }))).rejects.toBe(
        failure,
      );
      expect(log.inFlight).toBe(0);
    });
  });
});
