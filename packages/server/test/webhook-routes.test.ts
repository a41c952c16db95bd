import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { useServer } from './support/server-harness.js';

// Endpoints here point at a closed port; they are deleted by the tests that make them.
const URL_CLOSED = 'http://127.0.0.1:9/ledger-hook';

describeEachEngine('webhook endpoint routes', (context) => {
  const server = useServer(context);

  it('creates an endpoint answering its secret once, lists and reads it without, and deletes it', async () => {
    const project = context.project();
    const admin = await server.key('admin', [project]);
    const id = `hook-${project}`;
    const created = await server.send({
      method: 'PUT',
      url: `/v1/webhooks/${id}`,
      headers: admin,
      payload: { url: URL_CLOSED, project_id: project },
    });
    expect(created.statusCode, created.body).toBe(200);
    const body = created.json() as Record<string, unknown>;
    expect(body).toMatchObject({ id, url: URL_CLOSED, project_id: project, attempts: 0, delivered: 0 });
    // A new secret, made by the service: 32 random bytes in hex, the one deliveries are signed with.
    expect(body.secret).toMatch(/^[0-9a-f]{64}$/);
    const [stored] = await context.admin(
      'select secret, cursor_seq::text as cursor_seq from execution_ledger.webhook_endpoints where id = $1',
      [id],
    );
    expect(stored?.secret).toBe(body.secret);
    expect(String(body.cursor_seq)).toBe(stored?.cursor_seq);

    const listed = await server.send({ method: 'GET', url: '/v1/webhooks', headers: admin });
    expect(listed.statusCode).toBe(200);
    const webhooks = (listed.json() as { webhooks: Record<string, unknown>[] }).webhooks;
    expect(webhooks.map((endpoint) => endpoint.id)).toEqual([id]);
    const read = await server.send({ method: 'GET', url: `/v1/webhooks/${id}`, headers: admin });
    expect(read.json()).toEqual(webhooks[0]);
    for (const answer of [listed.body, read.body]) {
      expect(answer).not.toContain(String(body.secret));
      expect(answer).not.toContain('secret');
    }

    // Replacing keeps the cursor; a secret given by the caller is the one answered (and stored).
    await context.ledger.recordExecution(makeExecution(project));
    const replaced = await server.send({
      method: 'PUT',
      url: `/v1/webhooks/${id}`,
      headers: admin,
      payload: { url: `${URL_CLOSED}/v2`, project_id: project, secret: 'a-secret-of-my-own-choosing' },
    });
    expect(replaced.json()).toMatchObject({
      url: `${URL_CLOSED}/v2`,
      secret: 'a-secret-of-my-own-choosing',
      cursor_seq: body.cursor_seq,
    });

    const deleted = await server.send({ method: 'DELETE', url: `/v1/webhooks/${id}`, headers: admin });
    expect([deleted.statusCode, deleted.json()]).toEqual([200, { id, deleted: true }]);
    const gone = await server.send({ method: 'GET', url: `/v1/webhooks/${id}`, headers: admin });
    expect([gone.statusCode, gone.json().code]).toEqual([404, 'NOT_FOUND']);
    const again = await server.send({ method: 'DELETE', url: `/v1/webhooks/${id}`, headers: admin });
    expect([again.statusCode, again.json().code]).toEqual([404, 'NOT_FOUND']);
  });

  it("keeps each key to its projects' endpoints", async () => {
    const mine = context.project('mine');
    const theirs = context.project('theirs');
    const admin = await server.key('admin', [mine]);
    const everywhere = await server.key('admin', null);
    const other = `hook-${theirs}`;
    const put = await server.send({
      method: 'PUT',
      url: `/v1/webhooks/${other}`,
      headers: everywhere,
      payload: { url: URL_CLOSED, project_id: theirs },
    });
    expect(put.statusCode).toBe(200);
    try {
      const list = await server.send({ method: 'GET', url: '/v1/webhooks', headers: admin });
      expect(list.body).not.toContain(theirs);
      for (const method of ['GET', 'DELETE'] as const) {
        const answer = await server.send({ method, url: `/v1/webhooks/${other}`, headers: admin });
        expect([answer.statusCode, answer.json().code]).toEqual([404, 'NOT_FOUND']);
      }
      // Taking over another project's endpoint id is refused, and changes nothing.
      const takeover = await server.send({
        method: 'PUT',
        url: `/v1/webhooks/${other}`,
        headers: admin,
        payload: { url: `${URL_CLOSED}/stolen`, project_id: mine },
      });
      expect([takeover.statusCode, takeover.json().code]).toEqual([403, 'PERMISSION_DENIED']);
      expect((await context.ledger.webhooks.get(other)).url).toBe(URL_CLOSED);
      const listAll = await server.send({ method: 'GET', url: '/v1/webhooks', headers: everywhere });
      expect(listAll.body).toContain(other);
    } finally {
      await context.ledger.webhooks.delete(other);
    }
  });

  it('refuses each bad request with its code and creates nothing', async () => {
    const project = context.project();
    const admin = await server.key('admin', [project]);
    const reader = await server.key('read', [project]);
    const ingest = await server.key('ingest', [project]);
    const id = `hook-${project}`;
    const put = (headers: object, payload: object) =>
      server.send({
        method: 'PUT',
        url: `/v1/webhooks/${id}`,
        headers: headers as Record<string, string>,
        payload,
      });
    const refusals: [Awaited<ReturnType<typeof put>>, number, string, string | undefined][] = [
      [
        await put(admin, { url: 'ftp://example.com/hook', project_id: project }),
        400,
        'VALIDATION_FAILED',
        'url',
      ],
      [await put(admin, { url: 'not a url', project_id: project }), 400, 'VALIDATION_FAILED', 'url'],
      [
        await put(admin, { url: URL_CLOSED, project_id: project, secret: 'short' }),
        400,
        'VALIDATION_FAILED',
        'secret',
      ],
      [
        await put(admin, { url: URL_CLOSED, project_id: project, from_seq: -1 }),
        400,
        'VALIDATION_FAILED',
        undefined,
      ],
      [
        await put(admin, { url: URL_CLOSED, project_id: project, extra: 1 }),
        400,
        'VALIDATION_FAILED',
        undefined,
      ],
      // A key of one project may not watch every project's events.
      [await put(admin, { url: URL_CLOSED }), 403, 'PERMISSION_DENIED', undefined],
      [await put(admin, { url: URL_CLOSED, project_id: 'elsewhere' }), 403, 'PERMISSION_DENIED', undefined],
      [await put(reader, { url: URL_CLOSED, project_id: project }), 403, 'PERMISSION_DENIED', undefined],
      [await put(ingest, { url: URL_CLOSED, project_id: project }), 403, 'PERMISSION_DENIED', undefined],
      [
        await server.send({ method: 'GET', url: '/v1/webhooks', headers: reader }),
        403,
        'PERMISSION_DENIED',
        undefined,
      ],
    ];
    for (const [response, status, code, field] of refusals) {
      const answer = response.json() as { code: string; field?: string };
      expect([response.statusCode, answer.code], response.body).toEqual([status, code]);
      if (field !== undefined) expect(answer.field, response.body).toBe(field);
    }
    const listed = await server.send({ method: 'GET', url: '/v1/webhooks', headers: admin });
    expect(listed.json()).toEqual({ webhooks: [] });
  });
});
