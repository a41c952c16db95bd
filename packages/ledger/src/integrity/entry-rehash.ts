import type { JsonValue } from '../plain-json.js';
import type { EntryPayload } from '../types.js';
import { assemblePayloadText, hashCanonicalText } from './canonical-json.js';
import { type ChainFields, type DerivedHashes, storedEntryHash } from './chain-verifier.js';
import { canonicalJsonOfParsed } from './fast-canonical-json.js';

/**
 * One stored entry as the verifier reads it: chain fields as stored, content fields as text
 * with the JSON columns as jsonb text, cheap to read and to hand to a worker thread.
 */
export interface StoredEntryText extends ChainFields {
  run_id: string;
  user_id: string;
  agent_id: string;
  parent_run_id: string | null;
  intent: string;
  input: string;
  output: string | null;
  cost_json: string;
  execution_trace_json: string;
  status: EntryPayload['status'];
  error_message: string | null;
}

/** Re-derives the payload hash from the stored content and the entry hash from the stored chain fields. */
export function rehashEntries(entries: StoredEntryText[]): DerivedHashes[] {
  return entries.map((entry) => {
    const canonical = (text: string | null) =>
      text === null ? 'null' : canonicalJsonOfParsed(JSON.parse(text) as JsonValue);
    const payload = {
      run_id: entry.run_id,
      project_id: entry.project_id,
      user_id: entry.user_id,
      agent_id: entry.agent_id,
      parent_run_id: entry.parent_run_id,
      intent: entry.intent,
      status: entry.status,
      error_message: entry.error_message,
    } as EntryPayload;
    const text = assemblePayloadText(payload, {
      input: canonical(entry.input),
      output: canonical(entry.output),
      cost_json: canonical(entry.cost_json),
      execution_trace_json: canonical(entry.execution_trace_json),
    });
    return {
      payloadHash: hashCanonicalText(text).toString('hex'),
      entryHash: storedEntryHash(entry).toString('hex'),
    };
  });
}
