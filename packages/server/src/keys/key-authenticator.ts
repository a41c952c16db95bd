import { LedgerError } from 'execution-ledger';
import { KEY_CACHE_ENTRIES_MAX } from '../bounds.js';
import type { ApiKeyPrincipal } from './access-policy.js';
import type { ApiKeyStore, StoredApiKey } from './api-key-store.js';
import { tokenId, tokenMatches } from './api-key-token.js';

interface CacheEntry {
  key: StoredApiKey | undefined;
  expiresAtMs: number;
}

/**
 * Turns an Authorization header into the key behind it. Lookups are cached for a few seconds
 * so an append costs no extra query; the secret is always checked against the stored hash in
 * constant time, cached or not.
 */
export class KeyAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly store: ApiKeyStore,
    private readonly cacheTtlMs: number,
  ) {}

  async authenticate(authorization: string | undefined): Promise<ApiKeyPrincipal> {
    const token = bearerToken(authorization);
    const id = tokenId(token);
    const key = id === undefined ? undefined : await this.lookup(id);
    if (key === undefined || key.revoked_at !== null || !tokenMatches(token, key.secret_hash)) {
      throw new LedgerError(
        'UNAUTHENTICATED',
        'the API key is unknown or revoked; ask an admin for a key (`execution-ledger keys create`)',
      );
    }
    return { id: key.id, name: key.name, role: key.role, projects: key.projects };
  }

  /** Drops a cached key so a revocation made here applies to the very next request. */
  forget(id: string): void {
    this.cache.delete(id);
  }

  private async lookup(id: string): Promise<StoredApiKey | undefined> {
    const now = Date.now();
    const cached = this.cache.get(id);
    if (cached !== undefined && cached.expiresAtMs > now) return cached.key;
    const key = await this.store.find(id);
    if (this.cache.size >= KEY_CACHE_ENTRIES_MAX) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(id, { key, expiresAtMs: now + this.cacheTtlMs });
    return key;
  }
}

function bearerToken(authorization: string | undefined): string {
  const token = authorization === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  if (token === undefined) {
    throw new LedgerError(
      'UNAUTHENTICATED',
      'this route needs an API key: send the header `Authorization: Bearer <key>`',
    );
  }
  return token;
}
