import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { type Ledger, LedgerError } from 'execution-ledger';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  BODY_BYTES_MAX_DEFAULT,
  KEY_CACHE_TTL_MS_DEFAULT,
  RATE_LIMIT_REQUESTS_MAX_DEFAULT,
  RATE_LIMIT_WINDOW_MS_DEFAULT,
  URL_PARAM_CHARS_MAX,
} from './bounds.js';
import {
  installPeriodicCheckpoints,
  type PeriodicCheckpointOptions,
} from './checkpoints/periodic-checkpoints.js';
import { type DashboardOptions, registerDashboard } from './dashboard/dashboard-routes.js';
import { sendError, toErrorBody } from './http/error-reply.js';
import { ReadLagMonitor } from './http/read-lag.js';
import type { ServerContext } from './http/server-context.js';
import { ServerMetrics } from './http/server-metrics.js';
import { type SocketTimeoutOptions, socketTimeoutOptions } from './http/socket-timeouts.js';
import { parseStrictJson } from './http/strict-json-parser.js';
import { installUrlIdGuard } from './http/url-id-guard.js';
import { decodeUtf8Body, requireUtf8Charset } from './http/utf8-body-decoder.js';
import { buildValidatorCompiler } from './http/validator-compiler.js';
import { requirePermission } from './keys/access-policy.js';
import { ApiKeyStore } from './keys/api-key-store.js';
import { KeyAuthenticator } from './keys/key-authenticator.js';
import { openApiDocument } from './openapi-document.js';
import { registerAllocationRoutes } from './routes/allocation-routes.js';
import { registerAnalyticsRoutes } from './routes/analytics-routes.js';
import { registerBudgetRoutes } from './routes/budget-routes.js';
import { registerCheckpointRoutes } from './routes/checkpoint-routes.js';
import { registerCostRankingRoutes } from './routes/cost-ranking-routes.js';
import { registerReadRoutes } from './routes/execution-read-routes.js';
import { registerWriteRoutes } from './routes/execution-write-routes.js';
import { registerExportRoutes } from './routes/export-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerKeyRoutes } from './routes/key-routes.js';
import { registerLineageRoutes } from './routes/lineage-routes.js';
import { type OtlpOptions, registerOtlpRoutes } from './routes/otlp-routes.js';
import { registerStatsRoutes } from './routes/stats-routes.js';
import { registerStepCostRoutes } from './routes/step-cost-routes.js';
import { registerVerifyRoutes } from './routes/verify-routes.js';
import { registerWebhookRoutes } from './routes/webhook-routes.js';
import { ProjectVerifier } from './verifications/project-verifier.js';
import { installWebhookDelivery, type WebhookDeliveryOptions } from './webhooks/webhook-delivery.js';

export interface ServerOptions {
  /** The ledger the service reads and appends to. */
  ledger: Ledger;
  /** Close the ledger when the server closes (after in-flight appends finish); default false. */
  closeLedger?: boolean;
  /** An operator-chosen admin key for every project, registered when the server starts. */
  adminKey?: string;
  /** Largest request body in bytes; larger ones are refused with 413 PAYLOAD_TOO_LARGE. */
  bodyLimitBytes?: number;
  /** Requests per key per window; false turns the limit off (benchmarks). */
  rateLimit?: { requestsMax: number; windowMs: number } | false;
  /** How long a key lookup is cached; revocations through this server apply at once regardless. */
  keyCacheTtlMs?: number;
  /** Socket timeouts in ms (request, headers, connection inactivity, keep-alive); see bounds.ts. */
  timeouts?: SocketTimeoutOptions;
  /** Fastify's logger option; default off. Never logs bodies or keys. */
  logger?: FastifyServerOptions['logger'];
  /** Sign a checkpoint at start and every interval (default 60 s) when some project's head moved. */
  checkpoints?: PeriodicCheckpointOptions;
  /** OTLP ingest on POST /v1/traces: grace period, maximum wait, staging bound, prices (docs/otel.md). */
  otlp?: OtlpOptions;
  /** The web dashboard at / (docs/dashboard.md): its session secret and lifetime. */
  dashboard?: DashboardOptions;
  /** Deliver events to the webhook endpoints while the server runs (docs/budgets.md). */
  webhooks?: WebhookDeliveryOptions;
}

