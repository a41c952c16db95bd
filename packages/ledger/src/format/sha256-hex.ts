import crypto from 'node:crypto';

// crypto.hash (Node 20.12 and later) digests in one call, without a Hash object per digest;
// the verifier makes two digests an entry, so this is worth it. Older Node 20 releases lack it.
const hashOnce = typeof crypto.hash === 'function' ? crypto.hash : undefined;

/** SHA-256 as lower-case hex; a string is hashed as its UTF-8 bytes. */
export function sha256Hex(data: string | Buffer): string {
  if (hashOnce !== undefined) return hashOnce('sha256', data, 'hex');
  return crypto.createHash('sha256').update(data).digest('hex');
}
