import { createHash, randomUUID } from 'node:crypto';
import type { LedgerLimits } from '../bounds.js';
import type { CallHandler, CapturedCall, RunContext } from '../costs/run-context.js';
import { type RunOptions, type RunRecorder, runExecution } from '../costs/run-helper.js';
import { LedgerError } from '../errors.js';
import { canonicalJson } from '../format/canonical-json.js';
import type { JsonValue } from '../plain-json.js';
import type { ExecutionInput, ExecutionRecord, RecordedExecution } from '../types.js';
import type { BlobStore } from './blob-store.js';
import { type CaptureOptions, CapturingHandler, capturedText, checkCaptureOptions } from './call-capture.js';

export interface ReplayOptions {
  /**
   * `lockdown` (default): every call is served from the recording, in order, and nothing is
   * recorded; a call the recording does not hold, or holds elsewhere, fails naming it.
   * `fork`: calls before `fromCall` are served from the recording, the rest run live, and the
   * replay is recorded as a new run whose parent is the original.
   */
  mode?: 'lockdown' | 'fork';
  /** `fork` only: the first call (0 for the run's first) that runs live. */
  fromCall?: number;
  /** The same redaction as when recording, so requests hash the same (and, in a fork, for the live calls). */
  capture?: CaptureOptions;
  /** Passed on to the replayed run: prices, costManager, budgetCents, enforce, signal, and (fork) run_id. */
  run?: Pick<RunOptions, 'prices' | 'costManager' | 'budgetCents' | 'enforce' | 'signal' | 'run_id'>;
}

/** One call, as recorded and as replayed. */
export interface ReplayCallDiff {
  index: number;
  original: { name: string; kind: string; request: string; response: string } | null;
  replay: { name: string; kind: string; request: string; response: string } | null;
  /** How the replay got its response. */
  served: 'recorded' | 'live' | null;
  same: boolean;
}

export interface ReplayDiff {
  mode: 'lockdown' | 'fork';
  run_id: string;
  /** The fork's recorded run; null in lockdown. */
  replay_run_id: string | null;
  calls: ReplayCallDiff[];
  steps: { original: number; replay: number };
  output: { original: JsonValue | null; replay: JsonValue | null; same: boolean };
  cost: { original: number; replay: number; same: boolean };
}

export interface ReplayResult<T> {
  output: T;
  diff: ReplayDiff;
  /** The fork's record; null in lockdown. */
  record: RecordedExecution | null;
}

interface RecordedCall {
  kind: string;
  name: string;
  request: string;
  response: string;
}

export interface ReplayLedger extends RunRecorder {
  readonly blobs: BlobStore;
  requireExecution(runId: string): Promise<ExecutionRecord>;
  readonly limits: LedgerLimits;
}

function callsOf(steps: readonly Record<string, unknown>[]): RecordedCall[] {
  const calls: RecordedCall[] = [];
  for (const step of steps) {
    const io = step.io as { request?: unknown; response?: unknown } | undefined;
    if (io === undefined || typeof io.request !== 'string' || typeof io.response !== 'string') continue;
    calls.push({
      kind: String(step.kind ?? ''),
      name: String(step.name ?? step.action ?? ''),
      request: io.request,
      response: io.response,
    });
  }
  return calls;
}

function mismatch(message: string, index: number): LedgerError {
  return new LedgerError('REPLAY_MISMATCH', `calls[${index}]: ${message}`, {
    field: `calls[${index}]`,
    details: { call: index },
  });
}

/** Serves recorded responses in order; in a fork, hands calls from `fromCall` on to live capture. */
class RecordingServer implements CallHandler {
  served = 0;
  readonly seen: { index: number; served: 'recorded' | 'live' }[] = [];

  constructor(
    private readonly recorded: RecordedCall[],
    private readonly blobs: BlobStore,
    private readonly capture: CaptureOptions,
    private readonly live: CapturingHandler | null,
    private readonly fromCall: number,
  ) {}

  async answer(
    call: CapturedCall,
  ): Promise<{ response: JsonValue; io: { request: string; response: string } }> {
    if (this.live !== null && call.index >= this.fromCall) {
      this.seen.push({ index: call.index, served: 'live' });
      return this.live.answer(call);
    }
    const recorded = this.recorded[call.index];
    const what = `call ${call.index} (${call.kind} ${JSON.stringify(call.name)})`;
    if (recorded === undefined) {
      throw mismatch(
        `${what} was not recorded: the original run made ${this.recorded.length} calls; replay in fork mode to make new calls`,
        call.index,
      );
    }
    if (recorded.kind !== call.kind || recorded.name !== call.name) {
      throw mismatch(
        `${what} is out of order: the recording has ${recorded.kind} ${JSON.stringify(recorded.name)} at this position`,
        call.index,
      );
    }
    const site = { kind: call.kind, name: call.name, part: 'request' as const, index: call.index };
    // Hashed only, never stored: a request that does not match may hold what redaction would mask.
    const request = createHash('sha256')
      .update(capturedText(call.request, site, this.capture), 'utf8')
      .digest('hex');
    if (request !== recorded.request) {
      throw mismatch(
        `${what} sends another request than the recording (sha256 ${request}, recorded ${recorded.request})`,
        call.index,
      );
    }
    const response = await this.blobs.get(recorded.response);
    if (response === null) {
      throw mismatch(
        `${what}: the recorded response blob ${recorded.response} is not in the store`,
        call.index,
      );
    }
    this.served += 1;
    this.seen.push({ index: call.index, served: 'recorded' });
    return { response, io: { request: recorded.request, response: recorded.response } };
  }
}

