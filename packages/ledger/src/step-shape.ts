import type { LedgerLimits } from './bounds.js';
import { STEP_ACTION_CHARS_MAX } from './bounds.js';
import { LedgerError } from './errors.js';
import { centsToMicros, microsToDecimalText } from './money.js';
import { assertJsonText, preview } from './plain-json.js';

/** What a typed step did: a model call, a tool call, a request to an outside service, a sub-agent, or else. */
export const STEP_KINDS = ['llm', 'tool', 'external', 'agent', 'other'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const STEP_STATUSES = ['ok', 'error'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** A step's tokens: `cached_input` is the part of `input` served from the provider's cache. */
export interface StepTokens {
  input: number;
  output: number;
  cached_input?: number;
}

/**
 * The typed shape of a trace step (docs/api.md, "Typed steps"). A step is typed when it carries
 * `kind` or `cost`; a typed step's known fields are checked strictly, other keys (timestamp,
 * result, …) stay free-form. A step with neither key is a free-form step, accepted as before.
 */
export interface TypedStep {
  action: string;
  kind?: StepKind;
  name?: string;
  model?: string;
  started_ms?: number;
  duration_ms: number;
  status?: StepStatus;
  error?: string;
  /** Cents, up to six decimals; the whole cost of what this step charged. */
  cost?: number;
  tokens?: StepTokens;
  io?: { request?: string; response?: string };
  child_run_id?: string;
  [key: string]: unknown;
}

/** The keys that make a step typed. The rollups use the same rule (sql/0009_step_costs.sql). */
export function isTypedStep(step: Record<string, unknown>): boolean {
  return step.kind !== undefined || step.cost !== undefined;
}

const TOKEN_KEYS = new Set(['input', 'output', 'cached_input']);
const IO_KEYS = new Set(['request', 'response']);
const HASH_PATTERN = /^[0-9a-f]{64}$/;
// C0 and C1 control characters and DEL.
const CONTROL_PATTERN = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Checks one step of a trace (already known to be an object) and returns its cost in
 * micro-cents, or undefined when it carries none. Free-form steps only have their duration
 * checked, as always; typed steps have every field of the shape checked.
 */
export function checkStep(
  step: Record<string, unknown>,
  index: number,
  limits: LedgerLimits,
): bigint | undefined {
  if (!isTypedStep(step)) {
    // The step's path is written only for a message.
    if (step.duration_ms !== undefined && !isAmount(step.duration_ms)) {
      requireNumber(step.duration_ms, `execution_trace.steps[${index}].duration_ms`, false, false);
    }
    return undefined;
  }
  const at = `execution_trace.steps[${index}]`;
  requireAction(step.action, `${at}.action`);
  if (step.kind !== undefined && !(STEP_KINDS as readonly unknown[]).includes(step.kind)) {
    fail(`${at}.kind`, `must be one of ${STEP_KINDS.join(', ')}; got ${preview(step.kind)}`);
  }
  requireLabel(step.name, `${at}.name`, limits.id_chars_max, false);
  requireLabel(step.model, `${at}.model`, limits.id_chars_max, false);
  requireLabel(step.child_run_id, `${at}.child_run_id`, limits.id_chars_max, false);
  requireNumber(step.started_ms, `${at}.started_ms`, false, false);
  requireNumber(step.duration_ms, `${at}.duration_ms`, true, false);
  if (step.status !== undefined && !(STEP_STATUSES as readonly unknown[]).includes(step.status)) {
    fail(`${at}.status`, `must be 'ok' or 'error'; got ${preview(step.status)}`);
  }
  if (step.error !== undefined) {
    if (typeof step.error !== 'string' || step.error.length === 0) {
      fail(`${at}.error`, `must be a non-empty string saying what went wrong; got ${preview(step.error)}`);
    }
    if (step.error.length > limits.error_message_chars_max) {
      fail(`${at}.error`, `is ${step.error.length} characters, more than ${limits.error_message_chars_max}`);
    }
  }
  if (step.tokens !== undefined) checkTokens(step.tokens, `${at}.tokens`);
  if (step.io !== undefined) checkIo(step.io, `${at}.io`);
  return step.cost === undefined ? undefined : centsToMicros(step.cost, `${at}.cost`, limits.cost_cents_max);
}

/**
 * The all-or-nothing rule: once any step carries a cost, the steps account for the whole run,
 * so their costs (absent counts as 0) must add up to cost.total exactly, in micro-cents.
 */
export function checkStepCostSum(stepMicros: bigint, costedSteps: number, totalMicros: bigint): void {
  if (costedSteps === 0 || stepMicros === totalMicros) return;
  throw new LedgerError(
    'COST_MISMATCH',
    `execution_trace.steps costs add up to ${microsToDecimalText(stepMicros)} cents but cost.total is ` +
      `${microsToDecimalText(totalMicros)}; once one step carries a cost the steps must account for the whole ` +
      'run, so give every charge to a step (a step of kind other for what no step made) or leave cost off every step',
    {
      field: 'execution_trace.steps',
      details: { total: microsToDecimalText(totalMicros), sum: microsToDecimalText(stepMicros) },
    },
  );
}

function checkTokens(value: unknown, field: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(field, `must be an object { input, output, cached_input }; got ${preview(value)}`);
  }
  const tokens = value as Record<string, unknown>;
  for (const key of Object.keys(tokens)) {
    if (!TOKEN_KEYS.has(key))
      fail(`${field}.${key}`, 'is not a known field; allowed are input, output, cached_input');
  }
  requireNumber(tokens.input, `${field}.input`, true, true);
  requireNumber(tokens.output, `${field}.output`, true, true);
  requireNumber(tokens.cached_input, `${field}.cached_input`, false, true);
  if (tokens.cached_input !== undefined && (tokens.cached_input as number) > (tokens.input as number)) {
    fail(
      `${field}.cached_input`,
      `is ${tokens.cached_input as number} but input is ${tokens.input as number}; cached input is part of input`,
    );
  }
}

function checkIo(value: unknown, field: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(field, `must be an object { request, response } of blob hashes; got ${preview(value)}`);
  }
  const io = value as Record<string, unknown>;
  for (const key of Object.keys(io)) {
    if (!IO_KEYS.has(key)) fail(`${field}.${key}`, 'is not a known field; allowed are request, response');
    if (typeof io[key] !== 'string' || !HASH_PATTERN.test(io[key] as string)) {
      fail(`${field}.${key}`, `must be a SHA-256 hash as 64 lowercase hex digits; got ${preview(io[key])}`);
    }
  }
}

