import type { ExecutionInput } from 'execution-ledger';
import { CHAIN_FIELDS, RECORD_FIELDS } from 'execution-ledger/record-fields';

/**
 * Fields a stored record has beyond an input: the ledger assigns them again on import. From the
 * record descriptor, plus the append result's `replayed`.
 */
const CHAIN_FIELD_NAMES: readonly string[] = [...CHAIN_FIELDS.map((field) => field.name), 'replayed'];

/** A stored field's input name where they differ (cost_json is given as cost). */
const INPUT_NAMES: ReadonlyMap<string, string> = new Map(
  RECORD_FIELDS.flatMap((field) => (field.input === null ? [] : [[field.name, field.input] as const])),
);

/**
 * One NDJSON line as an execution input. A line from `export` (a stored record, with
 * cost_json and execution_trace_json) becomes the input that produced it, so its payload hash
 * is the same and importing it twice replays.
 */
export function toExecutionInput(value: unknown): ExecutionInput {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value as ExecutionInput;
  const source = value as Record<string, unknown>;
  if (!('cost_json' in source) && !('execution_trace_json' in source)) return value as ExecutionInput;
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    if (CHAIN_FIELD_NAMES.includes(key)) continue;
    const target = INPUT_NAMES.get(key) ?? key;
    // defineProperty: a key such as __proto__ stays data and reaches validation as sent.
    Object.defineProperty(input, target, {
      value: source[key],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return input as unknown as ExecutionInput;
}
