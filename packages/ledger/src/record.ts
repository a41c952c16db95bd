import assert from 'node:assert/strict';
import type { LedgerLimits } from './bounds.js';
import { LedgerError } from './errors.js';
import { assemblePayloadText } from './format/canonical-json.js';
import { centsToMicros, isWholeCents, MICROS_PER_CENT, microsToDecimalText as microsText } from './money.js';
import { assertJsonText, type JsonObject, type JsonValue, plainJsonText, preview } from './plain-json.js';
import { PAYLOAD_FIELDS, RECORD_FIELDS } from './record-fields.js';
import { checkStep, checkStepCostSum, requireNumber } from './step-shape.js';
import { type EntryPayload, EXECUTION_STATUSES, type ExecutionStatus } from './types.js';

// The keys an input may carry, from the record descriptor, in the record's order.
const INPUT_KEYS = new Set(RECORD_FIELDS.flatMap((field) => (field.input === null ? [] : [field.input])));
const COST_KEYS = new Set(['total', 'breakdown', 'pricing']);
const PRICING_SOURCES = new Set(['reported', 'computed', 'estimated']);
const PART_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
// C0 and C1 control characters and DEL: never valid inside an identifier.
const CONTROL_PATTERN = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Validates one execution input against every rule and bound, and returns the exact content
 * that will be stored and hashed. Throws LedgerError naming the field, the problem and the fix.
 */
export function normalizeExecution(raw: unknown, limits: LedgerLimits): EntryPayload {
  return prepareExecution(raw, limits).payload;
}

/** A validated entry with the JSON text of its payload (what the append function takes), built once. */
export interface PreparedEntry {
  payload: EntryPayload;
  text: string;
}

/** Validates like normalizeExecution and also returns the payload's JSON text for the database. */
export function prepareExecution(raw: unknown, limits: LedgerLimits): PreparedEntry {
  const record = requireObject(raw, 'execution');
  for (const key of Object.keys(record)) {
    if (!INPUT_KEYS.has(key)) {
      fail(key, `is not a known field; allowed fields are ${[...INPUT_KEYS].join(', ')}`);
    }
  }
  // One pass over the descriptor's payload fields, in the record's order: each value is checked,
  // normalised and (for JSON fields) written as text once.
  const walk: FieldWalk = { limits, texts: { ...NO_TEXTS }, totalMicros: 0n, stepMicros: 0n, costedSteps: 0 };
  const fields: Record<string, unknown> = {};
  for (const { name, input, rule } of PAYLOAD_RULES) fields[name] = rule(record[input], walk);
  const payload = fields as unknown as EntryPayload;
  // The rules between fields, once each field is known to be well formed.
  if (payload.status !== 'completed' && payload.error_message === null) {
    fail('error_message', `is required when status is '${payload.status}'; say what went wrong`);
  }
  checkStepCostSum(walk.stepMicros, walk.costedSteps, walk.totalMicros);
  return { payload, text: assemblePayloadText(payload, walk.texts) };
}

type JsonFieldName = 'input' | 'output' | 'cost_json' | 'execution_trace_json';

/** What the pass carries from field to field: the JSON fields' texts and the amounts compared after it. */
interface FieldWalk {
  readonly limits: LedgerLimits;
  readonly texts: Record<JsonFieldName, string>;
  totalMicros: bigint;
  stepMicros: bigint;
  costedSteps: number;
}

const NO_TEXTS: Record<JsonFieldName, string> = {
  input: 'null',
  output: 'null',
  cost_json: 'null',
  execution_trace_json: 'null',
};

/**
 * How each payload field is checked and normalised, by its name in the record descriptor; the
 * type makes every field of EntryPayload have a rule. Messages name the input's key.
 */
const FIELD_RULES: {
  readonly [Name in keyof EntryPayload]: (value: unknown, walk: FieldWalk) => EntryPayload[Name];
} = {
  run_id: (value, walk) => requireId(value, 'run_id', walk.limits),
  project_id: (value, walk) => requireId(value, 'project_id', walk.limits),
  user_id: (value, walk) => requireId(value, 'user_id', walk.limits),
  agent_id: (value, walk) => requireId(value, 'agent_id', walk.limits),
  parent_run_id: (value, walk) => (value == null ? null : requireId(value, 'parent_run_id', walk.limits)),
  intent: (value, walk) => requireText(value, 'intent', walk.limits.intent_chars_max),
  input: (value, walk) => {
    const input = boundedJson(requireObject(value, 'input'), 'input', walk.limits);
    walk.texts.input = input.text;
    return input.value as JsonObject;
  },
  output: (value, walk) => {
    if (value === undefined) return null;
    const output = boundedJson(value, 'output', walk.limits);
    walk.texts.output = output.text;
    return output.value;
  },
  cost_json: (value, walk) => {
    const cost = normalizeCost(value, walk.limits);
    walk.texts.cost_json = cost.text;
    walk.totalMicros = cost.totalMicros;
    return cost.value as JsonObject;
  },
  execution_trace_json: (value, walk) => {
    const trace = normalizeTrace(value, walk.limits);
    walk.texts.execution_trace_json = trace.text;
    walk.stepMicros = trace.stepMicros;
    walk.costedSteps = trace.costedSteps;
    return trace.value as JsonObject;
  },
  status: (value) => normalizeStatus(value),
  error_message: (value, walk) => optionalText(value, 'error_message', walk.limits.error_message_chars_max),
};

