import { randomUUID } from 'node:crypto';
import { ApiKeyStore, buildServer } from '@execution-ledger/server';
import {
  describeEachEngine,
  expectLedgerError,
  makeExecution,
  present,
} from '@execution-ledger/test-support';
import { generateSigningKey } from 'execution-ledger/verify';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';

/** The session cookie of a sign-in answer, as a Cookie header. */
function sessionOf(response: LightMyRequestResponse): string {
  const cookie = present(response.cookies.find((entry) => entry.name === 'ledger_session'));
  return `ledger_session=${cookie.value}`;
}

function signInForm(key: string, next?: string) {
  return {
    method: 'POST' as const,
    url: '/sign-in',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ key, ...(next === undefined ? {} : { next }) }).toString(),
  };
}

/** An error page: its status, the code it names, and no stack trace anywhere in it. */
function expectErrorPage(response: LightMyRequestResponse, status: number, code: string, message: RegExp) {
  expect(response.statusCode, response.body.slice(0, 300)).toBe(status);
  expect(response.headers['content-type']).toMatch(/^text\/html/);
  expect(response.body).toContain(`data-code="${code}"`);
  expect(response.body).toMatch(message);
  expect(response.body).not.toMatch(/\bat .+\.[jt]s:\d+:\d+/);
}

