import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.js';
import type { JsonValue } from '../plain-json.js';

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
