import { randomUUID } from 'node:crypto';
import { prepareServerDatabase, present } from '@execution-ledger/test-support';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { runCli, startServe } from './support/cli-process.js';

const ownerUrl = process.env.TEST_OWNER_DATABASE_URL;
const runtimeUrl = process.env.TEST_DATABASE_URL;
const runtimeRole = runtimeUrl === undefined ? '' : decodeURIComponent(new URL(runtimeUrl).username);
const ownerRole = ownerUrl === undefined ? '' : decodeURIComponent(new URL(ownerUrl).username);

// Needs two login roles on a server; the embedded engine has one superuser connection, which
// serve accepts (npm start), as cli-commands.test.ts shows.
describe.skipIf(ownerUrl === undefined || runtimeUrl === undefined)(
  'serve and migrate with two roles [postgres]',
  () => {
    it('refuses to serve as the owner with PRIVILEGED_ROLE (exit 6), saying how to set up the runtime role', async () => {
      await prepareServerDatabase();
      const refused = await runCli(['--database', present(ownerUrl), 'serve', '--port', '0']);
      expect(refused.code).toBe(6);
      expect(refused.stderr).toContain(
        `PRIVILEGED_ROLE: the service connects as role ${ownerRole}, which owns`,
      );
      expect(refused.stderr).toContain('--grant-runtime ledger_runtime');
      expect(refused.stderr).toContain('--allow-privileged-role');
    });

    it('refuses a superuser too, and serves as the owner only when told, with a warning', async () => {
      const admin = present(process.env.TEST_ADMIN_DATABASE_URL);
      const refused = await runCli(['--database', admin, 'serve', '--port', '0']);
      expect(refused.code).toBe(6);
      expect(refused.stderr).toContain('is a superuser');
      const server = await startServe(['--database', present(ownerUrl)], {}, ['--allow-privileged-role']);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    });

    it('serves as the runtime role, which finds the schema current without migrating', async () => {
      await prepareServerDatabase();
      const server = await startServe(['--database', present(runtimeUrl)], {}, []);
      expect(await (await fetch(`${server.url}/readyz`)).json()).toMatchObject({ ready: true });
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    });

    it('grants the runtime roles once with migrate --grant-runtime, and refuses to grant them to the owner', async () => {
      const again = await runCli([
        '--database',
        present(ownerUrl),
        'migrate',
        '--grant-runtime',
        runtimeRole,
      ]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(`role ${runtimeRole} already holds the runtime roles`);
      const owner = await runCli(['--database', present(ownerUrl), 'migrate', '--grant-runtime', ownerRole]);
      expect(owner.code).toBe(6);
      expect(owner.stderr).toContain(`PRIVILEGED_ROLE: role ${ownerRole} owns`);
      const missing = await runCli([
        '--database',
        present(ownerUrl),
        'migrate',
        '--grant-runtime',
        'no_such_role_here',
      ]);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain('role "no_such_role_here" does not exist; create it first');
    });

    it('refuses to migrate a fresh database as the runtime role with SCHEMA_OUT_OF_DATE (exit 6), naming the fix', async () => {
      const name = `ledger_roles_${randomUUID().replaceAll('-', '')}`;
      const admin = new pg.Client({ connectionString: process.env.TEST_ADMIN_DATABASE_URL });
      await admin.connect();
      await admin.query(`create database ${name} owner ${ownerRole}`);
      try {
        const url = new URL(present(runtimeUrl));
        url.pathname = `/${name}`;
        const refused = await runCli(['--database', url.toString(), 'serve', '--port', '0']);
        expect(refused.code).toBe(6);
        expect(refused.stderr).toContain(`SCHEMA_OUT_OF_DATE: the ledger schema needs 0001_executions.sql`);
        expect(refused.stderr).toContain(`role ${runtimeRole} cannot migrate it`);
        expect(refused.stderr).toContain(
          'run `execution-ledger migrate --database <URL of the owner>` as the owner',
        );
      } finally {
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.end();
      }
    });
  },
);
