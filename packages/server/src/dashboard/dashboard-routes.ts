import cookie from '@fastify/cookie';
import { isLedgerError, LedgerError } from 'execution-ledger';
import { parsePublicKeys } from 'execution-ledger/verify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DASHBOARD_FORM_BYTES_MAX, DASHBOARD_SESSION_TTL_MS_DEFAULT } from '../bounds.js';
import { toErrorBody } from '../http/error-reply.js';
import type { ServerContext } from '../http/server-context.js';
import { type ApiKeyPrincipal, hasPermission, type Permission } from '../keys/access-policy.js';
import { loadDashboardAssets } from './dashboard-assets.js';
import {
  endSession,
  SESSION_COOKIE,
  SESSION_SECRET_CHARS_MIN,
  SignedOutSessions,
  sessionClaims,
  sessionPrincipal,
  sessionSecret,
  startSession,
} from './dashboard-session.js';
import { errorNotice, pageLayout, sendPage } from './page-layout.js';
import { registerPages } from './pages/register-pages.js';
import { signInPage } from './pages/sign-in-page.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a dashboard page needs from the signed-in key; 'public' pages need no session. */
    dashboard?: Permission | 'public';
  }
  interface FastifyRequest {
    /** The key behind the dashboard session; set on every dashboard page that needs one. */
    dashboardKey?: ApiKeyPrincipal;
  }
}

export interface DashboardOptions {
  /**
   * Signs the session cookies (HMAC-SHA256), at least 32 characters; the `serve` command reads
   * EXECUTION_LEDGER_SESSION_SECRET. Without one, a random secret is made at start, so a
   * restart signs everyone out and several processes behind one balancer do not share sessions.
   */
  sessionSecret?: string;
  /** How long a session lasts after sign-in, in ms. */
  sessionTtlMs?: number;
  /**
   * The public key(s) checkpoint signatures are checked with when a project is verified from the
   * dashboard: the text of a public key file, or keys (`serve` passes its --checkpoint-key).
   * Without one, pages say the signature was not checked.
   */
  publicKey?: unknown;
}

/**
 * Pages that read only, served same-origin: scripts and styles from /assets only, no inline
 * script or style, no frames, forms posting only here.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** The web dashboard at /, in an encapsulated context so its cookie, form parser and hooks stay its own. */
