import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { API_KEY_MIGRATIONS, buildServer } from '@execution-ledger/server';
import { ENGINES, type EngineName, makeExecution, present } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import {
  type Database,
  grantRuntimeRole,
  loadMigrations,
  migrateDatabase,
  openDatabase,
  type Queryable,
} from 'execution-ledger/database';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runCli, SERVE_PROCESS_TEST_MS } from './support/cli-process.js';

/**
 * A deployment from before the service had a schema of its own: the ledger's migrations up to
 * 0007, with keys written by the API-key store of that time into execution_ledger.api_keys.
 */
const BEFORE_KEY_SCHEMA = 7;

interface OldKey {
  id: string;
  token: string;
}

/** What the store of that time ran (packages/server/src/keys/api-key-store.ts before the move). */
async function createOldKey(
  database: Queryable,
  role: string,
  projects: string[] | null,
  token = `elk_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`,
  id = token.slice(4, 16),
): Promise<OldKey> {
  await database.query(
    `insert into execution_ledger.api_keys (id, name, role, projects, secret_hash)
     values ($1, $2, $3, $4::text[], $5)`,
    [id, `old ${role}`, role, projects, createHash('sha256').update(token, 'utf8').digest()],
  );
  return { id, token };
}

async function revokeOldKey(database: Queryable, id: string): Promise<void> {
  await database.query(
    `update execution_ledger.api_keys set revoked_at = clock_timestamp()
     where id = $1 and revoked_at is null`,
    [id],
  );
}

async function oldKeyTimes(database: Queryable): Promise<Record<string, unknown>[]> {
  return database.query(
    `select id, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created_at,
       to_char(revoked_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as revoked_at
     from execution_ledger.api_keys order by id`,
  );
}

async function migrateTo(database: Database, last: number): Promise<void> {
  const files = (await loadMigrations()).filter((migration) => migration.id <= last);
  await migrateDatabase(database, files);
}

