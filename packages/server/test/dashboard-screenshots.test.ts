import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_KEY_MIGRATIONS, ApiKeyStore, buildServer } from '@execution-ledger/server';
import { present } from '@execution-ledger/test-support';
import { createLedger, type Ledger } from 'execution-ledger';
import { generateSigningKey } from 'execution-ledger/verify';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from './support/cli-process.js';
import { describeWithBrowser, launchChromium, watchPage } from './support/dashboard-browser.js';

const SCREENSHOT_TEST_MS = 240_000;
/** Set to write the pictures of docs/dashboard.md into docs/images; otherwise they go to a temporary folder. */
const WRITE_DOCS = process.env.DASHBOARD_SCREENSHOTS === 'docs';
const DOCS_IMAGES = fileURLToPath(new URL('../../../docs/images/', import.meta.url));
/** A small picture: the first screen of each page at a laptop's width. */
const VIEWPORT = { width: 1280, height: 800 };

// The pictures show what `execution-ledger demo` records, so they are made from the CLI's own
// demo in an embedded folder: one engine is enough, the pages are the same on both.
describeWithBrowser('dashboard screenshots on the demo data', () => {
  let folder: string;
  let ledger: Ledger;
  let app: FastifyInstance;
  let browser: Browser;
  let origin: string;
  let token: string;
  let outDir: string;

  beforeAll(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'execution-ledger-screens-'));
    const demo = await runCli(['--database', folder, 'demo', '--runs', '600']);
    expect(demo.code, demo.stderr).toBe(0);
    ledger = createLedger({ database: folder, migrationSets: [API_KEY_MIGRATIONS] });
    token = (await new ApiKeyStore(ledger).create({ name: 'demo admin', role: 'admin', projects: null }))
      .token;
    // As an operator would after the demo: sign a checkpoint, so runs show the one that covers them.
    await ledger.createCheckpoint({ privateKey: generateSigningKey('demo.example').signingKey });
    app = await buildServer({ ledger });
    origin = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
    outDir = WRITE_DOCS ? DOCS_IMAGES : await mkdtemp(path.join(tmpdir(), 'execution-ledger-shots-'));
    await mkdir(outDir, { recursive: true });
  }, SCREENSHOT_TEST_MS);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await ledger?.close();
    await rm(folder, { recursive: true, force: true });
    if (!WRITE_DOCS && outDir !== undefined) await rm(outDir, { recursive: true, force: true });
  });

  it(
    'takes a picture of every page, each without console errors or failed requests',
    async () => {
      const context = await browser.newContext({ viewport: VIEWPORT });
      const page = await context.newPage();
      const problems = watchPage(page);
      await page.goto(`${origin}/sign-in`);
      await page.screenshot({ path: path.join(outDir, 'dashboard-sign-in.png') });
      await page.getByLabel('API key').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${origin}/`);
      // Verify the first project through the page, so the integrity page and the runs show a verification.
      await page.goto(`${origin}/integrity`);
      await page.locator('tr[data-project="proj-001"] form button').click();
      await expect
        .poll(() => page.locator('tr[data-project="proj-001"] [data-field="verification"]').textContent())
        .toMatch(/chain intact/);
      const shots: [string, string][] = [
        ['dashboard-overview.png', '/?project=proj-001&range=today'],
        ['dashboard-runs.png', '/runs?project=proj-001&range=today'],
        ['dashboard-agents.png', '/agents?project=proj-001&range=today'],
        ['dashboard-failures.png', '/failures?project=proj-001&range=today'],
        ['dashboard-integrity.png', '/integrity'],
      ];
      for (const [file, url] of shots) {
        await page.goto(`${origin}${url}`);
        if (file === 'dashboard-overview.png') await page.locator('.chart canvas').first().waitFor();
        await page.screenshot({ path: path.join(outDir, file) });
      }
      await page.goto(`${origin}/runs?project=proj-001&range=today&status=failed`);
      await page.locator('#runs-table tbody a').first().click();
      await page.waitForURL(/\/runs\/.+/);
      await page.locator('#trace-title').scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(outDir, 'dashboard-run.png'), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${origin}/?project=proj-001&range=today`);
      await page.screenshot({ path: path.join(outDir, 'dashboard-phone.png') });
      expect(problems).toEqual([]);
      for (const [file] of [
        ...shots,
        ['dashboard-run.png'],
        ['dashboard-phone.png'],
        ['dashboard-sign-in.png'],
      ]) {
        expect((await stat(path.join(outDir, present(file)))).size, file).toBeGreaterThan(1_000);
      }
      await context.close();
    },
    SCREENSHOT_TEST_MS,
  );
});
