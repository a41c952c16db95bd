import assert from 'node:assert/strict';
import type { NoteVerifierKey } from 'execution-ledger/verify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../../http/server-context.js';
import type { Permission } from '../../keys/access-policy.js';
import { sendPage } from '../page-layout.js';
import { ProjectDirectory } from '../page-scope.js';
import { agentsPage } from './agents-page.js';
import { failuresPage } from './failures-page.js';
import { integrityPage, verificationProgress, verifyProject } from './integrity-page.js';
import { overviewPage } from './overview-page.js';
import type { PageRenderer, PageRequest } from './page-handler.js';
import { runPage } from './run-page.js';
import { runsPage, sendRunsExport } from './runs-page.js';

/**
 * The dashboard's pages, each with the permission it needs, as `METHOD /path` (the role ×
 * route matrix reads this list to sign in as every kind of key and open every page).
 */
export const DASHBOARD_PAGES: Record<string, Permission> = {
  'GET /': 'read',
  'GET /runs': 'read',
  'GET /export': 'export',
  'GET /runs/{runId}': 'read',
  'GET /agents': 'read',
  'GET /failures': 'read',
  'GET /integrity': 'read',
  'POST /integrity/verify': 'verify',
  'GET /integrity/progress': 'verify',
};

export function registerPages(
  app: FastifyInstance,
  context: ServerContext,
  publicKeys: NoteVerifierKey[] | undefined,
): void {
  const directory = new ProjectDirectory(context.ledger);
  const pageRequest = (request: FastifyRequest): PageRequest => {
    const principal = request.dashboardKey;
    assert(principal !== undefined, 'a dashboard page ran without its session check');
    return {
      request,
      query: (request.query ?? {}) as Record<string, string>,
      principal,
      context,
      directory,
    };
  };
  const page = (path: string, render: PageRenderer<never>) => {
    app.get(path, { schema: { hide: true }, config: { dashboard: 'read' } }, async (request, reply) =>
      sendPage(reply, await (render as PageRenderer)(pageRequest(request))),
    );
  };
  page('/', overviewPage as PageRenderer<never>);
  page('/runs', runsPage as PageRenderer<never>);
  page('/runs/:runId', runPage as PageRenderer<never>);
  page('/agents', agentsPage as PageRenderer<never>);
  page('/failures', failuresPage as PageRenderer<never>);
  page('/integrity', integrityPage as PageRenderer<never>);
  app.get('/export', { schema: { hide: true }, config: { dashboard: 'export' } }, async (request, reply) =>
    sendRunsExport(pageRequest(request), reply),
  );
  app.get(
    '/integrity/progress',
    { schema: { hide: true }, config: { dashboard: 'verify' } },
    async (request) => verificationProgress(pageRequest(request)),
  );
  app.post(
    '/integrity/verify',
    { schema: { hide: true }, config: { dashboard: 'verify' } },
    async (request, reply: FastifyReply) => {
      const entry = await verifyProject(pageRequest(request), publicKeys);
      if (/application\/json/.test(request.headers.accept ?? '')) return entry;
      return reply.redirect('/integrity#main', 303);
    },
  );
}
