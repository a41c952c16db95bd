import { randomUUID } from 'node:crypto';
import { ApiKeyStore, buildServer } from '@execution-ledger/server';
import {
  describeEachEngine,
  expectLedgerErrorSync,
  makeExecution,
  ownerUrl,
  present,
} from '@execution-ledger/test-support';
import { createLedger, type Ledger } from 'execution-ledger';
import { grantRuntimeRole } from 'execution-ledger/database';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Reads that may lag (statistics, lists, exports) go to the read database; reads that must see
// the caller's own appends stay on the primary. To tell the two apart, the read database here is
// a second database on the same server holding other runs of the same project: whatever a read
// answers shows where it was served from. (fault/standby-reads.js does the same against a real
// streaming standby and measures its lag.)

describe('readDatabase refusals', () => {
  it('refuses a read database that is not a PostgreSQL server, or a primary that is embedded', () => {
    const embedded = expectLedgerErrorSync(
      () => createLedger({ database: 'memory:', readDatabase: 'postgres://reader@localhost/ledger' }),
      'VALIDATION_FAILED',
    );
    expect(embedded.field).toBe('readDatabase');
    expect(embedded.message).toContain('database to be a PostgreSQL server');
    const folder = expectLedgerErrorSync(
      () => createLedger({ database: 'postgres://writer@localhost/ledger', readDatabase: './data' }),
      'VALIDATION_FAILED',
    );
    expect(folder.field).toBe('readDatabase');
    expect(folder.message).toContain('postgres:// URL');
    expectLedgerErrorSync(
      () => createLedger({ database: 'postgres://writer@localhost/ledger', readDatabase: 'memory:' }),
      'VALIDATION_FAILED',
    );
  });
});

describeEachEngine('reads that may lag, without a read database', (context) => {
  it('reads the primary and states a lag of 0', async () => {
    expect(context.ledger.reads).toBe(context.ledger);
    expect(await context.ledger.readLag()).toMatchObject({ source: 'primary', lag_ms: 0 });
    const app = await buildServer({ ledger: context.ledger, rateLimit: false });
    try {
      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toContain('execution_ledger_read_lag_seconds{source="primary"} 0');
    } finally {
      await app.close();
    }
  });
});

const serverUrl = process.env.TEST_DATABASE_URL;
const adminUrl = process.env.TEST_ADMIN_DATABASE_URL;