/**
 * The HTTP service as a Fastify instance that is not listening: tests call inject(), the CLI's
 * `serve` calls listen(). Every route has a JSON schema; together they are /openapi.json.
 */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimitBytes ?? BODY_BYTES_MAX_DEFAULT;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit,
    ...socketTimeoutOptions(options.timeouts ?? {}),
    // Run ids are client-chosen text and may hold any character; keep the router from cutting them.
    routerOptions: { maxParamLength: URL_PARAM_CHARS_MAX },
  });
  const store = new ApiKeyStore(options.ledger);
  const metrics = new ServerMetrics();
  const context: ServerContext = {
    ledger: options.ledger,
    reads: options.ledger.reads,
    readLag: new ReadLagMonitor(options.ledger, metrics.registry),
    keys: store,
    authenticator: new KeyAuthenticator(store, options.keyCacheTtlMs ?? KEY_CACHE_TTL_MS_DEFAULT),
    metrics,
    verifier: new ProjectVerifier(options.ledger),
  };
  app.setValidatorCompiler(buildValidatorCompiler());
  installJsonParser(app);
  app.setErrorHandler((error, request, reply) => {
    context.metrics.countRejection(toErrorBody(error).code);
    return sendError(error, request, reply);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      new LedgerError(
        'ROUTE_NOT_FOUND',
        `no route answers ${request.method} ${request.url.split('?')[0]}; see /openapi.json`,
      ),
      request,
      reply,
    ),
  );
  context.metrics.attach(app);
  context.readLag.install(app);
  installAuthentication(app, context);
  installUrlIdGuard(app, options.ledger.limits);
  await installRateLimit(app, options.rateLimit);
  await app.register(swagger, openApiDocument());
  registerHealthRoutes(app, context);
  registerWriteRoutes(app, context);
  registerReadRoutes(app, context);
  registerStatsRoutes(app, context);
  registerAnalyticsRoutes(app, context);
  registerStepCostRoutes(app, context);
  registerCostRankingRoutes(app, context);
  registerExportRoutes(app, context);
  registerVerifyRoutes(app, context);
  registerCheckpointRoutes(app, context);
  registerKeyRoutes(app, context);
  registerOtlpRoutes(app, context, options.otlp);
  registerLineageRoutes(app, context);
  registerBudgetRoutes(app, context);
  registerWebhookRoutes(app, context);
  await registerDashboard(app, context, options.dashboard);
  registerAllocationRoutes(app, context);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  if (options.adminKey !== undefined) {
    const adminKey = options.adminKey;
    app.addHook('onReady', async () => {
      await store.ensureOperatorKey(adminKey, 'adminKey');
    });
  }
  if (options.checkpoints !== undefined) installPeriodicCheckpoints(app, context, options.checkpoints);
  if (options.webhooks !== undefined) installWebhookDelivery(app, options.ledger, options.webhooks);
  installGracefulClose(app);
  if (options.closeLedger === true) app.addHook('onClose', async () => options.ledger.close());
  return app;
}

/**
 * close() waits for every connection to end, and clients keep connections open (72 s by
 * default, KEEP_ALIVE_TIMEOUT_MS_DEFAULT). Once closing starts, each in-flight request still gets its
 * answer, with `Connection: close`, and its connection then ends, so close() returns as soon
 * as the last in-flight request (an append included) is answered.
 */
function installGracefulClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request) => {
    // A response whose headers were sent just before closing began: end its connection now.
    if (closing) request.raw.socket?.destroySoon();
  });
}

/**
 * Only JSON bodies in UTF-8, parsed strictly (see strict-json-parser.ts); anything else is 415.
 * Read as bytes: Node's own string decoding turns invalid UTF-8 into U+FFFD without a word.
 */
function installJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      requireUtf8Charset(request.headers['content-type']);
      done(null, parseStrictJson(decodeUtf8Body(body as Buffer)));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

/** Routes that name a permission need a valid key holding it; the others are public. */
function installAuthentication(app: FastifyInstance, context: ServerContext): void {
  app.addHook('onRequest', async (request) => {
    const permission = request.routeOptions.config?.permission;
    if (permission === undefined) return;
    const key = await context.authenticator.authenticate(request.headers.authorization);
    request.apiKey = key;
    requirePermission(key, permission);
  });
}

async function installRateLimit(app: FastifyInstance, limit: ServerOptions['rateLimit']): Promise<void> {
  if (limit === false) return;
  await app.register(rateLimit, {
    global: true,
    // After authentication (onRequest), so the bucket is the key, not whoever claims to be it.
    hook: 'preParsing',
    max: limit?.requestsMax ?? RATE_LIMIT_REQUESTS_MAX_DEFAULT,
    timeWindow: limit?.windowMs ?? RATE_LIMIT_WINDOW_MS_DEFAULT,
    keyGenerator: (request) =>
      request.apiKey === undefined ? `ip:${request.ip}` : `key:${request.apiKey.id}`,
    allowList: (request) => request.routeOptions.config?.permission === undefined,
    errorResponseBuilder: (_request, context) =>
      new LedgerError(
        'RATE_LIMITED',
        `this API key sent more than ${context.max} requests in ${context.after}; retry after ${context.after}`,
      ),
  });
}
