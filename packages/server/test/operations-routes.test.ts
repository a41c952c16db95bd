import { Writable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { buildServer, serverBounds } from '@execution-ledger/server';
import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import { createLedger } from 'execution-ledger';
import { loadMigrations } from 'execution-ledger/database';
import { expect, it } from 'vitest';
import { countStored, useServer } from './support/server-harness.js';

/** The newest migration shipped: the schema version a migrated database reports. */
const LATEST = Math.max(...(await loadMigrations()).map((migration) => migration.id));

const logLines: string[] = [];
const logStream = new Writable({
  write(chunk, _encoding, callback) {
    logLines.push(String(chunk));
    callback();
  },
});

describeEachEngine('HTTP keys, errors and operations', (context) => {
  const operatorKey = `operator-${'k'.repeat(40)}`;
  const server = useServer(context, { adminKey: operatorKey, logger: { level: 'info', stream: logStream } });
  const limited = useServer(context, { rateLimit: { requestsMax: 2, windowMs: 60_000 } });

  it('creates a key whose text is shown once, lists keys without secrets, and revokes for good', async () => {
    const project = context.project();
    const admin = await server.key('admin', [project]);
    const created = await server.send({
      method: 'POST',
      url: '/v1/keys',
      headers: { authorization: admin.authorization },
      payload: { name: 'agent', role: 'ingest', projects: [project] },
    });
    expect(created.statusCode).toBe(201);
    const key = created.json();
    expect(key.token).toMatch(/^elk_[a-z0-9]{12}_/);
    const ingest = { authorization: `Bearer ${key.token}` };
    const recorded = await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: ingest,
      payload: makeExecution(project),
    });
    expect(recorded.statusCode).toBe(201);
    const listed = await server.send({
      method: 'GET',
      url: '/v1/keys',
      headers: { authorization: admin.authorization },
    });
    expect(listed.json().data.map((item: { id: string }) => item.id)).toEqual(
      expect.arrayContaining([key.id, admin.id]),
    );
    expect(listed.body).not.toContain(key.token);
    expect(listed.body).not.toContain('secret_hash');
    const stored = await context.admin(
      'select secret_hash from execution_ledger_keys.api_keys where id = $1',
      [key.id],
    );
    expect(Buffer.from(present(stored[0]).secret_hash as Uint8Array).toString('hex')).not.toContain(
      Buffer.from(key.token).toString('hex'),
    );
    const revoked = await server.send({
      method: 'POST',
      url: `/v1/keys/${key.id}/revoke`,
      headers: { authorization: admin.authorization },
    });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revoked_at).not.toBeNull();
    const refused = await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: ingest,
      payload: makeExecution(project),
    });
    expect(refused.statusCode).toBe(401);
    expect(refused.json().code).toBe('UNAUTHENTICATED');
    expect(await countStored(context, project)).toBe(1);
  });

  it('refuses a key name with NUL and project ids that break the id rules with 400, naming the field', async () => {
    const admin = await server.key('admin', null);
    const cases = [
      { body: { name: 'a\u0000b', role: 'read', projects: null }, field: 'name' },
      { body: { name: 'lone \ud800', role: 'read', projects: null }, field: 'name' },
      { body: { name: 'agent', role: 'read', projects: ['p\u0000'] }, field: 'projects[0]' },
      { body: { name: 'agent', role: 'read', projects: ['ok', 'line\nbreak'] }, field: 'projects[1]' },
      { body: { name: 'agent', role: 'read', projects: [' padded'] }, field: 'projects[0]' },
    ];
    for (const { body, field } of cases) {
      const answer = await server.send({
        method: 'POST',
        url: '/v1/keys',
        headers: { authorization: admin.authorization },
        payload: body,
      });
      expect({ field, status: answer.statusCode }).toEqual({ field, status: 400 });
      expect(answer.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
    }
  });

  it('keeps a project-bound admin to its projects: 403 to grant more, 404 API_KEY_NOT_FOUND for keys beyond it', async () => {
    const [mine, other] = [context.project(), context.project()];
    const admin = await server.key('admin', [mine]);
    const foreign = await server.key('read', [other]);
    const headers = { authorization: admin.authorization };
    for (const projects of [[other], null]) {
      const response = await server.send({
        method: 'POST',
        url: '/v1/keys',
        headers,
        payload: { name: 'x', role: 'read', projects },
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().code).toBe('PERMISSION_DENIED');
    }
    const hidden = await server.send({ method: 'POST', url: `/v1/keys/${foreign.id}/revoke`, headers });
    const missing = await server.send({ method: 'POST', url: '/v1/keys/nope/revoke', headers });
    expect([hidden.statusCode, missing.statusCode]).toEqual([404, 404]);
    expect(hidden.json().code).toBe('API_KEY_NOT_FOUND');
    const stillWorks = await server.send({
      method: 'GET',
      url: `/v1/projects/${other}/stats`,
      headers: { authorization: foreign.authorization },
    });
    expect(stillWorks.statusCode).toBe(200);
    const badRole = await server.send({
      method: 'POST',
      url: '/v1/keys',
      headers,
      payload: { name: 'x', role: 'root', projects: [mine] },
    });
    expect(badRole.json()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', field: 'role' });
  });

  it('answers 401 UNAUTHENTICATED without a key, with a malformed one and with an unknown one', async () => {
    const attempts = [
      {},
      { authorization: 'Basic abc' },
      { authorization: `Bearer elk_000000000000_${'A'.repeat(43)}` },
    ];
    for (const headers of attempts) {
      const response = await server.send({ method: 'GET', url: '/v1/keys', headers });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({
        statusCode: 401,
        code: 'UNAUTHENTICATED',
        error: 'Unauthorized',
      });
    }
  });

  it('registers the operator admin key given at start, for every project', async () => {
    const response = await server.send({
      method: 'GET',
      url: '/v1/keys',
      headers: { authorization: `Bearer ${operatorKey}` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().data).toEqual(
      expect.arrayContaining([expect.objectContaining({ role: 'admin', projects: null })]),
    );
  });

  it('limits requests per key with 429 RATE_LIMITED and Retry-After, leaving other keys alone', async () => {
    const project = context.project();
    const busy = await limited.key('ingest', [project]);
    const calm = await limited.key('ingest', [project]);
    const send = (authorization: string) =>
      limited.send({
        method: 'POST',
        url: '/v1/executions',
        headers: { authorization },
        payload: makeExecution(project),
      });
    expect((await send(busy.authorization)).statusCode).toBe(201);
    expect((await send(busy.authorization)).statusCode).toBe(201);
    const third = await send(busy.authorization);
    expect(third.statusCode).toBe(429);
    expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
    expect(third.json()).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests' });
    expect((await send(calm.authorization)).statusCode).toBe(201);
    expect(await countStored(context, project)).toBe(3);
  });

  it('answers an unknown route with 404 ROUTE_NOT_FOUND', async () => {
    const response = await server.send({ method: 'GET', url: '/v1/nothing-here?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      statusCode: 404,
      code: 'ROUTE_NOT_FOUND',
      error: 'Not Found',
      message: 'no route answers GET /v1/nothing-here; see /openapi.json',
    });
  });

  it('turns an unexpected failure into 500 INTERNAL_ERROR without its message or stack', async () => {
    const app = await buildServer({ ledger: context.ledger });
    app.get('/boom', async () => {
      throw new Error('secret detail at /srv/app.js:12');
    });
    const response = await app.inject({ method: 'GET', url: '/boom' });
    await app.close();
    expect(response.statusCode).toBe(500);
    expect(response.json().code).toBe('INTERNAL_ERROR');
    expect(response.body).not.toContain('secret detail');
    expect(response.body).not.toContain('app.js');
  });

  it('never writes request bodies or keys into info logs', async () => {
    const project = context.project();
    const { authorization } = await server.key('ingest', [project]);
    const marker = `marker-${project}`;
    await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization },
      payload: makeExecution(project, { intent: marker }),
    });
    await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization },
      payload: { ...makeExecution(project), cost: marker },
    });
    const text = logLines.join('');
    expect(text).toContain('/v1/executions');
    expect(text).not.toContain(marker);
    expect(text).not.toContain(authorization.slice('Bearer '.length));
  });

  it('answers /healthz, /readyz with the schema version, and /metrics in Prometheus text', async () => {
    expect((await server.send({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await server.send({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(LATEST).toBeGreaterThanOrEqual(7);
    expect(ready.json()).toMatchObject({
      ready: true,
      schema_version: LATEST,
      expected_schema_version: LATEST,
    });
    const metrics = await server.send({ method: 'GET', url: '/metrics' });
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toMatch(/execution_ledger_appends_total\{outcome="created"\} \d+/);
    expect(metrics.body).toMatch(/execution_ledger_http_rejections_total\{code="UNAUTHENTICATED"\} \d+/);
    expect(metrics.body).toMatch(
      /execution_ledger_http_request_duration_seconds_bucket\{le="0.05",method="POST",route="\/v1\/executions"\}/,
    );
    expect(metrics.body).toMatch(
      /execution_ledger_http_requests_total\{method="GET",route="\/healthz",status_code="200"\} 1/,
    );
  });
});

it('answers 503 when the database cannot be reached (readiness, DATABASE_UNAVAILABLE) or the ledger is closed', async () => {
  const ledger = createLedger({ database: 'postgres://nobody:nothing@127.0.0.1:1/none' });
  const app = await buildServer({ ledger });
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  expect(ready.statusCode).toBe(503);
  expect(ready.json()).toMatchObject({ ready: false, expected_schema_version: LATEST });
  expect(ready.headers['retry-after']).toBe(String(serverBounds.UNAVAILABLE_RETRY_AFTER_SECONDS));
  const headers = { authorization: `Bearer elk_000000000000_${'A'.repeat(43)}` };
  const unavailable = await app.inject({ method: 'GET', url: '/v1/keys', headers });
  expect(unavailable.statusCode).toBe(503);
  expect(unavailable.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE', error: 'Service Unavailable' });
  expect(unavailable.headers['retry-after']).toBe(String(serverBounds.UNAVAILABLE_RETRY_AFTER_SECONDS));
  expect(unavailable.body).not.toContain('nothing');
  await ledger.close();
  const closed = await app.inject({ method: 'GET', url: '/v1/keys', headers });
  expect(closed.json()).toMatchObject({ statusCode: 503, code: 'LEDGER_CLOSED' });
  expect(closed.headers['retry-after']).toBe(String(serverBounds.UNAVAILABLE_RETRY_AFTER_SECONDS));
  await app.close();
});

it("answers 503 while the service's own migrations are pending, though the ledger's schema is current", async () => {
  const pglite = await PGlite.create();
  const ledger = createLedger({ database: pglite, migrate: false });
  // The ledger's set only: the server adds its key set when it is built.
  await ledger.migrate();
  const app = await buildServer({ ledger });
  const behind = await app.inject({ method: 'GET', url: '/readyz' });
  expect(behind.statusCode).toBe(503);
  expect(behind.json()).toEqual({
    ready: false,
    schema_version: LATEST,
    expected_schema_version: LATEST,
    reason: 'the database schema is not up to date; run `execution-ledger migrate`',
  });
  expect(behind.headers['retry-after']).toBe(String(serverBounds.UNAVAILABLE_RETRY_AFTER_SECONDS));
  expect((await ledger.migrate()).applied).toEqual([
    'execution_ledger_keys/0001_api_keys.sql',
    'execution_ledger_keys/0002_otlp_staging.sql',
    'execution_ledger_keys/0003_chain_verifications.sql',
    'execution_ledger_keys/0004_otlp_grouped_staging.sql',
  ]);
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  expect(ready.statusCode).toBe(200);
  await app.close();
  await ledger.close();
  await pglite.close();
});
