import { randomUUID } from 'node:crypto';
import { describeEachEngine, expectLedgerError, present } from '@execution-ledger/test-support';
import type { CaptureOptions, JsonValue, RunContext } from 'execution-ledger';
import { expect, it } from 'vitest';

// Unique per test run: the store is append-only, so a check for the secret must not meet an older one.
const SECRET = `sk-live-${randomUUID()}`;

/** A deterministic mocked model: it answers from the prompt alone. */
function model(request: JsonValue): JsonValue {
  const prompt = (request as { prompt: string }).prompt;
  return { text: `plan for ${prompt}`, usage: { input: prompt.length * 10, output: 40 } };
}

/** A deterministic mocked search tool. */
function search(request: JsonValue): JsonValue {
  return { hits: [`${(request as { q: string }).q}-1`, `${(request as { q: string }).q}-2`] };
}

type Agent = (ctx: RunContext, input: Record<string, unknown>) => Promise<JsonValue>;

/** Plans with the model, searches twice, then summarises with the model; charges as it goes. */
const agent =
  (extraCall = false, summaryPrompt = 'summarise'): Agent =>
  async (ctx, input) => {
    const task = String(input.task);
    const byUsage = {
      charge: (response: JsonValue) => {
        const usage = (response as { usage: { input: number; output: number } }).usage;
        ctx.accountTokens(usage.input, usage.output, { model: 'gpt-4o' });
      },
    };
    const plan = (await ctx.call('llm', 'planner', { prompt: task, api_key: SECRET }, model, byUsage)) as {
      text: string;
    };
    const hits: string[] = [];
    for (const q of [`${task}-a`, `${task}-b`]) {
      const found = (await ctx.call('tool', 'search', { q }, search, {
        charge: () => ctx.accountToolCall('search'),
      })) as { hits: string[] };
      hits.push(...found.hits);
    }
    if (extraCall) await ctx.call('tool', 'search', { q: 'one more' }, search);
    const summaryRequest = { prompt: `${summaryPrompt} ${hits.join(',')}` };
    const summary = (await ctx.call('llm', 'summariser', summaryRequest, model, byUsage)) as { text: string };
    return { plan: plan.text, summary: summary.text, hits };
  };

/** Masks the API key before anything is stored. */
const capture: CaptureOptions = {
  redact: (value) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'api_key' in value) {
      return { ...value, api_key: '[redacted]' };
    }
    return value;
  },
};

