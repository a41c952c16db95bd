import { randomUUID } from 'node:crypto';
import { makeExecution, present } from '@execution-ledger/test-support';
import {
  createLedger,
  exportExecutionsToCSV,
  getAgentCostStats,
  getExecutionByRunId,
  getProjectExecutionStats,
  initializeExecutionLedger,
  type Ledger,
  listExecutionsByProject,
  recordExecution,
  streamExecutions,
} from 'execution-ledger';
import { grantRuntimeRole } from 'execution-ledger/database';
import { generateSigningKey, verifyExport } from 'execution-ledger/verify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLines } from './support/tamper.js';

/**
 * The ledger through PgBouncer in transaction mode, the way Supabase's pooler (port 6543) serves
 * server code: every transaction may run on another server connection, so nothing may rely on
 * session state (SET, session advisory locks, prepared statements, cursors held across
 * transactions). .ci/test-services.sh starts the pooler in front of a database of its own;
 * TEST_POOLER_OWNER_DATABASE_URL logs in through it as the owner that migrates and
 * TEST_POOLER_DATABASE_URL as the runtime role. REQUIRE_POOLER=1 (set by .ci/run) makes a missing
 * pooler a failure instead of a skip.
 */
const ownerUrl = process.env.TEST_POOLER_OWNER_DATABASE_URL;
const runtimeUrl = process.env.TEST_POOLER_DATABASE_URL;

if (process.env.REQUIRE_POOLER === '1' && (ownerUrl === undefined || runtimeUrl === undefined)) {
  throw new Error(
    'REQUIRE_POOLER=1 but TEST_POOLER_OWNER_DATABASE_URL or TEST_POOLER_DATABASE_URL is not set: the pooler suite must run',
  );
}

// Product constant "ELED" then "MIGR": the key the migrator locks.
const MIGRATION_LOCK = [1162626372, 1296648018];

