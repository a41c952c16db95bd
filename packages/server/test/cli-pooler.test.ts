import { randomUUID } from 'node:crypto';
import { makeExecution, present } from '@execution-ledger/test-support';
import { describe, expect, it } from 'vitest';
import { runCli, SERVE_PROCESS_TEST_MS } from './support/cli-process.js';

/**
 * The CLI through PgBouncer in transaction mode with --no-prepared-statements, as docs/supabase.md
 * shows it for a Supabase project's pooler (.ci/test-services.sh starts the pooler; REQUIRE_POOLER=1
 * makes a missing one a failure, see packages/ledger/test/pooler.test.ts).
 */
const ownerUrl = process.env.TEST_POOLER_OWNER_DATABASE_URL;
const runtimeUrl = process.env.TEST_POOLER_DATABASE_URL;
if (process.env.REQUIRE_POOLER === '1' && (ownerUrl === undefined || runtimeUrl === undefined)) {
  throw new Error(
    'REQUIRE_POOLER=1 but TEST_POOLER_OWNER_DATABASE_URL or TEST_POOLER_DATABASE_URL is not set',
  );
}

describe.skipIf(ownerUrl === undefined || runtimeUrl === undefined)('the CLI through a pooler', () => {
  it(
    'migrates as the owner, then records, reads, exports and verifies as the runtime role',
    async () => {
      const pooled = (url: string, ...args: string[]) =>
        runCli(['--database', url, '--no-prepared-statements', ...args]);
      const role = decodeURIComponent(new URL(present(runtimeUrl)).username);
      const migrate = await pooled(present(ownerUrl), 'migrate', '--grant-runtime', role);
      expect(migrate.stderr).toBe('');
      expect(migrate.code).toBe(0);

      const projectId = `proj-cli-pooler-${randomUUID()}`;
      const runs = Array.from({ length: 3 }, () => makeExecution(projectId));
      const record = await runCli(['--database', present(runtimeUrl), '--no-prepared-statements', 'record'], {
        input: JSON.stringify(runs),
      });
      expect(record.code, record.stderr).toBe(0);

      const stats = await pooled(present(runtimeUrl), '--json', 'stats', '--project', projectId);
      expect(stats.code, stats.stderr).toBe(0);
      expect(JSON.parse(stats.stdout)).toMatchObject({ total_executions: 3, total_cost: 3 * 850 });

      const csv = await pooled(present(runtimeUrl), 'export', '--project', projectId, '--format', 'csv');
      expect(csv.code, csv.stderr).toBe(0);
      expect(csv.stdout.trimEnd().split('\r\n')).toHaveLength(4);

      const verify = await pooled(present(runtimeUrl), '--json', 'verify', '--project', projectId);
      expect(verify.code, verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, entries_checked: 3 });
    },
    SERVE_PROCESS_TEST_MS,
  );
});
