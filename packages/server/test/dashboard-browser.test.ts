import { ApiKeyStore, buildServer, serverBounds } from '@execution-ledger/server';
import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import { parse } from 'csv-parse/sync';
import type { ExecutionInput } from 'execution-ledger';
import { generateSigningKey } from 'execution-ledger/verify';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  describeWithBrowser,
  launchChromium,
  seriousViolations,
  watchPage,
} from './support/dashboard-browser.js';
import { paceVerifications } from './support/paced-verification.js';

const BROWSER_TEST_MS = 120_000;
const PAGES = ['/', '/runs', '/agents', '/failures', '/integrity'] as const;
const TOP_ROWS = serverBounds.DASHBOARD_TOP_ROWS;

/** A run with typed steps placed on a timeline: an LLM call, a tool and a failing external call. */
function tracedRun(projectId: string, overrides: Partial<ExecutionInput> = {}): ExecutionInput {
  return makeExecution(projectId, {
    cost: { total: 850, breakdown: { tokens: 300, toolCalls: 450, externalRequests: 100 } },
    execution_trace: {
      duration_ms: 900,
      steps: [
        {
          action: 'plan',
          kind: 'llm',
          model: 'model-small',
          started_ms: 0,
          duration_ms: 400,
          cost: 300,
          tokens: { input: 1000, output: 200 },
        },
        { action: 'search', kind: 'tool', name: 'web_search', started_ms: 400, duration_ms: 300, cost: 450 },
        {
          action: 'charge',
          kind: 'external',
          name: 'billing-api',
          started_ms: 720,
          duration_ms: 150,
          cost: 100,
          status: 'error',
          error: 'timeout after 150 ms',
        },
      ],
    },
    ...overrides,
  });
}

