import { assemblePayloadText } from '../format/canonical-json.js';
import { type ChainFields, type DerivedHashes, UNDERIVED } from '../format/chain-verifier.js';
import { ProjectEntryHasher } from '../format/entry-hash.js';
import { canonicalJsonOfParsed } from '../format/fast-canonical-json.js';
import { isHashVersion, type StoredPayloadTexts, storedPayloadTextV2 } from '../format/hash-versions.js';
import { CanonicalJsonWriter } from '../format/jsonb-canonical-json.js';
import { sha256Hex } from '../format/sha256-hex.js';
import type { JsonValue } from '../plain-json.js';
import { PAYLOAD_FIELDS } from '../record-fields.js';

/**
 * One stored entry as the verifier reads it: chain fields as stored, content fields as text
 * with the JSON columns as jsonb text, cheap to read and to hand to a worker thread.
 */
export type StoredEntry = ChainFields & StoredPayloadTexts;

/**
 * Re-derives hashes entry after entry, reusing its buffers, by the entry's own hash version:
 * version 1 writes the payload as JCS bytes straight from the stored jsonb text, version 2
 * puts the stored jsonb texts together as the database did; the entry hash comes from the
 * stored chain fields.
 */
export class EntryRehasher {
  private readonly writer = new CanonicalJsonWriter();
  private hasher: ProjectEntryHasher | undefined;

  /** `createdAtMs` is Date.parse(entry.created_at), when the caller has it already. */
  rehash(entry: StoredEntry, createdAtMs = Date.parse(entry.created_at)): DerivedHashes {
    const version = entry.hash_version;
    if (!isHashVersion(version)) return UNDERIVED;
    if (this.hasher?.projectId !== entry.project_id || this.hasher.hashVersion !== version) {
      this.hasher = new ProjectEntryHasher(entry.project_id, version);
    }
    const payload = version === 1 ? this.payloadBytes(entry) : storedPayloadTextV2(entry);
    return {
      payloadHash: sha256Hex(payload),
      entryHash: this.hasher.hashHex(entry.seq, createdAtMs, entry.payload_hash, entry.prev_hash),
    };
  }

  /**
   * Version 1: the JCS of the payload. The payload fields are put together as one JSON text, in RFC 8785
   * key order (by assemblePayloadText), with the jsonb texts as they were read, and
   * the scanner rewrites it in one pass; one write instead of nine. Anything it does not handle
   * takes the general path, field by field, as the payload was hashed before this scanner.
   */
  private payloadBytes(entry: StoredEntry): Buffer {
    const writer = this.writer;
    writer.reset();
    const text = assemblePayloadText(entry, {
      input: entry.input,
      output: entry.output ?? 'null',
      cost_json: entry.cost_json,
      execution_trace_json: entry.execution_trace_json,
    });
    // Every payload member, or a jsonb text was not one value: then the general path decides.
    if (!writer.tryWriteJsonbText(text, PAYLOAD_MEMBERS)) {
      writer.reset();
      writer.writeText(
        assemblePayloadText(entry, {
          input: canonicalJsonOfText(entry.input),
          output: canonicalJsonOfText(entry.output),
          cost_json: canonicalJsonOfText(entry.cost_json),
          execution_trace_json: canonicalJsonOfText(entry.execution_trace_json),
        }),
      );
    }
    return writer.bytes();
  }
}

// How many members a payload has: the scanner checks it wrote exactly these.
const PAYLOAD_MEMBERS = PAYLOAD_FIELDS.length;

function canonicalJsonOfText(text: string | null): string {
  return text === null ? 'null' : canonicalJsonOfParsed(JSON.parse(text) as JsonValue);
}
