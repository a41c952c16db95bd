import { setTimeout as sleep } from 'node:timers/promises';
import { buildServer, CheckpointScheduler } from '@execution-ledger/server';
import { expectLedgerErrorSync, makeExecution } from '@execution-ledger/test-support';
import { type CheckpointResult, createLedger, type Ledger } from 'execution-ledger';
import { generateSigningKey } from 'execution-ledger/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const UNCHANGED: CheckpointResult = { created: false, checkpoint: null, heads_changed: 0, diverged: [] };

/** Polls until `probe` holds or the time is up; returns its last value. */
async function eventually<T>(probe: () => Promise<T>, holds: (value: T) => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!holds(value) && Date.now() < deadline) {
    await sleep(20);
    value = await probe();
  }
  return value;
}

describe('CheckpointScheduler', () => {
  it('never overlaps runs, however slow, and stop() waits for the run in flight and schedules no more', async () => {
    let active = 0;
    let overlapped = false;
    let runs = 0;
    const scheduler = new CheckpointScheduler({
      intervalMs: 1,
      makeCheckpoint: async () => {
        active += 1;
        overlapped ||= active > 1;
        runs += 1;
        await sleep(25);
        active -= 1;
        return UNCHANGED;
      },
    });
    scheduler.start();
    scheduler.start();
    await sleep(200);
    await scheduler.stop();
    expect(active).toBe(0);
    expect(overlapped).toBe(false);
    expect(runs).toBeGreaterThanOrEqual(3);
    const stoppedAt = runs;
    await sleep(60);
    expect(runs).toBe(stoppedAt);
  });

  it('reports a failed run and keeps going', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const scheduler = new CheckpointScheduler({
      intervalMs: 1,
      makeCheckpoint: async () => {
        runs += 1;
        if (runs === 1) throw new Error('database went away');
        return UNCHANGED;
      },
      onError: (error) => errors.push(error),
    });
    scheduler.start();
    await eventually(
      async () => runs,
      (count) => count >= 3,
    );
    await scheduler.stop();
    expect(errors.map((error) => (error as Error).message)).toEqual(['database went away']);
    expect(runs).toBeGreaterThanOrEqual(3);
  });

  it('refuses an interval that is not 1 ms to one day with VALIDATION_FAILED', () => {
    for (const intervalMs of [0, -5, 0.5, Number.NaN, 86_400_001]) {
      const error = expectLedgerErrorSync(
        () => new CheckpointScheduler({ intervalMs, makeCheckpoint: async () => UNCHANGED }),
        'VALIDATION_FAILED',
      );
      expect(error.field).toBe('checkpoints.intervalMs');
    }
  });
});

// "Nothing changed" can only be arranged on a database no other test file appends to: this runs
// on its own embedded ledger. The CLI test of `serve --checkpoint-key` covers the same through a
// real process.
describe('buildServer({ checkpoints })', () => {
  const key = generateSigningKey('periodic.test');
  let ledger: Ledger;
  beforeAll(async () => {
    ledger = createLedger({ database: 'memory:' });
    await ledger.ready();
  });
  afterAll(async () => {
    await ledger.close();
  });

  const newestSeq = async () => (await ledger.getCheckpoint().catch(() => null))?.seq ?? 0;

  it('signs when the server is ready and after new entries, none while nothing changes, and none after close', async () => {
    const project = 'proj-periodic';
    await ledger.recordExecution(makeExecution(project));
    const app = await buildServer({
      ledger,
      checkpoints: { privateKey: key.privateKeyText, intervalMs: 20 },
    });
    await app.ready();
    expect(await eventually(newestSeq, (seq) => seq === 1)).toBe(1);
    await sleep(200);
    expect(await newestSeq()).toBe(1);
    const head = await ledger.recordExecution(makeExecution(project));
    expect(await eventually(newestSeq, (seq) => seq === 2)).toBe(2);
    expect((await ledger.proveProject(project, 2))?.head).toEqual({
      seq: head.seq,
      entry_hash: head.entry_hash,
    });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('execution_ledger_checkpoints_total{outcome="created"} 2');
    expect(metrics).toMatch(/execution_ledger_checkpoints_total\{outcome="unchanged"\} [1-9]/);
    expect(metrics).toContain('execution_ledger_checkpoint_diverged_projects 0');
    await app.close();
    await ledger.recordExecution(makeExecution(project));
    await sleep(100);
    expect(await newestSeq()).toBe(2);
    expect((await ledger.getCheckpoint(2)).key_id).toBe(key.signingKey.keyId);
  });
});