describeEachEngine('dashboard pages over HTTP', (context) => {
  let app: FastifyInstance;
  let store: ApiKeyStore;
  let projectId: string;
  let hostileRunId: string;
  let session: string;
  let adminToken: string;

  beforeAll(async () => {
    projectId = context.project('dash-pages');
    const hostile = '<script>alert(1)</script>"onmouseover="x';
    hostileRunId = `run-${randomUUID()}-${hostile}`;
    await context.ledger.recordExecution(
      makeExecution(projectId, { run_id: hostileRunId, agent_id: `agent-${hostile}`, intent: hostile }),
    );
    app = await buildServer({ ledger: context.ledger });
    await app.ready();
    store = new ApiKeyStore(context.ledger);
    adminToken = (await store.create({ name: 'pages admin', role: 'admin', projects: null })).token;
    session = sessionOf(await app.inject(signInForm(adminToken)));
  });
  afterAll(async () => {
    await app?.close();
  });

  const get = (url: string, cookie: string | null = session) =>
    app.inject({ method: 'GET', url, headers: cookie === null ? {} : { cookie } });

  it('sends a request without a session to the sign-in page, under the CSP, remembering where it was going', async () => {
    const response = await get('/runs?status=failed', null);
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe(`/sign-in?next=${encodeURIComponent('/runs?status=failed')}`);
    expect(response.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
    const signIn = await get('/sign-in', null);
    expect(signIn.statusCode).toBe(200);
    expect(signIn.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(signIn.body).not.toMatch(/<script>|style="/);
  });

  it('signs in to a signed HttpOnly SameSite=Strict cookie that holds the key id, not the key, and returns to a local path only', async () => {
    const response = await app.inject(signInForm(adminToken, '/agents'));
    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/agents');
    const cookie = present(response.cookies.find((entry) => entry.name === 'ledger_session'));
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Strict');
    expect(cookie.path).toBe('/');
    // The whole 43-character secret: base64url text may itself hold '_', so no split on it.
    const secret = present(/^elk_[a-z0-9]{12}_([A-Za-z0-9_-]{43})$/.exec(adminToken)?.[1]);
    expect(cookie.value).not.toContain(secret);
    for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
      expect((await app.inject(signInForm(adminToken, next))).headers.location, next).toBe('/');
    }
  });

  it('treats a tampered cookie and a revoked key as no session, and says the session ended', async () => {
    const tampered = session.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
    const refused = await get('/', tampered);
    expect(refused.statusCode).toBe(303);
    expect(refused.headers.location).toMatch(/^\/sign-in\?next=%2F&ended=1$/);
    const reader = await store.create({ name: 'pages soon revoked', role: 'read', projects: [projectId] });
    const readerSession = sessionOf(await app.inject(signInForm(reader.token)));
    expect((await get('/', readerSession)).statusCode).toBe(200);
    await store.revoke(reader.id);
    const after = await get('/', readerSession);
    expect(after.statusCode).toBe(303);
    expect((await get(present(after.headers.location as string), null)).body).toMatch(/session has ended/);
  });

  it('escapes every value a run carries, in lists, titles and links', async () => {
    const runs = await get(`/runs?project=${encodeURIComponent(projectId)}&range=24h`);
    const run = await get(`/runs/${encodeURIComponent(hostileRunId)}`);
    for (const page of [runs, run]) {
      expect(page.statusCode).toBe(200);
      expect(page.body).not.toContain('<script>alert(1)');
      expect(page.body).not.toContain('"onmouseover="x');
      expect(page.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;onmouseover=&quot;x');
    }
  });

  it('refuses each bad page parameter with a page naming the field, and changes nothing', async () => {
    const p = `project=${encodeURIComponent(projectId)}`;
    const cases: [string, number, string, RegExp][] = [
      [
        `/?${p}&tz=Mars/Olympus_Mons`,
        400,
        'VALIDATION_FAILED',
        /tz &quot;Mars\/Olympus_Mons&quot; is not a time zone/,
      ],
      [`/?${p}&range=forever`, 400, 'VALIDATION_FAILED', /range must be one of today, 24h/],
      [
        `/runs?${p}&range=custom&to=2026-12-01`,
        400,
        'VALIDATION_FAILED',
        /from must be a date such as 2026-12-01/,
      ],
      [
        `/runs?${p}&range=custom&from=2026-12-05&to=2026-12-01`,
        400,
        'VALIDATION_FAILED',
        /to must be on or after from/,
      ],
      [
        `/runs?${p}&status=done`,
        400,
        'VALIDATION_FAILED',
        /status must be one of completed, failed, aborted/,
      ],
      [`/?${p}&group=galaxy`, 400, 'VALIDATION_FAILED', /group must be one of agent, model, tool, user/],
      [
        `/export?${p}&format=xml`,
        400,
        'VALIDATION_FAILED',
        /format &quot;xml&quot; is not an export format; use one of csv, ndjson/,
      ],
      ['/runs/no-such-run', 404, 'NOT_FOUND', /no run with run_id &quot;no-such-run&quot; is visible/],
      ['/assets/secrets.txt', 404, 'NOT_FOUND', /no asset secrets.txt/],
    ];
    for (const [url, status, code, message] of cases) expectErrorPage(await get(url), status, code, message);
  });

  it('refuses a sign-in form larger than a key could be, and a session secret too short to sign with', async () => {
    const response = await app.inject(signInForm('x'.repeat(5_000)));
    expectErrorPage(response, 413, 'PAYLOAD_TOO_LARGE', /./);
    const error = await expectLedgerError(
      buildServer({ ledger: context.ledger, dashboard: { sessionSecret: 'short' } }),
      'VALIDATION_FAILED',
      'sessionSecret',
    );
    expect(error.message).toMatch(/at least 32 characters/);
  });

  it('serves the assets compressed when the browser accepts gzip, and unchanged ones as 304', async () => {
    const plain = await app.inject({ method: 'GET', url: '/assets/uPlot.iife.min.js' });
    const zipped = await app.inject({
      method: 'GET',
      url: '/assets/uPlot.iife.min.js',
      headers: { 'accept-encoding': 'gzip, br' },
    });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.rawPayload.length).toBeLessThan(plain.rawPayload.length / 2);
    const again = await app.inject({
      method: 'GET',
      url: '/assets/uPlot.iife.min.js',
      headers: { 'if-none-match': String(plain.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
  });

  it('checks checkpoint signatures with the configured public key when verifying, and refuses a malformed key at start', async () => {
    const signer = generateSigningKey('pages.example');
    const stranger = generateSigningKey('pages.example');
    await context.ledger.createCheckpoint({ privateKey: signer.signingKey });
    const verify = async (publicKey: string) => {
      const server = await buildServer({ ledger: context.ledger, dashboard: { publicKey } });
      try {
        const cookie = sessionOf(await server.inject(signInForm(adminToken)));
        const response = await server.inject({
          method: 'POST',
          url: '/integrity/verify',
          headers: { cookie, accept: 'application/json' },
          payload: { project: projectId },
        });
        expect(response.statusCode).toBe(200);
        return (response.json() as { report: { checkpoint: { signature: string } } }).report.checkpoint
          .signature;
      } finally {
        await server.close();
      }
    };
    expect(await verify(signer.publicKeyText)).toBe('valid');
    expect(await verify(stranger.publicKeyText)).not.toBe('valid');
    await expectLedgerError(
      buildServer({ ledger: context.ledger, dashboard: { publicKey: 'not a key' } }),
      'INVALID_KEY',
    );
  });

  it('shows zeros and says why for a range without runs', async () => {
    const empty = context.project('dash-empty');
    const reader = await store.create({ name: 'pages empty', role: 'read', projects: [empty] });
    const readerSession = sessionOf(await app.inject(signInForm(reader.token)));
    const page = await get('/', readerSession);
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/No runs were recorded in this range, so every figure below is zero/);
    expect(page.body).toContain('<dd data-figure="total_executions"><data value="0">0</data></dd>');
    expect(page.body).toMatch(/No spend in this range/);
  });
});
