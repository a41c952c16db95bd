import assert from 'node:assert/strict';
import type { ExecutionInput, ExecutionStatus } from 'execution-ledger';

interface AgentProfile {
  intents: string[];
  actions: string[];
  /** The model its planning call uses, and the service its external requests go to. */
  model: string;
  service: string;
  failRate: number;
  abortRate: number;
  /** Typical cost in cents and duration in ms; each run varies around them. */
  costCents: number;
  durationMs: number;
}

const AGENTS: Record<string, AgentProfile> = {
  backend: {
    model: 'gpt-4o',
    service: 'github-api',
    intents: [
      'Deploy microservice to production',
      'Add pagination to REST endpoint',
      'Fix failing integration test',
    ],
    actions: ['validate_service', 'build_docker_image', 'push_to_registry', 'deploy_kubernetes', 'run_tests'],
    failRate: 0.04,
    abortRate: 0.01,
    costCents: 420,
    durationMs: 6_000,
  },
  frontend: {
    model: 'claude-sonnet',
    service: 'figma-api',
    intents: ['Build dashboard component', 'Fix layout regression', 'Upgrade UI dependencies'],
    actions: ['read_design', 'write_component', 'run_storybook', 'run_unit_tests'],
    failRate: 0.03,
    abortRate: 0.005,
    costCents: 260,
    durationMs: 4_000,
  },
  database: {
    model: 'gpt-4o-mini',
    service: 'aws-rds-api',
    intents: ['Migrate schema with data validation', 'Add index for slow query', 'Backfill column'],
    actions: ['backup_database', 'plan_migration', 'validate_and_migrate', 'analyze_tables'],
    failRate: 0.08,
    abortRate: 0.01,
    costCents: 310,
    durationMs: 9_000,
  },
  devops: {
    model: 'o3',
    service: 'terraform-cloud',
    intents: ['Full infrastructure audit and optimization', 'Rotate TLS certificates', 'Scale worker pool'],
    actions: ['audit_compute_resources', 'audit_networking', 'apply_terraform', 'check_alerts'],
    failRate: 0.05,
    abortRate: 0.03,
    costCents: 900,
    durationMs: 12_000,
  },
};

export const DEMO_PROJECTS = ['proj-001', 'proj-002', 'proj-003'];

/**
 * Part of every demo run_id. Entries are never changed, so runs whose content changed (v2: typed
 * steps with costs) need new ids: the demo then adds the new runs beside an earlier version's
 * instead of stopping at RUN_ID_CONFLICT, and still replays its own.
 */
const DEMO_VERSION = 'v2';

/**
 * Deterministic, realistic runs: the same `count` gives the same runs (ids and content) every
 * time, so running the demo again replays instead of appending twice. Costs are whole
 * hundredths of a cent per part, and each total is the exact sum of its parts.
 */
export function syntheticRuns(count: number, seed = 20260213): ExecutionInput[] {
  const random = mulberry32(seed);
  const agents = Object.entries(AGENTS);
  const runs: ExecutionInput[] = [];
  for (let index = 1; index <= count; index += 1) {
    const [agentId, profile] = pick(agents, random());
    const projectId = pick(DEMO_PROJECTS, random() ** 1.6);
    const roll = random();
    const status: ExecutionStatus =
      roll < profile.abortRate
        ? 'aborted'
        : roll < profile.abortRate + profile.failRate
          ? 'failed'
          : 'completed';
    const actionSteps = buildSteps(random, profile, status);
    // Drawn in this order since the first release, so a count gives the runs it always gave.
    const userId = `user-00${1 + Math.floor(random() * 5)}`;
    const intent = pick(profile.intents, random());
    const input = {
      ticket: `OPS-${1000 + Math.floor(random() * 9000)}`,
      attempt: 1 + Math.floor(random() * 2),
    };
    const output =
      status === 'completed' ? { ok: true, changed_files: Math.floor(random() * 12) } : undefined;
    const cost = buildCost(random, profile.costCents, status);
    const steps = withStepCosts(actionSteps, profile, cost.parts);
    const durationMs = steps.reduce((sum, step) => sum + step.duration_ms, 0);
    runs.push({
      run_id: `demo-${DEMO_VERSION}-${projectId}-${String(index).padStart(6, '0')}`,
      project_id: projectId,
      user_id: userId,
      agent_id: agentId,
      intent,
      input,
      ...(output === undefined ? {} : { output }),
      cost: cost.input,
      execution_trace: {
        steps,
        duration_ms: durationMs,
        tool_calls: actionSteps.length * 2,
        api_calls: actionSteps.length * 3,
      },
      status,
      ...(status === 'failed'
        ? { error_message: `Step "${actionSteps.at(-1)?.action}" failed: exit code 1` }
        : {}),
      ...(status === 'aborted' ? { error_message: 'Execution aborted: budget exceeded' } : {}),
    });
  }
  return runs;
}

