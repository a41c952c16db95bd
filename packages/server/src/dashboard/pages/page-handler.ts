import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../../http/server-context.js';
import type { ApiKeyPrincipal } from '../../keys/access-policy.js';
import type { SafeHtml } from '../html-template.js';
import type { ProjectDirectory } from '../page-scope.js';

/** What a page handler gets: the request, the signed-in key and the server's context. */
export interface PageRequest<Query = Record<string, string | undefined>> {
  request: FastifyRequest;
  query: Query;
  principal: ApiKeyPrincipal;
  context: ServerContext;
  directory: ProjectDirectory;
}

export type PageRenderer<Query = Record<string, string | undefined>> = (
  page: PageRequest<Query>,
) => Promise<SafeHtml>;