describe.runIf(serverUrl !== undefined && adminUrl !== undefined && ownerUrl !== undefined)(
  'reads that may lag, with a read database',
  () => {
    const name = `el_reads_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const urlOf = (url: string | undefined) => {
      const parsed = new URL(present(url));
      parsed.pathname = `/${name}`;
      return parsed.toString();
    };
    const admin = () => createLedger({ database: present(adminUrl), migrate: false, poolSize: 1 });
    const project = `reads-${randomUUID()}`;
    let ledger: Ledger;
    let other: Ledger;
    let app: FastifyInstance;
    let onPrimary = '';
    let onReadDatabase = '';
    let authorization = '';

    beforeAll(async () => {
      const superuser = admin();
      try {
        const owner = decodeURIComponent(new URL(present(ownerUrl)).username);
        await (await superuser.database()).query(`create database ${name} owner "${owner}"`);
      } finally {
        await superuser.close();
      }
      const migrator = createLedger({ database: urlOf(ownerUrl), migrate: false, poolSize: 1 });
      try {
        await migrator.migrate();
        await grantRuntimeRole(
          await migrator.database(),
          decodeURIComponent(new URL(present(serverUrl)).username),
        );
      } finally {
        await migrator.close();
      }
      ledger = createLedger({ database: present(serverUrl), readDatabase: urlOf(serverUrl) });
      // The read database's own runs, appended there directly (a standby would replicate them,
      // and the primary's fold of them).
      other = createLedger({ database: urlOf(serverUrl) });
      onPrimary = (
        await ledger.recordExecution(makeExecution(project, { agent_id: 'primary-agent', cost: 7 }))
      ).run_id;
      onReadDatabase = (
        await other.recordExecution(makeExecution(project, { agent_id: 'read-agent', cost: 40 }))
      ).run_id;
      await other.recordExecution(makeExecution(project, { agent_id: 'read-agent', cost: 2 }));
      // Folded as the primary's fold would be, before a standby replays it.
      await other.foldRollups(project);
      app = await buildServer({ ledger, rateLimit: false });
      const created = await new ApiKeyStore(ledger).create({
        name: 'reads',
        role: 'admin',
        projects: [project],
      });
      authorization = `Bearer ${created.token}`;
    });

    afterAll(async () => {
      await app?.close();
      await ledger?.close();
      await other?.close();
      const superuser = admin();
      try {
        await (await superuser.database()).query(`drop database if exists ${name} with (force)`);
      } finally {
        await superuser.close();
      }
    });

    it("reads that may lag come from the read database; the ledger's own reads from the primary", async () => {
      expect(ledger.reads).not.toBe(ledger);
      expect(await ledger.getExecutionByRunId(onPrimary)).not.toBeNull();
      expect(await ledger.reads.getExecutionByRunId(onPrimary)).toBeNull();
      expect(await ledger.reads.getExecutionByRunId(onReadDatabase)).not.toBeNull();
      expect(await ledger.reads.getProjectExecutionStats(project)).toMatchObject({
        total_executions: 2,
        total_cost: 42,
        by_agent: { 'read-agent': { count: 2, cost: 42 } },
      });
      expect(await ledger.getProjectExecutionStats(project)).toMatchObject({
        total_executions: 1,
        total_cost: 7,
      });
      // Not a standby: the read database is not in recovery, so its lag is 0.
      expect(await ledger.readLag()).toMatchObject({ source: 'primary', lag_ms: 0 });
    });

    it('sends statistics, lists and exports to the read database and states its lag; a run by id and appends stay on the primary', async () => {
      const get = (url: string) => app.inject({ method: 'GET', url, headers: { authorization } });
      const stats = await get(`/v1/projects/${project}/stats`);
      expect(stats.statusCode).toBe(200);
      expect(stats.json()).toMatchObject({ total_executions: 2, total_cost: 42 });
      expect(stats.headers['x-read-source']).toBe('primary');
      expect(stats.headers['x-read-lag-ms']).toBe('0');
      const list = await get(`/v1/projects/${project}/executions`);
      expect(list.json().data.map((run: { agent_id: string }) => run.agent_id)).toEqual([
        'read-agent',
        'read-agent',
      ]);
      expect(list.headers['x-read-lag-ms']).toBe('0');
      const agentList = await get(`/v1/agents/read-agent/executions?project_id=${project}`);
      expect(agentList.json().data).toHaveLength(2);
      const exported = await get(`/v1/projects/${project}/export?format=ndjson`);
      expect(exported.statusCode).toBe(200);
      expect(exported.body).toContain(onReadDatabase);
      expect(exported.body).not.toContain(onPrimary);
      expect(exported.headers['x-read-source']).toBe('primary');
      const series = await get(`/v1/projects/${project}/percentiles`);
      expect(series.statusCode, series.body).toBe(200);
      expect(series.headers['x-read-lag-ms']).toBe('0');

      // Read-your-writes: a run by id is read on the primary, and carries no lag header.
      const byId = await get(`/v1/executions/${onPrimary}`);
      expect(byId.statusCode).toBe(200);
      expect(byId.headers['x-read-lag-ms']).toBeUndefined();
      const appended = await app.inject({
        method: 'POST',
        url: '/v1/executions',
        headers: { authorization },
        payload: makeExecution(project, { agent_id: 'primary-agent' }),
      });
      expect(appended.statusCode).toBe(201);
      expect(await ledger.getProjectExecutionStats(project)).toMatchObject({ total_executions: 2 });
      expect((await get(`/v1/projects/${project}/stats`)).json().total_executions).toBe(2);

      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.body).toContain('execution_ledger_read_lag_seconds{source="primary"} 0');
    });
  },
);
