import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, type Ledger, LedgerError } from 'execution-ledger';
import type { OwnedSchema } from 'execution-ledger/database';
import { requireId } from 'execution-ledger/validation';
import { KEY_NAME_CHARS_MAX, KEY_PROJECTS_MAX } from '../bounds.js';
import { type ApiKeyPrincipal, KEY_ROLES, type KeyRole } from './access-policy.js';
import { API_KEY_MIGRATIONS } from './api-key-migrations.js';
import { generateToken, hashToken, operatorKeyId, requireOperatorToken } from './api-key-token.js';

/** A key as listed: never its secret, which exists only in the answer that created it. */
export interface ApiKeyInfo extends ApiKeyPrincipal {
  created_at: string;
  revoked_at: string | null;
}

export interface CreatedApiKey extends ApiKeyInfo {
  /** The key's text, shown once: it is not stored and cannot be shown again. */
  token: string;
}

export interface NewApiKey {
  name: string;
  role: KeyRole;
  projects: readonly string[] | null;
}

/** A stored key with its hash, for authentication only. */
export interface StoredApiKey extends ApiKeyInfo {
  secret_hash: Buffer;
}

/** A row of the schema's `api_key` type (sql/0001_api_keys.sql). */
interface KeyRow {
  id: string;
  name: string;
  role: KeyRole;
  projects: string[] | null;
  created_at: string;
  revoked_at: string | null;
}

/** A row of the schema's `stored_api_key` type: the key with its hash. */
interface StoredKeyRow extends KeyRow {
  secret_hash: Buffer | Uint8Array | string;
}

/**
 * API keys in the service's own schema (its migration set, `sql/`): created, listed, revoked,
 * looked up, each through one of the functions that set defines.
 */
export class ApiKeyStore {
  private readonly keys: OwnedSchema;

  constructor(ledger: Ledger) {
    this.keys = ledger.ownedSchema(API_KEY_MIGRATIONS);
  }

  async create(request: NewApiKey): Promise<CreatedApiKey> {
    const key = validateNewKey(request);
    const { id, token, secretHash } = generateToken();
    const rows = await this.keys.call<KeyRow>('create_key', [
      id,
      key.name,
      key.role,
      key.projects,
      secretHash,
    ]);
    const row = rows[0];
    assert(row !== undefined, 'create_key returns the inserted row');
    return { ...toInfo(row), token };
  }

  /**
   * Registers an operator-chosen admin key (from an environment variable) for every project.
   * Idempotent: starting again with the same key finds it; a revoked one stays revoked.
   */
  async ensureOperatorKey(token: string, variable: string): Promise<ApiKeyInfo> {
    requireOperatorToken(token, variable);
    const id = operatorKeyId(token);
    const rows = await this.keys.call<KeyRow>('register_operator_key', [
      id,
      `from ${variable}`,
      hashToken(token),
    ]);
    const row = rows[0];
    // Inserted just now, or there already: a key is never deleted.
    assert(row !== undefined, 'register_operator_key returns the key');
    return toInfo(row);
  }

  /** Every key, newest first; keys outside `projects` (when given) are left out. */
  async list(visibleTo: ApiKeyPrincipal | null = null): Promise<ApiKeyInfo[]> {
    const rows = await this.keys.call<KeyRow>('list_keys');
    return rows.map(toInfo).filter((key) => visibleTo === null || isWithin(key, visibleTo));
  }

  async find(id: string): Promise<StoredApiKey | undefined> {
    const rows = await this.keys.call<StoredKeyRow>('find_key', [id]);
    return rows[0] === undefined
      ? undefined
      : { ...toInfo(rows[0]), secret_hash: toBuffer(rows[0].secret_hash) };
  }

  /** Revokes a key for good; revoking a revoked key changes nothing and says when it happened. */
  async revoke(id: string, visibleTo: ApiKeyPrincipal | null = null): Promise<ApiKeyInfo> {
    const stored = await this.find(id);
    if (stored === undefined || (visibleTo !== null && !isWithin(stored, visibleTo))) {
      throw new LedgerError(
        'API_KEY_NOT_FOUND',
        `no API key with id ${JSON.stringify(id)} is visible here; list the keys to find its id`,
        { field: 'id' },
      );
    }
    if (stored.revoked_at !== null) return toPublic(stored);
    const rows = await this.keys.call<KeyRow>('revoke_key', [id]);
    return rows[0] === undefined ? toPublic(stored) : toInfo(rows[0]);
  }
}

/** A key is within another's reach when the other covers every project the key is bound to. */
function isWithin(key: ApiKeyInfo, holder: ApiKeyPrincipal): boolean {
  const held = holder.projects;
  if (held === null) return true;
  return key.projects?.every((project) => held.includes(project)) === true;
}

function validateNewKey(request: NewApiKey): NewApiKey {
  const name = request.name;
  if (typeof name !== 'string' || name.trim() === '' || name.length > KEY_NAME_CHARS_MAX) {
    invalid('name', `must be 1 to ${KEY_NAME_CHARS_MAX} characters; say who or what will use the key`);
  }
  // PostgreSQL text cannot hold NUL (the insert would fail as a 500), and a lone surrogate
  // would be stored as U+FFFD: a name the caller did not send.
  if (name.includes('\u0000') || !name.isWellFormed()) {
    invalid('name', 'contains a NUL character or a lone UTF-16 surrogate; send plain Unicode text');
  }
  if (!KEY_ROLES.includes(request.role)) invalid('role', `must be one of ${KEY_ROLES.join(', ')}`);
  const projects = request.projects;
  if (projects !== null) {
    if (!Array.isArray(projects) || projects.length === 0 || projects.length > KEY_PROJECTS_MAX) {
      invalid('projects', `must list 1 to ${KEY_PROJECTS_MAX} project ids, or be null for every project`);
    }
    // The ledger's own id rules, so a key can name exactly the projects an execution can.
    for (const [index, project] of projects.entries())
      requireId(project, `projects[${index}]`, DEFAULT_LIMITS);
  }
  return { name, role: request.role, projects: projects === null ? null : [...new Set(projects)] };
}

function invalid(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}

function toInfo(row: KeyRow): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    projects: row.projects,
    created_at: row.created_at,
    revoked_at: row.revoked_at,
  };
}

function toPublic(stored: StoredApiKey): ApiKeyInfo {
  const { secret_hash: _hash, ...info } = stored;
  return info;
}

/** node-postgres returns bytea as a Buffer, PGlite as a Uint8Array. */
function toBuffer(value: Buffer | Uint8Array | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value.replace(/^\\x/, ''), 'hex');
  return Buffer.from(value);
}
