import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import type { Checkpoint, ExecutionRecord, ProjectProof } from 'execution-ledger';
import { generateSigningKey, verifyExport } from 'execution-ledger/verify';
import { beforeAll, expect, it } from 'vitest';
import { exportLines, forgeRecords } from './support/tamper.js';

const key = generateSigningKey('ledger.test');

interface Mutation {
  name: string;
  /** The seq the report must name first; null when the fault is in the note or the proof. */
  seq: number | null;
  entries?: Record<string, unknown>[];
  proof?: unknown;
  note?: string;
}

/** Flips one bit in the first leaf value found: a character, a number, or a boolean. */
function flipLeaf(value: unknown): unknown {
  if (typeof value === 'string') return String.fromCharCode(value.charCodeAt(0) ^ 1) + value.slice(1);
  if (typeof value === 'number') return value ^ 1;
  if (typeof value === 'boolean') return !value;
  if (Array.isArray(value)) return value.length === 0 ? value : [flipLeaf(value[0]), ...value.slice(1)];
  if (typeof value === 'object' && value !== null) {
    const [first, ...rest] = Object.keys(value).sort();
    if (first === undefined) return value;
    return {
      ...value,
      [first]: flipLeaf((value as Record<string, unknown>)[first]),
      ...Object.fromEntries(rest.map((k) => [k, (value as Record<string, unknown>)[k]])),
    };
  }
  throw new Error(`cannot flip a bit of ${String(value)}`);
}

/** Flips one bit of the Ed25519 signature itself (not of base64 padding, which decodes away). */
function flipSignatureBit(note: string): string {
  const [body, line] = [
    note.slice(0, note.lastIndexOf('\n— ') + 1),
    note.slice(note.lastIndexOf('\n— ') + 1),
  ];
  const [dash, name, encoded] = line.trimEnd().split(' ') as [string, string, string];
  const blob = Buffer.from(encoded, 'base64');
  blob[10] = present(blob[10]) ^ 1;
  return `${body}${dash} ${name} ${blob.toString('base64')}\n`;
}

