import {
  CostManager,
  type ExecutionCost,
  type ExecutionInput,
  type ExecutionStatus,
  isLedgerError,
  type PriceTable,
  type TypedStep,
} from 'execution-ledger';
import { OTLP_MESSAGE_CHARS_MAX } from '../bounds.js';
import {
  AGENT,
  CACHED_INPUT_TOKENS,
  COST_CENTS,
  COST_USD,
  first,
  firstAmount,
  firstCount,
  firstText,
  INFERENCE_OPERATIONS,
  INPUT_MESSAGES,
  INPUT_TOKENS,
  INTENT,
  MODEL,
  type Operation,
  OUTPUT_MESSAGES,
  OUTPUT_TOKENS,
  operationOf,
  PROVIDER,
  TOOL_NAME,
  USER,
} from './genai-attributes.js';
import type { AttributeValue, ProjectSpan } from './otlp-span.js';

const LABEL_CHARS_MAX = 200;
const INTENT_CHARS_MAX = 2_000;
const ERROR_CHARS_MAX = 2_000;
/** The user of a run whose spans name none. */
export const ANONYMOUS_USER = 'anonymous';

/** The run id of the run a span starts: the same spans always give the same id. */
export function otelRunId(traceId: string, spanId: string): string {
  return `otel-${traceId}-${spanId}`;
}

interface Node {
  span: ProjectSpan;
  operation: Operation;
  children: Node[];
  parent: Node | undefined;
}

/** What a span's own attributes say it charged. */
interface Usage {
  input: number;
  output: number;
  cached: number;
  model: string | undefined;
}

/**
 * The runs of one trace: one per `invoke_agent` span, or, when the trace has none, one per
 * root span (a span whose parent is not among them). Each run's steps are the spans below it,
 * down to the next `invoke_agent`, which becomes a step linking to its own run. Tokens are
 * counted only on the lowest spans that carry them, so wrappers that repeat their children's
 * totals (the Vercel AI SDK's `ai.generateText`) are never counted twice.
 */
export function assembleTrace(spans: readonly ProjectSpan[], prices: PriceTable): ExecutionInput[] {
  const nodes = new Map<string, Node>();
  for (const span of spans) {
    nodes.set(span.span_id, { span, operation: operationOf(span), children: [], parent: undefined });
  }
  for (const node of nodes.values()) {
    const parentId = node.span.parent_span_id;
    const parent = parentId === null ? undefined : nodes.get(parentId);
    if (parent !== undefined) {
      node.parent = parent;
      parent.children.push(node);
    }
  }
  for (const node of nodes.values()) node.children.sort(byStart);
  const agents = [...nodes.values()].filter((node) => node.operation === 'invoke_agent');
  const runRoots =
    agents.length > 0 ? agents : [...nodes.values()].filter((node) => node.parent === undefined);
  runRoots.sort(byStart);
  const costs = new CostManager({ prices, runsOpenMax: Math.max(1, runRoots.length) });
  return runRoots.map((root) => buildRun(root, costs));
}