describe.skipIf(ownerUrl === undefined || runtimeUrl === undefined)(
  'the ledger through PgBouncer in transaction mode',
  () => {
    const projectId = `proj-pooler-${randomUUID()}`;
    const key = generateSigningKey('pooler.test');
    let ledger: Ledger;

    beforeAll(async () => {
      // Two owners migrate at once through the pooler: each file is applied once, and no lock
      // outlives its transaction on a server connection the pooler hands to someone else.
      const owners = [0, 1].map(() =>
        createLedger({ database: present(ownerUrl), migrate: false, preparedStatements: false, poolSize: 2 }),
      );
      try {
        const reports = await Promise.all(owners.map((owner) => owner.migrate()));
        const applied = reports.flatMap((report) => report.applied);
        expect(new Set(applied).size).toBe(applied.length);
        await grantRuntimeRole(
          await present(owners[0]).database(),
          decodeURIComponent(new URL(present(runtimeUrl)).username),
        );
      } finally {
        await Promise.all(owners.map((owner) => owner.close()));
      }
      ledger = initializeExecutionLedger(present(runtimeUrl), { preparedStatements: false, poolSize: 8 });
    });

    afterAll(async () => {
      await ledger?.close();
    });

    it('connects through the pooler, not to the server directly', async () => {
      const client = new pg.Client({ connectionString: present(runtimeUrl) });
      await client.connect();
      try {
        // The server reports the port it listens on: not the one this URL names, so the
        // connection reached it through the pooler.
        const server = await client.query<{ port: number }>('select inet_server_port() as port');
        expect(server.rows[0]?.port).not.toBe(Number(new URL(present(runtimeUrl)).port));
      } finally {
        await client.end();
      }
    });

    it('leaves no migration lock behind on any server connection', async () => {
      const database = await ledger.database();
      const [locks] = await database.query<{ count: number }>(
        `select count(*)::int as count from pg_locks
         where locktype = 'advisory' and classid = $1::oid and objid = $2::oid and objsubid = 2`,
        MIGRATION_LOCK,
      );
      expect(locks?.count).toBe(0);
    });

    it("runs the seed's examples 1 to 7 with the functional API", async () => {
      const record = await recordExecution({
        run_id: `run-12345-abc-${projectId}`,
        project_id: projectId,
        user_id: 'user-001',
        agent_id: 'backend',
        intent: 'Deploy microservice to production',
        input: { service: 'user-api', version: 'v2.1.0', environment: 'production' },
        output: {
          deployed: true,
          url: 'https://user-api.example.com',
          instances: 3,
          health_check: 'passing',
        },
        cost: { total: 850, breakdown: { tokens: 300, toolCalls: 450, externalRequests: 100 } },
        execution_trace: {
          steps: [
            {
              timestamp: '2026-02-13T10:30:00Z',
              action: 'validate_service',
              duration_ms: 250,
              result: 'success',
            },
            {
              timestamp: '2026-02-13T10:30:01Z',
              action: 'build_docker_image',
              duration_ms: 3000,
              result: 'success',
            },
            {
              timestamp: '2026-02-13T10:30:05Z',
              action: 'push_to_registry',
              duration_ms: 1500,
              result: 'success',
            },
            {
              timestamp: '2026-02-13T10:30:07Z',
              action: 'deploy_kubernetes',
              duration_ms: 2000,
              result: 'success',
            },
          ],
          duration_ms: 6750,
          tool_calls: 8,
          api_calls: 12,
        },
        status: 'completed',
      });
      expect(record).toMatchObject({ seq: 1, replayed: false, status: 'completed' });

      const failed = await recordExecution({
        run_id: `run-failed-001-${projectId}`,
        project_id: projectId,
        user_id: 'user-001',
        agent_id: 'database',
        intent: 'Migrate schema with data validation',
        input: { migration_id: 'migration-2026-02-001', tables: ['users', 'profiles', 'settings'] },
        cost: { total: 250, breakdown: { tokens: 100, toolCalls: 150 } },
        execution_trace: {
          steps: [
            {
              timestamp: '2026-02-13T11:00:00Z',
              action: 'backup_database',
              duration_ms: 5000,
              result: 'success',
            },
            {
              timestamp: '2026-02-13T11:00:06Z',
              action: 'validate_and_migrate',
              duration_ms: 2000,
              error: 'Constraint violation on users.email UNIQUE index',
            },
          ],
          duration_ms: 7000,
        },
        status: 'failed',
        error_message:
          'Database migration failed: Constraint violation on users.email UNIQUE index. Changes rolled back.',
      });
      expect(failed).toMatchObject({ seq: 2, status: 'failed' });

      const aborted = await recordExecution({
        run_id: `run-aborted-001-${projectId}`,
        project_id: projectId,
        user_id: 'user-001',
        agent_id: 'devops',
        intent: 'Full infrastructure audit and optimization',
        input: { audit_type: 'comprehensive', include_optimization: true },
        cost: { total: 10000, breakdown: { tokens: 4000, toolCalls: 4000, externalRequests: 2000 } },
        execution_trace: {
          steps: [
            {
              timestamp: '2026-02-13T12:00:00Z',
              action: 'audit_compute_resources',
              duration_ms: 3000,
              result: 'success',
            },
            {
              timestamp: '2026-02-13T12:00:04Z',
              action: 'audit_networking',
              duration_ms: 2000,
              result: 'success',
            },
          ],
          duration_ms: 5000,
          tool_calls: 12,
        },
        status: 'aborted',
        error_message: 'Execution aborted: Budget exceeded. Allocated: $50.00, Spent: $100.00',
      });
      expect(aborted).toMatchObject({ seq: 3, status: 'aborted' });

      const week = await getAgentCostStats(
        'backend',
        projectId,
        new Date(Date.now() - 7 * 24 * 60 * 60 * 1000),
        new Date(Date.now() + 1000),
      );
      expect([week.count, week.total_cost, week.avg_cost, week.min_cost, week.max_cost]).toEqual([
        1, 850, 850, 850, 850,
      ]);

      expect(await getProjectExecutionStats(projectId)).toEqual({
        total_executions: 3,
        successful: 1,
        failed: 1,
        aborted: 1,
        total_cost: 11100,
        avg_cost: 3700,
        avg_duration_ms: 6250,
        by_agent: {
          backend: { count: 1, cost: 850 },
          database: { count: 1, cost: 250 },
          devops: { count: 1, cost: 10000 },
        },
      });

      const csv = await exportExecutionsToCSV(
        projectId,
        new Date(Date.now() - 30 * 24 * 60 * 60 * 1000),
        new Date(Date.now() + 1000),
      );
      const lines = csv.trimEnd().split('\r\n');
      expect(lines).toHaveLength(4);
      expect(lines[3]).toContain('run-aborted-001');

      let failureCount = 0;
      let totalCost = 0;
      for await (const execution of streamExecutions({ projectId, status: 'failed' })) {
        failureCount++;
        totalCost += execution.cost_json.total;
      }
      expect([failureCount, totalCost]).toEqual([1, 250]);

      // A replay answers with the stored entry, and reads by run id and by page agree.
      const replay = await recordExecution({
        ...makeExecution(projectId),
        run_id: `run-replay-${projectId}`,
      });
      expect((await getExecutionByRunId(replay.run_id))?.seq).toBe(4);
      const page = await listExecutionsByProject(projectId, 2, 0);
      expect([page.total, page.data.map((entry) => entry.seq)]).toEqual([4, [4, 3]]);
    });

    it('group-commits 16 concurrent callers into one gapless, valid chain', async () => {
      const project = `proj-pooler-group-${randomUUID()}`;
      const results = await Promise.all(
        Array.from({ length: 16 }, async (_, caller) => {
          const seqs: number[] = [];
          for (let index = 0; index < 10; index++) {
            const record = await ledger.recordExecution(
              makeExecution(project, { user_id: `user-${caller}`, agent_id: `agent-${index % 3}` }),
            );
            seqs.push(record.seq);
          }
          return seqs;
        }),
      );
      expect(results.flat().sort((a, b) => a - b)).toEqual(
        Array.from({ length: 160 }, (_, index) => index + 1),
      );
      const report = await ledger.verifyLedger(project);
      expect(report).toMatchObject({ ok: true, entries_checked: 160, head: { seq: 160 }, problems: [] });
      expect(await ledger.verifyRollups(project)).toMatchObject({ ok: true });
      const stats = await ledger.getProjectExecutionStats(project);
      expect([stats.total_executions, stats.total_cost]).toEqual([160, 160 * 850]);
      // A batch goes through recordExecutions in one call too.
      const batch = await ledger.recordExecutions(
        Array.from({ length: 5 }, () => makeExecution(project, { agent_id: 'batch' })),
      );
      expect(batch.every((item) => item.ok)).toBe(true);
    });

    it('scopes a reader by user and project membership in one transaction each', async () => {
      const project = `proj-pooler-scoped-${randomUUID()}`;
      await ledger.recordExecution(makeExecution(project, { user_id: 'alice' }));
      await ledger.recordExecution(makeExecution(project, { user_id: 'bob' }));
      const alice = ledger.as({ userId: 'alice' });
      expect((await alice.listExecutionsByProject(project)).total).toBe(1);
      await ledger.addProjectMember(project, 'alice');
      expect((await alice.listExecutionsByProject(project)).total).toBe(2);
      expect((await ledger.as({ userId: 'carol' }).listExecutionsByProject(project)).total).toBe(0);
    });

    it('signs checkpoints, proves a project in one, and verifies an export against it', async () => {
      const project = `proj-pooler-checkpoint-${randomUUID()}`;
      for (let index = 0; index < 3; index++) await ledger.recordExecution(makeExecution(project));
      const first = await ledger.createCheckpoint({ privateKey: key.signingKey });
      expect(first.created).toBe(true);
      const proof = await ledger.proveProject(project, present(first.checkpoint));
      await ledger.recordExecution(makeExecution(project));
      const second = await ledger.createCheckpoint({ privateKey: key.signingKey });
      const consistency = await ledger.proveConsistency(
        present(first.checkpoint),
        present(second.checkpoint),
      );
      expect(consistency).toBeDefined();

      const report = await ledger.verifyLedger(project, { publicKey: key.publicKeyText });
      expect(report).toMatchObject({ ok: true, entries_checked: 4 });
      expect(report.checkpoint).toMatchObject({ ok: true, signature: 'valid' });

      const lines = await exportLines(ledger, project, proof);
      const offline = await verifyExport({
        ndjson: lines,
        checkpoint: present(first.checkpoint).note,
        publicKey: key.publicKeyText,
      });
      expect(offline).toMatchObject({ ok: true, entries_checked: 4, problems: [] });
    });

    it('rebuilds rollups and streams an NDJSON export of every entry', async () => {
      const project = `proj-pooler-rollups-${randomUUID()}`;
      for (let index = 0; index < 4; index++) await ledger.recordExecution(makeExecution(project));
      expect(await ledger.rebuildRollups(project)).toBeDefined();
      expect(await ledger.verifyRollups(project)).toMatchObject({ ok: true });
      let lines = 0;
      for await (const chunk of ledger.exportNdjsonStream({ projectId: project }))
        lines += String(chunk)
          .split('\n')
          .filter((line) => line !== '').length;
      expect(lines).toBe(4);
    });
  },
);
