import type { Command } from 'commander';
import { type JsonValue, LedgerError } from 'execution-ledger';
import { printJson, wantsJson } from '../cli-output.js';
import { withLedger } from '../open-ledger.js';
import { globalOptions, withExample } from './command-options.js';

interface ReplayOptions {
  show?: boolean;
}

interface StepView {
  index: number;
  action: string;
  kind: string | null;
  name: string | null;
  started_ms: number | null;
  duration_ms: number | null;
  status: string | null;
  cost: number | null;
  request?: { hash: string; value: JsonValue | null };
  response?: { hash: string; value: JsonValue | null };
}

/** `replay <runId> --show`: a recorded run's step timeline with each captured request and response. */
export function registerReplayCommand(program: Command): void {
  const replay = program
    .command('replay')
    .description("show a run's replay log: its steps in order, with what each call sent and received")
    .argument('<runId>')
    .option('--show', 'print the step timeline with each captured request and response')
    .action(async (runId: string, options: ReplayOptions, self: Command) => {
      const global = globalOptions(self);
      if (options.show !== true) {
        throw new LedgerError(
          'VALIDATION_FAILED',
          "replay needs --show: running a replay needs the agent's code, so call ledger.replayRun() from it (docs/replay.md)",
          { field: 'show' },
        );
      }
      await withLedger(global, async (ledger) => {
        const record = await ledger.requireExecution(runId);
        const steps: StepView[] = [];
        const list = record.execution_trace_json.steps as Record<string, unknown>[];
        for (const [index, step] of list.entries()) {
          const view: StepView = {
            index,
            action: String(step.action ?? ''),
            kind: typeof step.kind === 'string' ? step.kind : null,
            name: typeof step.name === 'string' ? step.name : null,
            started_ms: typeof step.started_ms === 'number' ? step.started_ms : null,
            duration_ms: typeof step.duration_ms === 'number' ? step.duration_ms : null,
            status: typeof step.status === 'string' ? step.status : null,
            cost: typeof step.cost === 'number' ? step.cost : null,
          };
          const io = step.io as { request?: string; response?: string } | undefined;
          if (io?.request !== undefined)
            view.request = { hash: io.request, value: await ledger.getReplayBlob(io.request) };
          if (io?.response !== undefined) {
            view.response = { hash: io.response, value: await ledger.getReplayBlob(io.response) };
          }
          steps.push(view);
        }
        if (wantsJson(global)) {
          printJson({ run_id: record.run_id, status: record.status, cost: record.cost_json.total, steps });
          return;
        }
        const lines = [`${record.run_id}  ${record.status}  cost ${record.cost_json.total} cents`];
        for (const step of steps) {
          const label = step.kind === null ? step.action : `${step.action} [${step.kind}]`;
          const timing = `+${step.started_ms ?? '?'} ms, ${step.duration_ms ?? '?'} ms`;
          const cost = step.cost === null ? '' : `, ${step.cost} cents`;
          lines.push(`#${step.index}  ${label}  ${timing}${cost}${step.status === 'error' ? '  error' : ''}`);
          for (const part of ['request', 'response'] as const) {
            const blob = step[part];
            if (blob === undefined) continue;
            const text =
              blob.value === null ? `(not in the store: ${blob.hash})` : JSON.stringify(blob.value);
            lines.push(`    ${part}: ${text}`);
          }
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });
  withExample(
    replay,
    'execution-ledger replay run-12345-abc --show',
    'execution-ledger replay run-12345-abc --show --json',
  );
}
