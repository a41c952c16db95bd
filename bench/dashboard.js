// The dashboard's cost per page: server time (p50, p95) and bytes sent for each page, beside the
// API call(s) that give that page's numbers (the baseline, as a ratio page / API); the scripts'
// compressed size; first contentful paint in headless Chromium. Prints a table and writes JSON to
// bench/results/.
//
// Data: by default a fresh embedded folder filled by `execution-ledger demo --runs N`
// (BENCH_DASHBOARD_RUNS, default 3000). With BENCH_DATABASE_URL it reads an existing database and
// writes nothing to it: give an API key of role admin (BENCH_API_KEY) and the project
// (BENCH_PROJECT). Iterations per page: BENCH_ITERATIONS (default 20).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createLedger } from 'execution-ledger';
import { generateSigningKey } from 'execution-ledger/verify';
import { API_KEY_MIGRATIONS, ApiKeyStore, buildServer } from '../packages/server/dist/index.js';
import { formatTable, machineFacts, percentile } from './report.js';

const CLI = fileURLToPath(new URL('../packages/server/dist/cli/main.js', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20);
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 3000);
const DATABASE_URL = process.env.BENCH_DATABASE_URL;

async function openData() {
  if (DATABASE_URL !== undefined) {
    const key = process.env.BENCH_API_KEY;
    const project = process.env.BENCH_PROJECT;
    if (key === undefined || project === undefined) {
      console.error(
        'with BENCH_DATABASE_URL, set BENCH_API_KEY (an admin key) and BENCH_PROJECT: the bench writes nothing there',
      );
      process.exit(1);
    }
    const ledger = createLedger({
      database: DATABASE_URL,
      migrate: false,
      migrationSets: [API_KEY_MIGRATIONS],
    });
    return { ledger, key, project, runs: 'existing', cleanup: () => undefined, engine: 'postgres' };
  }
  const folder = mkdtempSync(path.join(os.tmpdir(), 'execution-ledger-bench-dashboard-'));
  execFileSync(process.execPath, [CLI, '--database', folder, 'demo', '--runs', String(RUNS), '--json'], {
    stdio: 'ignore',
  });
  const ledger = createLedger({ database: folder, migrationSets: [API_KEY_MIGRATIONS] });
  const created = await new ApiKeyStore(ledger).create({ name: 'bench', role: 'admin', projects: null });
  // A signed checkpoint, so the run page and its baseline read an inclusion proof as in production.
  await ledger.createCheckpoint({ privateKey: generateSigningKey('bench.dashboard').signingKey });
  return {
    ledger,
    key: created.token,
    project: 'proj-001',
    runs: RUNS,
    cleanup: () => rmSync(folder, { recursive: true, force: true }),
    engine: 'pglite',
  };
}

/** Wall time of one request over loopback, in ms, and the bytes of its body as sent. */
async function timed(url, headers) {
  const begin = performance.now();
  const response = await fetch(url, { headers, redirect: 'manual' });
  const body = Buffer.from(await response.arrayBuffer());
  const ms = performance.now() - begin;
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return { ms, bytes: body.length, body };
}

async function measure(fn) {
  await fn(); // warm-up: prepared statements, caches
  const times = [];
  let bytes = 0;
  for (let index = 0; index < ITERATIONS; index += 1) {
    const begin = performance.now();
    bytes = await fn();
    times.push(performance.now() - begin);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p95: percentile(times, 0.95), bytes };
}

/** The API calls whose answers a page shows (the overview's top users and runs have no route). */
function apiCalls(project, range, runId, agents) {
  const p = `/v1/projects/${encodeURIComponent(project)}`;
  const now = Date.now();
  const day = 86_400_000;
  const span = (from, to) => `start=${new Date(from).toISOString()}&end=${new Date(to).toISOString()}`;
  const tiles = [1, 7, 30].flatMap((days) => [
    `${p}/stats?${span(now - days * day, now)}`,
    `${p}/stats?${span(now - 2 * days * day, now - days * day)}`,
  ]);
  return {
    '/': [
      `${p}/stats?${range}`,
      `${p}/percentiles?${range}`,
      `${p}/timeseries?bucket=day&group_by=agent&${range}`,
      `${p}/costs/by-tool?${range}`,
      `${p}/costs/by-model?${range}`,
      ...tiles,
    ],
    '/runs': [`${p}/executions?limit=50&${range}`],
    [`/runs/${runId}`]: [`/v1/executions/${encodeURIComponent(runId)}`, `${p}/proof`],
    '/agents': [
      `${p}/stats?${range}`,
      ...agents.flatMap((agent) => [
        `${p}/percentiles?agent_id=${agent}&${range}`,
        `/v1/agents/${agent}/executions?project_id=${project}&status=failed&status=aborted&limit=1&${range}`,
        `${p}/timeseries?bucket=day&agent_id=${agent}&${range}`,
      ]),
    ],
    '/failures': [`${p}/executions?status=failed&status=aborted&limit=500&${range}`],
    '/integrity': ['/v1/checkpoints/latest'],
  };
}