describeEachEngine('offline verification against an adversary', (context) => {
  let entries: Record<string, unknown>[] = [];
  let proof: ProjectProof;
  let otherProof: ProjectProof;
  let checkpoint: Checkpoint;

  beforeAll(async () => {
    const projectId = context.project('audited');
    const first = await context.ledger.recordExecution(makeExecution(projectId));
    // Entry 2 has every optional field, so a bit can be flipped in each of them.
    await context.ledger.recordExecution(
      makeExecution(projectId, {
        parent_run_id: first.run_id,
        status: 'failed',
        error_message: 'Constraint violation on users.email',
        output: { rolled_back: true },
      }),
    );
    for (let i = 0; i < 2; i += 1) await context.ledger.recordExecution(makeExecution(projectId));
    const neighbours = [context.project('n'), context.project('n'), context.project('n')];
    for (const neighbour of neighbours) await context.ledger.recordExecution(makeExecution(neighbour));
    checkpoint = present((await context.ledger.createCheckpoint({ privateKey: key.signingKey })).checkpoint);
    proof = present(await context.ledger.proveProject(projectId, checkpoint));
    otherProof = present(await context.ledger.proveProject(present(neighbours[0]), checkpoint));
    entries = (await exportLines(context.ledger, projectId)).map((line) => JSON.parse(line));
  });

  function run(mutation: Mutation) {
    const lines = [{ inclusion_proof: mutation.proof ?? proof }, ...(mutation.entries ?? entries)];
    if (mutation.proof === 'none') lines.shift();
    return verifyExport({
      ndjson: lines.map((line) => JSON.stringify(line)),
      checkpoint: mutation.note ?? checkpoint.note,
      publicKey: key.publicKeyText,
    });
  }

  function mutations(): Mutation[] {
    const at = (index: number, change: (entry: Record<string, unknown>) => Record<string, unknown>) =>
      entries.map((entry, i) => (i === index ? change(structuredClone(entry)) : entry));
    const fields = Object.keys(present(entries[1])).filter((field) => field !== 'id');
    const list: Mutation[] = fields.map((field) => ({
      name: `bit flip in ${field}`,
      // A flipped seq 2 reads as seq 3: the gap is named by the entry after it.
      seq: field === 'seq' ? 3 : 2,
      entries: at(1, (entry) => ({ ...entry, [field]: flipLeaf(entry[field]) })),
    }));
    const [e1, e2, e3] = [present(entries[0]), present(entries[1]), present(entries[2])];
    const cost = e2.cost_json as { total: number; breakdown: Record<string, number> };
    const swappedPath = [...proof.path].reverse();
    list.push(
      {
        name: 'changed amount (total and its breakdown, still adding up)',
        seq: 2,
        entries: at(1, (entry) => ({
          ...entry,
          cost_json: {
            ...cost,
            total: cost.total + 100,
            breakdown: { ...cost.breakdown, tokens: (cost.breakdown.tokens ?? 0) + 100 },
          },
        })),
      },
      { name: 'deleted row', seq: 3, entries: entries.filter((_, i) => i !== 1) },
      { name: 'swapped rows', seq: 3, entries: [e1, e3, e2, ...entries.slice(3)] },
      { name: 'duplicated row', seq: 2, entries: [e1, e2, e2, ...entries.slice(2)] },
      {
        name: 'changed prev_hash',
        seq: 3,
        entries: at(2, (entry) => ({ ...entry, prev_hash: e1.entry_hash })),
      },
      {
        name: 'changed created_at',
        seq: 2,
        entries: at(1, (entry) => ({
          ...entry,
          created_at: new Date(Date.parse(entry.created_at as string) + 1).toISOString(),
        })),
      },
      { name: 'truncated tail', seq: 4, entries: entries.slice(0, -1) },
      {
        name: 'whole chain rewritten with fresh hashes',
        seq: 4,
        entries: forgeRecords(entries as unknown as ExecutionRecord[]) as unknown as Record<
          string,
          unknown
        >[],
      },
      {
        name: 'checkpoint with a bad signature',
        seq: null,
        note: flipSignatureBit(checkpoint.note),
      },
      {
        name: 'checkpoint body edited',
        seq: null,
        note: checkpoint.note.replace(/\nseq (\d+)\n/, (_, n) => `\nseq ${Number(n) + 1}\n`),
      },
      {
        name: 'proof with a flipped bit',
        seq: null,
        proof: { ...proof, path: [flipLeaf(proof.path[0]), ...proof.path.slice(1)] },
      },
      {
        name: 'proof with an extra node at the end',
        seq: null,
        proof: { ...proof, path: [...proof.path, proof.path[0]] },
      },
      {
        name: 'proof with an extra node in front',
        seq: null,
        proof: { ...proof, path: [proof.path[0], ...proof.path] },
      },
      { name: 'proof with a missing node', seq: null, proof: { ...proof, path: proof.path.slice(0, -1) } },
      { name: 'proof with nodes in the wrong order', seq: null, proof: { ...proof, path: swappedPath } },
      { name: 'wrong leaf index (+1)', seq: null, proof: { ...proof, leaf_index: proof.leaf_index + 1 } },
      {
        // The leaf may be the first one; then "another index" is two to the right.
        name: 'wrong leaf index (-1, or +2 for the first leaf)',
        seq: null,
        proof: { ...proof, leaf_index: proof.leaf_index === 0 ? 2 : proof.leaf_index - 1 },
      },
      { name: 'wrong tree size', seq: null, proof: { ...proof, tree_size: proof.tree_size + 1 } },
      {
        name: 'proof of an older head',
        seq: null,
        proof: { ...proof, head: { seq: 3, entry_hash: e3.entry_hash } },
      },
      { name: "another project's proof", seq: null, proof: otherProof },
      { name: 'no proof at all', seq: null, proof: 'none' },
    );
    return list;
  }

  it('the untouched export passes, so every detection below is the mutation', async () => {
    const report = await run({ name: 'none', seq: null });
    expect(report).toMatchObject({ ok: true, entries_checked: 4 });
    expect(proof.path.length).toBeGreaterThanOrEqual(2);
  });

  it('detects and names every mutation class', async () => {
    const list = mutations();
    const missed: string[] = [];
    for (const mutation of list) {
      const report = await run(mutation);
      const named =
        mutation.seq === null ? report.first_bad_seq === null : report.first_bad_seq === mutation.seq;
      if (report.ok || !named || report.reason === null) {
        missed.push(
          `${mutation.name}: ok=${report.ok} first_bad_seq=${report.first_bad_seq} ${report.reason}`,
        );
      }
    }
    console.log(
      `[${context.engine}] mutations: ${list.length} tried, ${list.length - missed.length} detected`,
    );
    expect(missed).toEqual([]);
    expect(list.length).toBeGreaterThanOrEqual(35);
  });
});
