import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { countStored, useServer } from './support/server-harness.js';

describeEachEngine('HTTP appends', (context) => {
  const server = useServer(context, { bodyLimitBytes: 64 * 1024 });

  it('records one execution with 201, replays it with 200 and the original body, refuses a change with 409', async () => {
    const project = context.project();
    const { authorization } = await server.key('ingest', [project]);
    const execution = makeExecution(project);
    const first = await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization },
      payload: execution,
    });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ run_id: execution.run_id, seq: 1, replayed: false });
    const again = await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization },
      payload: execution,
    });
    expect(again.statusCode).toBe(200);
    expect({ ...again.json(), replayed: false }).toEqual(first.json());
    const changed = await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization },
      payload: { ...execution, intent: 'something else' },
    });
    expect(changed.statusCode).toBe(409);
    expect(changed.json()).toMatchObject({
      statusCode: 409,
      code: 'RUN_ID_CONFLICT',
      error: 'Conflict',
      field: 'run_id',
    });
    expect(await countStored(context, project)).toBe(1);
  });

  it('answers with every field the ledger stored, extra trace fields and __proto__ keys included', async () => {
    const project = context.project();
    const { authorization } = await server.key('admin', [project]);
    const payload =
      `{"run_id":"run-proto-${project}","project_id":"${project}","user_id":"u","agent_id":"a","intent":"i",` +
      `"input":{"__proto__":{"polluted":true},"n":0.1},"output":[1,"two",null],"cost":{"total":1.5,"breakdown":{"tokens":1.5}},` +
      `"execution_trace":{"steps":[{"action":"x","note":"kept"}],"duration_ms":5,"custom":{"k":1}},"status":"completed"}`;
    const response = await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization, 'content-type': 'application/json' },
      payload,
    });
    expect(response.statusCode).toBe(201);
    const stored = await context.ledger.getExecutionByRunId(`run-proto-${project}`);
    expect(response.json()).toEqual({ ...stored, replayed: false });
    expect(Object.hasOwn(present(stored).input, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(present(stored).execution_trace_json).toMatchObject({
      custom: { k: 1 },
      steps: [{ note: 'kept' }],
    });
  });

  it('refuses duplicate keys and numbers that lose digits with 400 VALIDATION_FAILED, storing nothing', async () => {
    const project = context.project();
    const { authorization } = await server.key('ingest', [project]);
    const base = JSON.stringify(makeExecution(project));
    const bodies = [
      base.replace('"intent":', '"intent":"first","intent":'),
      base.replace('"input":{', '"input":{"big":12345678901234567890,'),
      base.replace('"input":{', '"input":{"precise":0.10000000000000000000001,'),
      base.replace('"input":{', '"input":{"huge":1e400,'),
      `${base.slice(0, -1)}`,
    ];
    for (const payload of bodies) {
      const response = await server.send({
        method: 'POST',
        url: '/v1/executions',
        headers: { authorization, 'content-type': 'application/json' },
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'body' });
    }
    expect(await countStored(context, project)).toBe(0);
  });

  it('names the field of a schema or ledger validation error, and COST_MISMATCH for parts that do not add up', async () => {
    const project = context.project();
    const { authorization } = await server.key('ingest', [project]);
    const cases = [
      { payload: { ...makeExecution(project), cost: '850' }, code: 'VALIDATION_FAILED', field: 'cost' },
      { payload: { ...makeExecution(project), surprise: 1 }, code: 'VALIDATION_FAILED', field: 'surprise' },
      {
        payload: { ...makeExecution(project), status: 'failed' },
        code: 'VALIDATION_FAILED',
        field: 'error_message',
      },
      {
        payload: { ...makeExecution(project), cost: { total: 10, breakdown: { tokens: 3, toolCalls: 6 } } },
        code: 'COST_MISMATCH',
        field: 'cost.total',
      },
    ];
    for (const { payload, code, field } of cases) {
      const response = await server.send({
        method: 'POST',
        url: '/v1/executions',
        headers: { authorization },
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ statusCode: 400, code, field, error: 'Bad Request' });
    }
    expect(await countStored(context, project)).toBe(0);
  });

  it('refuses a body over the limit with 413 PAYLOAD_TOO_LARGE and a non-JSON body with 415', async () => {
    const project = context.project();
    const { authorization } = await server.key('ingest', [project]);
    const large = makeExecution(project, { input: { blob: 'x'.repeat(70 * 1024) } });
    const tooLarge = await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization },
      payload: large,
    });
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', error: 'Payload Too Large' });
    const text = await server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization, 'content-type': 'text/plain' },
      payload: JSON.stringify(makeExecution(project)),
    });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(await countStored(context, project)).toBe(0);
  });

  it('refuses an append to a project the key is not bound to with 403, and a read key with 403', async () => {
    const [mine, other] = [context.project(), context.project()];
    const ingest = await server.key('ingest', [mine]);
    const reader = await server.key('read', null);
    for (const [headers, project] of [
      [{ authorization: ingest.authorization }, other],
      [{ authorization: reader.authorization }, mine],
    ] as const) {
      const response = await server.send({
        method: 'POST',
        url: '/v1/executions',
        headers,
        payload: makeExecution(project),
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().code).toBe('PERMISSION_DENIED');
    }
    expect(await countStored(context, other)).toBe(0);
    expect(await countStored(context, mine)).toBe(0);
  });

  it('records a batch with one result per item: created, replayed, refused by the ledger or by scope', async () => {
    const [mine, other] = [context.project(), context.project()];
    const { authorization } = await server.key('ingest', [mine]);
    const existing = makeExecution(mine);
    await context.ledger.recordExecution(existing);
    const executions = [
      makeExecution(mine),
      existing,
      { ...makeExecution(mine), cost: -1 },
      makeExecution(other),
      makeExecution(mine),
    ];
    const response = await server.send({
      method: 'POST',
      url: '/v1/executions/batch',
      headers: { authorization },
      payload: { executions },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ created: 2, replayed: 1, failed: 2 });
    expect(body.results.map((result: { outcome: string }) => result.outcome)).toEqual([
      'created',
      'replayed',
      'error',
      'error',
      'created',
    ]);
    expect(body.results[2].error).toMatchObject({
      code: 'VALIDATION_FAILED',
      field: 'cost',
      statusCode: 400,
    });
    expect(body.results[3].error).toMatchObject({ code: 'PERMISSION_DENIED', statusCode: 403 });
    expect(await countStored(context, mine)).toBe(3);
    expect(await countStored(context, other)).toBe(0);
  });

  it('refuses a batch envelope that is empty, not an array or over 1,000 items, storing nothing', async () => {
    const project = context.project();
    const { authorization } = await server.key('ingest', [project]);
    const tooMany = Array.from({ length: 1_001 }, () => ({}));
    for (const payload of [{ executions: [] }, { executions: {} }, { executions: tooMany }, {}]) {
      const response = await server.send({
        method: 'POST',
        url: '/v1/executions/batch',
        headers: { authorization },
        payload,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('VALIDATION_FAILED');
    }
    expect(await countStored(context, project)).toBe(0);
  });
});
