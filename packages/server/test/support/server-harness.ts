import { ApiKeyStore, buildServer, type KeyRole, type ServerOptions } from '@execution-ledger/server';
import type { EngineContext } from '@execution-ledger/test-support';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll } from 'vitest';

/** A server over the engine's shared ledger, with helpers to make keys and send requests. */
export interface ServerHarness {
  readonly app: FastifyInstance;
  /** Creates a key and returns the Authorization header that carries it. */
  key(role: KeyRole, projects: string[] | null): Promise<{ authorization: string; id: string }>;
  send(options: InjectOptions): Promise<LightMyRequestResponse>;
}

export function useServer(
  context: EngineContext,
  options: Omit<ServerOptions, 'ledger'> = {},
): ServerHarness {
  let app: FastifyInstance | undefined;
  beforeAll(async () => {
    app = await buildServer({ ledger: context.ledger, ...options });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });
  return {
    get app() {
      if (app === undefined) throw new Error('server used before beforeAll');
      return app;
    },
    async key(role, projects) {
      const created = await new ApiKeyStore(context.ledger).create({
        name: `test ${role}`,
        role,
        projects,
      });
      return { authorization: `Bearer ${created.token}`, id: created.id };
    },
    send(request) {
      return this.app.inject(request);
    },
  };
}

/** The number of stored executions of a project, read past the HTTP layer. */
export async function countStored(context: EngineContext, projectId: string): Promise<number> {
  return (await context.ledger.listExecutions({ projectId }, { limit: 1 })).total;
}
