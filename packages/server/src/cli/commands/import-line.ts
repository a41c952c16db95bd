import type { ExecutionInput } from 'execution-ledger';

/** Fields a stored record has beyond an input: the ledger assigns them again on import. */
const CHAIN_FIELDS = [
  'id',
  'created_at',
  'seq',
  'hash_version',
  'payload_hash',
  'prev_hash',
  'entry_hash',
  'replayed',
];

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
    if (CHAIN_FIELDS.includes(key)) continue;
    const target = key === 'cost_json' ? 'cost' : key === 'execution_trace_json' ? 'execution_trace' : key;
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
