import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { parse } from 'csv-parse/sync';
import { beforeAll, expect, it } from 'vitest';
import { useServer } from './support/server-harness.js';

describeEachEngine('HTTP cost allocation', (context) => {
  const server = useServer(context);
  let project = '';
  let admin = { authorization: '', id: '' };
  let reader = { authorization: '', id: '' };
  const period = new Date().toISOString().slice(0, 7);

  beforeAll(async () => {
    project = context.project();
    await context.ledger.recordExecution(makeExecution(project, { cost: 10 }));
    admin = await server.key('admin', null);
    reader = await server.key('read', null);
  });

  const ruleSet = () => ({
    effective_from: '2026-01-01',
    rules: [
      {
        id: 'split',
        scope: { project_id: [project] },
        source: { part: 'total' },
        method: 'fixed',
        targets: [
          { cost_center: 'x', percent: 70 },
          { cost_center: 'y', percent: 30 },
        ],
        markup_percent: 5,
      },
    ],
  });

  it('publishes a version and reports with it as the library does, in JSON and CSV', async () => {
    const published = await server.send({
      method: 'POST',
      url: '/v1/allocation/rule-sets',
      headers: { authorization: admin.authorization },
      payload: ruleSet(),
    });
    expect(published.statusCode).toBe(201);
    const { version, hash } = published.json();
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const url = `/v1/allocation/report?period=${period}&rule_set_version=${version}`;
    const report = await server.send({
      method: 'GET',
      url,
      headers: { authorization: reader.authorization },
    });
    expect(report.statusCode).toBe(200);
    expect(report.json()).toEqual(
      await context.ledger.getAllocationReport({ period, ruleSetVersion: version }),
    );
    expect(report.json().lines.map((line: { billed_cost: number }) => line.billed_cost)).toEqual([
      7.35, 3.15,
    ]);
    const csv = await server.send({
      method: 'GET',
      url: `${url}&format=csv`,
      headers: { authorization: reader.authorization },
    });
    expect(csv.headers['content-type']).toContain('text/csv');
    const rows = parse(csv.body, { columns: true }) as Record<string, string>[];
    expect(rows.map((row) => [row.x_CostCenter, row.EffectiveCost, row.BilledCost])).toEqual([
      ['x', '0.07', '0.0735'],
      ['y', '0.03', '0.0315'],
    ]);
  });

  it('refuses bad rule sets, bad periods, and keys bound to some projects or without the right', async () => {
    const bad = await server.send({
      method: 'POST',
      url: '/v1/allocation/rule-sets',
      headers: { authorization: admin.authorization },
      payload: { ...ruleSet(), effective_from: 'soon' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'effective_from' });
    const month = await server.send({
      method: 'GET',
      url: '/v1/allocation/report?period=2026-13',
      headers: { authorization: reader.authorization },
    });
    expect(month.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'period' });
    const missing = await server.send({
      method: 'GET',
      url: '/v1/allocation/report?period=1999-01',
      headers: { authorization: reader.authorization },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('RULE_SET_NOT_FOUND');
    const bound = await server.key('admin', [project]);
    const scoped = await server.send({
      method: 'POST',
      url: '/v1/allocation/rule-sets',
      headers: { authorization: bound.authorization },
      payload: ruleSet(),
    });
    expect(scoped.statusCode).toBe(403);
    const readOnly = await server.send({
      method: 'POST',
      url: '/v1/allocation/rule-sets',
      headers: { authorization: reader.authorization },
      payload: ruleSet(),
    });
    expect(readOnly.statusCode).toBe(403);
    expect(readOnly.json().code).toBe('PERMISSION_DENIED');
  });
});