function buildRun(root: Node, costs: CostManager): ExecutionInput {
  const { span } = root;
  const runId = otelRunId(span.trace_id, span.span_id);
  const agentId =
    label(firstText(span, AGENT, true) ?? firstText(span, ['service.name'], true)) ?? 'unknown_agent';
  const members = stepNodes(root);
  // The run span itself is the only place of its charge when it is a lone model call.
  if (INFERENCE_OPERATIONS.has(root.operation) && !members.some((node) => usageOf(node) !== undefined)) {
    members.unshift(root);
  }
  const counted = new Set(members.filter((node) => countsCharge(node, members)));
  costs.createExecution(runId, agentId);
  const priced = { computed: false, reportedMicros: 0n, reportedSteps: 0, unpriced: [] as object[] };
  const parts = { tokens: 0n, toolCalls: 0n, externalRequests: 0n, other: 0n };
  let costedSteps = 0;
  const steps = members.map((node) => {
    const step = baseStep(node, root);
    if (!counted.has(node)) return step;
    const usage = usageOf(node);
    if (usage !== undefined) {
      step.tokens = { input: usage.input, output: usage.output, cached_input: usage.cached };
      if (usage.model !== undefined) step.model = usage.model;
    }
    const reported = reportedMicros(node.span.attributes);
    let micros: bigint | undefined;
    if (reported !== undefined) {
      micros = reported;
      step.cost_source = 'reported';
      priced.reportedMicros += reported;
      priced.reportedSteps += 1;
    } else if (usage !== undefined) {
      micros = chargeTokens(costs, runId, usage, priced.unpriced);
      if (micros !== undefined) priced.computed = true;
    }
    if (micros !== undefined) {
      step.cost = microsToCents(micros);
      costedSteps += 1;
      parts[partOf(step.kind)] += micros;
    }
    return step;
  });
  const computedCost = costs.getExecutionCost(runId);
  costs.endExecution(runId);
  const runReported = costedSteps === 0 ? reportedMicros(span.attributes) : undefined;
  const status = statusOf(span);
  const input = messagesOf(root, members, INPUT_MESSAGES, 'first');
  const output = messagesOf(root, members, OUTPUT_MESSAGES, 'last');
  const execution: ExecutionInput = {
    run_id: runId,
    project_id: span.project_id,
    user_id: label(firstText(span, USER, true) ?? userOfSteps(members)) ?? ANONYMOUS_USER,
    agent_id: agentId,
    parent_run_id: parentRunId(root),
    intent: text(firstText(span, INTENT) ?? span.name, INTENT_CHARS_MAX) ?? `${root.operation} ${agentId}`,
    input: input === undefined ? {} : isObject(input) ? input : { messages: input },
    cost:
      runReported !== undefined
        ? { total: microsToCents(runReported), breakdown: {}, pricing: { source: 'reported' } }
        : runCost(computedCost, parts, priced),
    execution_trace: {
      steps,
      duration_ms: durationMs(span.start_ns, span.end_ns),
      tool_calls: steps.filter((step) => step.kind === 'tool').length,
      otel: {
        trace_id: span.trace_id,
        span_id: span.span_id,
        ...(typeof span.resource['service.name'] === 'string'
          ? { service: span.resource['service.name'] }
          : {}),
      },
    },
    status: status.status,
    error_message: status.error ?? null,
  };
  if (output !== undefined) execution.output = output;
  return execution;
}

/**
 * Every span below the run, in start order, stopping at (and including) nested invoke_agent
 * spans. A span staged for another project is never a step (a key of one project cannot add
 * steps or costs to another's run), except a nested agent's link to its own run.
 */
function stepNodes(root: Node): Node[] {
  const out: Node[] = [];
  const project = root.span.project_id;
  const visit = (node: Node) => {
    for (const child of node.children) {
      if (child.operation === 'invoke_agent') {
        out.push(child);
        continue;
      }
      if (child.span.project_id === project) out.push(child);
      visit(child);
    }
  };
  visit(root);
  // Stable: spans that start together keep the walk's order, so a span comes before the spans
  // below it that start at the same instant (SDKs stamp a turn and its first model call with one
  // millisecond).
  return out.sort(byStartTime);
}

/** A span's charge counts when no span below it in the same run carries tokens or a cost. */
function countsCharge(node: Node, members: readonly Node[]): boolean {
  if (node.operation === 'invoke_agent') return false;
  if (usageOf(node) === undefined && reportedMicros(node.span.attributes) === undefined) return false;
  const inRun = new Set(members);
  const below = (parent: Node): boolean =>
    parent.children.some(
      (child) =>
        inRun.has(child) &&
        child.operation !== 'invoke_agent' &&
        (usageOf(child) !== undefined || reportedMicros(child.span.attributes) !== undefined || below(child)),
    );
  return !below(node);
}

function usageOf(node: Node): Usage | undefined {
  const attributes = node.span.attributes;
  const input = firstCount(attributes, INPUT_TOKENS);
  const output = firstCount(attributes, OUTPUT_TOKENS);
  if (input === undefined && output === undefined) return undefined;
  let cached = firstCount(attributes, CACHED_INPUT_TOKENS) ?? 0;
  let inputTokens = input ?? 0;
  // Some providers report cache reads beside input rather than inside it.
  if (cached > inputTokens) inputTokens += cached;
  cached = Math.min(cached, inputTokens);
  return { input: inputTokens, output: output ?? 0, cached, model: label(firstText(node.span, MODEL)) };
}

