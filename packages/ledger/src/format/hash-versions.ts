import type { JsonValue } from '../plain-json.js';
import type { EntryPayload } from '../types.js';
import { canonicalJson, hashCanonicalText, payloadOf } from './canonical-json.js';
import { type JsonbInput, jsonbText } from './jsonb-text.js';

/**
 * Every hash version an entry may carry, and what each hashes. The verifiers dispatch on an
 * entry's own hash_version through this table, so a new version is one entry here (plus its
 * SQL), not an edit of every verifier loop.
 *
 * - 1: payload_hash = SHA-256(UTF-8(RFC 8785 JCS of the payload)), computed by the library.
 * - 2: payload_hash = SHA-256(UTF-8(jsonb text of the payload)), computed by the database from
 *   the content it stores, so no writer can store a hash that does not match (docs/schema.md).
 * The entry hash has the same layout in both, with the version in its int2 field.
 */
export const HASH_VERSIONS = [1, 2] as const;
export type HashVersion = (typeof HASH_VERSIONS)[number];

/** The version the database gives every new entry. */
export const HASH_VERSION: HashVersion = 2;

export function isHashVersion(value: unknown): value is HashVersion {
  return (HASH_VERSIONS as readonly unknown[]).includes(value);
}

/**
 * The text whose UTF-8 bytes a version hashes, from a payload as parsed JSON values. Version 2
 * also takes numbers as their written text (JsonNumberText, from a lossless parse), which is
 * what makes it exact for a number that a double cannot hold.
 */
export function payloadHashText(payload: EntryPayload, version: HashVersion): string {
  const fields = payloadOf(payload);
  return version === 1
    ? canonicalJson(fields as unknown as JsonValue)
    : jsonbText(fields as unknown as JsonbInput);
}

/** An entry's payload_hash under a version (1 when omitted, as before versions were chosen). */
export function computePayloadHash(payload: EntryPayload, version: HashVersion = 1): Buffer {
  return hashCanonicalText(payloadHashText(payload, version));
}

/** The payload's JSON fields, which a scan reads as jsonb text rather than parsed. */
type JsonFieldName = 'input' | 'output' | 'cost_json' | 'execution_trace_json';

/** The stored fields of an entry as text: JSON columns as their jsonb text, as a scan reads them. */
export type StoredPayloadTexts = Omit<EntryPayload, JsonFieldName> & {
  input: string;
  output: string | null;
  cost_json: string;
  execution_trace_json: string;
};

/**
 * Version 2's hashed text straight from the stored jsonb texts: the twelve keys in jsonb's
 * order (by length, then bytes), each JSON column as the database printed it. No JSON is parsed.
 */
export function storedPayloadTextV2(entry: StoredPayloadTexts): string {
  const text = (value: string | null) => (value === null ? 'null' : JSON.stringify(value));
  return (
    `{"input": ${entry.input}, "intent": ${text(entry.intent)}, "output": ${entry.output ?? 'null'}, ` +
    `"run_id": ${text(entry.run_id)}, "status": ${text(entry.status)}, "user_id": ${text(entry.user_id)}, ` +
    `"agent_id": ${text(entry.agent_id)}, "cost_json": ${entry.cost_json}, ` +
    `"project_id": ${text(entry.project_id)}, "error_message": ${text(entry.error_message)}, ` +
    `"parent_run_id": ${text(entry.parent_run_id)}, "execution_trace_json": ${entry.execution_trace_json}}`
  );
}
