// Runs at real density for the analytics benchmark, deterministic for a given seed: 200 projects
// with Zipf sizes (the largest about 17% of all runs), 40 agents, 5,000 users shared out between
// projects by size, timestamps spread evenly over the last `days` days, 5% failed and 1% aborted
// runs, log-normal costs split into parts, and traces of 1 to 60 steps, each with its kind, tool
// or model, duration, cost and tokens (the step costs of a run add up to its total exactly).
import { createRandom } from './analytics-data.js';

export const AGENTS = Array.from({ length: 40 }, (_, index) => `agent-${String(index).padStart(2, '0')}`);
export const TOOLS = [
  'read_file',
  'write_file',
  'run_tests',
  'shell',
  'grep',
  'git_diff',
  'git_commit',
  'http_get',
  'sql_query',
  'deploy',
  'build_image',
  'lint',
  'search_docs',
  'open_pr',
  'review',
  'migrate',
  'page_oncall',
  'summarize',
  'browser',
  'kubectl',
];
export const MODELS = [
  'gpt-4.1',
  'gpt-4.1-mini',
  'o3',
  'claude-sonnet-4',
  'claude-haiku-4',
  'gemini-2.5-pro',
  'gemini-2.5-flash',
  'llama-4-70b',
];
const USERS_TOTAL = 5_000;

/** Zipf sizes (exponent 1) that add up to `total`: rank r gets total / (r × H(n)). */
export function zipfSizes(total, projects) {
  const weights = Array.from({ length: projects }, (_, rank) => 1 / (rank + 1));
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((weight) => Math.floor((total * weight) / sum));
  sizes[0] += total - sizes.reduce((a, b) => a + b, 0);
  return sizes;
}

/** How many of the 5,000 users each project has: in proportion to its size, at least one. */
export function userCounts(sizes) {
  const total = sizes.reduce((a, b) => a + b, 0);
  return sizes.map((size) => Math.max(1, Math.round((USERS_TOTAL * size) / total)));
}

export const projectId = (index) => `proj-${String(index).padStart(3, '0')}`;

const cents = (micros) => Number((micros / 1_000_000).toFixed(6));

/**
 * The runs of one project, oldest first: `size` instants uniform over [fromMs, toMs), each with a
 * run. `firstUser` numbers the project's users globally so ids are unique across projects.
 */
export function* projectRuns(project, size, users, firstUser, fromMs, toMs) {
  const random = createRandom(project * 7_919 + 1);
  const times = new Float64Array(size);
  for (let index = 0; index < size; index += 1)
    times[index] = fromMs + Math.floor(random.next() * (toMs - fromMs));
  times.sort();
  for (let index = 0; index < size; index += 1) {
    yield makeDenseRun(
      random,
      project,
      index,
      times[index],
      firstUser + Math.floor(random.next() ** 2 * users),
    );
  }
}

function makeDenseRun(random, project, index, atMs, user) {
  const id = projectId(project);
  const roll = random.next();
  const status = roll < 0.05 ? 'failed' : roll < 0.06 ? 'aborted' : 'completed';
  const totalMicros = Math.round(Math.exp(Math.log(40) + 1.1 * random.normal()) * 1_000_000);
  const tokens = Math.round(totalMicros * (0.55 + 0.3 * random.next()));
  const penalties = status === 'aborted' ? Math.round((totalMicros - tokens) * 0.2) : 0;
  const toolCalls = Math.round((totalMicros - tokens - penalties) * random.next());
  const externalRequests = totalMicros - tokens - penalties - toolCalls;
  const breakdown = {
    tokens: cents(tokens),
    toolCalls: cents(toolCalls),
    externalRequests: cents(externalRequests),
  };
  if (penalties > 0) breakdown.penalties = cents(penalties);
  const stepCount = Math.max(1, Math.min(60, Math.round(Math.exp(1.6 + 0.8 * random.normal()))));
  // Step costs share the total out in whole micro-cents, the last step taking the remainder.
  let left = totalMicros;
  const steps = Array.from({ length: stepCount }, (_, step) => {
    const llm = random.next() < 0.5;
    const share = step === stepCount - 1 ? left : Math.floor(left * random.next() * (2 / (stepCount - step)));
    left -= share;
    const inputTokens = llm ? Math.round(200 + random.next() * 8_000) : 0;
    return {
      action: llm ? 'think' : 'call_tool',
      kind: llm ? 'llm' : 'tool',
      name: llm ? 'completion' : random.pick(TOOLS),
      ...(llm ? { model: random.pick(MODELS) } : {}),
      duration_ms: Math.round(50 + random.next() * 3000),
      cost: cents(share),
      ...(llm
        ? { tokens: { input: inputTokens, output: Math.round(inputTokens * 0.2), cached_input: 0 } }
        : {}),
    };
  });
  return {
    createdAtMs: atMs,
    execution: {
      run_id: `${id}-run-${index}`,
      project_id: id,
      user_id: `user-${String(user).padStart(4, '0')}`,
      agent_id: random.pick(AGENTS),
      intent: random.pick(['Deploy service', 'Migrate schema', 'Audit infrastructure', 'Fix failing tests']),
      input: { service: `svc-${index % 97}`, environment: 'production' },
      output: status === 'completed' ? { ok: true, artifacts: stepCount } : undefined,
      cost: { total: cents(totalMicros), breakdown },
      execution_trace: { steps, duration_ms: steps.reduce((sum, step) => sum + step.duration_ms, 0) },
      status,
      error_message: status === 'completed' ? undefined : `${status}: step ${stepCount} did not finish`,
    },
  };
}