/** Charges a step's tokens on the run's cost manager and returns what that added, in micro-cents. */
function chargeTokens(
  costs: CostManager,
  runId: string,
  usage: Usage,
  unpriced: object[],
): bigint | undefined {
  if (usage.model === undefined) {
    unpriced.push({ model: null, input_tokens: usage.input, output_tokens: usage.output });
    return undefined;
  }
  const before = centsToMicros(costs.getMetrics(runId).totalCost);
  try {
    costs.accountTokens(runId, usage.input, usage.output, {
      model: usage.model,
      cachedInputTokens: usage.cached,
    });
  } catch (error) {
    if (!isLedgerError(error, 'PRICE_NOT_FOUND')) throw error;
    unpriced.push({ model: usage.model, input_tokens: usage.input, output_tokens: usage.output });
    return undefined;
  }
  return centsToMicros(costs.getMetrics(runId).totalCost) - before;
}

function runCost(
  computed: ExecutionCost,
  parts: Record<'tokens' | 'toolCalls' | 'externalRequests' | 'other', bigint>,
  priced: { computed: boolean; reportedMicros: bigint; reportedSteps: number; unpriced: object[] },
): ExecutionCost {
  const total = Object.values(parts).reduce((sum, part) => sum + part, 0n);
  const breakdown: Record<string, number> = {};
  for (const [name, micros] of Object.entries(parts)) {
    if (micros > 0n || name === 'tokens') breakdown[name] = microsToCents(micros);
  }
  const pricing: Record<string, unknown> = { ...computed.pricing };
  if (!priced.computed && priced.reportedSteps > 0) pricing.source = 'reported';
  if (priced.reportedSteps > 0) {
    pricing.reported_steps = priced.reportedSteps;
    pricing.reported_cost = microsToCents(priced.reportedMicros);
  }
  if (priced.unpriced.length > 0) {
    pricing.source = 'estimated';
    pricing.unpriced = priced.unpriced as never;
  }
  return {
    total: microsToCents(total),
    breakdown,
    pricing: pricing as NonNullable<ExecutionCost['pricing']>,
  };
}

function partOf(kind: TypedStep['kind']): 'tokens' | 'toolCalls' | 'externalRequests' | 'other' {
  if (kind === 'llm') return 'tokens';
  if (kind === 'tool') return 'toolCalls';
  if (kind === 'external') return 'externalRequests';
  return 'other';
}

function baseStep(node: Node, root: Node): TypedStep {
  const { span, operation } = node;
  const kind = kindOf(node);
  const step: TypedStep = {
    action: label(span.name) ?? operation,
    kind,
    started_ms: Math.max(0, nanosToMs(BigInt(span.start_ns) - BigInt(root.span.start_ns))),
    duration_ms: durationMs(span.start_ns, span.end_ns),
    status: span.status.code === 2 ? 'error' : 'ok',
    span_id: span.span_id,
  };
  const name =
    kind === 'tool'
      ? firstText(span, TOOL_NAME)
      : kind === 'agent'
        ? firstText(span, AGENT, true)
        : kind === 'llm'
          ? firstText(span, PROVIDER)
          : undefined;
  const labelled = label(name);
  if (labelled !== undefined) step.name = labelled;
  if (step.status === 'error')
    step.error = text(errorOf(span), ERROR_CHARS_MAX) ?? 'the span ended with status ERROR';
  if (kind === 'agent') step.child_run_id = otelRunId(span.trace_id, span.span_id);
  const service = span.resource['service.name'];
  if (service !== root.span.resource['service.name'] && typeof service === 'string') step.service = service;
  return step;
}

function kindOf(node: Node): NonNullable<TypedStep['kind']> {
  if (INFERENCE_OPERATIONS.has(node.operation)) return 'llm';
  if (node.operation === 'execute_tool') return 'tool';
  if (node.operation === 'invoke_agent') return 'agent';
  // A client call to another service (HTTP, RPC, database) that is not a model or tool call.
  if (node.span.kind === 3) return 'external';
  return 'other';
}

function parentRunId(root: Node): string | null {
  for (let node = root.parent; node !== undefined; node = node.parent) {
    if (node.operation === 'invoke_agent') return otelRunId(node.span.trace_id, node.span.span_id);
  }
  return null;
}

