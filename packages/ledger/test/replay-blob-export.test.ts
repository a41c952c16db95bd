import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import {
  type ExecutionRecord,
  exportExecutionsToNDJSON,
  type JsonValue,
  type Ledger,
} from 'execution-ledger';
import { replayBlobProblem, stepBlobHashes, verifyExport } from 'execution-ledger/verify';
import { expect, it } from 'vitest';

interface BlobLine {
  replay_blob: { hash: string; run_id: string; seq: number; size: number; content_base64: string };
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function lines(ndjson: string): Record<string, unknown>[] {
  return ndjson
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function blobLines(ndjson: string): BlobLine['replay_blob'][] {
  return lines(ndjson)
    .filter((line): line is Record<string, unknown> & BlobLine => 'replay_blob' in line)
    .map((line) => line.replay_blob);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Records a run that makes a model call and a tool call, each captured as two blobs. */
async function capturedRun(ledger: Ledger, projectId: string, task: string): Promise<ExecutionRecord> {
  const answer = (request: JsonValue): JsonValue => ({ echo: request });
  const result = await ledger.run(
    {
      project_id: projectId,
      user_id: `user-${projectId}`,
      agent_id: 'researcher',
      intent: 'research',
      input: { task },
      capture: {},
    },
    async (ctx) => {
      await ctx.call('llm', 'planner', { prompt: task }, answer);
      await ctx.call('tool', 'search', { q: task }, answer);
      // The same request again: its blobs are the same content, stored and exported once.
      await ctx.call('tool', 'search', { q: task }, answer);
      return { done: true };
    },
  );
  return present(result.record);
}

/** Replaces one line of an export by what `change` makes of it. */
function changeLine(
  ndjson: string,
  pick: (line: Record<string, unknown>) => boolean,
  change: (line: Record<string, unknown>) => unknown,
): string {
  const all = ndjson.split('\n');
  const index = all.findIndex((line) => line !== '' && pick(JSON.parse(line) as Record<string, unknown>));
  expect(index).toBeGreaterThanOrEqual(0);
  all[index] = JSON.stringify(change(JSON.parse(present(all[index])) as Record<string, unknown>));
  return all.join('\n');
}

describeEachEngine('replay blobs in exports', (context) => {
  it('leaves blobs out by default and puts each referenced blob in once, after its entry', async () => {
    const projectId = context.project();
    const first = await capturedRun(context.ledger, projectId, 'alpha');
    await context.ledger.recordExecution(makeExecution(projectId));
    const second = await capturedRun(context.ledger, projectId, 'beta');

    const plain = await text(context.ledger.exportStream('ndjson', { projectId }));
    expect(blobLines(plain)).toEqual([]);
    expect(lines(plain)).toHaveLength(3);

    const withBlobs = await text(context.ledger.exportStream('ndjson', { projectId, blobs: true }));
    const blobs = blobLines(withBlobs);
    const referenced = [
      ...stepBlobHashes(first.execution_trace_json),
      ...stepBlobHashes(second.execution_trace_json),
    ];
    // The repeated search shares its request and response: 4 distinct blobs per run.
    expect(new Set(referenced).size).toBe(8);
    expect(blobs.map((blob) => blob.hash).sort()).toEqual([...referenced].sort());
    for (const blob of blobs) {
      const bytes = Buffer.from(blob.content_base64, 'base64');
      expect(sha256(bytes)).toBe(blob.hash);
      expect(blob.size).toBe(bytes.length);
      expect(JSON.parse(bytes.toString('utf8'))).toEqual(await context.ledger.getReplayBlob(blob.hash));
      const owner = blob.run_id === first.run_id ? first : second;
      expect(blob.seq).toBe(owner.seq);
      expect(stepBlobHashes(owner.execution_trace_json)).toContain(blob.hash);
    }
    // Each blob line follows the entry it names.
    const order = lines(withBlobs).map((line) =>
      'replay_blob' in line
        ? `blob:${(line as unknown as BlobLine).replay_blob.seq}`
        : `entry:${String(line.seq)}`,
    );
    for (const [index, item] of order.entries()) {
      if (item.startsWith('blob:')) expect(order.slice(0, index)).toContain(`entry:${item.slice(5)}`);
    }

    const report = await verifyExport({ ndjson: withBlobs });
    expect(report.reason).toBeNull();
    expect(report.ok).toBe(true);
    expect(report.entries_checked).toBe(3);
    expect(report.blobs_checked).toBe(referenced.length);
    expect(report.blobs_referenced).toBe(referenced.length);
    const without = await verifyExport({ ndjson: plain });
    expect(without.ok).toBe(true);
    expect(without.blobs_checked).toBe(0);
    expect(without.blobs_referenced).toBe(referenced.length);
    expect(without.blobs_not_included).toBe(referenced.length);
    expect(report.blobs_not_included).toBe(0);

    // The JS-built export (the one `export --proof` writes) carries the same blobs.
    let built = '';
    for await (const line of exportExecutionsToNDJSON(context.ledger, projectId, {
      blobs: (hashes) => context.ledger.blobs.read(hashes),
    }))
      built += line;
    expect(
      blobLines(built)
        .map((blob) => blob.hash)
        .sort(),
    ).toEqual([...referenced].sort());
    const builtReport = await verifyExport({ ndjson: built });
    expect(builtReport.ok).toBe(true);
    expect(builtReport.blobs_checked).toBe(referenced.length);
  });

  it('refuses blobs a format cannot carry, and a blobs option that is not a boolean', async () => {
    const projectId = context.project();
    await capturedRun(context.ledger, projectId, 'gamma');
    await expectLedgerError(
      () => context.ledger.exportStream('csv', { projectId, blobs: true }),
      'VALIDATION_FAILED',
      'blobs',
    );
    expect(() => context.ledger.exportStream('csv', { projectId, blobs: true })).toThrow(
      /format csv cannot carry replay blobs; export as ndjson/,
    );
    await expectLedgerError(
      () => context.ledger.exportStream('ndjson', { projectId, blobs: 'yes' as unknown as boolean }),
      'VALIDATION_FAILED',
      'blobs',
    );
    const csv = await text(context.ledger.exportStream('csv', { projectId, blobs: false }));
    expect(csv.split('\n').filter((line) => line !== '')).toHaveLength(2);
  });

  it('refuses a changed blob, the blob of another entry, and a blob of an entry that does not verify', async () => {
    const projectId = context.project();
    const first = await capturedRun(context.ledger, projectId, 'delta');
    const second = await capturedRun(context.ledger, projectId, 'epsilon');
    const exported = await text(context.ledger.exportStream('ndjson', { projectId, blobs: true }));
    expect((await verifyExport({ ndjson: exported })).ok).toBe(true);
    const isBlobOf = (run: ExecutionRecord) => (line: Record<string, unknown>) =>
      'replay_blob' in line && (line as unknown as BlobLine).replay_blob.run_id === run.run_id;

    // One byte of a blob changed, its size kept.
    const changedByte = changeLine(exported, isBlobOf(first), (line) => {
      const blob = (line as unknown as BlobLine).replay_blob;
      const bytes = Buffer.from(blob.content_base64, 'base64');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return { replay_blob: { ...blob, content_base64: bytes.toString('base64') } };
    });
    const changed = await verifyExport({ ndjson: changedByte });
    expect(changed.ok).toBe(false);
    expect(changed.first_bad_seq).toBe(first.seq);
    expect(changed.first_bad_line).not.toBeNull();
    expect(changed.blobs_not_included).toBe(0);
    expect(changed.reason).toMatch(
      /replay blob [0-9a-f]{64}: its content hashes to [0-9a-f]{64}; the blob was changed/,
    );

    // A blob of the second run (content and hash, both true) presented as the first run's.
    const secondBlob = present(blobLines(exported).find((blob) => blob.run_id === second.run_id));
    const swapped = changeLine(exported, isBlobOf(first), (line) => ({
      replay_blob: {
        ...(line as unknown as BlobLine).replay_blob,
        ...secondBlob,
        run_id: first.run_id,
        seq: first.seq,
      },
    }));
    const foreign = await verifyExport({ ndjson: swapped });
    expect(foreign.ok).toBe(false);
    expect(foreign.reason).toContain(
      `entry seq ${first.seq} (run ${first.run_id}) references no such blob in its steps; the blob belongs to another entry`,
    );

    // A blob naming another run than the entry at its seq.
    const misnamed = changeLine(exported, isBlobOf(first), (line) => ({
      replay_blob: { ...(line as unknown as BlobLine).replay_blob, run_id: second.run_id },
    }));
    expect((await verifyExport({ ndjson: misnamed })).reason).toContain(
      `names run ${second.run_id}, but entry seq ${first.seq} is run ${first.run_id}`,
    );

    // The entry itself changed: its blobs prove nothing.
    const changedEntry = changeLine(
      exported,
      (line) => line.run_id === first.run_id,
      (line) => ({ ...line, intent: 'rewritten' }),
    );
    const broken = await verifyExport({ ndjson: changedEntry });
    expect(broken.ok).toBe(false);
    expect(broken.problems.map((problem) => problem.reason).join('\n')).toMatch(
      /entry seq \d+ did not verify, so nothing proves the blob/,
    );
    expect(broken.blobs_checked).toBeLessThan(blobLines(exported).length);

    // A size that does not match the content, and content that is not base64.
    const wrongSize = changeLine(exported, isBlobOf(second), (line) => ({
      replay_blob: { ...(line as unknown as BlobLine).replay_blob, size: 1 },
    }));
    expect((await verifyExport({ ndjson: wrongSize })).reason).toMatch(
      /size says 1 bytes, the content holds \d+/,
    );
    const notBase64 = changeLine(exported, isBlobOf(second), (line) => ({
      replay_blob: { ...(line as unknown as BlobLine).replay_blob, content_base64: '***' },
    }));
    expect((await verifyExport({ ndjson: notBase64 })).reason).toContain('must be standard base64');
  });

  it('checks one blob against one entry with replayBlobProblem', async () => {
    const projectId = context.project();
    const entry = await capturedRun(context.ledger, projectId, 'zeta');
    const [hash] = stepBlobHashes(entry.execution_trace_json);
    const content = present(await context.ledger.blobs.read([present(hash)]).next()).value;
    const bytes = present(content?.get(present(hash)));
    expect(replayBlobProblem(entry, { hash: present(hash), content: bytes })).toBeNull();
    const changed = Buffer.from(bytes);
    changed[changed.length - 1] = 0x20;
    expect(replayBlobProblem(entry, { hash: present(hash), content: changed })).toMatch(
      /the blob was changed/,
    );
    const other = Buffer.from('{"not":"this entry"}');
    expect(replayBlobProblem(entry, { hash: sha256(other), content: other })).toMatch(
      /belongs to another entry/,
    );
  });

  it('gives a scoped reader only the blobs of the entries it may read', async () => {
    const visible = context.project('seen');
    const hidden = context.project('hidden');
    const mine = await capturedRun(context.ledger, visible, 'eta');
    const theirs = await capturedRun(context.ledger, hidden, 'theta');
    const reader = context.ledger.as({ userId: `user-${visible}` });
    const own = blobLines(await text(reader.exportStream('ndjson', { projectId: visible, blobs: true })));
    expect(own.map((blob) => blob.hash).sort()).toEqual(stepBlobHashes(mine.execution_trace_json).sort());
    const none = await text(reader.exportStream('ndjson', { projectId: hidden, blobs: true }));
    expect(none).toBe('');
    expect(stepBlobHashes(theirs.execution_trace_json).length).toBeGreaterThan(0);
  });
});
