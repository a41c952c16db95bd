import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';

// Row level security that reads only the claims (docs/security.md): no policy runs a subquery
// against project_members. A scoped reader's projects are resolved before its query and passed
// in request.jwt.claims (ledger_projects), so a distributed engine checks each row where it lives.
describeEachEngine('policies that read only the claims', (context) => {
  it('has no policy that reads project_members', async () => {
    const policies = await context.admin(
      `select tablename, policyname from pg_policies
       where schemaname = 'execution_ledger'
         and (coalesce(qual, '') ~* 'project_members' or coalesce(with_check, '') ~* 'project_members')
       order by 1, 2`,
    );
    expect(policies).toEqual([]);
  });

  it('shows a reader the projects its claims name, and a member only once resolved into them', async () => {
    const projectId = context.project();
    const member = `member-${projectId}`;
    await context.ledger.recordExecution(makeExecution(projectId, { user_id: `owner-${projectId}` }));
    await context.ledger.addProjectMember(projectId, member);
    const count = (claims: Record<string, unknown>) =>
      context.ledger.database().then((database) =>
        database.transaction(async (tx) => {
          await tx.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
          await tx.query('set local role execution_ledger_reader');
          const rows = await tx.query<{ n: number }>(
            'select count(*)::int as n from execution_ledger.executions where project_id = $1',
            [projectId],
          );
          return rows[0]?.n;
        }),
      );
    // Membership alone, not in the claims, shows nothing: the policy reads no table.
    expect(await count({ sub: member })).toBe(0);
    expect(await count({ sub: member, ledger_projects: [projectId] })).toBe(1);
    expect(await count({ sub: member, ledger_projects: projectId })).toBe(0);
    expect(await count({ sub: member, ledger_projects: [[projectId]] })).toBe(0);
    // The library resolves the membership for its scoped readers.
    expect((await context.ledger.as({ userId: member }).listExecutionsByProject(projectId)).total).toBe(1);
  });
});
