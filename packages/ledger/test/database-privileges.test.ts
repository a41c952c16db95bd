import { randomUUID } from 'node:crypto';
import {
  describeEachEngine,
  type EngineContext,
  makeExecution,
  ownerUrl,
} from '@execution-ledger/test-support';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { literal } from './support/tamper.js';

/**
 * The privilege matrix: every role that can reach the ledger × every way to rewrite it. Cells
 * are generated from the two lists, so a new attempt is tried by every role. Each cell runs in
 * a transaction that is rolled back, and the entries and the guards are compared afterwards.
 * Expected: refused for everyone, except the powers docs/security.md lists ("What the owner
 * and a superuser can still do"); the runtime role is refused everything.
 */

interface Victim {
  projectId: string;
  runId: string;
}

type Outcome = { refused: string; message: string } | { done: Record<string, unknown>[] };

interface Attempt {
  name: string;
  statements(victim: Victim): string[];
}

const TABLE = 'execution_ledger.executions';
const FORGED_HASH = 'ab'.repeat(32);
const update = (victim: Victim) =>
  `update ${TABLE} set intent = 'rewritten' where run_id = ${literal(victim.runId)} returning intent`;
const insert = (victim: Victim) =>
  `insert into ${TABLE} (run_id, project_id, user_id, agent_id, intent, input, cost_json,
     execution_trace_json, status, created_at, seq, hash_version, payload_hash, prev_hash, entry_hash)
   values (${literal(`forged-${randomUUID()}`)}, ${literal(victim.projectId)}, 'u', 'a', 'forged', '{}',
     '{"total": 0}', '{}', 'completed', now(), 999999, 1, decode('${FORGED_HASH}', 'hex'),
     decode('${FORGED_HASH}', 'hex'), decode('${FORGED_HASH}', 'hex')) returning seq`;

export const ATTEMPTS: Attempt[] = [
  { name: 'UPDATE an entry', statements: (v) => [update(v)] },
  { name: 'DELETE an entry', statements: (v) => [`delete from ${TABLE} where run_id = ${literal(v.runId)}`] },
  { name: 'TRUNCATE the table', statements: () => [`truncate ${TABLE}`] },
  { name: 'INSERT a row directly', statements: (v) => [insert(v)] },
  {
    name: 'UPDATE with session_replication_role = replica',
    statements: (v) => ['set local session_replication_role = replica', update(v)],
  },
  { name: 'ALTER TABLE DISABLE TRIGGER ALL', statements: () => [`alter table ${TABLE} disable trigger all`] },
  { name: 'DROP POLICY', statements: () => [`drop policy executions_service_read on ${TABLE}`] },
  {
    name: 'NO FORCE ROW LEVEL SECURITY',
    statements: () => [`alter table ${TABLE} no force row level security`],
  },
  {
    name: 'GRANT itself UPDATE, then UPDATE',
    statements: (v) => [`grant update on ${TABLE} to current_user`, update(v)],
  },
  {
    name: 'SET ROLE to the appender, then INSERT',
    statements: (v) => ['set local role execution_ledger_appender', insert(v)],
  },
  {
    name: 'GRANT itself the appender, SET ROLE to it, INSERT',
    statements: (v) => [
      'grant execution_ledger_appender to current_user',
      'set local role execution_ledger_appender',
      insert(v),
    ],
  },
  {
    name: 'rewrite: guards off, RLS unforced, UPDATE granted, UPDATE',
    statements: (v) => [
      `alter table ${TABLE} disable trigger all`,
      `alter table ${TABLE} no force row level security`,
      `grant update on ${TABLE} to current_user`,
      update(v),
    ],
  },
  {
    name: 'append_batch with a payload_hash that does not match the content',
    statements: (v) => [appendForged(v, { payload_hash: FORGED_HASH })],
  },
  {
    name: 'append_batch with its chain fields supplied',
    statements: (v) => [
      appendForged(v, {
        seq: 1,
        created_at: '2000-01-01T00:00:00.000Z',
        prev_hash: FORGED_HASH,
        entry_hash: FORGED_HASH,
      }),
    ],
  },
];

/** Calls the append function with an entry that brings fields of its own choosing. */
function appendForged(v: Victim, extra: Record<string, unknown>): string {
  return `select r_outcome from execution_ledger.append_batch(${literal(v.projectId)},
    ${literal(JSON.stringify([{ ...forgedEntry(v.projectId), ...extra }]))}::jsonb)`;
}

function forgedEntry(projectId: string): Record<string, unknown> {
  return {
    run_id: `forged-${randomUUID()}`,
    project_id: projectId,
    user_id: 'u',
    agent_id: 'a',
    intent: 'forged',
    input: {},
    cost_json: { total: 0 },
    execution_trace_json: {},
    status: 'completed',
  };
}

type Run = (sql: string) => Promise<Record<string, unknown>[]>;

