import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import type { ExecutionRecord } from 'execution-ledger';
import {
  DEFAULT_EXPORT_FORMAT,
  type ExportFormatDefinition,
  exportFormatNames,
  exportFormats,
  registerExportFormat,
} from 'execution-ledger/export-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli-process.js';
import { useServer } from './support/server-harness.js';

interface SeqRow {
  seq: string;
  entry_hash: string;
}

/** A format that exists only in this test: the route must offer it with no change to the server. */
const SEQ_LIST: ExportFormatDefinition<SeqRow> = {
  name: 'test-seq',
  label: 'SEQ',
  mediaType: 'text/x-test-seq',
  extension: 'seqs',
  selectList: `e.seq::text as seq, encode(e.entry_hash, 'hex') as entry_hash`,
  preamble: '# seq entry_hash\n',
  encodeBatch: (rows) => rows.map((row) => `${row.seq} ${row.entry_hash}\n`).join(''),
};

describe('the CLI export command', () => {
  it('offers exactly the registered formats as --format choices, NDJSON by default', async () => {
    const help = await runCli(['export', '--help']);
    expect(help.code).toBe(0);
    const choices = /\(choices: ([^)]*?), default: "([^"]+)"\)/.exec(help.stdout.replace(/\s+/g, ' '));
    expect(choices).not.toBeNull();
    expect([...(choices?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((match) => match[1])).toEqual(
      exportFormatNames(),
    );
    expect(choices?.[2]).toBe(DEFAULT_EXPORT_FORMAT);
  });
});

describeEachEngine('HTTP export formats from the registry', (context) => {
  let unregister: () => void = () => undefined;
  // Registered before the server is built (useServer builds it in the next beforeAll).
  beforeAll(() => {
    unregister = registerExportFormat(SEQ_LIST);
  });
  afterAll(() => unregister());
  const server = useServer(context);
  const project = context.project('formats');
  let admin = { authorization: '', id: '' };
  const records: ExecutionRecord[] = [];

  beforeAll(async () => {
    await context.ledger.recordExecutions([makeExecution(project), makeExecution(project)]);
    for await (const record of context.ledger.streamExecutions({ projectId: project })) records.push(record);
    admin = await server.key('admin', [project]);
  });

  it('documents every registered format in /openapi.json: the format enum and the media types', async () => {
    const spec = (await server.send({ method: 'GET', url: '/openapi.json' })).json();
    const route = spec.paths['/v1/projects/{projectId}/export'].get;
    const format = route.parameters.find((parameter: { name: string }) => parameter.name === 'format');
    expect(format.schema.enum).toEqual(exportFormatNames());
    expect(format.schema.enum).toEqual(['csv', 'ndjson', 'test-seq']);
    expect(format.schema.default).toBe(DEFAULT_EXPORT_FORMAT);
    expect(Object.keys(route.responses['200'].content)).toEqual(
      exportFormats().map((candidate) => candidate.mediaType),
    );
    expect(route.summary).toBe("Export a project's executions (CSV, NDJSON or SEQ), streamed");
  });

  it('streams a registered format with its media type and file extension', async () => {
    const reply = await server.send({
      method: 'GET',
      url: `/v1/projects/${project}/export?format=test-seq`,
      headers: { authorization: admin.authorization },
    });
    expect(reply.statusCode).toBe(200);
    expect(reply.headers['content-type']).toBe('text/x-test-seq; charset=utf-8');
    expect(reply.headers['content-disposition']).toBe('attachment; filename="executions.seqs"');
    expect(reply.body).toBe(
      `# seq entry_hash\n${records.map((record) => `${record.seq} ${record.entry_hash}\n`).join('')}`,
    );
  });

  it('names each built-in format file by its extension, and refuses a format never registered', async () => {
    for (const [format, type, file] of [
      ['csv', 'text/csv; charset=utf-8', 'executions.csv'],
      ['ndjson', 'application/x-ndjson; charset=utf-8', 'executions.ndjson'],
    ]) {
      const reply = await server.send({
        method: 'GET',
        url: `/v1/projects/${project}/export?format=${format}`,
        headers: { authorization: admin.authorization },
      });
      expect(reply.headers['content-type']).toBe(type);
      expect(reply.headers['content-disposition']).toBe(`attachment; filename="${file}"`);
    }
    const unknown = await server.send({
      method: 'GET',
      url: `/v1/projects/${project}/export?format=xml`,
      headers: { authorization: admin.authorization },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().code).toBe('VALIDATION_FAILED');
  });

  it('carries replay blobs with blobs=true (NDJSON only), and leaves them out by default', async () => {
    const captured = context.project('blobs');
    const { record } = await context.ledger.run(
      { project_id: captured, user_id: 'u', agent_id: 'a', intent: 'lookup', input: {}, capture: true },
      (ctx) => ctx.call('tool', 'lookup', { q: 'blobs' }, () => ({ found: true })),
    );
    const key = await server.key('admin', [captured]);
    const get = (query: string) =>
      server.send({
        method: 'GET',
        url: `/v1/projects/${captured}/export?${query}`,
        headers: { authorization: key.authorization },
      });
    const plain = await get('format=ndjson');
    expect(plain.statusCode).toBe(200);
    expect(plain.body).not.toContain('replay_blob');
    const withBlobs = await get('format=ndjson&blobs=true');
    expect(withBlobs.statusCode).toBe(200);
    const blobs = withBlobs.body
      .split('\n')
      .filter((line) => line.startsWith('{"replay_blob":'))
      .map((line) => JSON.parse(line).replay_blob);
    expect(blobs.map((blob: { run_id: string }) => blob.run_id)).toEqual([record?.run_id, record?.run_id]);
    const refused = await get('format=csv&blobs=true');
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'blobs' });
    const spec = (await server.send({ method: 'GET', url: '/openapi.json' })).json();
    const parameter = spec.paths['/v1/projects/{projectId}/export'].get.parameters.find(
      (candidate: { name: string }) => candidate.name === 'blobs',
    );
    expect(parameter.schema).toMatchObject({ type: 'boolean', default: false });
  });
});
