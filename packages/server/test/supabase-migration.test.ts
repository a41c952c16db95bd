import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { makeExecution, present } from '@execution-ledger/test-support';
import { createLedger, type Ledger } from 'execution-ledger';
import { migrationScript, reviewRole } from 'execution-ledger/database';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli-process.js';

/**
 * The printed Supabase migration on a cluster with Supabase's roles and auth schema
 * (test/support/supabase-roles.sql; .ci/test-services.sh makes the cluster, whose bootstrap
 * superuser is supabase_admin). Each run creates a database of its own, applies the printed
 * file as the non-superuser postgres role, and checks what anon, authenticated and service_role
 * may then do, connecting like Supabase's data API does: as authenticator, with
 * `set local role` and `request.jwt.claims` inside a transaction. REQUIRE_SUPABASE=1 (set by
 * .ci/run) makes a missing cluster a failure instead of a skip.
 */
const adminUrl = process.env.TEST_SUPABASE_ADMIN_URL;
if (process.env.REQUIRE_SUPABASE === '1' && adminUrl === undefined) {
  throw new Error('REQUIRE_SUPABASE=1 but TEST_SUPABASE_ADMIN_URL is not set: the Supabase suite must run');
}

const ROLES_SQL = fileURLToPath(new URL('./support/supabase-roles.sql', import.meta.url));
const DATABASE = 'ledger_supabase_migration_test';

