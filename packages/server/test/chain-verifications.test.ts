import { ApiKeyStore, buildServer } from '@execution-ledger/server';
import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { paceVerifications } from './support/paced-verification.js';

/** Runs `sql` as a superuser and returns the error's message, or 'allowed'. */
async function attempt(
  admin: (sql: string, params?: unknown[]) => Promise<unknown>,
  sql: string,
  params: unknown[] = [],
): Promise<string> {
  try {
    await admin(sql, params);
    return 'allowed';
  } catch (error) {
    return (error as Error).message;
  }
}

function sessionOf(response: LightMyRequestResponse): string {
  const cookie = response.cookies.find((entry) => entry.name === 'ledger_session');
  expect(cookie, response.body.slice(0, 200)).toBeDefined();
  return `ledger_session=${cookie?.value}`;
}

describeEachEngine('recorded chain verifications', (context) => {
  let projectId = '';
  let otherProject = '';
  let admin = { token: '', id: '' };
  let readerOfProject = '';
  const servers: FastifyInstance[] = [];

  async function server(): Promise<FastifyInstance> {
    const app = await buildServer({ ledger: context.ledger });
    await app.ready();
    servers.push(app);
    return app;
  }

  async function signIn(app: FastifyInstance, token: string): Promise<string> {
    return sessionOf(
      await app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ key: token }).toString(),
      }),
    );
  }

  const verificationRows = async (project: string) =>
    context.admin(
      `select key_id, key_name, ok, entries_checked::integer as entries_checked
       from execution_ledger_keys.chain_verifications where project_id = $1 order by id`,
      [project],
    );

  beforeAll(async () => {
    projectId = context.project('verified');
    otherProject = context.project('verified-other');
    await context.ledger.recordExecutions([makeExecution(projectId), makeExecution(projectId)]);
    await context.ledger.recordExecution(makeExecution(otherProject));
    const store = new ApiKeyStore(context.ledger);
    const created = await store.create({ name: 'verifying admin', role: 'admin', projects: null });
    admin = { token: created.token, id: created.id };
    readerOfProject = (await store.create({ name: 'reader', role: 'read', projects: [projectId] })).token;
  });
  afterAll(async () => {
    for (const app of servers) await app.close();
  });

  it('records a verification asked through the API, and a server started afterwards shows it', async () => {
    const first = await server();
    const verified = await first.inject({
      method: 'POST',
      url: `/v1/projects/${projectId}/verify`,
      headers: { authorization: `Bearer ${admin.token}` },
    });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({ ok: true, project_id: projectId, entries_checked: 2 });
    expect(await verificationRows(projectId)).toEqual([
      { key_id: admin.id, key_name: 'verifying admin', ok: true, entries_checked: 2 },
    ]);
    await first.close();

    // A new process on the same database: nothing of the first one's memory is left.
    const restarted = await server();
    const cookie = await signIn(restarted, readerOfProject);
    const page = await restarted.inject({ method: 'GET', url: '/integrity', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    const row = /<tr data-project="[^"]*">[\s\S]*?<\/tr>/.exec(page.body)?.[0] ?? '';
    expect(row).toContain(projectId);
    expect(row).toMatch(/chain intact<\/span>: 2 entries, .* by verifying admin/);
    const [run] = (await context.ledger.listExecutions({ projectId }, { limit: 1 })).data;
    const runPage = await restarted.inject({
      method: 'GET',
      url: `/runs/${run?.run_id}`,
      headers: { cookie },
    });
    expect(runPage.body).toMatch(/verified through this entry/);
  });

  it('shows a running verification with its progress, runs one for requests that arrive meanwhile, and records it once', async () => {
    const app = await server();
    const cookie = await signIn(app, admin.token);
    const before = (await verificationRows(otherProject)).length;
    const form = {
      method: 'POST' as const,
      url: '/integrity/verify',
      headers: {
        cookie,
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({ project: otherProject }).toString(),
    };
    const paced = paceVerifications(context.ledger);
    try {
      const first = app.inject(form);
      // Held after its first report (0 of 1 entries): it is running, and says so.
      await paced.held();
      const running = await app.inject({
        method: 'GET',
        url: `/integrity/progress?project=${otherProject}`,
        headers: { cookie },
      });
      expect(running.json()).toMatchObject({
        running: true,
        project_id: otherProject,
        by: 'verifying admin',
        entries_checked: 0,
        entries_total: 1,
        requests: 1,
        text: 'verifying: 0 of 1 entries (0%), started by verifying admin',
      });
      const page = await app.inject({ method: 'GET', url: '/integrity', headers: { cookie } });
      expect(page.body).toMatch(/<progress aria-label="Verifying [^"]*" max="1" value="0">/);
      expect(page.body).toContain('verifying: 0 of 1 entries (0%)');
      const second = app.inject(form);
      // The second request joins the running verification instead of starting its own.
      await expect
        .poll(
          async () =>
            (
              await app.inject({
                method: 'GET',
                url: `/integrity/progress?project=${otherProject}`,
                headers: { cookie },
              })
            ).json().requests,
        )
        .toBe(2);
      paced.release();
      await paced.held();
      paced.release();
      const answers = await Promise.all([first, second]);
      expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);
      expect(answers[0]?.json()).toEqual(answers[1]?.json());
      expect(answers[0]?.json()).toMatchObject({
        by: 'verifying admin',
        report: { ok: true, entries_checked: 1 },
      });
    } finally {
      paced.restore();
    }
    expect((await verificationRows(otherProject)).length).toBe(before + 1);
    // Nothing runs any more: progress says so.
    const idle = await app.inject({
      method: 'GET',
      url: `/integrity/progress?project=${otherProject}`,
      headers: { cookie },
    });
    expect(idle.json()).toEqual({ running: false, project_id: otherProject });
  });

  it('refuses progress without a project, and for a project the key is not bound to', async () => {
    const app = await server();
    const store = new ApiKeyStore(context.ledger);
    const scoped = await store.create({ name: 'scoped admin', role: 'admin', projects: [projectId] });
    const cookie = await signIn(app, scoped.token);
    const missing = await app.inject({
      method: 'GET',
      url: '/integrity/progress',
      headers: { cookie, accept: 'application/json' },
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.body).toMatch(/project is required/);
    const elsewhere = await app.inject({
      method: 'GET',
      url: `/integrity/progress?project=${otherProject}`,
      headers: { cookie },
    });
    expect(elsewhere.statusCode).toBe(403);
    const verifyElsewhere = await app.inject({
      method: 'POST',
      url: '/integrity/verify',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ project: otherProject }).toString(),
    });
    expect(verifyElsewhere.statusCode).toBe(403);
    expect(await verificationRows(otherProject)).toHaveLength(1);
  });

  it('keeps verifications append-only, even for a superuser, and lets only the service read and add them', async () => {
    const table = 'execution_ledger_keys.chain_verifications';
    const refused = `${table}: UPDATE is not allowed`;
    expect(
      await attempt(context.admin, `update ${table} set ok = not ok where project_id = $1`, [projectId]),
    ).toContain(refused);
    expect(await attempt(context.admin, `delete from ${table} where project_id = $1`, [projectId])).toContain(
      `${table}: DELETE is not allowed`,
    );
    expect(await attempt(context.admin, `truncate ${table}`)).toContain(`${table}: TRUNCATE is not allowed`);
    // A report that disagrees with its own columns cannot be stored.
    expect(
      await attempt(
        context.admin,
        `insert into ${table} (project_id, key_id, key_name, ok, entries_checked, report)
         values ($1, 'k', 'k', true, 5, '{"project_id": "elsewhere", "ok": true, "entries_checked": 5}')`,
        [projectId],
      ),
    ).toContain('chain_verifications_report_check');
    const rows = await context.admin(
      `select r.rolname as role,
         has_table_privilege(r.rolname, '${table}', 'select') as can_select,
         has_table_privilege(r.rolname, '${table}', 'insert') as can_insert,
         has_table_privilege(r.rolname, '${table}', 'update') as can_update,
         has_table_privilege(r.rolname, '${table}', 'delete') as can_delete
       from pg_roles r
       where r.rolname in ('execution_ledger_service', 'execution_ledger_reader', 'execution_ledger_writer')
       order by r.rolname`,
    );
    const none = { can_select: false, can_insert: false, can_update: false, can_delete: false };
    expect(rows).toEqual([
      { role: 'execution_ledger_reader', ...none },
      { role: 'execution_ledger_service', ...none, can_select: true, can_insert: true },
      { role: 'execution_ledger_writer', ...none },
    ]);
  });
});
