import { randomUUID } from 'node:crypto';
import { ENGINES, makeExecution } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { afterAll, describe, expect, it } from 'vitest';
import { cliDatabase, SERVE_PROCESS_TEST_MS, startServe } from './support/cli-process.js';

const APPENDS = 200;

describe.each(ENGINES)('execution-ledger serve on SIGTERM [%s]', (engine) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it(
    'finishes the appends in flight: every 2xx answer is in the ledger and the chain verifies',
    async () => {
      const database = await cliDatabase(engine);
      cleanups.push(database.cleanup);
      const adminKey = `shutdown-test-${randomUUID()}`;
      const server = await startServe(['--database', database.target], {
        EXECUTION_LEDGER_ADMIN_KEY: adminKey,
      });
      const project = `proj-${randomUUID()}`;
      let signalled = false;
      let answeredBeforeSignal = 0;
      const appends = Array.from({ length: APPENDS }, async () => {
        const execution = makeExecution(project);
        try {
          const response = await fetch(`${server.url}/v1/executions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
            body: JSON.stringify(execution),
          });
          await response.arrayBuffer();
          if (!signalled) {
            // Signal as soon as the first append is acknowledged: the rest are still in flight.
            signalled = true;
            answeredBeforeSignal = 1;
            server.child.kill('SIGTERM');
          }
          return { runId: execution.run_id, status: response.status };
        } catch {
          return { runId: execution.run_id, status: 0 };
        }
      });
      const results = await Promise.all(appends);
      expect(await server.exited).toBe(0);

      const acknowledged = results.filter((result) => result.status >= 200 && result.status < 300);
      expect(answeredBeforeSignal).toBe(1);
      expect(acknowledged.length).toBeGreaterThan(1);
      expect(
        results.every((result) => result.status === 0 || result.status === 201 || result.status === 503),
      ).toBe(true);
      const ledger = createLedger({ database: database.target });
      try {
        for (const { runId } of acknowledged) {
          expect((await ledger.getExecutionByRunId(runId))?.project_id).toBe(project);
        }
        const report = await ledger.verifyLedger(project);
        expect(report.ok).toBe(true);
        expect(report.entries_checked).toBeGreaterThanOrEqual(acknowledged.length);
      } finally {
        await ledger.close();
      }
    },
    SERVE_PROCESS_TEST_MS,
  );
});
