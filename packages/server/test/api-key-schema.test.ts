import { ApiKeyStore } from '@execution-ledger/server';
import { describeEachEngine } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';

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

describeEachEngine("the service's API-key schema", (context) => {
  it('refuses every change to a key but one revocation, even from a superuser, and keeps every key', async () => {
    const store = new ApiKeyStore(context.ledger);
    const key = await store.create({ name: 'guarded', role: 'read', projects: null });
    const refused = 'execution_ledger_keys.api_keys';
    const change = (sql: string) => attempt(context.admin, sql, [key.id]);
    expect(
      await change(`update execution_ledger_keys.api_keys set name = 'renamed' where id = $1`),
    ).toContain(`${refused}: UPDATE is not allowed`);
    expect(await change(`update execution_ledger_keys.api_keys set role = 'admin' where id = $1`)).toContain(
      `${refused}: UPDATE is not allowed`,
    );
    expect(await change('delete from execution_ledger_keys.api_keys where id = $1')).toContain(
      `${refused}: DELETE is not allowed`,
    );
    expect(await attempt(context.admin, 'truncate execution_ledger_keys.api_keys')).toContain(
      `${refused}: TRUNCATE is not allowed`,
    );
    const revoked = await store.revoke(key.id);
    expect(revoked.revoked_at).not.toBeNull();
    expect(
      await change(
        `update execution_ledger_keys.api_keys set revoked_at = revoked_at + interval '1 day' where id = $1`,
      ),
    ).toContain(`${refused}: UPDATE is not allowed`);
    expect((await store.revoke(key.id)).revoked_at).toBe(revoked.revoked_at);
    const [stored] = await context.admin(
      'select name, role from execution_ledger_keys.api_keys where id = $1',
      [key.id],
    );
    expect(stored).toEqual({ name: 'guarded', role: 'read' });
  });

  it('lets only the service reach the keys: readers, writers and everyone else see neither table nor hashes', async () => {
    const rows = await context.admin(
      `select r.rolname as role,
         has_schema_privilege(r.rolname, 'execution_ledger_keys', 'usage') as schema_usage,
         has_table_privilege(r.rolname, 'execution_ledger_keys.api_keys', 'select') as can_select,
         has_table_privilege(r.rolname, 'execution_ledger_keys.api_keys', 'insert') as can_insert,
         has_table_privilege(r.rolname, 'execution_ledger_keys.api_keys', 'update') as can_update,
         has_table_privilege(r.rolname, 'execution_ledger_keys.api_keys', 'delete') as can_delete,
         has_table_privilege(r.rolname, 'execution_ledger_keys.api_keys', 'truncate') as can_truncate
       from pg_roles r
       where r.rolname in ('execution_ledger_service', 'execution_ledger_reader', 'execution_ledger_writer',
         'execution_ledger_appender', 'execution_ledger_checkpointer')
       order by r.rolname`,
    );
    const none = { schema_usage: false, can_select: false, can_insert: false, can_update: false };
    const nothingElse = { can_delete: false, can_truncate: false };
    expect(rows).toEqual([
      { role: 'execution_ledger_appender', ...none, ...nothingElse },
      { role: 'execution_ledger_checkpointer', ...none, ...nothingElse },
      { role: 'execution_ledger_reader', ...none, ...nothingElse },
      {
        role: 'execution_ledger_service',
        schema_usage: true,
        can_select: true,
        can_insert: true,
        can_update: true,
        ...nothingElse,
      },
      { role: 'execution_ledger_writer', ...none, ...nothingElse },
    ]);
    const [publicAccess] = await context.admin(
      `select count(*)::integer as grants from information_schema.role_table_grants
       where table_schema = 'execution_ledger_keys' and grantee = 'PUBLIC'`,
    );
    expect(publicAccess).toEqual({ grants: 0 });
  });
});