describeWithBrowser('dashboard in Chromium', () => {
  describeEachEngine('dashboard in Chromium', (engine) => {
    let app: FastifyInstance;
    let browser: Browser;
    let origin: string;
    let adminToken: string;
    let readAToken: string;
    let apiAuthorization: string;
    const ids = {
      a: '',
      b: '',
      parent: '',
      child: '',
      secondChild: '',
      grandchild: '',
      failed: '',
      runsOfB: [] as string[],
    };
    /** Today, as the custom range every comparison with the API uses. */
    const today = new Date().toISOString().slice(0, 10);
    const dayRange = () => {
      const start = new Date(`${today}T00:00:00Z`);
      return { start: start.toISOString(), end: new Date(start.getTime() + 86_400_000).toISOString() };
    };

    beforeAll(async () => {
      const ledger = engine.ledger;
      ids.a = engine.project('dash-a');
      ids.b = engine.project('dash-b');
      const parent = await ledger.recordExecution(
        tracedRun(ids.a, { agent_id: 'planner', user_id: 'user-ann' }),
      );
      ids.parent = parent.run_id;
      ids.child = (
        await ledger.recordExecution(tracedRun(ids.a, { agent_id: 'coder', parent_run_id: parent.run_id }))
      ).run_id;
      // A tree of four runs: parent → child → grandchild, and parent → second child.
      ids.grandchild = (
        await ledger.recordExecution(
          makeExecution(ids.a, { agent_id: 'tester', parent_run_id: ids.child, cost: 125.500001 }),
        )
      ).run_id;
      ids.secondChild = (
        await ledger.recordExecution(tracedRun(ids.a, { agent_id: 'reviewer', parent_run_id: parent.run_id }))
      ).run_id;
      ids.failed = (
        await ledger.recordExecution(
          tracedRun(ids.a, { agent_id: 'coder', status: 'failed', error_message: 'tests failed: 3 of 120' }),
        )
      ).run_id;
      await ledger.recordExecution(
        tracedRun(ids.a, { agent_id: 'coder', status: 'aborted', error_message: 'budget exceeded' }),
      );
      for (let index = 0; index < 3; index += 1)
        // Costs of their own, so the costliest users and runs have an order to get right.
        await ledger.recordExecution(
          makeExecution(ids.a, {
            user_id: `user-${index}`,
            cost: present([900, 1150.000001, 1400.000002][index]),
          }),
        );
      for (let index = 0; index < 3; index += 1) {
        ids.runsOfB.push(
          (
            await ledger.recordExecution(
              tracedRun(ids.b, { agent_id: 'secret-agent-b', error_message: null }),
            )
          ).run_id,
        );
      }
      await ledger.createCheckpoint({ privateKey: generateSigningKey('dashboard.test').signingKey });
      const store = new ApiKeyStore(ledger);
      adminToken = (await store.create({ name: 'dash admin', role: 'admin', projects: null })).token;
      readAToken = (await store.create({ name: 'dash reader of A', role: 'read', projects: [ids.a] })).token;
      apiAuthorization = `Bearer ${adminToken}`;
      app = await buildServer({ ledger, rateLimit: false });
      origin = await app.listen({ host: '127.0.0.1', port: 0 });
      browser = await launchChromium();
    }, BROWSER_TEST_MS);

    afterAll(async () => {
      await browser?.close();
      await app?.close();
    });

    async function api(path: string): Promise<unknown> {
      const response = await app.inject({
        method: 'GET',
        url: path,
        headers: { authorization: apiAuthorization },
      });
      expect(response.statusCode, path).toBe(200);
      return response.json();
    }

    async function signedIn(token: string, viewport = { width: 1280, height: 800 }) {
      const context: BrowserContext = await browser.newContext({ viewport });
      const page = await context.newPage();
      const problems = watchPage(page);
      await page.goto(`${origin}/`);
      expect(new URL(page.url()).pathname).toBe('/sign-in');
      await page.getByLabel('API key').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${origin}/`);
      return { context, page, problems };
    }

    const inA = (path: string, extra = '') =>
      `${origin}${path}?project=${encodeURIComponent(ids.a)}&range=custom&from=${today}&to=${today}${extra}`;

    it(
      'refuses a wrong key and a revoked key on the sign-in page with a message, not a stack',
      async () => {
        const store = new ApiKeyStore(engine.ledger);
        const revoked = await store.create({ name: 'dash revoked', role: 'read', projects: null });
        await store.revoke(revoked.id);
        const ingest = await store.create({ name: 'dash ingest', role: 'ingest', projects: null });
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${origin}/sign-in`);
        expect(await seriousViolations(page)).toEqual([]);
        for (const [token, expected] of [
          ['elk_000000000000_notarealkeyatall', /unknown or has been revoked/],
          [revoked.token, /unknown or has been revoked/],
          [ingest.token, /role ingest, which may only record runs/],
        ] as const) {
          await page.goto(`${origin}/sign-in`);
          await page.getByLabel('API key').fill(token);
          await page.getByRole('button', { name: 'Sign in' }).click();
          await expect.poll(() => page.getByRole('alert').textContent()).toMatch(expected);
          expect(await page.content()).not.toMatch(/at .+\.js:\d+/);
          expect((await context.cookies()).filter((cookie) => cookie.name === 'ledger_session')).toEqual([]);
        }
        await context.close();
      },
      BROWSER_TEST_MS,
    );

    it(
      'sets the session as a signed HttpOnly SameSite=Strict cookie and serves every page under the CSP without errors or serious axe violations',
      async () => {
        const { context, page, problems } = await signedIn(adminToken);
        const [cookie] = (await context.cookies()).filter((entry) => entry.name === 'ledger_session');
        expect(cookie?.httpOnly).toBe(true);
        expect(cookie?.sameSite).toBe('Strict');
        expect(cookie?.value).not.toContain(adminToken.slice(17));
        for (const path of [...PAGES, `/runs/${ids.parent}`]) {
          const response = await page.goto(path.startsWith('/runs/') ? `${origin}${path}` : inA(path));
          expect(response?.status(), path).toBe(200);
          expect(response?.headers()['content-security-policy'], path).toMatch(/script-src 'self'/);
          expect(await seriousViolations(page), path).toEqual([]);
        }
        // The overview's chart is drawn by uPlot from the package, under the CSP.
        await page.goto(inA('/'));
        await page.locator('.chart canvas').first().waitFor();
        expect(problems).toEqual([]);
        await context.close();
      },
      BROWSER_TEST_MS,
    );

    it(
      'shows on the overview, agents and failures pages the numbers the API gives for the same filter',
      async () => {
        const { context, page, problems } = await signedIn(adminToken);
        const { start, end } = dayRange();
        const range = `start=${start}&end=${end}`;
        const stats = (await api(`/v1/projects/${ids.a}/stats?${range}`)) as {
          total_executions: number;
          total_cost: number;
          failed: number;
          aborted: number;
          by_agent: Record<string, { count: number; cost: number }>;
        };
        const percentiles = (await api(`/v1/projects/${ids.a}/percentiles?${range}`)) as {
          cost: { p50: number; p95: number };
          duration_ms: { p50: number; p95: number };
        };
        await page.goto(inA('/'));
        const figure = async (name: string) =>
          Number(await page.locator(`[data-figure="${name}"] data`).first().getAttribute('value'));
        expect(await figure('total_cost')).toBe(stats.total_cost);
        expect(await figure('total_executions')).toBe(stats.total_executions);
        expect(await figure('failure_rate')).toBeCloseTo(
          (stats.failed + stats.aborted) / stats.total_executions,
          12,
        );
        expect(await figure('cost_p50')).toBe(percentiles.cost.p50);
        expect(await figure('cost_p95')).toBe(percentiles.cost.p95);
        expect(await figure('duration_p95')).toBe(percentiles.duration_ms.p95);
        const byTool = (await api(`/v1/projects/${ids.a}/costs/by-tool?${range}`)) as {
          top: { name: string; cost: number }[];
        };
        const toolCosts = await page
          .locator('#top-tools .amount data')
          .evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('value'))));
        expect(toolCosts).toEqual(byTool.top.map((tool) => tool.cost));
        const amounts = (list: string) =>
          page
            .locator(`#${list} .amount data`)
            .evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('value'))));
        const labels = (list: string) => page.locator(`#${list} li > a`).allTextContents();
        const byUser = (await api(`/v1/projects/${ids.a}/costs/by-user?${range}&limit=${TOP_ROWS}`)) as {
          data: { user_id: string; total_cost: number }[];
        };
        expect(byUser.data.length).toBeGreaterThan(1);
        expect(await amounts('top-users')).toEqual(byUser.data.map((user) => user.total_cost));
        expect(await labels('top-users')).toEqual(byUser.data.map((user) => user.user_id));
        const topRuns = (await api(`/v1/projects/${ids.a}/costs/top-runs?${range}&limit=${TOP_ROWS}`)) as {
          data: { run_id: string; agent_id: string; cost_json: { total: number } }[];
        };
        expect(topRuns.data.length).toBeGreaterThan(1);
        expect(await amounts('top-runs')).toEqual(topRuns.data.map((run) => run.cost_json.total));
        expect(await labels('top-runs')).toEqual(
          topRuns.data.map((run) => `${run.run_id} (${run.agent_id})`),
        );

        await page.goto(inA('/agents'));
        for (const [agent, figures] of Object.entries(stats.by_agent)) {
          const row = page.locator(`tr[data-agent="${agent}"]`);
          expect(Number(await row.locator('[data-figure="cost"] data').getAttribute('value'))).toBe(
            figures.cost,
          );
          expect(Number(await row.locator('[data-figure="count"] data').getAttribute('value'))).toBe(
            figures.count,
          );
        }
        await page.goto(inA('/failures'));
        const failed = (await api(
          `/v1/projects/${ids.a}/executions?status=failed&status=aborted&${range}`,
        )) as { total: number };
        expect(Number(await page.locator('#failures-total data').getAttribute('value'))).toBe(failed.total);
        expect(await page.locator('#failure-groups > li').count()).toBe(2);
        expect(problems).toEqual([]);
        await context.close();
      },
      BROWSER_TEST_MS,
    );

    it(
      'filters the runs table, opens a run from it, and draws one waterfall bar per step where the steps say',
      async () => {
        const { context, page, problems } = await signedIn(adminToken);
        await page.goto(inA('/runs'));
        // The label's name starts with "Status": the project list may hold an id with "status" in it.
        await page.getByRole('combobox', { name: /^Status/ }).selectOption('failed');
        await page.getByRole('button', { name: 'Show' }).click();
        await page.waitForURL(/status=failed/);
        const statuses = await page.locator('#runs-table tbody .status').allTextContents();
        expect(statuses).toEqual(['failed']);
        await page.locator('#runs-table tbody a').first().click();
        await page.waitForURL(new RegExp(`/runs/${ids.failed}`));
        const record = (await api(`/v1/executions/${ids.failed}`)) as {
          execution_trace_json: { steps: { started_ms: number; duration_ms: number; error?: string }[] };
          entry_hash: string;
          seq: number;
        };
        const bars = await page.locator('#waterfall rect').evaluateAll((rects) =>
          rects.map((rect) => ({
            started: Number(rect.getAttribute('data-started-ms')),
            duration: Number(rect.getAttribute('data-duration-ms')),
            error: rect.getAttribute('class') === 'bar-error',
          })),
        );
        expect(bars).toEqual(
          record.execution_trace_json.steps.map((step) => ({
            started: step.started_ms,
            duration: step.duration_ms,
            error: step.error !== undefined,
          })),
        );
        expect(await page.locator('[data-field="entry_hash"]').textContent()).toBe(record.entry_hash);
        expect(await page.locator('[data-field="checkpoint"]').textContent()).toMatch(
          /included in checkpoint \d+/,
        );
        await page.getByText('Input (JSON)').click();
        await expect.poll(() => page.locator('#run-input').isVisible()).toBe(true);
        // Lineage: the child's page shows the whole task (getRunTree) and its own subtree.
        await page.goto(`${origin}/runs/${ids.child}`);
        const tree = (await api(`/v1/runs/${ids.child}/tree`)) as {
          total_cost: number;
          node_count: number;
          nodes: { run_id: string; cost: number; subtree_cost: number }[];
        };
        expect(tree.node_count).toBe(4);
        const value = async (selector: string) =>
          Number(await page.locator(selector).first().getAttribute('value'));
        const micro = (cents: number) => Math.round(cents * 1_000_000);
        expect(await value('[data-field="tree_cost"] data')).toBe(tree.total_cost);
        expect(micro(tree.total_cost)).toBe(tree.nodes.reduce((sum, node) => sum + micro(node.cost), 0));
        const own = async (runId: string) =>
          Number(await page.locator(`#run-tree li[data-run-id="${runId}"]`).getAttribute('data-cost'));
        // This run and the runs below it: its own cost plus its child's, exactly.
        expect(micro(await value('[data-field="subtree_cost"] data'))).toBe(
          micro(await own(ids.child)) + micro(await own(ids.grandchild)),
        );
        expect(await value('[data-field="subtree_cost"] data')).toBe(
          tree.nodes.find((node) => node.run_id === ids.child)?.subtree_cost,
        );
        expect(await page.locator('#run-tree [aria-current="true"]').textContent()).toBe(ids.child);
        expect((await page.locator('#run-tree li a').allTextContents()).sort()).toEqual(
          [ids.parent, ids.secondChild, ids.grandchild].sort(),
        );
        // The parent's link, and from the parent's tree the second child's.
        await page.locator('#parent-link').click();
        await page.waitForURL(new RegExp(`/runs/${ids.parent}`));
        expect(await page.locator('[data-field="subtree_cost"] data').getAttribute('value')).toBe(
          String(tree.total_cost),
        );
        await page.locator(`#run-tree li[data-run-id="${ids.secondChild}"] > a`).click();
        await page.waitForURL(new RegExp(`/runs/${ids.secondChild}`));
        expect(await page.locator('#parent-link').textContent()).toBe(ids.parent);
        expect(problems).toEqual([]);
        await context.close();
      },
      BROWSER_TEST_MS,
    );

    it(
      'offers a CSV export link whose rows are the runs of the table, and verifies a project with progress',
      async () => {
        const { context, page, problems } = await signedIn(adminToken);
        await page.goto(inA('/runs', '&agent=coder'));
        const tableIds = await page
          .locator('#runs-table tbody tr')
          .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-run-id')));
        const href = present(await page.getByRole('link', { name: 'CSV' }).getAttribute('href'));
        const response = await context.request.get(`${origin}${href}`);
        expect(response.status()).toBe(200);
        const rows = parse(await response.text(), { columns: true }) as {
          run_id: string;
          agent_id: string;
        }[];
        expect(rows.map((row) => row.run_id).sort()).toEqual([...tableIds].sort());
        expect(rows.every((row) => row.agent_id === 'coder')).toBe(true);

        await page.goto(`${origin}/integrity`);
        const form = page.locator(`tr[data-project="${ids.a}"] form`);
        // Verification is paced so that the page is seen while it runs: held after each report.
        const paced = paceVerifications(engine.ledger);
        try {
          await form.getByRole('button').click();
          await paced.held();
          await expect
            .poll(() => form.locator('.verify-status').textContent())
            .toBe('verifying: 0 of 9 entries (0%), started by dash admin');
          expect(
            await form
              .locator('progress')
              .evaluate((bar) => [
                (bar as unknown as { value: number }).value,
                (bar as unknown as { max: number }).max,
              ]),
          ).toEqual([0, 9]);
          expect(await form.getByRole('button').isDisabled()).toBe(true);
          paced.release();
          await paced.held();
          await expect
            .poll(() => form.locator('.verify-status').textContent())
            .toBe('verifying: 9 of 9 entries (100%), started by dash admin');
          paced.release();
          // Then the result, after the page reloads.
          await expect
            .poll(() => page.locator(`tr[data-project="${ids.a}"] [data-field="verification"]`).textContent())
            .toMatch(/chain intact: 9 entries/);
        } finally {
          paced.restore();
        }
        await page.goto(`${origin}/runs/${ids.parent}`);
        expect(await page.locator('[data-field="chain"]').textContent()).toMatch(
          /verified through this entry/,
        );
        expect(problems).toEqual([]);
        await context.close();
      },
      BROWSER_TEST_MS,
    );

    it(
      "shows a key bound to one project nothing of another project's on any page, link or export",
      async () => {
        const { context, page, problems } = await signedIn(readAToken);
        const secrets = [ids.b, 'secret-agent-b', ...ids.runsOfB];
        for (const path of [...PAGES, `/runs/${ids.parent}`]) {
          await page.goto(`${origin}${path}`);
          const html = await page.content();
          expect(
            secrets.filter((secret) => html.includes(secret)),
            path,
          ).toEqual([]);
        }
        // Asking for the other project by name is refused, as the API refuses it.
        for (const path of ['/', '/runs', '/agents', '/failures']) {
          const response = await page.goto(`${origin}${path}?project=${encodeURIComponent(ids.b)}`);
          expect(response?.status(), path).toBe(403);
          expect(await page.getByRole('alert').textContent()).toMatch(/not bound to project/);
        }
        const other = await page.goto(`${origin}/runs/${present(ids.runsOfB[0])}`);
        expect(other?.status()).toBe(404);
        expect(await page.content()).not.toContain('secret-agent-b');
        // A read key gets no export link, and the export route refuses it like the API does.
        await page.goto(`${origin}/runs`);
        expect(await page.getByRole('link', { name: 'CSV' }).count()).toBe(0);
        expect((await context.request.get(`${origin}/export?format=csv`)).status()).toBe(403);
        problems.length = 0;
        await context.close();
      },
      BROWSER_TEST_MS,
    );

    it(
      'fits a phone-width screen and signs out, after which the old cookie no longer opens a page',
      async () => {
        const { context, page, problems } = await signedIn(adminToken, { width: 390, height: 844 });
        for (const path of PAGES) {
          await page.goto(inA(path));
          const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
          expect(overflow, path).toBeLessThanOrEqual(1);
        }
        const cookies = await context.cookies();
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.waitForURL(/\/sign-in\?signed_out=1/);
        expect(await page.getByRole('status').textContent()).toMatch(/signed out/);
        // Replaying the cookie from before signing out: the session is over on the server too.
        await context.addCookies(cookies);
        await page.goto(`${origin}/runs`);
        expect(new URL(page.url()).pathname).toBe('/sign-in');
        expect(problems).toEqual([]);
        await context.close();
      },
      BROWSER_TEST_MS,
    );
  });
});
