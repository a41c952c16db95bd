import { describeEachEngine, makeExecution, present } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';
import { countStored, useServer } from './support/server-harness.js';

/** A JSON body whose intent is `intentBytes`, spliced in as raw bytes. */
function bodyWithIntent(project: string, intentBytes: number[]): Buffer {
  const [before, after] = JSON.stringify(makeExecution(project, { intent: 'MARK' })).split('MARK');
  return Buffer.concat([Buffer.from(present(before)), Buffer.from(intentBytes), Buffer.from(present(after))]);
}

describeEachEngine('HTTP bodies are UTF-8, byte for byte', (context) => {
  const server = useServer(context);
  const post = (authorization: string, payload: Buffer | string, contentType = 'application/json') =>
    server.send({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization, 'content-type': contentType },
      payload,
    });

  it('refuses invalid UTF-8 with 400 VALIDATION_FAILED and stores nothing', async () => {
    const project = context.project();
    const { authorization } = await server.key('ingest', [project]);
    const malformed = [
      [0x63, 0x61, 0x66, 0xe9, 0x20, 0xff], // latin1 é, then a byte UTF-8 never uses
      [0xc0, 0xaf], // overlong '/'
      [0xe2, 0x82], // truncated three-byte sequence
      [0xed, 0xa0, 0x80], // an encoded surrogate
    ];
    for (const bytes of malformed) {
      const answer = await post(authorization, bodyWithIntent(project, bytes));
      expect({ bytes, status: answer.statusCode }).toEqual({ bytes, status: 400 });
      expect(answer.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'body' });
      expect(answer.json().message).toContain('UTF-8');
    }
    expect(await countStored(context, project)).toBe(0);
  });

  it('refuses any charset but utf-8 with 415, and takes utf-8 in any case or no charset', async () => {
    const project = context.project();
    const { authorization } = await server.key('ingest', [project]);
    for (const charset of ['latin1', 'utf-16', 'ISO-8859-1', 'utf-16le', '"us-ascii"']) {
      const body = JSON.stringify(makeExecution(project));
      const answer = await post(authorization, body, `application/json; charset=${charset}`);
      expect({ charset, status: answer.statusCode }).toEqual({ charset, status: 415 });
      expect(answer.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', field: 'content-type' });
    }
    expect(await countStored(context, project)).toBe(0);
    const accepted = [
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset="UTF-8"',
    ];
    for (const contentType of accepted) {
      const execution = makeExecution(project, { intent: 'café ☕ 𝄞 naïve' });
      const answer = await post(authorization, Buffer.from(JSON.stringify(execution), 'utf8'), contentType);
      expect({ contentType, status: answer.statusCode }).toEqual({ contentType, status: 201 });
      expect((await context.ledger.getExecutionByRunId(execution.run_id))?.intent).toBe('café ☕ 𝄞 naïve');
    }
  });
});