/** An action, as ctx.step takes it: text with something besides spaces, within STEP_ACTION_CHARS_MAX. */
function requireAction(value: unknown, field: string): void {
  if (typeof value !== 'string' || value.trim().length === 0) {
    fail(field, `must be a non-empty string naming what the step did; got ${preview(value)}`);
  }
  if (value.length > STEP_ACTION_CHARS_MAX) {
    fail(field, `is ${value.length} characters, more than ${STEP_ACTION_CHARS_MAX}; shorten it`);
  }
  assertJsonText(value, field);
}

/** A name: non-empty text within `charsMax`, no control characters or surrounding spaces. */
function requireLabel(value: unknown, field: string, charsMax: number, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'string' || value.length === 0) {
    fail(field, `must be a non-empty string; got ${preview(value)}`);
  }
  if (value.length > charsMax)
    fail(field, `is ${value.length} characters, more than ${charsMax}; shorten it`);
  if (CONTROL_PATTERN.test(value))
    fail(field, 'contains a control character (newline, tab, NUL…); remove it');
  if (value.trim() !== value) fail(field, 'starts or ends with whitespace; trim it');
  assertJsonText(value, field);
}

/** A non-negative finite number (whole when `integer`); absent allowed unless `required`. */
export function requireNumber(value: unknown, field: string, required: boolean, integer: boolean): void {
  if (value === undefined && !required) return;
  if (!isAmount(value) || (integer && !Number.isInteger(value))) {
    fail(field, `must be ${integer ? 'a whole number' : 'a number'} of zero or more; got ${preview(value)}`);
  }
}

/** A finite number from zero to the largest safe integer. */
function isAmount(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER
  );
}

function fail(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}