async function firstContentfulPaint(origin, key, pages) {
  if (!existsSync(CHROMIUM)) return Object.fromEntries(pages.map((page) => [page, 'no chromium']));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${origin}/sign-in`);
  await page.fill('#key', key);
  await page.click('button[type=submit]');
  await page.waitForURL(`${origin}/`);
  const results = {};
  for (const url of pages) {
    const paints = [];
    for (let index = 0; index < 5; index += 1) {
      await page.goto(`${origin}${url}`, { waitUntil: 'load' });
      // The paint entry may be queued after load: wait for it through a buffered observer.
      paints.push(
        await page.evaluate(
          () =>
            new Promise((resolve) => {
              new PerformanceObserver((list) => {
                const entry = list.getEntriesByName('first-contentful-paint')[0];
                if (entry !== undefined) resolve(entry.startTime);
              }).observe({ type: 'paint', buffered: true });
              setTimeout(() => resolve(-1), 5_000);
            }),
        ),
      );
    }
    paints.sort((a, b) => a - b);
    results[url] = Math.round(paints[2]);
  }
  await browser.close();
  return results;
}

async function main() {
  const data = await openData();
  const app = await buildServer({ ledger: data.ledger, rateLimit: false });
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    const signIn = await fetch(`${origin}/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: data.key }).toString(),
      redirect: 'manual',
    });
    const cookie = signIn.headers.get('set-cookie')?.split(';')[0];
    if (signIn.status !== 303 || cookie === undefined) throw new Error(`sign-in answered ${signIn.status}`);
    const pageHeaders = { cookie, 'accept-encoding': 'gzip' };
    const apiHeaders = { authorization: `Bearer ${data.key}` };
    const now = Date.now();
    const range = `start=${new Date(now - 7 * 86_400_000).toISOString()}&end=${new Date(now).toISOString()}`;
    const newest = await data.ledger.listExecutions({ projectId: data.project }, { limit: 1 });
    const runId = newest.data[0]?.run_id;
    const stats = await data.ledger.getProjectExecutionStats(
      data.project,
      new Date(now - 7 * 86_400_000),
      new Date(now),
    );
    const agents = Object.entries(stats.by_agent)
      .sort((a, b) => b[1].cost - a[1].cost)
      .slice(0, 10)
      .map(([agent]) => agent);
    const calls = apiCalls(data.project, range, runId, agents);
    const rows = [];
    for (const [page, api] of Object.entries(calls)) {
      const pageUrl = `${origin}${page}${page.startsWith('/runs/') ? '' : `?project=${encodeURIComponent(data.project)}&range=7d`}`;
      const pageFigures = await measure(async () => (await timed(pageUrl, pageHeaders)).bytes);
      const apiFigures = await measure(async () => {
        const answers = await Promise.all(api.map((call) => timed(`${origin}${call}`, apiHeaders)));
        return answers.reduce((sum, answer) => sum + answer.bytes, 0);
      });
      rows.push({
        page,
        page_p50_ms: pageFigures.p50,
        page_p95_ms: pageFigures.p95,
        api_calls: api.length,
        api_p50_ms: apiFigures.p50,
        api_p95_ms: apiFigures.p95,
        ratio_p50: Math.round((pageFigures.p50 / Math.max(apiFigures.p50, 0.01)) * 100) / 100,
        page_kb: Math.round(pageFigures.bytes / 102.4) / 10,
        api_kb: Math.round(apiFigures.bytes / 102.4) / 10,
      });
    }
    const assets = {};
    for (const name of ['dashboard.js', 'uPlot.iife.min.js', 'dashboard.css', 'uPlot.min.css']) {
      const response = await fetch(`${origin}/assets/${name}`, {
        headers: { 'accept-encoding': 'identity' },
      });
      const body = Buffer.from(await response.arrayBuffer());
      assets[name] = { bytes: body.length, gzip_bytes: gzipSync(body, { level: 9 }).length };
    }
    const scriptGzipKb =
      Math.round(((assets['dashboard.js'].gzip_bytes + assets['uPlot.iife.min.js'].gzip_bytes) / 1024) * 10) /
      10;
    const assetsGzipKb =
      Math.round((Object.values(assets).reduce((sum, a) => sum + a.gzip_bytes, 0) / 1024) * 10) / 10;
    const fcp = await firstContentfulPaint(
      origin,
      data.key,
      Object.keys(calls).map((page) =>
        page.startsWith('/runs/') ? page : `${page}?project=${encodeURIComponent(data.project)}&range=7d`,
      ),
    );
    const fcpRows = Object.values(fcp);
    rows.forEach((row, index) => {
      row.first_load_kb = Math.round((row.page_kb + assetsGzipKb) * 10) / 10;
      row.fcp_ms = fcpRows[index];
    });
    console.log(
      `bench:dashboard on ${data.engine}, ${data.runs} runs, project ${data.project}, ${ITERATIONS} iterations per page\n`,
    );
    console.log(formatTable(rows));
    console.log(
      `\nscripts, gzip: ${scriptGzipKb} KB (dashboard.js ${assets['dashboard.js'].gzip_bytes} B, uPlot ${assets['uPlot.iife.min.js'].gzip_bytes} B); all assets, gzip: ${assetsGzipKb} KB`,
    );
    console.log(
      'page_kb: the HTML as sent; first_load_kb adds every asset (cached afterwards); fcp_ms: median of 5 loads',
    );
    const resultsDir = fileURLToPath(new URL('results/', import.meta.url));
    mkdirSync(resultsDir, { recursive: true });
    const file = path.join(resultsDir, `dashboard-${Date.now()}.json`);
    writeFileSync(
      file,
      `${JSON.stringify({ machine: machineFacts(), engine: data.engine, runs: data.runs, iterations: ITERATIONS, pages: rows, assets, script_gzip_kb: scriptGzipKb }, null, 2)}\n`,
    );
    console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  } finally {
    await app.close();
    await data.ledger.close();
    data.cleanup();
  }
}

await main();