interface Principal {
  name: string;
  /** Opens a connection as this role; statements after BEGIN put the transaction in its shoes. */
  open(): Promise<{ run: Run; prefix: string[]; close(): Promise<void> }>;
}

const adminUrl = process.env.TEST_ADMIN_DATABASE_URL ?? process.env.TEST_DATABASE_URL;

async function client(url: string | undefined): Promise<{ run: Run; close(): Promise<void> }> {
  const connection = new pg.Client({ connectionString: url });
  await connection.connect();
  return {
    run: async (sql) => (await connection.query(sql)).rows,
    close: () => connection.end(),
  };
}

/** A login role, connected with its own URL. */
function loginRole(name: string, url: () => string | undefined): Principal {
  return { name, open: async () => ({ ...(await client(url())), prefix: [] }) };
}

/**
 * An internal NOLOGIN role. The runtime role reaches reader, service and writer with SET ROLE;
 * no login role is a member of the appender or the checkpointer (asserted below), so those are
 * entered by a superuser's SET SESSION AUTHORIZATION, after which the session is that role's
 * alone (SET ROLE then checks the role's memberships, not the superuser's).
 */
function internalRole(name: string, reachedByRuntime: boolean): Principal {
  return {
    name: name.replace('execution_ledger_', ''),
    open: async () => {
      const connection = await client(reachedByRuntime ? process.env.TEST_DATABASE_URL : adminUrl);
      return {
        ...connection,
        prefix: [reachedByRuntime ? `set local role ${name}` : `set local session authorization ${name}`],
      };
    },
  };
}

const LOGIN_ROLES: Principal[] = [
  loginRole('owner', () => ownerUrl),
  loginRole('runtime', () => process.env.TEST_DATABASE_URL),
];
const INTERNAL_ROLES: Principal[] = [
  internalRole('execution_ledger_reader', true),
  internalRole('execution_ledger_service', true),
  internalRole('execution_ledger_writer', true),
  internalRole('execution_ledger_appender', false),
  internalRole('execution_ledger_checkpointer', false),
];

async function runCell(
  session: { run: Run; prefix: string[] },
  attempt: Attempt,
  victim: Victim,
): Promise<Outcome> {
  await session.run('begin');
  try {
    for (const statement of session.prefix) await session.run(statement);
    try {
      let rows: Record<string, unknown>[] = [];
      for (const statement of attempt.statements(victim)) rows = await session.run(statement);
      return { done: rows };
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      return { refused: code ?? 'none', message };
    }
  } finally {
    await session.run('rollback');
  }
}

/** The victim's entries and the guards as the superuser sees them: equal before and after every cell. */
async function guardedState(context: EngineContext, victim: Victim): Promise<unknown> {
  return context.admin(
    `select
       (select string_agg(run_id || '/' || seq || '/' || intent || '/' || encode(entry_hash, 'hex'), ',' order by seq)
          from ${TABLE} where project_id = $1) as entries,
       (select string_agg(tgname || ':' || tgenabled::text, ',' order by tgname) from pg_trigger
          where tgrelid = '${TABLE}'::regclass and not tgisinternal) as triggers,
       (select string_agg(policyname, ',' order by policyname) from pg_policies
          where schemaname = 'execution_ledger') as policies,
       (select relrowsecurity::text || relforcerowsecurity::text || coalesce(relacl::text, '')
          from pg_class where oid = '${TABLE}'::regclass) as table_rights,
       (select string_agg(r.rolname, ',' order by r.rolname) from pg_auth_members m
          join pg_roles r on r.oid = m.member where m.roleid = 'execution_ledger_appender'::regrole) as appenders`,
    [victim.projectId],
  );
}

/** What each role can still do, as docs/security.md lists it; every other cell must be refused. */
const ALLOWED_AS_DOCUMENTED: Record<string, readonly string[]> = {
  owner: [
    'ALTER TABLE DISABLE TRIGGER ALL',
    'DROP POLICY',
    'NO FORCE ROW LEVEL SECURITY',
    'GRANT itself the appender, SET ROLE to it, INSERT',
    'rewrite: guards off, RLS unforced, UPDATE granted, UPDATE',
  ],
  // The appender's INSERT is the write path append_batch runs with; no login role holds it.
  appender: ['INSERT a row directly', 'SET ROLE to the appender, then INSERT'],
};

function verdict(outcome: Outcome): string {
  return 'refused' in outcome ? `refused ${outcome.refused}` : 'allowed';
}