describeEachEngine('replay logs', (context) => {
  const record = async (projectId: string) => {
    const fn = agent();
    return context.ledger.run(
      {
        project_id: projectId,
        user_id: 'u',
        agent_id: 'researcher',
        intent: 'research',
        input: { task: 'ledgers' },
        capture,
      },
      (ctx) => fn(ctx, { task: 'ledgers' }),
    );
  };

  it('records each call as content-addressed blobs the chain covers, with secrets redacted', async () => {
    const projectId = context.project();
    const { record: stored, output } = await record(projectId);
    const recorded = present(stored);
    const steps = recorded.execution_trace_json.steps as {
      io?: { request: string; response: string };
      kind?: string;
    }[];
    const calls = steps.filter((step) => step.io !== undefined);
    expect(calls.map((step) => step.kind)).toEqual(['llm', 'tool', 'tool', 'llm']);
    const first = present(calls[0]?.io);
    expect(first.request).toMatch(/^[0-9a-f]{64}$/);
    expect(await context.ledger.getReplayBlob(first.request)).toEqual({
      prompt: 'ledgers',
      api_key: '[redacted]',
    });
    expect(await context.ledger.getReplayBlob(first.response)).toEqual(model({ prompt: 'ledgers' }));
    expect(output).toMatchObject({ plan: 'plan for ledgers' });
    // The secret is nowhere in the store (nor in the entry).
    const leaks = await context.admin(
      `select count(*)::int as n from execution_ledger.replay_blobs where position($1::bytea in content) > 0`,
      [Buffer.from(SECRET)],
    );
    expect(leaks).toEqual([{ n: 0 }]);
    expect(JSON.stringify(recorded)).not.toContain(SECRET);
    // The hashes are inside the entry's payload: verification re-derives them.
    expect((await context.ledger.verifyLedger(projectId)).ok).toBe(true);
    // The store refuses content under another hash, and changes of what it holds.
    const database = await context.ledger.database();
    await expect(
      database.query('select execution_ledger.put_replay_blob($1::bytea, $2::bytea)', [
        Buffer.from(first.request, 'hex'),
        Buffer.from('{"forged":true}'),
      ]),
    ).rejects.toThrow();
    await expect(
      database.query('delete from execution_ledger.replay_blobs where hash = decode($1, $2)', [
        first.request,
        'hex',
      ]),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('replays in lockdown with identical output and cost, and fails naming an extra call', async () => {
    const projectId = context.project();
    const { record: stored, output } = await record(projectId);
    const runId = present(stored).run_id;
    let liveCalls = 0;
    const counting: Agent = async (ctx, input) => {
      const wrapped = new Proxy(ctx, {
        get(target, key) {
          if (key === 'call') {
            return (
              kind: never,
              name: string,
              request: JsonValue,
              fn: (r: JsonValue) => JsonValue,
              options?: { charge?: (response: JsonValue) => void },
            ) =>
              target.call(
                kind,
                name,
                request,
                (r) => {
                  liveCalls += 1;
                  return fn(r);
                },
                options,
              );
          }
          const value = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      return agent()(wrapped, input);
    };
    const replay = await context.ledger.replayRun(runId, counting, { capture });
    expect(liveCalls).toBe(0);
    expect(replay.output).toEqual(output);
    expect(replay.diff.output.same).toBe(true);
    expect(replay.diff.calls.every((call) => call.same && call.served === 'recorded')).toBe(true);
    expect(replay.record).toBeNull();
    expect(replay.diff.cost.same).toBe(true);
    expect(replay.diff.cost.replay).toBe(present(stored).cost_json.total);
    expect((await context.ledger.listExecutionsByProject(projectId)).total).toBe(1);

    const extra = await expectLedgerError(
      context.ledger.replayRun(runId, agent(true), { capture }),
      'REPLAY_MISMATCH',
      'calls[3]',
    );
    expect(extra.message).toContain('call 3 (tool "search")');
    const changed = await expectLedgerError(
      context.ledger.replayRun(runId, agent(false, 'condense'), { capture }),
      'REPLAY_MISMATCH',
      'calls[3]',
    );
    expect(changed.message).toContain('another request');
    // Without the same redaction, the first request no longer matches the recording, and the
    // unredacted request it hashed is not stored.
    await expectLedgerError(context.ledger.replayRun(runId, agent()), 'REPLAY_MISMATCH', 'calls[0]');
    const leaks = await context.admin(
      `select count(*)::int as n from execution_ledger.replay_blobs where position($1::bytea in content) > 0`,
      [Buffer.from(SECRET)],
    );
    expect(leaks).toEqual([{ n: 0 }]);
  });

  it('forks at a call: earlier calls from the recording, later ones live, recorded as a child run', async () => {
    const projectId = context.project();
    const { record: stored } = await record(projectId);
    const original = present(stored);
    const fork = await context.ledger.replayRun(original.run_id, agent(false, 'condense'), {
      mode: 'fork',
      fromCall: 2,
      capture,
    });
    const forked = present(fork.record);
    expect(forked.parent_run_id).toBe(original.run_id);
    expect(fork.diff.replay_run_id).toBe(forked.run_id);
    expect(fork.diff.calls.map((call) => [call.served, call.same])).toEqual([
      ['recorded', true],
      ['recorded', true],
      ['live', true],
      ['live', false],
    ]);
    expect(fork.diff.output.same).toBe(false);
    expect((fork.output as { summary: string }).summary).toContain('condense');
    const tree = await context.ledger.getRunTree(forked.run_id);
    expect(tree.root_run_id).toBe(original.run_id);
    await expectLedgerError(
      context.ledger.replayRun(original.run_id, agent(), { mode: 'fork', fromCall: -1 }),
      'VALIDATION_FAILED',
      'fromCall',
    );
  });

  it('refuses a blob above the size limit, naming the call', async () => {
    const projectId = context.project();
    const error = await expectLedgerError(
      context.ledger.run(
        {
          project_id: projectId,
          user_id: 'u',
          agent_id: 'a',
          intent: 'big',
          input: {},
          capture: { blobBytesMax: 64 },
        },
        (ctx) => ctx.call('tool', 'dump', { data: 'x'.repeat(100) }, () => ({ ok: true })),
      ),
      'PAYLOAD_TOO_LARGE',
    );
    expect(error.message).toContain('call 0 (dump)');
  });
});
