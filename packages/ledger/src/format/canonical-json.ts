import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { JsonValue } from '../plain-json.js';
import type { EntryPayload } from '../types.js';
import { assert } from './invariant.js';

/**
 * RFC 8785 (JCS) text of a value already checked by plainJsonText. Never hash jsonb::text as
 * it is: jsonb reorders keys and keeps number spellings such as 1.10 (canonicalJsonOfJsonbText
 * rewrites such text into this form).
 */
export function canonicalJson(value: JsonValue): string {
  const text = canonicalize(value);
  // Callers pass values plainJsonText accepted: every one has a JSON form.
  assert(text !== undefined, 'canonicalJson: value has no JSON form');
  return text;
}

/** The twelve content fields, in a fresh object, absent values as null. */
export function payloadOf(entry: EntryPayload): EntryPayload {
  return {
    run_id: entry.run_id,
    project_id: entry.project_id,
    user_id: entry.user_id,
    agent_id: entry.agent_id,
    parent_run_id: entry.parent_run_id,
    intent: entry.intent,
    input: entry.input,
    output: entry.output,
    cost_json: entry.cost_json,
    execution_trace_json: entry.execution_trace_json,
    status: entry.status,
    error_message: entry.error_message,
  };
}

export function hashCanonicalText(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

type JsonFieldTexts = Record<'input' | 'output' | 'cost_json' | 'execution_trace_json', string>;

/** The payload's text fields: what assemblePayloadText writes itself. */
export type PayloadTextFields = Pick<
  EntryPayload,
  'run_id' | 'project_id' | 'user_id' | 'agent_id' | 'parent_run_id' | 'intent' | 'status' | 'error_message'
>;

/**
 * The JCS text of a payload assembled from the already-canonical texts of its JSON fields, so
 * a large input is serialised once, not twice. Keys are written in RFC 8785 order (UTF-16 code
 * units); a property test checks that the result equals canonicalJson(payload).
 */
export function assemblePayloadText(entry: PayloadTextFields, texts: JsonFieldTexts): string {
  const text = (value: string | null) => (value === null ? 'null' : JSON.stringify(value));
  return (
    `{"agent_id":${text(entry.agent_id)},"cost_json":${texts.cost_json},` +
    `"error_message":${text(entry.error_message)},"execution_trace_json":${texts.execution_trace_json},` +
    `"input":${texts.input},"intent":${text(entry.intent)},"output":${texts.output},` +
    `"parent_run_id":${text(entry.parent_run_id)},"project_id":${text(entry.project_id)},` +
    `"run_id":${text(entry.run_id)},"status":${text(entry.status)},"user_id":${text(entry.user_id)}}`
  );
}
