import { describeEachEngine, makeExecution } from '@execution-ledger/test-support';
import { beforeAll, expect, it } from 'vitest';
import { useServer } from './support/server-harness.js';

describeEachEngine('ids in URLs obey the rules of ids in bodies', (context) => {
  const server = useServer(context);
  let project = '';
  let reader = '';

  beforeAll(async () => {
    project = context.project();
    await context.ledger.recordExecution(makeExecution(project));
    reader = (await server.key('admin', null)).authorization;
  });

  const get = (url: string) => server.send({ method: 'GET', url, headers: { authorization: reader } });

  it('answers 400 VALIDATION_FAILED naming the parameter for a NUL in any path or query id', async () => {
    const cases: [string, string][] = [
      ['/v1/executions/a%00b', 'runId'],
      ['/v1/projects/p%00/executions', 'projectId'],
      [`/v1/projects/${project}/executions?user_id=%00`, 'user_id'],
      [`/v1/projects/${project}/executions?agent_id=%00`, 'agent_id'],
      ['/v1/projects/p%00/stats', 'projectId'],
      ['/v1/projects/p%00/failed', 'projectId'],
      ['/v1/projects/p%00/export', 'projectId'],
      [`/v1/projects/${project}/percentiles?agent_id=%00`, 'agent_id'],
      ['/v1/agents/%00/stats', 'agentId'],
      ['/v1/agents/a%00/executions', 'agentId'],
      [`/v1/agents/backend/executions?project_id=${project}%00`, 'project_id'],
      [`/v1/agents/backend/stats?project_id=%00${project}`, 'project_id'],
    ];
    for (const [url, field] of cases) {
      const answer = await get(url);
      expect({ url, status: answer.statusCode }).toEqual({ url, status: 400 });
      expect(answer.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
      expect(answer.json().message).toMatch(new RegExp(`^${field} contains a control character`));
    }
  });

  it('applies the same length, whitespace and control-character rules as bodies do', async () => {
    const tooLong = await get(`/v1/executions/${'r'.repeat(context.ledger.limits.id_chars_max + 1)}`);
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'runId' });
    expect(tooLong.json().message).toContain(`more than ${context.ledger.limits.id_chars_max}`);
    const padded = await get(`/v1/projects/${project}/executions?user_id=%20user`);
    expect(padded.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'user_id' });
    const newline = await get('/v1/executions/run%0A1');
    expect(newline.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'runId' });
    const loneSurrogate = await get('/v1/executions/%ED%A0%80');
    expect(loneSurrogate.statusCode).toBeLessThan(500);
  });

  it('still answers valid ids as before', async () => {
    expect((await get(`/v1/projects/${project}/executions`)).json().total).toBe(1);
    expect((await get('/v1/executions/no-such-run')).statusCode).toBe(404);
  });
});