/** The sentinel a lockdown replay's recorder throws: nothing is appended, the execution is kept. */
class NotRecorded extends Error {}

/**
 * Runs `agentFn` again against a recorded run (docs/replay.md) and returns its output and a diff
 * against the original: calls, outputs and cost.
 */
export async function replayExecution<T>(
  ledger: ReplayLedger,
  runId: string,
  agentFn: (ctx: RunContext, input: Record<string, unknown>) => T | Promise<T>,
  options: ReplayOptions = {},
): Promise<ReplayResult<T>> {
  const mode = options.mode ?? 'lockdown';
  if (mode !== 'lockdown' && mode !== 'fork') {
    throw new LedgerError('VALIDATION_FAILED', `mode must be lockdown or fork; got ${String(mode)}`, {
      field: 'mode',
    });
  }
  const fromCall = options.fromCall ?? 0;
  if (mode === 'fork' && (!Number.isSafeInteger(fromCall) || fromCall < 0)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `fromCall must be a whole number of 0 or more; got ${String(fromCall)}`,
      {
        field: 'fromCall',
      },
    );
  }
  if (mode === 'lockdown' && options.fromCall !== undefined) {
    throw new LedgerError('VALIDATION_FAILED', 'fromCall belongs to fork mode; pass mode: "fork"', {
      field: 'fromCall',
    });
  }
  const capture = options.capture === undefined ? {} : checkCaptureOptions(options.capture);
  const original = await ledger.requireExecution(runId);
  const recorded = callsOf(original.execution_trace_json.steps as Record<string, unknown>[]);
  const live = mode === 'fork' ? new CapturingHandler(ledger.blobs, capture) : null;
  const server = new RecordingServer(recorded, ledger.blobs, capture, live, fromCall);
  const kept: { execution: ExecutionInput | null } = { execution: null };
  const recorder: RunRecorder =
    mode === 'fork'
      ? ledger
      : {
          limits: ledger.limits,
          recordExecution: async () => {
            throw new NotRecorded();
          },
        };
  const runOptions: RunOptions = {
    ...(options.run ?? {}),
    run_id: mode === 'fork' ? (options.run?.run_id ?? `run-${randomUUID()}`) : `replay-${randomUUID()}`,
    project_id: original.project_id,
    user_id: original.user_id,
    agent_id: original.agent_id,
    parent_run_id: mode === 'fork' ? original.run_id : original.parent_run_id,
    intent: original.intent,
    input: original.input,
    onRecordError: (error, execution) => {
      if (!(error instanceof NotRecorded)) throw error;
      kept.execution = execution;
    },
  };
  const result = await runExecution(
    recorder,
    runOptions,
    (ctx) => agentFn(ctx, structuredClone(original.input)),
    server,
  );
  if (mode === 'lockdown' && server.served < recorded.length) {
    const next = recorded[server.served];
    throw mismatch(
      `the replay made ${server.served} calls but the recording holds ${recorded.length}: call ${server.served} ` +
        `(${next?.kind} ${JSON.stringify(next?.name)}) was never made`,
      server.served,
    );
  }
  const replaySteps =
    result.record === null
      ? (kept.execution?.execution_trace?.steps ?? [])
      : result.record.execution_trace_json.steps;
  const replayCalls = callsOf(replaySteps as Record<string, unknown>[]);
  const count = Math.max(recorded.length, replayCalls.length);
  const calls: ReplayCallDiff[] = Array.from({ length: count }, (_, index) => {
    const before = recorded[index] ?? null;
    const after = replayCalls[index] ?? null;
    return {
      index,
      original: before,
      replay: after,
      served: server.seen.find((seen) => seen.index === index)?.served ?? null,
      same:
        before !== null &&
        after !== null &&
        canonicalJson(before as unknown as JsonValue) === canonicalJson(after as unknown as JsonValue),
    };
  });
  const originalOutput = original.output ?? null;
  const replayOutput = (result.output ?? null) as JsonValue | null;
  const originalCost = original.cost_json.total;
  const replayCost = result.metrics.totalCost;
  return {
    output: result.output,
    record: result.record,
    diff: {
      mode,
      run_id: original.run_id,
      replay_run_id: result.record?.run_id ?? null,
      calls,
      steps: { original: original.execution_trace_json.steps.length, replay: replaySteps.length },
      output: {
        original: originalOutput,
        replay: replayOutput,
        same: canonicalJson(originalOutput) === canonicalJson(replayOutput),
      },
      cost: { original: originalCost, replay: replayCost, same: originalCost === replayCost },
    },
  };
}
