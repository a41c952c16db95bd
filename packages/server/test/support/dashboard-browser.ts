import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type Browser, chromium, type Page } from 'playwright-core';
import { describe } from 'vitest';

/** Debian's Chromium; the tests never let a tool download a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Browser suites run when Chromium is installed. Without it they are skipped with the reason,
 * unless REQUIRE_BROWSER is set (CI), where a missing browser must fail rather than pass quietly.
 */
export function describeWithBrowser(name: string, body: () => void): void {
  if (existsSync(CHROMIUM_PATH)) {
    describe(name, body);
    return;
  }
  if (process.env.REQUIRE_BROWSER !== undefined && process.env.REQUIRE_BROWSER !== '') {
    describe(name, () => {
      throw new Error(
        `REQUIRE_BROWSER is set but ${CHROMIUM_PATH} is missing: install Debian's chromium package`,
      );
    });
    return;
  }
  describe.skip(
    `${name} (skipped: ${CHROMIUM_PATH} is missing; install chromium, or set REQUIRE_BROWSER=1 to fail instead)`,
    body,
  );
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox', '--disable-gpu'] });
}

/** Console errors (CSP violations included) and failed requests of a page, collected as it is used. */
export function watchPage(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A download the test fetches itself is cancelled in the page on purpose.
    if (request.failure()?.errorText === 'net::ERR_ABORTED' && /\/export\?/.test(request.url())) return;
    problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return problems;
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's serious and critical violations on the page. It is evaluated through the browser's
 * debugging protocol, which the page's CSP does not govern, so the CSP stays as strict as served.
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  const loaded = await page.evaluate('typeof window.axe');
  if (loaded !== 'object') await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) =>
    r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => v.id + ': ' + v.help + ' (' + v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ') + ')'))`)) as string[];
  return violations;
}
