// Realistic runs for the analytics benchmark, deterministic for a given seed: about 20 projects
// of very different sizes (one large customer holds about half the runs), 8 agents, a dozen users
// per project, 5% failed and 1% aborted runs, log-normal costs split into parts, and traces from
// one step to dozens.

export const AGENTS = ['backend', 'frontend', 'database', 'devops', 'security', 'data', 'qa', 'support'];
const USERS_PER_PROJECT = 12;
const ACTIONS = ['plan', 'read_repo', 'run_tests', 'build_image', 'deploy', 'migrate', 'query', 'review'];

/** mulberry32: a small, fast, seedable generator; the benchmark needs repeatability, not crypto. */
export function createRandom(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, normal, pick: (list) => list[Math.floor(next() * list.length)] };
}

/** How many runs each project gets: half to the first, the rest spread unevenly over the others. */
export function projectSizes(total, projects) {
  const weights = [
    projects - 1,
    ...Array.from({ length: projects - 1 }, (_, index) => 0.4 + ((index * 7) % 10) / 8),
  ];
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((weight) => Math.floor((total * weight) / sum));
  sizes[0] += total - sizes.reduce((a, b) => a + b, 0);
  return sizes;
}

/** Whole micro-cents to a cents number with at most six decimals. */
const cents = (micros) => Number((micros / 1_000_000).toFixed(6));

export function makeRun(random, projectId, index, runPrefix) {
  const roll = random.next();
  const status = roll < 0.05 ? 'failed' : roll < 0.06 ? 'aborted' : 'completed';
  // Log-normal cost, median 40 cents, a long tail of expensive runs.
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
  const steps = Array.from({ length: stepCount }, (_, step) => ({
    timestamp: '2026-02-13T10:30:00Z',
    action: random.pick(ACTIONS),
    duration_ms: Math.round(50 + random.next() * 3000),
    result: step === stepCount - 1 && status !== 'completed' ? 'error' : 'success',
  }));
  const durationMs = steps.reduce((sum, step) => sum + step.duration_ms, 0);
  const userIndex = Math.floor(random.next() ** 2 * USERS_PER_PROJECT);
  return {
    run_id: `${runPrefix}-${index}`,
    project_id: projectId,
    user_id: `${projectId}-user-${userIndex}`,
    agent_id: random.pick(AGENTS),
    intent: random.pick(['Deploy service', 'Migrate schema', 'Audit infrastructure', 'Fix failing tests']),
    input: {
      service: `svc-${index % 97}`,
      version: `v${index % 7}.${index % 13}.0`,
      environment: 'production',
    },
    output:
      status === 'completed'
        ? { ok: true, artifacts: stepCount, url: `https://svc-${index % 97}.example.com` }
        : undefined,
    cost: { total: cents(totalMicros), breakdown },
    execution_trace: { steps, duration_ms: durationMs, tool_calls: stepCount * 2, api_calls: stepCount },
    status,
    error_message: status === 'completed' ? undefined : `${status}: step ${stepCount} did not finish`,
  };
}
