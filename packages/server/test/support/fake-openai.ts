import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted answer of the fake model: text, or tool calls, and the usage it reports. */
export interface FakeCompletion {
  model: string;
  content?: string;
  toolCalls?: { id: string; name: string; arguments: string }[];
  usage: { input: number; output: number; cached?: number };
}

export interface FakeOpenAI {
  /** The base URL an OpenAI client takes (`…/v1`). */
  readonly baseURL: string;
  /** The JSON bodies received, in order. */
  readonly requests: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * A local HTTP server speaking OpenAI's chat-completions shape (`POST /v1/chat/completions`,
 * non-streaming), answering each request with the next scripted completion: the real client
 * libraries and their instrumentations run against it without a network.
 */
export async function startFakeOpenAI(script: FakeCompletion[]): Promise<FakeOpenAI> {
  const requests: Record<string, unknown>[] = [];
  let next = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answer = script[next];
      if (request.method !== 'POST' || !request.url?.endsWith('/chat/completions') || answer === undefined) {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ error: { message: `no scripted answer for ${request.method} ${request.url}` } }),
        );
        return;
      }
      next += 1;
      requests.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      const toolCalls = answer.toolCalls?.map((call) => ({
        id: call.id,
        type: 'function',
        function: { name: call.name, arguments: call.arguments },
      }));
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          id: `chatcmpl-${next}`,
          object: 'chat.completion',
          created: 1_765_000_000 + next,
          model: answer.model,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: answer.content ?? null,
                refusal: null,
                ...(toolCalls === undefined ? {} : { tool_calls: toolCalls }),
              },
              finish_reason: toolCalls === undefined ? 'stop' : 'tool_calls',
              logprobs: null,
            },
          ],
          usage: {
            prompt_tokens: answer.usage.input,
            completion_tokens: answer.usage.output,
            total_tokens: answer.usage.input + answer.usage.output,
            prompt_tokens_details: { cached_tokens: answer.usage.cached ?? 0 },
          },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
