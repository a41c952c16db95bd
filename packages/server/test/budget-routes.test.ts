import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { useServer } from './support/server-harness.js';

describeEachEngine('budget and event routes', (context) => {
  const server = useServer(context);

  it('lets an admin define a budget, an ingest key reserve and settle, and a reader see both', async () => {
    const project = context.project();
    const admin = await server.key('admin', [project]);
    const ingest = await server.key('ingest', [project]);
    const reader = await server.key('read', [project]);
    const put = await server.send({
      method: 'PUT',
      url: `/v1/budgets/b-${project}`,
      headers: admin,
      payload: {
        project_id: project,
        period: 'month',
        time_zone: 'Asia/Tokyo',
        limit_cents: 20,
        thresholds: [50],
      },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({
      id: `b-${project}`,
      limit_cents: 20,
      action: 'block',
      spent_cents: 0,
    });

    const scope = { project_id: project, agent_id: 'backend', user_id: 'user-001' };
    const reserved = await server.send({
      method: 'POST',
      url: '/v1/budgets/reservations',
      headers: ingest,
      payload: { ...scope, estimated_cents: 15 },
    });
    expect(reserved.statusCode).toBe(201);
    const reservation = reserved.json() as { id: string; budgets: unknown[] };
    expect(reservation.budgets).toEqual([
      { budget_id: `b-${project}`, action: 'block', limit_cents: 20, spent_cents: 0, held_cents: 15 },
    ]);
    const blocked = await server.send({
      method: 'POST',
      url: '/v1/budgets/reservations',
      headers: ingest,
      payload: { ...scope, estimated_cents: 6 },
    });
    expect(blocked.statusCode).toBe(402);
    expect(blocked.json()).toMatchObject({ code: 'BUDGET_BLOCKED', field: 'estimated_cents' });

    const run = makeExecution(project, { cost: { total: 12, breakdown: { tokens: 12 } } });
    expect(
      (await server.send({ method: 'POST', url: '/v1/executions', headers: ingest, payload: run }))
        .statusCode,
    ).toBe(201);
    const settled = await server.send({
      method: 'POST',
      url: `/v1/budgets/reservations/${reservation.id}/settle`,
      headers: ingest,
      payload: { run_id: run.run_id },
    });
    expect(settled.statusCode).toBe(200);
    expect(settled.json()).toMatchObject({ actual_cents: 12, estimated_cents: 15, replayed: false });

    const status = await server.send({ method: 'GET', url: `/v1/budgets/b-${project}`, headers: reader });
    expect(status.json()).toMatchObject({ spent_cents: 12, held_cents: 0, remaining_cents: 8, runs: 1 });
    const list = await server.send({ method: 'GET', url: '/v1/budgets', headers: reader });
    expect((list.json() as { budgets: { id: string }[] }).budgets.map((budget) => budget.id)).toEqual([
      `b-${project}`,
    ]);

    const events = await server.send({
      method: 'GET',
      url: `/v1/events?project_id=${project}`,
      headers: reader,
    });
    expect(events.statusCode).toBe(200);
    const page = events.json() as {
      events: { type: string; payload: Record<string, unknown> }[];
      next_cursor: string;
    };
    expect(page.events.map((event) => event.type)).toEqual(['budget.blocked', 'budget.threshold']);
    expect(page.events[1]?.payload).toMatchObject({ threshold_percent: 50, spent_micros: 12_000_000 });
    const after = await server.send({
      method: 'GET',
      url: `/v1/events?project_id=${project}&cursor=${page.next_cursor}`,
      headers: reader,
    });
    expect(after.json()).toEqual({ events: [], next_cursor: page.next_cursor });
  });

  it('refuses each bad request with its code', async () => {
    const project = context.project();
    const admin = await server.key('admin', [project]);
    const ingest = await server.key('ingest', [project]);
    const reader = await server.key('read', [project]);
    const send = (method: 'GET' | 'POST' | 'PUT', url: string, headers: object, payload?: object) =>
      server.send({
        method,
        url,
        headers: headers as Record<string, string>,
        ...(payload ? { payload } : {}),
      });

    const refusals: [Awaited<ReturnType<typeof send>>, number, string][] = [
      [
        await send('PUT', `/v1/budgets/x-${project}`, admin, {
          project_id: project,
          period: 'year',
          limit_cents: 1,
        }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        await send('PUT', `/v1/budgets/x-${project}`, admin, {
          project_id: project,
          period: 'day',
          limit_cents: 0,
        }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        await send('PUT', `/v1/budgets/x-${project}`, admin, {
          agent_id: 'a',
          period: 'day',
          limit_cents: 1,
        }),
        403,
        'PERMISSION_DENIED',
      ],
      [
        await send('PUT', `/v1/budgets/x-${project}`, ingest, {
          project_id: project,
          period: 'day',
          limit_cents: 1,
        }),
        403,
        'PERMISSION_DENIED',
      ],
      [await send('GET', '/v1/budgets/no-such-budget', reader), 404, 'BUDGET_NOT_FOUND'],
      [
        await send('POST', '/v1/budgets/reservations', ingest, {
          project_id: project,
          agent_id: 'a',
          user_id: 'u',
          estimated_cents: -1,
        }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        await send('POST', '/v1/budgets/reservations', ingest, {
          project_id: 'elsewhere',
          agent_id: 'a',
          user_id: 'u',
          estimated_cents: 1,
        }),
        403,
        'PERMISSION_DENIED',
      ],
      [
        await send('POST', '/v1/budgets/reservations/00000000-0000-4000-8000-000000000000/settle', ingest, {
          run_id: 'r',
        }),
        404,
        'RESERVATION_NOT_FOUND',
      ],
      [await send('POST', '/v1/budgets/reservations/not-a-uuid/release', ingest), 400, 'VALIDATION_FAILED'],
      [await send('GET', '/v1/events', reader), 403, 'PERMISSION_DENIED'],
      [await send('GET', `/v1/events?project_id=${project}&cursor=bad`, reader), 400, 'INVALID_CURSOR'],
    ];
    for (const [response, status, code] of refusals) {
      expect([response.statusCode, response.json().code], response.body).toEqual([status, code]);
    }

    const scope = { project_id: project, agent_id: 'backend', user_id: 'user-001' };
    const reservation = (
      await send('POST', '/v1/budgets/reservations', ingest, { ...scope, estimated_cents: 1 })
    ).json() as { id: string };
    const other = makeExecution(project, { agent_id: 'someone-else' });
    await send('POST', '/v1/executions', ingest, other);
    const mismatch = await send('POST', `/v1/budgets/reservations/${reservation.id}/settle`, ingest, {
      run_id: other.run_id,
    });
    expect([mismatch.statusCode, mismatch.json().code]).toEqual([409, 'RESERVATION_MISMATCH']);
    const missing = await send('POST', `/v1/budgets/reservations/${reservation.id}/settle`, ingest, {
      run_id: 'run-missing',
    });
    expect([missing.statusCode, missing.json().code]).toEqual([404, 'NOT_FOUND']);
    expect(
      (await send('POST', `/v1/budgets/reservations/${reservation.id}/release`, ingest)).statusCode,
    ).toBe(200);
    const closed = await send('POST', `/v1/budgets/reservations/${reservation.id}/release`, ingest);
    expect([closed.statusCode, closed.json().code]).toEqual([409, 'RESERVATION_CLOSED']);
  });
});
