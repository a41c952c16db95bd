import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CreatedWebhook,
  type ExecutionInput,
  ExecutionLedgerClient,
  LedgerClientError,
  retryAfterMs,
  type WebhookEndpoint,
} from '@execution-ledger/client';
import { ApiKeyStore, buildServer } from '@execution-ledger/server';
import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';

// The typed client against the real service: records, replays, reads, error codes, and its
// retries: a real rate limit (429 with Retry-After), a 503 with Retry-After in front of the real
// service, and a server that never answers (timeouts; retried only when resending is safe).

describeEachEngine('@execution-ledger/client', (context) => {
  let app: FastifyInstance;
  let limited: FastifyInstance;
  let url: string;
  let limitedUrl: string;
  let token: string;
  const project = context.project('client');
  // The library's fixture, as the client's generated input type (the same JSON shape).
  const run = (overrides: Record<string, unknown> = {}) =>
    makeExecution(project, overrides) as unknown as ExecutionInput;

  beforeAll(async () => {
    app = await buildServer({ ledger: context.ledger, otlp: { assembler: false } });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    limited = await buildServer({
      ledger: context.ledger,
      rateLimit: { requestsMax: 1, windowMs: 1_000 },
      otlp: { assembler: false },
    });
    limitedUrl = await limited.listen({ host: '127.0.0.1', port: 0 });
    token = (
      await new ApiKeyStore(context.ledger).create({ name: 'client', role: 'admin', projects: [project] })
    ).token;
  });
  afterAll(async () => {
    await app?.close();
    await limited?.close();
  });

  it('records, replays, reads and lists runs, with the types of /openapi.json', async () => {
    const client = new ExecutionLedgerClient({ baseUrl: url, apiKey: token });
    const input = run();
    const recorded = await client.recordExecution(input);
    expect(recorded).toMatchObject({ run_id: input.run_id, replayed: false, seq: expect.any(Number) });
    expect((await client.recordExecution(input)).replayed).toBe(true);
    expect(await client.getExecution(input.run_id)).toMatchObject({ entry_hash: recorded.entry_hash });
    expect(await client.getExecution('no-such-run')).toBeNull();
    const page = await client.listExecutions(project, { limit: 10 });
    expect(page.data.map((run) => run.run_id)).toContain(input.run_id);
    const batch = await client.recordExecutions([run(), run({ cost: -1 })]);
    expect(batch).toMatchObject({ created: 1, failed: 1 });
  });

  it('manages webhook endpoints through the typed routes, the secret answered only on creation', async () => {
    const client = new ExecutionLedgerClient({ baseUrl: url, apiKey: token });
    const webhookId = `hook-${project}`;
    const put = await client.api.PUT('/v1/webhooks/{webhookId}', {
      params: { path: { webhookId } },
      body: { url: 'http://127.0.0.1:9/client-hook', project_id: project },
    });
    const created: CreatedWebhook | undefined = put.data;
    expect(created).toMatchObject({
      id: webhookId,
      project_id: project,
      secret: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const read = await client.api.GET('/v1/webhooks/{webhookId}', { params: { path: { webhookId } } });
    const endpoint: WebhookEndpoint | undefined = read.data;
    expect(endpoint).toEqual({ ...created, secret: undefined });
    expect(Object.keys(endpoint ?? {})).not.toContain('secret');
    const listed = await client.api.GET('/v1/webhooks');
    expect(listed.data?.webhooks.map((hook) => hook.id)).toEqual([webhookId]);
    const deleted = await client.api.DELETE('/v1/webhooks/{webhookId}', { params: { path: { webhookId } } });
    expect(deleted.data).toEqual({ id: webhookId, deleted: true });
    const gone = await client.api.GET('/v1/webhooks/{webhookId}', { params: { path: { webhookId } } });
    expect([gone.response.status, gone.error?.code]).toEqual([404, 'NOT_FOUND']);
  });

  it('throws the service error codes with status, field and message', async () => {
    const client = new ExecutionLedgerClient({ baseUrl: url, apiKey: token });
    const error = await client.recordExecution(run({ status: 'failed' })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LedgerClientError);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', statusCode: 400, field: 'error_message' });
    const input = run();
    await client.recordExecution(input);
    await expect(client.recordExecution({ ...input, intent: 'changed' })).rejects.toMatchObject({
      code: 'RUN_ID_CONFLICT',
      statusCode: 409,
    });
    const stranger = new ExecutionLedgerClient({ baseUrl: url, apiKey: 'elk_unknown_key', retries: 0 });
    await expect(stranger.listExecutions(project)).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      statusCode: 401,
    });
  });

  it('waits out a 429 for as long as Retry-After says, then succeeds', async () => {
    const client = new ExecutionLedgerClient({ baseUrl: limitedUrl, apiKey: token });
    await client.recordExecution(run());
    const started = Date.now();
    const second = await client.recordExecution(run());
    expect(second.replayed).toBe(false);
    // The window is 1 s and Retry-After says whole seconds: the retry came after it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    // Without retries the same 429 is an error with the service's code.
    const impatient = new ExecutionLedgerClient({ baseUrl: limitedUrl, apiKey: token, retries: 0 });
    await impatient.listExecutions(project).catch(() => undefined);
    await expect(impatient.listExecutions(project)).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      statusCode: 429,
    });
  });

  it('retries a 503 after its Retry-After and gives up with its code after the last attempt', async () => {
    let unavailable = 2;
    let seen = 0;
    const proxy = await listen(async (request, response) => {
      seen += 1;
      if (unavailable > 0) {
        unavailable -= 1;
        response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        response.end(
          JSON.stringify({
            statusCode: 503,
            code: 'DATABASE_UNAVAILABLE',
            error: 'x',
            message: 'database restarting',
          }),
        );
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const forwarded = await fetch(`${url}${request.url}`, {
        method: request.method ?? 'GET',
        headers: { authorization: String(request.headers.authorization), 'content-type': 'application/json' },
        ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
      });
      response.writeHead(forwarded.status, { 'content-type': 'application/json' });
      response.end(Buffer.from(await forwarded.arrayBuffer()));
    });
    try {
      const client = new ExecutionLedgerClient({ baseUrl: proxy.url, apiKey: token });
      const started = Date.now();
      const input = run();
      expect((await client.recordExecution(input)).run_id).toBe(input.run_id);
      expect(seen).toBe(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
      unavailable = 10;
      seen = 0;
      const brief = new ExecutionLedgerClient({
        baseUrl: proxy.url,
        apiKey: token,
        retries: 1,
        retryMaxMs: 50,
      });
      await expect(brief.getExecution(input.run_id)).rejects.toMatchObject({
        code: 'DATABASE_UNAVAILABLE',
        statusCode: 503,
      });
      expect(seen).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it('times out each attempt, retries only requests that are safe to resend', async () => {
    let seen = 0;
    const silent = await listen(() => {
      seen += 1;
    });
    try {
      const client = new ExecutionLedgerClient({
        baseUrl: silent.url,
        apiKey: token,
        timeoutMs: 150,
        retries: 2,
        retryBaseMs: 10,
      });
      await expect(client.getExecution('any')).rejects.toMatchObject({ code: 'TIMEOUT', statusCode: 0 });
      expect(seen).toBe(3);
      seen = 0;
      // Creating a key twice would make two keys: one attempt only.
      await expect(
        client.api.POST('/v1/keys', { body: { name: 'once', role: 'read', projects: [project] } }),
      ).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('not retried') });
      expect(seen).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3_000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});

async function listen(
  handler: Parameters<typeof createServer>[1] & object,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