function buildSteps(random: () => number, profile: AgentProfile, status: ExecutionStatus) {
  const stepCount = 2 + Math.floor(random() * (profile.actions.length - 1));
  return profile.actions.slice(0, stepCount).map((action, position) => {
    const last = position === stepCount - 1;
    const durationMs = Math.round((profile.durationMs / stepCount) * logNormal(random));
    const failed = last && status !== 'completed';
    return { action, duration_ms: durationMs, failed };
  });
}

/** A run's cost parts in whole hundredths of a cent. */
interface CostParts {
  tokens: number;
  toolCalls: number;
  externalRequests: number;
}

function buildCost(random: () => number, typicalCents: number, status: ExecutionStatus) {
  // Whole hundredths of a cent: integer arithmetic, then one exact division per amount.
  const scale = status === 'completed' ? 1 : 0.5;
  const parts: CostParts = {
    tokens: Math.round(typicalCents * 100 * 0.6 * scale * logNormal(random)),
    toolCalls: Math.round(typicalCents * 100 * 0.3 * scale * logNormal(random)),
    externalRequests: Math.round(typicalCents * 100 * 0.1 * scale * random()),
  };
  return {
    parts,
    input: {
      total: (parts.tokens + parts.toolCalls + parts.externalRequests) / 100,
      breakdown: {
        tokens: parts.tokens / 100,
        toolCalls: parts.toolCalls / 100,
        externalRequests: parts.externalRequests / 100,
      },
    },
  };
}

/**
 * The run's steps typed and carrying its whole cost, as runs recorded through `ledger.run` do
 * (docs/api.md, "Typed steps"): the model's planning call takes the tokens, the actions share
 * the tool calls, and a request to the agent's service takes the external requests. Derived from
 * the cost, with no draw of its own: the users, intents and costs are the ones drawn before.
 */
function withStepCosts(
  actions: { action: string; duration_ms: number; failed: boolean }[],
  profile: AgentProfile,
  parts: CostParts,
) {
  // About 1,000 tokens per cent of model cost, a quarter of them output, 200 tokens per ms.
  const tokens = Math.round(parts.tokens * 10);
  const share = Math.floor(parts.toolCalls / actions.length);
  return [
    {
      action: 'plan',
      kind: 'llm' as const,
      model: profile.model,
      duration_ms: 400 + Math.round(tokens / 200),
      status: 'ok' as const,
      tokens: { input: tokens - Math.round(tokens / 4), output: Math.round(tokens / 4) },
      cost: parts.tokens / 100,
    },
    ...actions.map(({ action, duration_ms, failed }, position) => ({
      action,
      kind: 'tool' as const,
      name: action,
      duration_ms,
      ...(failed ? { status: 'error' as const, error: 'non-zero exit code' } : { status: 'ok' as const }),
      // The last action takes what the even shares leave: the steps add up to the part exactly.
      cost: (position === actions.length - 1 ? parts.toolCalls - share * position : share) / 100,
    })),
    ...(parts.externalRequests > 0
      ? [
          {
            action: 'report',
            kind: 'external' as const,
            name: profile.service,
            duration_ms: 150,
            status: 'ok' as const,
            cost: parts.externalRequests / 100,
          },
        ]
      : []),
  ];
}

/** A positive factor around 1 with a long right tail, as real costs and durations have. */
function logNormal(random: () => number): number {
  const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.exp(0.45 * gaussian - 0.1);
}

/** A small seeded PRNG, so the demo data is the same on every machine. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The item at fraction `at` (from 0, below 1) of a non-empty list. */
function pick<T>(items: readonly T[], at: number): T {
  const item = items[Math.floor(at * items.length)];
  assert(item !== undefined, 'picks come from non-empty lists at a fraction below 1');
  return item;
}
