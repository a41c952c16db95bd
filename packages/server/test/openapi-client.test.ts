import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ApiKeyStore, buildServer } from '@execution-ledger/server';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createLedger, type Ledger } from 'execution-ledger';
import { RECORD_FIELDS } from 'execution-ledger/record-fields';
import type { FastifyInstance } from 'fastify';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const generated = path.join(here, '.generated', 'openapi-client');
const tscBin = path.resolve(here, '../../../node_modules/typescript/bin/tsc');

// A client written against the types generated from /openapi.json. The @ts-expect-error lines
// prove the generated types are real: if they were loose, tsc would flag the unused directive.
const CLIENT_SOURCE = `
import createClient from 'openapi-fetch';
import type { paths } from './ledger-api.js';

const [baseUrl, token, projectId] = process.argv.slice(2) as [string, string, string];
const client = createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${token}\` } });

const recorded = await client.POST('/v1/executions', {
  body: {
    run_id: \`run-client-\${projectId}\`, project_id: projectId, user_id: 'user-001', agent_id: 'backend',
    intent: 'Deploy microservice to production', input: { service: 'user-api' },
    cost: { total: 850, breakdown: { tokens: 300, toolCalls: 550 } },
    execution_trace: { steps: [{ action: 'deploy', duration_ms: 6750 }], duration_ms: 6750 }, status: 'completed',
  },
});
const seq: number | undefined = recorded.data?.seq;
const read = await client.GET('/v1/executions/{runId}', { params: { path: { runId: \`run-client-\${projectId}\` } } });
const missing = await client.GET('/v1/executions/{runId}', { params: { path: { runId: 'no-such-run' } } });
console.log(JSON.stringify({ status: recorded.response.status, seq, read: read.data, missingCode: missing.error?.code }));

export function neverCalled(): void {
  // @ts-expect-error run_id must be a string
  void client.POST('/v1/executions', { body: { run_id: 1 } });
  // @ts-expect-error the route does not exist
  void client.GET('/v1/unknown');
}
`;

describe('/openapi.json', () => {
  let ledger: Ledger;
  let app: FastifyInstance;
  let spec: Record<string, unknown>;

  beforeAll(async () => {
    ledger = createLedger({ database: 'memory:' });
    app = await buildServer({ ledger, closeLedger: true });
    spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  });
  afterAll(async () => {
    await app.close();
  });

  it('is a valid OpenAPI 3.1 document with every route', async () => {
    const result = await new Validator().validate(spec as never);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(Object.keys(spec.paths as object).sort()).toEqual([
      '/healthz',
      '/readyz',
      '/v1/agents/{agentId}/executions',
      '/v1/agents/{agentId}/stats',
      '/v1/allocation/report',
      '/v1/allocation/rule-sets',
      '/v1/budgets',
      '/v1/budgets/reservations',
      '/v1/budgets/reservations/{reservationId}/release',
      '/v1/budgets/reservations/{reservationId}/settle',
      '/v1/budgets/{budgetId}',
      '/v1/checkpoints/latest',
      '/v1/checkpoints/{seq}',
      '/v1/events',
      '/v1/executions',
      '/v1/executions/batch',
      '/v1/executions/{runId}',
      '/v1/keys',
      '/v1/keys/{keyId}/revoke',
      '/v1/projects/{projectId}/costs/by-model',
      '/v1/projects/{projectId}/costs/by-tool',
      '/v1/projects/{projectId}/costs/by-user',
      '/v1/projects/{projectId}/costs/timeseries',
      '/v1/projects/{projectId}/costs/top-runs',
      '/v1/projects/{projectId}/executions',
      '/v1/projects/{projectId}/export',
      '/v1/projects/{projectId}/failed',
      '/v1/projects/{projectId}/percentiles',
      '/v1/projects/{projectId}/proof',
      '/v1/projects/{projectId}/stats',
      '/v1/projects/{projectId}/timeseries',
      '/v1/projects/{projectId}/verify',
      '/v1/runs/{runId}/ancestors',
      '/v1/runs/{runId}/descendants',
      '/v1/runs/{runId}/tree',
      '/v1/traces',
      '/v1/webhooks',
      '/v1/webhooks/{webhookId}',
    ]);
  });

  it('documents every field of the record descriptor, in its order, on the write and read routes', () => {
    type Schema = { properties: Record<string, unknown>; required: string[] };
    type Operation = { requestBody?: unknown; responses: Record<string, unknown> };
    const paths = spec.paths as Record<string, Record<string, Operation>>;
    const jsonSchema = (body: unknown) =>
      (body as { content: { 'application/json': { schema: Schema } } }).content['application/json'].schema;
    const post = paths['/v1/executions']?.post;
    const request = jsonSchema(post?.requestBody);
    const inputs = RECORD_FIELDS.filter((field) => field.input !== null);
    expect(Object.keys(request.properties)).toEqual(inputs.map((field) => field.input));
    expect(request.required).toEqual(
      inputs.filter((field) => field.inputRequired).map((field) => field.input),
    );
    const names = RECORD_FIELDS.map((field) => field.name);
    const always = RECORD_FIELDS.filter((field) => field.presence === 'always').map((field) => field.name);
    const created = jsonSchema(post?.responses['201']);
    expect(Object.keys(created.properties)).toEqual([...names, 'replayed']);
    expect(created.required).toEqual([...always, 'replayed']);
    const get = paths['/v1/executions/{runId}']?.get;
    const read = jsonSchema(get?.responses['200']);
    expect(Object.keys(read.properties)).toEqual(names);
    expect(read.required).toEqual(always);
    for (const field of RECORD_FIELDS) expect(read.properties[field.name], field.name).toEqual(field.schema);
  });

  it('generates a typed client (openapi-typescript + openapi-fetch) that records and reads a run', async () => {
    await rm(generated, { recursive: true, force: true });
    await mkdir(generated, { recursive: true });
    await writeFile(path.join(generated, 'ledger-api.ts'), astToString(await openapiTS(spec as never)));
    await writeFile(path.join(generated, 'client.ts'), CLIENT_SOURCE);
    await writeFile(path.join(generated, 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(
      path.join(generated, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          lib: ['ES2022', 'DOM'],
          types: ['node'],
        },
        files: ['client.ts'],
      }),
    );
    const compiled = await run(process.execPath, [tscBin, '-p', generated]).catch(
      (error: { stdout?: string }) => error,
    );
    expect((compiled as { stdout?: string }).stdout ?? '').toBe('');

    const key = await new ApiKeyStore(ledger).create({
      name: 'client',
      role: 'admin',
      projects: ['proj-client'],
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const { stdout } = await run(process.execPath, [
      path.join(generated, 'client.js'),
      address,
      key.token,
      'proj-client',
    ]);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ status: 201, seq: 1, missingCode: 'NOT_FOUND' });
    expect(result.read).toEqual(await ledger.getExecutionByRunId('run-client-proj-client'));
  });
});