/** The descriptor's payload fields in order, each with its input key and its rule, joined once. */
const PAYLOAD_RULES = PAYLOAD_FIELDS.map((field) => {
  const rule = FIELD_RULES[field.name as keyof EntryPayload];
  assert(
    field.input !== null && rule !== undefined,
    `payload field ${field.name} has an input key and a rule`,
  );
  return { name: field.name, input: field.input, rule: rule as (value: unknown, walk: FieldWalk) => unknown };
});
assert.equal(PAYLOAD_RULES.length, Object.keys(FIELD_RULES).length, 'every rule is for a payload field');

function normalizeStatus(value: unknown): ExecutionStatus {
  if (typeof value === 'string' && (EXECUTION_STATUSES as readonly string[]).includes(value)) {
    return value as ExecutionStatus;
  }
  return fail('status', `must be one of ${EXECUTION_STATUSES.join(', ')}; got ${preview(value)}`);
}

function normalizeCost(value: unknown, limits: LedgerLimits): CanonicalField & { totalMicros: bigint } {
  if (value === undefined) fail('cost', 'is required; pass the total in cents, e.g. cost: 850');
  if (typeof value === 'number') {
    const micros = centsToMicros(value, 'cost', limits.cost_cents_max);
    return { ...boundedJson({ total: value, breakdown: {} }, 'cost', limits), totalMicros: micros };
  }
  const cost = requireObject(value, 'cost');
  for (const key of Object.keys(cost)) {
    if (!COST_KEYS.has(key))
      fail(`cost.${key}`, 'is not a known field; allowed are total, breakdown, pricing');
  }
  const totalMicros = centsToMicros(cost.total, 'cost.total', limits.cost_cents_max);
  const breakdown = cost.breakdown === undefined ? {} : requireObject(cost.breakdown, 'cost.breakdown');
  const parts = Object.keys(breakdown);
  if (parts.length > limits.breakdown_parts_max) {
    fail('cost.breakdown', `has ${parts.length} parts, more than ${limits.breakdown_parts_max}; group them`);
  }
  let sumMicros = 0n;
  for (const part of parts) {
    if (!PART_NAME_PATTERN.test(part)) {
      fail(`cost.breakdown`, `part name ${preview(part)} must be letters, digits or _ (at most 64)`);
    }
    sumMicros += partMicros(breakdown[part], part, limits.cost_cents_max);
  }
  if (parts.length > 0 && sumMicros !== totalMicros) {
    throw new LedgerError(
      'COST_MISMATCH',
      `cost.breakdown parts add up to ${microsText(sumMicros)} cents but cost.total is ${microsText(totalMicros)}; ` +
        'make total the exact sum of the parts (amounts are compared in micro-cents, not as floats)',
      { field: 'cost.total', details: { total: microsText(totalMicros), sum: microsText(sumMicros) } },
    );
  }
  const normalized: JsonObject = { total: cost.total as number, breakdown: breakdown as JsonObject };
  if (cost.pricing !== undefined) {
    const pricing = requireObject(cost.pricing, 'cost.pricing');
    if (!PRICING_SOURCES.has(pricing.source as string)) {
      fail(
        'cost.pricing.source',
        `must be one of reported, computed, estimated; got ${preview(pricing.source)}`,
      );
    }
    // Checked as plain JSON by the walk of the whole cost below.
    normalized.pricing = pricing as JsonObject;
  }
  return { ...boundedJson(normalized, 'cost', limits), totalMicros };
}

/** A breakdown part's amount; its field's name is written only when the amount is refused. */
function partMicros(value: unknown, part: string, centsMax: number): bigint {
  return isWholeCents(value, centsMax)
    ? BigInt(value) * MICROS_PER_CENT
    : centsToMicros(value, `cost.breakdown.${part}`, centsMax);
}

/** The trace and what its typed steps cost: their sum in micro-cents and how many carry a cost. */
interface NormalizedTrace extends CanonicalField {
  stepMicros: bigint;
  costedSteps: number;
}

