// What a writer promises and how the parent checks it: the content hash of a run, the
// acknowledgement log (one fsync'd line per run the ledger said it stored), and its reader.
import { createHash, randomUUID } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { canonicalJson } from 'execution-ledger/verify';

/** A run with varied content, so that an altered or swapped entry cannot hash the same. */
export function makeRun(projectId, writer) {
  const micro = Math.floor(Math.random() * 1e9);
  return {
    run_id: `run-${writer}-${randomUUID()}`,
    project_id: projectId,
    user_id: `user-${micro % 7}`,
    agent_id: ['backend', 'database', 'devops'][micro % 3],
    intent: `crash test run ${micro}`,
    input: { micro, text: 'é✓'.repeat(micro % 5), nested: { list: [micro % 11, null, true] } },
    output: { ok: micro % 2 === 0 },
    cost: { total: micro / 1e6, breakdown: {} },
    execution_trace: { steps: [{ action: 'step', duration_ms: micro % 1000 }], duration_ms: micro % 1000 },
    status: 'completed',
  };
}

/**
 * The content of a run as the writer sent it or as the ledger returns it, hashed without the
 * library's own payload hash, so that the check does not trust what it checks.
 */
export function contentHash(run) {
  const content = {
    run_id: run.run_id,
    project_id: run.project_id,
    user_id: run.user_id,
    agent_id: run.agent_id,
    intent: run.intent,
    input: run.input,
    output: run.output ?? null,
    cost: run.cost ?? run.cost_json,
    status: run.status,
  };
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}

/**
 * Appends acknowledgement lines and fsyncs them. Lines wait in a queue while a write is in
 * flight, so many callers share one fsync; a line is only queued after its append resolved.
 */
export async function openAcknowledgementLog(file) {
  const handle = await open(file, 'a');
  let queue = [];
  let flushing = null;
  async function flush() {
    while (queue.length > 0) {
      const text = queue.join('');
      queue = [];
      await handle.write(text);
      await handle.sync();
    }
    flushing = null;
  }
  return {
    acknowledge(run) {
      queue.push(
        `${JSON.stringify({ run_id: run.run_id, project_id: run.project_id, hash: contentHash(run) })}\n`,
      );
      flushing ??= flush();
      return flushing;
    },
  };
}

/** Every complete line of an acknowledgement log; a line cut by the kill was never acknowledged. */
export async function readAcknowledgements(file) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') return [];
    throw error;
  }
  const lines = text.split('\n');
  lines.pop();
  return lines.map((line) => JSON.parse(line));
}
