import { createHash } from 'node:crypto';
import { EXPORT_BLOB_READ_BYTES } from '../bounds.js';
import type { Queryable } from '../db/database.js';
import type { JsonValue } from '../plain-json.js';

/**
 * Reads stored blobs by SHA-256 (hex), in groups of bounded size: each map holds some of the
 * blobs asked for, by hash; a hash with no stored blob is in none of them.
 */
export type BlobReader = (hashes: readonly string[]) => AsyncIterable<Map<string, Buffer>>;

const BLOB_SIZES = `select encode(b.hash, 'hex') as hash, octet_length(b.content) as size
  from execution_ledger.replay_blobs b
  where b.hash in (select decode(u.h, 'hex') from unnest($1::text[]) as u(h))`;
const BLOB_CONTENTS = `select encode(b.hash, 'hex') as hash, b.content
  from execution_ledger.replay_blobs b
  where b.hash in (select decode(u.h, 'hex') from unnest($1::text[]) as u(h))`;

/**
 * The blobs stored under `hashes`: their sizes first, then their bytes in groups of at most
 * EXPORT_BLOB_READ_BYTES (a larger blob alone), so memory stays bounded whatever is asked for.
 * Reads with the service identity: the caller decides which hashes may be read (an export asks
 * only for those its visible entries reference).
 */
export async function* readReplayBlobs(
  read: <T>(fn: (q: Queryable) => Promise<T>) => Promise<T>,
  hashes: readonly string[],
): AsyncGenerator<Map<string, Buffer>> {
  if (hashes.length === 0) return;
  const sizes = await read((q) => q.query<{ hash: string; size: number }>(BLOB_SIZES, [hashes]));
  let group: string[] = [];
  let bytes = 0;
  const groups: string[][] = [];
  for (const { hash, size } of sizes) {
    if (group.length > 0 && bytes + Number(size) > EXPORT_BLOB_READ_BYTES) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(hash);
    bytes += Number(size);
  }
  if (group.length > 0) groups.push(group);
  for (const wanted of groups) {
    const rows = await read((q) => q.query<{ hash: string; content: Uint8Array }>(BLOB_CONTENTS, [wanted]));
    yield new Map(
      rows.map((row) => [
        row.hash,
        Buffer.from(row.content.buffer, row.content.byteOffset, row.content.length),
      ]),
    );
  }
}

/** The content-addressed, append-only store of captured requests and responses. */
export class BlobStore {
  constructor(private readonly ready: () => Promise<Queryable>) {}

  /** Stores the text (canonical JSON) under its SHA-256 and returns the hash in hex; storing it again is a no-op. */
  async put(text: string): Promise<string> {
    const bytes = Buffer.from(text, 'utf8');
    const hash = createHash('sha256').update(bytes).digest();
    const q = await this.ready();
    await q.query('select execution_ledger.put_replay_blob($1::bytea, $2::bytea)', [hash, bytes]);
    return hash.toString('hex');
  }

  /** The stored bytes of each hash that has a blob, in groups of bounded size (see readReplayBlobs). */
  read(hashes: readonly string[]): AsyncGenerator<Map<string, Buffer>> {
    return readReplayBlobs(async (fn) => fn(await this.ready()), hashes);
  }

  /** The JSON stored under a hash, or null when there is none. */
  async get(hash: string): Promise<JsonValue | null> {
    const q = await this.ready();
    const rows = await q.query<{ content: string }>(
      `select convert_from(b.content, 'UTF8') as content from execution_ledger.replay_blobs b
       where b.hash = decode($1, 'hex')`,
      [hash],
    );
    const row = rows[0];
    return row === undefined ? null : (JSON.parse(row.content) as JsonValue);
  }
}