/** completed, failed (status ERROR or an error.type), or aborted when the error is a cancellation. */
function statusOf(span: ProjectSpan): { status: ExecutionStatus; error?: string } {
  const errorType = firstText(span, ['error.type']);
  if (span.status.code !== 2 && errorType === undefined) return { status: 'completed' };
  const message = text(errorOf(span), ERROR_CHARS_MAX) ?? 'the agent span ended with status ERROR';
  const cancelled = /cancel|abort/i.test(errorType ?? '') || /^(cancel|abort)/i.test(span.status.message);
  return { status: cancelled ? 'aborted' : 'failed', error: message };
}

function errorOf(span: ProjectSpan): string | undefined {
  if (span.status.message !== '') return span.status.message;
  const exception = span.events.find((event) => event.name === 'exception');
  const message = exception?.attributes['exception.message'];
  if (typeof message === 'string' && message !== '') return message;
  const errorType = firstText(span, ['error.type']);
  return errorType === undefined ? undefined : `error.type ${errorType}`;
}

function userOfSteps(members: readonly Node[]): string | undefined {
  for (const node of members) {
    const user = firstText(node.span, USER);
    if (user !== undefined) return user;
  }
  return undefined;
}

/** Captured messages: the run span's, else the first (input) or last (output) model call's. */
function messagesOf(
  root: Node,
  members: readonly Node[],
  names: readonly string[],
  which: 'first' | 'last',
): AttributeValue | undefined {
  const own = first(root.span, names);
  if (own !== undefined) return bounded(parsed(own));
  const calls = members.filter((node) => INFERENCE_OPERATIONS.has(node.operation));
  const ordered = which === 'first' ? calls : [...calls].reverse();
  for (const node of ordered) {
    const value = first(node.span, names);
    if (value !== undefined) return bounded(parsed(value));
  }
  return undefined;
}

/** Messages are attributes holding JSON text; anything else stays as it came. */
function parsed(value: AttributeValue): AttributeValue {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return value;
  try {
    return JSON.parse(trimmed) as AttributeValue;
  } catch {
    return value;
  }
}

function bounded(value: AttributeValue): AttributeValue {
  const size = JSON.stringify(value).length;
  return size > OTLP_MESSAGE_CHARS_MAX ? { truncated: true, chars: size } : value;
}

function reportedMicros(attributes: ProjectSpan['attributes']): bigint | undefined {
  const cents = firstAmount(attributes, COST_CENTS);
  if (cents !== undefined) return BigInt(Math.round(cents * 1e6));
  const dollars = firstAmount(attributes, COST_USD);
  return dollars === undefined ? undefined : BigInt(Math.round(dollars * 1e8));
}

function isObject(value: AttributeValue): value is Record<string, AttributeValue> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Text fit for an id or label: no control characters, trimmed, at most LABEL_CHARS_MAX. */
function label(value: string | undefined): string | undefined {
  return text(value, LABEL_CHARS_MAX);
}

function text(value: string | undefined, charsMax: number): string | undefined {
  if (value === undefined) return undefined;
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/^\ufeff/, '');
  const cut = [...clean.trim()].slice(0, charsMax).join('').trim();
  return cut === '' ? undefined : cut;
}

function byStartTime(a: Node, b: Node): number {
  return compareNanos(a.span.start_ns, b.span.start_ns);
}

/**
 * Start order. Siblings that start together go by end (of two run one after the other in the
 * same millisecond, the first ended first), then by span id: the order never depends on arrival.
 */
function byStart(a: Node, b: Node): number {
  return (
    byStartTime(a, b) ||
    compareNanos(a.span.end_ns, b.span.end_ns) ||
    (a.span.span_id < b.span.span_id ? -1 : a.span.span_id > b.span.span_id ? 1 : 0)
  );
}

function compareNanos(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  return difference === 0n ? 0 : difference < 0n ? -1 : 1;
}

function durationMs(startNs: string, endNs: string): number {
  return Math.max(0, nanosToMs(BigInt(endNs) - BigInt(startNs)));
}

/** Nanoseconds to milliseconds, kept to the microsecond. */
function nanosToMs(nanos: bigint): number {
  return Number(nanos / 1_000n) / 1_000;
}

/** Cents (a number exact to the micro-cent) to integer micro-cents. */
function centsToMicros(cents: number): bigint {
  return BigInt(Math.round(cents * 1e6));
}

/** Integer micro-cents to the nearest number, which is the number of its exact decimal text. */
function microsToCents(micros: bigint): number {
  return Number(micros) / 1e6;
}