describeEachEngine('database privilege matrix', (context) => {
  // PGlite has no login roles (one connection, a superuser): the owner and runtime rows exist
  // on the server only; the internal roles are checked on both engines.
  if (context.engine === 'pglite') {
    // PGlite's one connection is a superuser: SET ROLE from it reaches every role, and SET SESSION
    // AUTHORIZATION there outlives the transaction, so no cell would show what a login role meets.
    it.skip('needs login roles, which the embedded engine does not have', () => undefined);
    return;
  }
  if (ownerUrl === process.env.TEST_DATABASE_URL) {
    if (process.env.REQUIRE_POSTGRES === '1')
      throw new Error(
        'the privilege matrix needs TEST_OWNER_DATABASE_URL (the owner) beside TEST_DATABASE_URL (the runtime role)',
      );
    it.skip('needs TEST_OWNER_DATABASE_URL: the owner and the runtime role are the same role here', () =>
      undefined);
    return;
  }
  const principals = [...LOGIN_ROLES, ...INTERNAL_ROLES];
  const cells: string[] = [];
  let victim: Victim = { projectId: '', runId: '' };

  beforeAll(async () => {
    const projectId = context.project('privileges');
    const record = await context.ledger.recordExecution(makeExecution(projectId));
    victim = { projectId, runId: record.run_id };
  });

  afterAll(() => {
    const refused = cells.filter((cell) => cell.startsWith('refused')).length;
    const allowed = cells.filter((cell) => cell === 'allowed').length;
    process.stdout.write(
      `privilege matrix [${context.engine}]: roles ${principals.length} x attempts ${ATTEMPTS.length}: ` +
        `cells ${cells.length}, refused ${refused}, allowed-as-documented ${allowed}\n`,
    );
  });

  it('lets no login role but a superuser reach the appender or the checkpointer', async () => {
    const members = await context.admin(
      `select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.member
       where m.roleid in ('execution_ledger_appender'::regrole, 'execution_ledger_checkpointer'::regrole)
         and r.rolcanlogin and not r.rolsuper`,
    );
    expect(members).toEqual([]);
  });

  it('leaves no SECURITY DEFINER function of the schema to PUBLIC, and each rebuild to the one entry point', async () => {
    // A REVOKE by a role that no longer owns the function only warns (0010, 0030): the grants
    // must be the ones recorded, whatever role ran the migrations.
    const open = await context.admin(
      `select p.proname as name from pg_proc p
       where p.pronamespace = 'execution_ledger'::regnamespace and p.prosecdef
         and (p.proacl is null or exists (
           select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE'))
       order by 1`,
    );
    expect(open).toEqual([]);
    const [writer] = await context.admin(
      `select ${[
        'rebuild_project_rollups(text)',
        'add_rollup_time_zone(text, text)',
        'fold_rollups(text)',
        'fold_pending_rollups()',
        'rebuild_rollups(text)',
        'rebuild_step_rollups(text)',
        'rebuild_zone_rollups(text)',
        'fill_zone_days(text, integer)',
      ]
        .map(
          (fn) =>
            `has_function_privilege('execution_ledger_writer', 'execution_ledger.${fn}', 'execute') as "${fn.replace(/\(.*/, '')}"`,
        )
        .join(', ')}`,
    );
    expect(writer).toEqual({
      rebuild_project_rollups: true,
      add_rollup_time_zone: true,
      fold_rollups: true,
      fold_pending_rollups: true,
      rebuild_rollups: false,
      rebuild_step_rollups: false,
      rebuild_zone_rollups: false,
      fill_zone_days: false,
    });
  });

  for (const principal of principals) {
    it(`${principal.name}: refused every attempt but the documented powers, entries and guards unchanged`, async () => {
      const session = await principal.open();
      const before = await guardedState(context, victim);
      const seen: Record<string, string> = {};
      try {
        for (const attempt of ATTEMPTS) {
          seen[attempt.name] = verdict(await runCell(session, attempt, victim));
          expect(await guardedState(context, victim), `${principal.name}: ${attempt.name}`).toEqual(before);
        }
      } finally {
        await session.close();
      }
      cells.push(...Object.values(seen));
      const allowed = Object.keys(seen).filter((name) => seen[name] === 'allowed');
      expect(allowed).toEqual(ALLOWED_AS_DOCUMENTED[principal.name] ?? []);
      expect(seen).toEqual(expectedVerdicts(principal.name));
    });
  }
});

/**
 * How each cell ends. 42501 is PostgreSQL's "permission denied" / "must be owner" / "must have
 * admin option"; EL001 is the append-only trigger; roles that may call append_batch see their
 * chain fields ignored.
 */
function expectedVerdicts(role: string): Record<string, string> {
  const callsAppend = ['owner', 'runtime', 'writer', 'appender'].includes(role);
  // append_batch takes the twelve content fields only and derives every hash itself (22023).
  const special: Record<string, string> = {
    ...(callsAppend
      ? {
          'append_batch with a payload_hash that does not match the content': 'refused 22023',
          'append_batch with its chain fields supplied': 'refused 22023',
        }
      : {}),
    ...(role === 'owner' ? { 'GRANT itself UPDATE, then UPDATE': 'refused EL001' } : {}),
  };
  return Object.fromEntries(
    ATTEMPTS.map(({ name }) => [
      name,
      (ALLOWED_AS_DOCUMENTED[role] ?? []).includes(name) ? 'allowed' : (special[name] ?? 'refused 42501'),
    ]),
  );
}