function normalizeTrace(value: unknown, limits: LedgerLimits): NormalizedTrace {
  const trace = requireObject(value, 'execution_trace');
  if (!Array.isArray(trace.steps))
    fail('execution_trace.steps', 'must be an array of steps (it may be empty)');
  const steps = trace.steps as unknown[];
  if (steps.length > limits.trace_steps_max) {
    throw new LedgerError(
      'PAYLOAD_TOO_LARGE',
      `execution_trace.steps has ${steps.length} steps, more than ${limits.trace_steps_max}; summarise the trace or raise limits.trace_steps_max`,
      { field: 'execution_trace.steps' },
    );
  }
  requireNumber(trace.duration_ms, 'execution_trace.duration_ms', true, false);
  requireNumber(trace.tool_calls, 'execution_trace.tool_calls', false, true);
  requireNumber(trace.api_calls, 'execution_trace.api_calls', false, true);
  let stepMicros = 0n;
  let costedSteps = 0;
  for (let index = 0; index < steps.length; index += 1) {
    const step = steps[index];
    // The step's path is written only for a message: most traces have every step well formed.
    if (!isPlainObjectLike(step)) requireObject(step, `execution_trace.steps[${index}]`);
    const micros = checkStep(step as Record<string, unknown>, index, limits);
    if (micros !== undefined) {
      stepMicros += micros;
      costedSteps += 1;
    }
  }
  return { ...boundedJson(trace, 'execution_trace', limits), stepMicros, costedSteps };
}

interface CanonicalField {
  value: JsonValue;
  /**
   * JSON text of the value; its UTF-8 length is what the size bound limits. JSON.stringify
   * writes the same members as RFC 8785 in another key order, so the length is the JCS length,
   * and it costs far less than sorting every object: the database, not this text, is hashed.
   */
  text: string;
}

/** The value checked as plain JSON and its text, from one walk, held to the size bound. */
function boundedJson(value: unknown, field: string, limits: LedgerLimits): CanonicalField {
  const text = plainJsonText(value, field, limits.json_depth_max);
  // A UTF-16 code unit is at most 3 bytes of UTF-8: a text that short needs no count.
  if (text.length * 3 <= limits.json_field_bytes_max) return { value: value as JsonValue, text };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.json_field_bytes_max) {
    throw new LedgerError(
      'PAYLOAD_TOO_LARGE',
      `${field} is ${bytes} bytes as JSON, more than the limit of ${limits.json_field_bytes_max}; ` +
        'store large artefacts elsewhere and record a reference, or raise limits.json_field_bytes_max',
      { field, details: { bytes, limit: limits.json_field_bytes_max } },
    );
  }
  return { value: value as JsonValue, text };
}

/**
 * An identifier: non-empty text of at most `limits.id_chars_max` characters, without control
 * characters, surrounding spaces, NUL or lone surrogates. Public so that every edge (HTTP path
 * and query parameters, CLI arguments) holds ids to the rules a recorded execution obeys.
 */
export function requireId(value: unknown, field: string, limits: LedgerLimits): string {
  if (typeof value !== 'string' || value.length === 0)
    fail(field, `must be a non-empty string; got ${preview(value)}`);
  if (value.length > limits.id_chars_max)
    fail(field, `is ${value.length} characters, more than ${limits.id_chars_max}`);
  if (CONTROL_PATTERN.test(value))
    fail(field, 'contains a control character (newline, tab, NUL…); remove it');
  if (value.trim() !== value) fail(field, 'starts or ends with whitespace; trim it');
  assertJsonText(value, field);
  return value;
}

function requireText(value: unknown, field: string, charsMax: number): string {
  if (typeof value !== 'string' || value.trim().length === 0) {
    fail(field, `must be a non-empty string; got ${preview(value)}`);
  }
  if (value.length > charsMax)
    fail(field, `is ${value.length} characters, more than ${charsMax}; shorten it`);
  // The embedded engine's client decodes every text it returns with a TextDecoder that drops a
  // leading byte order mark, so such a text would read back changed and its entry would fail
  // verification. Refused on both engines, so a ledger can move between them.
  if (value.startsWith('\ufeff'))
    fail(
      field,
      'starts with U+FEFF (a byte order mark), which the embedded database drops on read; remove it',
    );
  assertJsonText(value, field);
  return value;
}

function optionalText(value: unknown, field: string, charsMax: number): string | null {
  return value === undefined || value === null ? null : requireText(value, field, charsMax);
}

function isPlainObjectLike(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function requireObject(value: unknown, field: string): Record<string, unknown> {
  if (!isPlainObjectLike(value)) {
    fail(field, `must be a JSON object; got ${preview(value)}`);
  }
  return value as Record<string, unknown>;
}

function fail(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}