export async function registerDashboard(
  app: FastifyInstance,
  context: ServerContext,
  options: DashboardOptions = {},
): Promise<void> {
  if (options.sessionSecret !== undefined && options.sessionSecret.length < SESSION_SECRET_CHARS_MIN) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `dashboard.sessionSecret must have at least ${SESSION_SECRET_CHARS_MIN} characters; generate one with \`openssl rand -base64 32\``,
      { field: 'sessionSecret' },
    );
  }
  const ttlMs = options.sessionTtlMs ?? DASHBOARD_SESSION_TTL_MS_DEFAULT;
  // Parsed now: a bad key stops the server from starting instead of failing each verification.
  const publicKeys =
    options.publicKey === undefined ? undefined : parsePublicKeys(options.publicKey, 'dashboard.publicKey');
  const assets = loadDashboardAssets();
  const signedOut = new SignedOutSessions();
  await app.register(async (dashboard) => {
    await dashboard.register(cookie, { secret: sessionSecret(options.sessionSecret) });
    dashboard.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: DASHBOARD_FORM_BYTES_MAX },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    dashboard.addHook('onSend', async (_request, reply, payload) => {
      reply.header('content-security-policy', DASHBOARD_CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'same-origin');
      return payload;
    });
    dashboard.addHook('onRequest', async (request, reply) =>
      requireSession(request, reply, context, signedOut),
    );
    dashboard.setErrorHandler((error, request, reply) => sendErrorPage(error, request, reply));

    dashboard.get<{ Params: { name: string } }>(
      '/assets/:name',
      { schema: { hide: true }, config: { dashboard: 'public' } },
      async (request, reply) => {
        const asset = assets.get(request.params.name);
        if (asset === undefined) throw new LedgerError('NOT_FOUND', `no asset ${request.params.name}`);
        reply.header('etag', asset.etag).header('cache-control', 'public, max-age=3600').type(asset.type);
        if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
        const gzip = /\bgzip\b/.test(request.headers['accept-encoding'] ?? '');
        reply.header('vary', 'accept-encoding');
        if (gzip) return reply.header('content-encoding', 'gzip').send(asset.gzipped);
        return reply.send(asset.body);
      },
    );

    dashboard.get<{ Querystring: { next?: string; ended?: string; signed_out?: string } }>(
      '/sign-in',
      { schema: { hide: true }, config: { dashboard: 'public' } },
      async (request, reply) => {
        const { query } = request;
        const info =
          query.signed_out !== undefined
            ? 'You are signed out.'
            : query.ended !== undefined
              ? 'Your session has ended (it expired, or its key was revoked). Sign in again.'
              : undefined;
        return sendPage(
          reply,
          signInPage({ next: safeNext(query.next), ...(info === undefined ? {} : { info }) }),
        );
      },
    );

    dashboard.post<{ Body: { key?: string; next?: string } }>(
      '/sign-in',
      { schema: { hide: true }, config: { dashboard: 'public' } },
      async (request, reply) => {
        const next = safeNext(request.body?.next);
        const token = (request.body?.key ?? '').trim();
        let principal: ApiKeyPrincipal;
        try {
          if (token === '') throw new LedgerError('UNAUTHENTICATED', 'enter an API key to sign in');
          principal = await context.authenticator.authenticate(`Bearer ${token}`);
        } catch (error) {
          if (!isLedgerError(error) || error.code !== 'UNAUTHENTICATED') throw error;
          return sendPage(
            reply.code(401),
            signInPage({ next, message: signInMessage(token), code: 'UNAUTHENTICATED' }),
          );
        }
        if (!hasPermission(principal, 'read')) {
          const message = `The key ${principal.name} has the role ${principal.role}, which may only record runs. Sign in with a key of role read or admin.`;
          return sendPage(reply.code(403), signInPage({ next, message, code: 'PERMISSION_DENIED' }));
        }
        startSession(reply, principal.id, ttlMs, request.protocol === 'https');
        return reply.redirect(next, 303);
      },
    );

    dashboard.post(
      '/sign-out',
      { schema: { hide: true }, config: { dashboard: 'public' } },
      async (request, reply) => {
        const claims = sessionClaims(request);
        if (claims !== undefined) signedOut.add(claims.sessionId, claims.expiresAtMs);
        endSession(reply, request.protocol === 'https');
        return reply.redirect('/sign-in?signed_out=1', 303);
      },
    );

    registerPages(dashboard, context, publicKeys);
  });
}

function signInMessage(token: string): string {
  return token === ''
    ? 'Enter an API key to sign in.'
    : 'This API key is unknown or has been revoked. Check that you pasted the whole key, or ask an admin for a new one (execution-ledger keys create).';
}

/** Only a path of this site: an absolute or protocol-relative URL would send the user elsewhere. */
function safeNext(next: string | undefined): string {
  return next !== undefined && /^\/(?![/\\])/.test(next) ? next : '/';
}

async function requireSession(
  request: FastifyRequest,
  reply: FastifyReply,
  context: ServerContext,
  signedOut: SignedOutSessions,
) {
  const needed = request.routeOptions.config?.dashboard;
  if (needed === undefined || needed === 'public') return;
  const principal = await sessionPrincipal(request, context.keys, signedOut);
  if (principal === undefined) {
    if (request.method !== 'GET')
      throw new LedgerError('UNAUTHENTICATED', 'your session has ended; sign in again');
    // A cookie that no longer holds (expired, key revoked, secret changed) gets a word on the sign-in page.
    const ended = request.cookies[SESSION_COOKIE] === undefined ? '' : '&ended=1';
    return reply.redirect(`/sign-in?next=${encodeURIComponent(request.url)}${ended}`, 303);
  }
  if (!hasPermission(principal, needed)) {
    throw new LedgerError(
      'PERMISSION_DENIED',
      `the key ${principal.name} has the role ${principal.role}, which may not do this here; sign in with an admin key`,
    );
  }
  request.dashboardKey = principal;
}

/** Errors as a page with the message a caller can act on; an unexpected one only says so (its stack goes to the log). */
function sendErrorPage(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const body = toErrorBody(error);
  if (body.statusCode >= 500) request.log.error({ err: error }, 'dashboard page failed');
  const title =
    body.statusCode === 404
      ? 'Not found'
      : body.statusCode >= 500
        ? 'Something went wrong'
        : 'Cannot show this';
  const page = pageLayout(
    { title, ...(request.dashboardKey === undefined ? {} : { principal: request.dashboardKey }) },
    errorNotice(body.message, body.code),
  );
  return sendPage(reply.code(body.statusCode), page);
}
