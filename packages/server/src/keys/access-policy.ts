import { LedgerError } from 'execution-ledger';

export type KeyRole = 'ingest' | 'read' | 'admin';
export const KEY_ROLES: readonly KeyRole[] = ['ingest', 'read', 'admin'];

/** What a route needs from the key that calls it. */
export type Permission = 'append' | 'read' | 'export' | 'verify' | 'keys' | 'budgets' | 'allocate';

/**
 * ingest keys only append (agents hold them); read keys only read; admin keys do everything,
 * including managing keys, verifying chains, exporting and publishing allocation rule sets.
 */
const ROLE_PERMISSIONS: Record<KeyRole, ReadonlySet<Permission>> = {
  ingest: new Set(['append']),
  read: new Set(['read']),
  admin: new Set(['append', 'read', 'export', 'verify', 'keys', 'budgets', 'allocate']),
};

/** The authenticated caller of a request. */
export interface ApiKeyPrincipal {
  id: string;
  name: string;
  role: KeyRole;
  /** The projects this key may touch; null means every project. */
  projects: readonly string[] | null;
}

export function hasPermission(key: ApiKeyPrincipal, permission: Permission): boolean {
  return ROLE_PERMISSIONS[key.role].has(permission);
}

export function requirePermission(key: ApiKeyPrincipal, permission: Permission): void {
  if (!hasPermission(key, permission)) {
    throw new LedgerError(
      'PERMISSION_DENIED',
      `API key ${key.id} has the role ${key.role}, which may not ${PERMISSION_VERBS[permission]}; ` +
        `use a key whose role allows it (${rolesWith(permission).join(' or ')})`,
      { details: { key_id: key.id, permission } },
    );
  }
}

export function coversProject(key: ApiKeyPrincipal, projectId: string): boolean {
  return key.projects === null || key.projects.includes(projectId);
}

/**
 * The one project a key is bound to, or undefined (a key bound to every project or to several):
 * a lookup by run id then names it, and a deployment sharded by project asks one shard.
 */
export function soleProject(key: ApiKeyPrincipal): string | undefined {
  return key.projects !== null && key.projects.length === 1 ? key.projects[0] : undefined;
}

/** For writes and project-level reads: naming the project is the caller's own input, not a leak. */
export function requireProject(key: ApiKeyPrincipal, projectId: string): void {
  if (!coversProject(key, projectId)) throw projectDenied(key, projectId);
}

export function projectDenied(key: ApiKeyPrincipal, projectId: string): LedgerError {
  return new LedgerError(
    'PERMISSION_DENIED',
    `API key ${key.id} is not bound to project ${JSON.stringify(projectId)}; use a key bound to it`,
    { field: 'project_id', details: { key_id: key.id } },
  );
}

/** Reads across projects (an agent's runs without project_id) need a key bound to every project. */
export function requireAllProjects(key: ApiKeyPrincipal, what: string): void {
  if (key.projects !== null) {
    throw new LedgerError(
      'PERMISSION_DENIED',
      `API key ${key.id} is bound to some projects only, so ${what} needs project_id; pass ?project_id=…`,
      { field: 'project_id', details: { key_id: key.id } },
    );
  }
}

/** A key may hand out only what it holds itself: its projects or fewer. */
export function requireGrantable(key: ApiKeyPrincipal, projects: readonly string[] | null): void {
  if (key.projects === null) return;
  if (projects === null) {
    throw new LedgerError(
      'PERMISSION_DENIED',
      `API key ${key.id} is bound to some projects only and cannot create a key for every project; list the projects`,
      { field: 'projects' },
    );
  }
  for (const project of projects) requireProject(key, project);
}

const PERMISSION_VERBS: Record<Permission, string> = {
  append: 'record executions',
  read: 'read executions or statistics',
  export: 'export executions',
  verify: 'verify chains',
  keys: 'manage API keys',
  budgets: 'define budgets and webhooks',
  allocate: 'publish cost allocation rule sets',
};

function rolesWith(permission: Permission): KeyRole[] {
  return KEY_ROLES.filter((role) => ROLE_PERMISSIONS[role].has(permission));
}