/** A database of its own: a fresh embedded folder, or a fresh database on the server owned by the owner. */
async function freshDeployment(engine: EngineName): Promise<{
  owner: string;
  runtime: string;
  runtimeRole: string | undefined;
  cleanup: () => Promise<void>;
}> {
  if (engine === 'pglite') {
    const folder = await mkdtemp(path.join(tmpdir(), 'execution-ledger-upgrade-'));
    return {
      owner: folder,
      runtime: folder,
      runtimeRole: undefined,
      cleanup: () => rm(folder, { recursive: true, force: true }),
    };
  }
  const ownerUrl = new URL(process.env.TEST_OWNER_DATABASE_URL ?? present(process.env.TEST_DATABASE_URL));
  const runtimeUrl = new URL(present(process.env.TEST_DATABASE_URL));
  const name = `ledger_upgrade_${randomUUID().replaceAll('-', '')}`;
  const admin = new pg.Client({ connectionString: process.env.TEST_ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name} owner ${decodeURIComponent(ownerUrl.username)}`);
  ownerUrl.pathname = `/${name}`;
  runtimeUrl.pathname = `/${name}`;
  const runtimeRole = decodeURIComponent(runtimeUrl.username);
  return {
    owner: ownerUrl.toString(),
    runtime: runtimeUrl.toString(),
    runtimeRole: runtimeRole === decodeURIComponent(ownerUrl.username) ? undefined : runtimeRole,
    cleanup: async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

// Upgrading needs a second database on the server, made by a superuser.
const UPGRADE_ENGINES = ENGINES.filter(
  (engine) => engine === 'pglite' || process.env.TEST_ADMIN_DATABASE_URL !== undefined,
);

describe.each(UPGRADE_ENGINES)('API keys made before the service had a schema of its own [%s]', (engine) => {
  it(
    'keep working after `migrate`: active keys authenticate with their times, a revoked key stays revoked, the old table is frozen',
    async () => {
      const deployment = await freshDeployment(engine);
      try {
        const project = `proj-${randomUUID()}`;
        const operatorToken = `operator-${randomBytes(24).toString('hex')}`;
        const before = await openDatabase(deployment.owner);
        try {
          await migrateTo(before, BEFORE_KEY_SCHEMA);
          if (deployment.runtimeRole !== undefined) await grantRuntimeRole(before, deployment.runtimeRole);
        } finally {
          await before.close();
        }
        // The service of that time wrote its keys as the runtime role.
        const service = await openDatabase(deployment.runtime);
        let keys: Record<'ingest' | 'reader' | 'admin' | 'revoked' | 'operator', OldKey>;
        let times: Record<string, unknown>[];
        try {
          keys = {
            ingest: await createOldKey(service, 'ingest', [project]),
            reader: await createOldKey(service, 'read', [project]),
            admin: await createOldKey(service, 'admin', null),
            revoked: await createOldKey(service, 'read', [project]),
            operator: await createOldKey(
              service,
              'admin',
              null,
              operatorToken,
              `env_${createHash('sha256').update(operatorToken).digest('hex').slice(0, 12)}`,
            ),
          };
          await revokeOldKey(service, keys.revoked.id);
          times = await oldKeyTimes(service);
        } finally {
          await service.close();
        }

        const migrated = await runCli(['--database', deployment.owner, 'migrate']);
        expect(migrated.stderr).toBe('');
        expect(migrated.code).toBe(0);
        expect(migrated.stdout).toContain('0011_retire_api_keys.sql');
        expect(migrated.stdout).toContain('execution_ledger_keys/0001_api_keys.sql');

        const ledger = createLedger({ database: deployment.runtime });
        const app = await buildServer({ ledger, adminKey: operatorToken });
        try {
          await app.ready();
          const as = (key: OldKey) => ({ authorization: `Bearer ${key.token}` });
          const listed = await app.inject({ method: 'GET', url: '/v1/keys', headers: as(keys.admin) });
          expect(listed.statusCode).toBe(200);
          const byId = new Map(
            listed
              .json()
              .data.map((key: { id: string; created_at: string; revoked_at: string | null }) => [
                key.id,
                { id: key.id, created_at: key.created_at, revoked_at: key.revoked_at },
              ]),
          );
          expect(times.map((row) => byId.get(row.id as string))).toEqual(times);
          const recorded = await app.inject({
            method: 'POST',
            url: '/v1/executions',
            headers: as(keys.ingest),
            payload: makeExecution(project),
          });
          expect(recorded.statusCode).toBe(201);
          const operator = await app.inject({ method: 'GET', url: '/v1/keys', headers: as(keys.operator) });
          expect(operator.statusCode).toBe(200);
          const read = (key: OldKey) =>
            app.inject({ method: 'GET', url: `/v1/projects/${project}/executions`, headers: as(key) });
          const reader = await read(keys.reader);
          expect(reader.statusCode).toBe(200);
          expect(reader.json().total).toBe(1);
          const revoked = await read(keys.revoked);
          expect(revoked.statusCode).toBe(401);
          expect(revoked.json().code).toBe('UNAUTHENTICATED');
          // Revoking now writes the service's own table, and holds.
          const revoke = await app.inject({
            method: 'POST',
            url: `/v1/keys/${keys.ingest.id}/revoke`,
            headers: as(keys.admin),
          });
          expect(revoke.statusCode).toBe(200);
          const afterRevoke = await app.inject({
            method: 'POST',
            url: '/v1/executions',
            headers: as(keys.ingest),
            payload: makeExecution(project),
          });
          expect(afterRevoke.statusCode).toBe(401);
          // Nothing was removed from the old table, and the service can no longer write there.
          const database = await ledger.database();
          const [old] = await database.query<{ keys: number; can_insert: boolean; can_update: boolean }>(
            `select count(*)::integer as keys,
               has_table_privilege('execution_ledger_service', 'execution_ledger.api_keys', 'insert') as can_insert,
               has_table_privilege('execution_ledger_service', 'execution_ledger.api_keys', 'update') as can_update
             from execution_ledger.api_keys`,
          );
          expect(old).toEqual({ keys: 5, can_insert: false, can_update: false });
          if (engine === 'postgres') {
            // An older service still running after the upgrade is refused, not silently ignored.
            await expect(createOldKey(database, 'read', null)).rejects.toMatchObject({
              code: 'PERMISSION_DENIED',
            });
          }
        } finally {
          await app.close();
          await ledger.close();
        }
      } finally {
        await deployment.cleanup();
      }
    },
    SERVE_PROCESS_TEST_MS,
  );
});

describe('the two migration sets in either order (PGlite)', () => {
  async function countKeys(database: Queryable, table: string): Promise<number> {
    const [row] = await database.query<{ n: number }>(`select count(*)::integer as n from ${table}`);
    return present(row).n;
  }

  it('copies every key whether the ledger retires its table before or after the service copies it', async () => {
    for (const order of ['ledger first', 'service first'] as const) {
      const pglite = await PGlite.create();
      const database = await openDatabase(pglite);
      await migrateTo(database, BEFORE_KEY_SCHEMA);
      const kept = await createOldKey(database, 'read', null);
      await revokeOldKey(database, kept.id);
      await createOldKey(database, 'admin', null);
      if (order === 'ledger first') await migrateDatabase(database);
      await migrateDatabase(database, undefined, API_KEY_MIGRATIONS);
      await migrateDatabase(database);
      expect({ order, keys: await countKeys(database, 'execution_ledger_keys.api_keys') }).toEqual({
        order,
        keys: 2,
      });
      const [revoked] = await database.query<{ revoked: boolean }>(
        'select revoked_at is not null as revoked from execution_ledger_keys.api_keys where id = $1',
        [kept.id],
      );
      expect(revoked?.revoked).toBe(true);
      expect(await countKeys(database, 'execution_ledger.api_keys')).toBe(2);
      await pglite.close();
    }
  });

  it('drops the empty old table on a fresh database, and the service set still applies', async () => {
    const pglite = await PGlite.create();
    const database = await openDatabase(pglite);
    await migrateDatabase(database);
    const report = await migrateDatabase(database, undefined, API_KEY_MIGRATIONS);
    expect(report.applied).toEqual([
      'execution_ledger_keys/0001_api_keys.sql',
      'execution_ledger_keys/0002_otlp_staging.sql',
      'execution_ledger_keys/0003_chain_verifications.sql',
      'execution_ledger_keys/0004_otlp_grouped_staging.sql',
    ]);
    const [tables] = await database.query<{ old: string | null; keys: string | null }>(
      `select to_regclass('execution_ledger.api_keys')::text as old,
         to_regclass('execution_ledger_keys.api_keys')::text as keys`,
    );
    expect(tables).toEqual({ old: null, keys: 'execution_ledger_keys.api_keys' });
    await pglite.close();
  });
});