function urlFor(user: string, password: string): string {
  const url = new URL(present(adminUrl));
  url.username = user;
  url.password = password;
  url.pathname = `/${DATABASE}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

type ApiRole = 'anon' | 'authenticated' | 'service_role';

/**
 * One data API request: a transaction as authenticator, switched to `role` with `claims`, then,
 * as PostgREST does, a call of the function its db-pre-request setting names, read from the
 * authenticator's role settings (`alter role authenticator set pgrst.db_pre_request = …`, which
 * apply to each new authenticator session) before the request's query. `before` runs ahead of
 * that call, inside the transaction.
 */
async function asApiRole<T = unknown>(
  role: ApiRole,
  claims: Record<string, unknown>,
  fn: (client: pg.Client) => Promise<T>,
  before?: (client: pg.Client) => Promise<unknown>,
): Promise<{ ok: true; value: T } | { ok: false; code: string; message: string }> {
  return withClient(urlFor('authenticator', 'authenticator'), async (client) => {
    const [setting] = (
      await client.query<{ name: string | null }>(
        `select nullif(current_setting('pgrst.db_pre_request', true), '') as name`,
      )
    ).rows;
    const preRequest = setting?.name ?? null;
    await client.query('begin');
    try {
      await client.query(`set local role ${role}`);
      await client.query(`select set_config('request.jwt.claims', $1, true)`, [
        JSON.stringify({ role, ...claims }),
      ]);
      await before?.(client);
      if (preRequest !== null)
        await client.query(
          `select ${preRequest
            .split('.')
            .map((part) => client.escapeIdentifier(part))
            .join('.')}()`,
        );
      return { ok: true as const, value: await fn(client) };
    } catch (error) {
      const failure = error as { code: string; message: string };
      return { ok: false as const, code: failure.code, message: failure.message };
    } finally {
      await client.query('rollback');
    }
  });
}

describe.skipIf(adminUrl === undefined)('the printed Supabase migration', () => {
  const alice = randomUUID();
  const bob = randomUUID();
  const carol = randomUUID();
  const suffix = randomUUID().slice(0, 8);
  const projects = {
    shared: `proj-shared-${suffix}`,
    bobs: `proj-bob-${suffix}`,
    claimed: `proj-claimed-${suffix}`,
    member: `proj-member-${suffix}`,
    userClaimed: `proj-user-claimed-${suffix}`,
  };
  let printed = '';
  let ledger: Ledger;
  const runs: Record<string, string> = {};

  beforeAll(async () => {
    await withClient(present(adminUrl), async (client) => {
      await client.query(`drop database if exists ${DATABASE} with (force)`);
      await client.query(`create database ${DATABASE}`);
    });
    await promisify(execFile)('psql', [
      urlFor('supabase_admin', new URL(present(adminUrl)).password),
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-v',
      `DBNAME=${DATABASE}`,
      '-f',
      ROLES_SQL,
    ]);
    const cli = await runCli(['migrate', '--print-sql', '--supabase']);
    expect(cli).toMatchObject({ code: 0, stderr: '' });
    printed = cli.stdout;
  });

  afterAll(async () => {
    await ledger?.close();
  });

  it('prints the same migrations the library applies, recorded with their checksums', async () => {
    expect(printed).toBe(await migrationScript({ supabase: true }));
    const plain = await migrationScript();
    expect(plain).not.toContain('service_role');
    for (const name of [
      '0001_executions.sql',
      '0006_payload_hash_v2.sql',
      '0010_function_execute_grants.sql',
    ])
      expect(printed).toContain(`-- ${name}\n`);
  });

  it('applies cleanly as the non-superuser postgres role and leaves public untouched', async () => {
    const postgresUrl = urlFor('postgres', 'postgres');
    await withClient(postgresUrl, async (client) => {
      const [role] = (await client.query('select rolsuper from pg_roles where rolname = current_user')).rows;
      expect(role).toEqual({ rolsuper: false });
      // One simple-protocol query: one implicit transaction, as Supabase's CLI applies a file.
      await client.query(printed);
      const objects = await client.query(
        `select (select count(*)::int from pg_class where relnamespace = 'public'::regnamespace) as relations,
           (select count(*)::int from pg_proc where pronamespace = 'public'::regnamespace) as functions`,
      );
      expect(objects.rows[0]).toEqual({ relations: 0, functions: 0 });
    });
    // A ledger connecting afterwards finds its schema current and changes nothing.
    ledger = createLedger({ database: postgresUrl, migrate: false, poolSize: 2 });
    const report = await ledger.migrate();
    expect(report.applied).toEqual([]);
  });

  it('refuses a second application before changing anything, and says what to do instead', async () => {
    await withClient(urlFor('postgres', 'postgres'), async (client) => {
      const before = (await client.query('select id, sha256, applied_at from execution_ledger.migrations'))
        .rows;
      const failure = await client.query(printed).then(
        () => undefined,
        (error: { code: string; message: string; hint: string }) => error,
      );
      expect(failure).toMatchObject({ code: 'EL003' });
      expect(failure?.message).toMatch(/already has migrations 1, 2, .* recorded.*nothing was changed/);
      expect(failure?.hint).toMatch(/already current|--from/);
      const after = (await client.query('select id, sha256, applied_at from execution_ledger.migrations'))
        .rows;
      expect(after).toEqual(before);
    });
  });

  it('records runs through the library as postgres', async () => {
    const record = async (key: string, projectId: string, userId: string) => {
      runs[key] = (await ledger.recordExecution(makeExecution(projectId, { user_id: userId }))).run_id;
    };
    await record('aliceShared', projects.shared, alice);
    await record('bobShared', projects.shared, bob);
    await record('bobOwn', projects.bobs, bob);
    await record('carolClaimed', projects.claimed, carol);
    await record('carolMember', projects.member, carol);
    await record('carolUserClaimed', projects.userClaimed, carol);
    await ledger.addProjectMember(projects.member, alice);
    expect(await ledger.verifyLedger(projects.shared)).toMatchObject({ ok: true, entries_checked: 2 });
  });

  const aliceClaims = {
    sub: alice,
    app_metadata: { ledger_projects: [projects.claimed] },
    // Users write user_metadata themselves: it must grant nothing.
    user_metadata: { ledger_projects: [projects.userClaimed] },
  };
  const ours = () => Object.values(projects);
  const read = (client: pg.Client) =>
    client
      .query<{ run_id: string }>(
        'select run_id from execution_ledger.executions where project_id = any($1) order by run_id',
        [ours()],
      )
      .then((result) => result.rows.map((row) => row.run_id).sort());
  const runIds = (...keys: string[]) => keys.map((key) => present(runs[key])).sort();
  /** Every run of a project, as postgres reads them (bob's project gains runs appended by the API). */
  const runsOf = (projectId: string) =>
    withClient(urlFor('postgres', 'postgres'), (client) =>
      client.query<{ run_id: string }>(
        'select run_id from execution_ledger.executions where project_id = $1',
        [projectId],
      ),
    ).then((result) => result.rows.map((row) => row.run_id));
  const append = (client: pg.Client) =>
    client
      .query<{ r_outcome: string }>('select r_outcome from execution_ledger.append_batch($1, $2)', [
        projects.bobs,
        JSON.stringify([
          {
            run_id: `run-api-${randomUUID()}`,
            project_id: projects.bobs,
            user_id: bob,
            agent_id: 'backend',
            intent: 'Appended through the data API',
            input: {},
            cost_json: { total: 1, breakdown: {} },
            execution_trace_json: { steps: [], duration_ms: 1 },
            status: 'completed',
          },
        ]),
      ])
      .then((result) => result.rows.map((row) => row.r_outcome));
  const update = (client: pg.Client) =>
    client.query(`update execution_ledger.executions set intent = 'changed' where project_id = any($1)`, [
      ours(),
    ]);
  const remove = (client: pg.Client) =>
    client.query('delete from execution_ledger.executions where project_id = any($1)', [ours()]);
  const truncate = (client: pg.Client) => client.query('truncate execution_ledger.executions');

  it('anon can do nothing at all', async () => {
    const operations: ((client: pg.Client) => Promise<unknown>)[] = [read, append, update, remove, truncate];
    for (const operation of operations) {
      const result = await asApiRole('anon', {}, operation);
      expect(result).toMatchObject({ ok: false, code: '42501' });
      expect(result.ok === false && result.message).toMatch(/permission denied for schema execution_ledger/);
    }
  });

  it('authenticated reads its own runs and its JWT-named projects runs, and writes nothing', async () => {
    // No pre-request function is configured yet: the membership (alice in projects.member) is not
    // resolved, and the policy, which reads no table, shows nothing of that project (fail closed).
    expect(await asApiRole('authenticated', aliceClaims, read)).toEqual({
      ok: true,
      value: runIds('aliceShared', 'carolClaimed'),
    });
    expect(await asApiRole('authenticated', { sub: bob }, read)).toEqual({
      ok: true,
      value: runIds('bobShared', 'bobOwn'),
    });
    expect(
      await asApiRole('authenticated', { sub: carol, app_metadata: { ledger_projects: 'all' } }, read),
    ).toEqual({ ok: true, value: runIds('carolClaimed', 'carolMember', 'carolUserClaimed') });
    expect(await asApiRole('authenticated', { sub: randomUUID() }, read)).toEqual({ ok: true, value: [] });
    const writes: ((client: pg.Client) => Promise<unknown>)[] = [append, update, remove, truncate];
    for (const operation of writes)
      expect(await asApiRole('authenticated', aliceClaims, operation)).toMatchObject({
        ok: false,
        code: '42501',
      });
    // Nor may it reach the other write functions (0010 took EXECUTE away from PUBLIC).
    for (const call of [
      `select execution_ledger.rebuild_rollups('${projects.shared}')`,
      `select * from execution_ledger.rebuild_project_rollups('${projects.shared}')`,
      `select execution_ledger.append_checkpoint(1, 0, 0, '\\x00', '\\x00', '\\x00', 'o', 'k', 'n', '[]')`,
    ]) {
      expect(await asApiRole('authenticated', aliceClaims, (client) => client.query(call))).toMatchObject({
        ok: false,
        code: '42501',
      });
    }
  });

  it('service_role reads everything and appends through the function, but never updates, deletes or truncates', async () => {
    expect(await asApiRole('service_role', {}, read)).toEqual({
      ok: true,
      value: Object.values(runs).sort(),
    });
    expect(await asApiRole('service_role', {}, append)).toEqual({ ok: true, value: ['created'] });
    const changes: ((client: pg.Client) => Promise<unknown>)[] = [update, remove, truncate];
    for (const operation of changes) {
      const result = await asApiRole('service_role', {}, operation);
      expect(result).toMatchObject({ ok: false, code: '42501' });
    }
    // Its direct INSERT, which BYPASSRLS would otherwise let past the append function, is refused too.
    const insert = await asApiRole('service_role', {}, (client) =>
      client.query(`insert into execution_ledger.executions (run_id) values ('forged')`),
    );
    expect(insert).toMatchObject({ ok: false, code: '42501' });
  });

  it("gives a runtime role made with docs/supabase.md's SQL the service's rights and nothing more", async () => {
    await withClient(urlFor('postgres', 'postgres'), async (client) => {
      await client.query('drop role if exists ledger_runtime_supabase');
      await client.query(`create role ledger_runtime_supabase login password 'runtime'`);
      await client.query(
        'grant execution_ledger_reader, execution_ledger_service, execution_ledger_writer to ledger_runtime_supabase',
      );
    });
    expect(await reviewRole(await ledger.database(), 'ledger_runtime_supabase')).toEqual({
      role: 'ledger_runtime_supabase',
      privileges: [],
    });
    const runtime = createLedger({ database: urlFor('ledger_runtime_supabase', 'runtime'), poolSize: 2 });
    try {
      const recorded = await runtime.recordExecution(makeExecution(projects.bobs, { user_id: bob }));
      expect(recorded.replayed).toBe(false);
      expect((await runtime.getExecutionByRunId(present(runs.aliceShared)))?.user_id).toBe(alice);
      const [denied] = await withClient(urlFor('ledger_runtime_supabase', 'runtime'), (client) =>
        client.query(`delete from execution_ledger.executions where run_id = $1`, [recorded.run_id]).then(
          () => ['allowed'],
          (error: { code: string }) => [error.code],
        ),
      );
      expect(denied).toBe('42501');
    } finally {
      await runtime.close();
    }
  });

  it('reads only the request claims and settings in its policies, never a table', async () => {
    await withClient(urlFor('postgres', 'postgres'), async (client) => {
      const policies = (
        await client.query<{ policyname: string; qual: string }>(
          `select policyname, qual from pg_policies
           where schemaname = 'execution_ledger' and 'authenticated' = any(roles) order by policyname`,
        )
      ).rows;
      expect(policies.map((policy) => policy.policyname)).toEqual([
        'executions_supabase_read',
        'project_members_supabase_own',
      ]);
      for (const policy of policies) {
        expect(policy.qual).not.toMatch(/\bfrom\b/i);
        expect(policy.qual).not.toContain('project_members');
      }
      const [preRequest] = (
        await client.query(
          `select p.prosecdef as security_definer, p.proconfig as settings, pg_get_userbyid(p.proowner) as owner,
             has_function_privilege('anon', p.oid, 'execute') as anon,
             has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
             has_function_privilege('service_role', p.oid, 'execute') as service_role,
             has_function_privilege('public', p.oid, 'execute') as public,
             has_schema_privilege('anon', 'execution_ledger', 'usage') as anon_ledger_usage,
             has_schema_privilege('execution_ledger_service', 'execution_ledger_api', 'create') as owner_create
           from pg_proc p where p.oid = 'execution_ledger_api.pre_request()'::regprocedure`,
        )
      ).rows;
      expect(preRequest).toEqual({
        security_definer: true,
        settings: ['search_path=""'],
        owner: 'execution_ledger_service',
        anon: true,
        authenticated: true,
        service_role: true,
        public: false,
        anon_ledger_usage: false,
        owner_create: false,
      });
    });
  });

  it('resolves nothing for anon, service_role or a request without a user, and survives a sub that is not a uuid', async () => {
    const call = (client: pg.Client) =>
      client
        .query<{ setting: string }>(
          `select execution_ledger_api.pre_request(),
             current_setting('execution_ledger.member_projects', true) as setting`,
        )
        .then((result) => result.rows[0]?.setting);
    expect(await asApiRole('anon', {}, call)).toEqual({ ok: true, value: '' });
    expect(await asApiRole('anon', { sub: alice }, call)).toEqual({ ok: true, value: '' });
    expect(await asApiRole('service_role', { sub: alice }, call)).toEqual({ ok: true, value: '' });
    expect(await asApiRole('authenticated', {}, call)).toEqual({ ok: true, value: '' });
    expect(await asApiRole('authenticated', { sub: 'not-a-uuid' }, call)).toEqual({
      ok: true,
      value: '{"sub": "not-a-uuid", "projects": []}',
    });
    // Whatever anon's claims say, it still reads nothing: no usage on the ledger's schema.
    const anon = await asApiRole('anon', { sub: alice }, (client) =>
      client.query('select execution_ledger_api.pre_request()').then(() => read(client)),
    );
    expect(anon).toMatchObject({ ok: false, code: '42501' });
  });

  it("takes PostgREST's db-pre-request setting as docs/supabase.md sets it", async () => {
    await withClient(urlFor('postgres', 'postgres'), async (client) => {
      // The documented statements, scoped to this test's database (the roles are the cluster's).
      await client.query(
        `alter role authenticator in database ${DATABASE} set pgrst.db_pre_request = 'execution_ledger_api.pre_request'`,
      );
      await client.query(`notify pgrst, 'reload config'`);
    });
    const configured = await withClient(urlFor('authenticator', 'authenticator'), (client) =>
      client.query(`select current_setting('pgrst.db_pre_request', true) as name`),
    );
    expect(configured.rows).toEqual([{ name: 'execution_ledger_api.pre_request' }]);
  });

  it('with the pre-request function, a member reads its projects runs; others see no more than before', async () => {
    expect(await asApiRole('authenticated', aliceClaims, read)).toEqual({
      ok: true,
      value: runIds('aliceShared', 'carolClaimed', 'carolMember'),
    });
    // A member whose JWT names no project: its own runs and its membership's.
    expect(await asApiRole('authenticated', { sub: alice }, read)).toEqual({
      ok: true,
      value: runIds('aliceShared', 'carolMember'),
    });
    // Non-members: exactly what they read without the pre-request function.
    expect(await asApiRole('authenticated', { sub: bob }, read)).toEqual({
      ok: true,
      value: [...runIds('bobShared'), ...(await runsOf(projects.bobs))].sort(),
    });
    expect(await asApiRole('authenticated', { sub: randomUUID() }, read)).toEqual({ ok: true, value: [] });
    expect(await asApiRole('anon', {}, read)).toMatchObject({ ok: false, code: '42501' });
    // The pre-request function overwrites whatever the transaction held before it, and a setting
    // resolved for another user grants nothing: bob, holding alice's resolution, sees no more.
    const forged = (sub: string) => (client: pg.Client) =>
      client.query(`select set_config('execution_ledger.member_projects', $1, true)`, [
        JSON.stringify({ sub, projects: [projects.member] }),
      ]);
    expect(await asApiRole('authenticated', { sub: bob }, read, forged(bob))).toEqual({
      ok: true,
      value: [...runIds('bobShared'), ...(await runsOf(projects.bobs))].sort(),
    });
    expect(
      await asApiRole('authenticated', { sub: bob }, async (client) => {
        await client.query(`select set_config('execution_ledger.member_projects', $1, true)`, [
          JSON.stringify({ sub: alice, projects: [projects.member] }),
        ]);
        return read(client);
      }),
    ).toEqual({ ok: true, value: [...runIds('bobShared'), ...(await runsOf(projects.bobs))].sort() });
    // Still no writes for a member.
    expect(await asApiRole('authenticated', aliceClaims, append)).toMatchObject({ ok: false, code: '42501' });
  });

  it('shows a membership from the next request on, and hides it from the next request on once removed', async () => {
    await ledger.addProjectMember(projects.bobs, carol);
    expect(await asApiRole('authenticated', { sub: carol }, read)).toEqual({
      ok: true,
      value: [
        ...runIds('carolClaimed', 'carolMember', 'carolUserClaimed'),
        ...(await runsOf(projects.bobs)),
      ].sort(),
    });
    await ledger.removeProjectMember(projects.bobs, carol);
    await ledger.removeProjectMember(projects.member, alice);
    expect(await asApiRole('authenticated', { sub: carol }, read)).toEqual({
      ok: true,
      value: runIds('carolClaimed', 'carolMember', 'carolUserClaimed'),
    });
    expect(await asApiRole('authenticated', { sub: alice }, read)).toEqual({
      ok: true,
      value: runIds('aliceShared'),
    });
  });

  it('re-applies its Supabase part on an upgrade without changing who owns or reads what', async () => {
    const part = printed.slice(printed.indexOf("-- Supabase's API roles"));
    expect(part).toMatch(/^-- Supabase's API roles/);
    await withClient(urlFor('postgres', 'postgres'), async (client) => {
      await client.query(part);
      await client.query(part);
      const [state] = (
        await client.query(
          `select pg_get_userbyid(p.proowner) as owner,
             pg_has_role('postgres', 'execution_ledger_service', 'member') as owner_is_service
           from pg_proc p where p.oid = 'execution_ledger_api.pre_request()'::regprocedure`,
        )
      ).rows;
      expect(state).toEqual({ owner: 'execution_ledger_service', owner_is_service: true });
    });
    await ledger.addProjectMember(projects.member, alice);
    expect(await asApiRole('authenticated', { sub: alice }, read)).toEqual({
      ok: true,
      value: runIds('aliceShared', 'carolMember'),
    });
  });

  it('keeps every chain intact after the matrix', async () => {
    for (const projectId of ours())
      expect(await ledger.verifyLedger(projectId)).toMatchObject({ ok: true, problems: [] });
    const stats = await ledger.getProjectExecutionStats(projects.shared);
    expect(stats.total_executions).toBe(2);
  });
});
