import { type Command, InvalidArgumentError } from 'commander';
import {
  createLedger,
  createShardedLedger,
  type Ledger,
  LedgerError,
  type SigningKey,
} from 'execution-ledger';
import {
  CHECKPOINT_INTERVAL_MS_DEFAULT,
  CHECKPOINT_INTERVAL_MS_MAX,
  CONNECTION_TIMEOUT_MS_DEFAULT,
  HEADERS_TIMEOUT_MS_DEFAULT,
  KEEP_ALIVE_TIMEOUT_MS_DEFAULT,
  REQUEST_TIMEOUT_MS_DEFAULT,
  SHUTDOWN_GRACE_MS_DEFAULT,
} from '../../bounds.js';
import { buildServer } from '../../build-server.js';
import type { SocketTimeoutOptions } from '../../http/socket-timeouts.js';
import { ApiKeyStore } from '../../keys/api-key-store.js';
import { requireOperatorToken } from '../../keys/api-key-token.js';
import { shardedServiceLedger } from '../../sharding/sharded-service-ledger.js';
import { readSigningKeyFile } from '../key-file-input.js';
import { databaseTarget, ledgerOptions } from '../open-ledger.js';
import { CHECKPOINT_KEY_VARIABLE } from './checkpoint-command.js';
import { collect, globalOptions, positiveInteger, withExample } from './command-options.js';
import { CATALOG_URL_VARIABLE, parseShardFlags } from './shards-command.js';

interface ServeOptions {
  host: string;
  port: number;
  bodyLimit?: number;
  rateLimit?: number;
  logLevel: string;
  checkpointKey?: string;
  checkpointInterval?: number;
  allowPrivilegedRole?: boolean;
  requestTimeout?: number;
  headersTimeout?: number;
  connectionTimeout?: number;
  keepAliveTimeout?: number;
  otlpGrace?: number;
  otlpMaxWait?: number;
  readUrl?: string;
  catalog?: string;
  shard?: string[];
}

/** The shards a sharded service routes to: the catalog and every shard's URL. */
interface ServeShards {
  catalog: string;
  shards: Record<string, string>;
}

const ADMIN_KEY_VARIABLE = 'EXECUTION_LEDGER_ADMIN_KEY';
/** Signs dashboard session cookies; without it each start makes a random one (docs/dashboard.md). */
const SESSION_SECRET_VARIABLE = 'EXECUTION_LEDGER_SESSION_SECRET';

export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description('run the HTTP API until SIGTERM or Ctrl-C (finishing in-flight appends first)')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option(
      '--port <number>',
      'port to listen on (0: any free port)',
      (text) => Number(text),
      Number(process.env.PORT ?? 3000),
    )
    .option('--body-limit <bytes>', 'largest request body accepted', positiveInteger)
    .option('--rate-limit <requests>', 'requests per API key per minute', positiveInteger)
    .option('--log-level <level>', 'fatal, error, warn, info, debug or silent', 'info')
    .option(
      '--request-timeout <ms>',
      `time to receive a whole request, or 408 (default ${REQUEST_TIMEOUT_MS_DEFAULT})`,
      positiveInteger,
    )
    .option(
      '--headers-timeout <ms>',
      `time to receive request headers, or 408 (default ${HEADERS_TIMEOUT_MS_DEFAULT})`,
      positiveInteger,
    )
    .option(
      '--connection-timeout <ms>',
      `close a socket idle this long (default ${CONNECTION_TIMEOUT_MS_DEFAULT})`,
      positiveInteger,
    )
    .option(
      '--keep-alive-timeout <ms>',
      `close an idle keep-alive socket after this (default ${KEEP_ALIVE_TIMEOUT_MS_DEFAULT})`,
      positiveInteger,
    )
    .option(
      '--checkpoint-key <file>',
      `sign checkpoints with this key when entries change (default: the file named by ${CHECKPOINT_KEY_VARIABLE})`,
    )
    .option(
      '--checkpoint-interval <seconds>',
      `seconds between checkpoint runs (default ${CHECKPOINT_INTERVAL_MS_DEFAULT / 1000}; needs a key)`,
      intervalSeconds,
    )
    .option(
      '--otlp-grace <ms>',
      'OTLP: quiet time after a trace ends before its runs are recorded (default 30000)',
      positiveInteger,
    )
    .option(
      '--otlp-max-wait <ms>',
      'OTLP: longest a trace waits for its root span (default 600000)',
      positiveInteger,
    )
    .option(
      '--read-url <url>',
      'a PostgreSQL standby (or the primary) that serves statistics, lists, exports and dashboard figures; ' +
        'their answers state its lag (x-read-lag-ms), as /metrics does (default: the database)',
    )
    .option(
      '--shard <name=url>',
      "serve projects sharded over several servers (docs/scaling.md): a shard's ledger, once per shard; " +
        'appends and reads of a project go to its shard, and --database keeps the service’s own tables',
      collect,
    )
    .option('--catalog <url>', `the shard catalog, with --shard (default: ${CATALOG_URL_VARIABLE})`)
    .option(
      '--allow-privileged-role',
      'serve even when the database role is the owner, a superuser or BYPASSRLS (the guards then do not hold it)',
    )
    .action(async (options: ServeOptions, self: Command) => {
      await serve(globalOptions(self), options);
    });
  withExample(
    command,
    'execution-ledger serve --port 3000',
    `${ADMIN_KEY_VARIABLE}=… execution-ledger serve --database postgres://…`,
    'execution-ledger serve --checkpoint-key checkpoint.key --checkpoint-interval 60',
    'execution-ledger serve --database postgres://…/catalog --catalog postgres://…/catalog --shard s0=postgres://… --shard s1=postgres://…',
  );
}

function intervalSeconds(text: string): number {
  const seconds = positiveInteger(text);
  if (seconds * 1000 > CHECKPOINT_INTERVAL_MS_MAX)
    throw new InvalidArgumentError(`expected at most ${CHECKPOINT_INTERVAL_MS_MAX / 1000} seconds (one day)`);
  return seconds;
}

/** The periodic checkpoints asked for, with the key read now: a bad key stops serve before it opens anything. */
interface ServeCheckpoints {
  privateKey: SigningKey;
  intervalMs: number;
}

async function checkpointOptions(options: ServeOptions): Promise<ServeCheckpoints | undefined> {
  const file = options.checkpointKey ?? process.env[CHECKPOINT_KEY_VARIABLE];
  if (file === undefined || file === '') {
    if (options.checkpointInterval === undefined) return undefined;
    throw new LedgerError(
      'VALIDATION_FAILED',
      `--checkpoint-interval needs a signing key: add --checkpoint-key <file> or set ${CHECKPOINT_KEY_VARIABLE}`,
      { field: '--checkpoint-interval' },
    );
  }
  return {
    privateKey: await readSigningKeyFile(file, '--checkpoint-key'),
    intervalMs: (options.checkpointInterval ?? CHECKPOINT_INTERVAL_MS_DEFAULT / 1000) * 1000,
  };
}

async function serve(global: ReturnType<typeof globalOptions>, options: ServeOptions): Promise<void> {
  const adminKey = process.env[ADMIN_KEY_VARIABLE];
  // Checked before the database is opened, so the message names the variable the user set.
  if (adminKey !== undefined && adminKey !== '') requireOperatorToken(adminKey, ADMIN_KEY_VARIABLE);
  const shards = serveShards(options);
  const keyFile = options.checkpointKey ?? process.env[CHECKPOINT_KEY_VARIABLE];
  if (shards !== undefined && keyFile !== undefined && keyFile !== '')
    throw new LedgerError(
      'VALIDATION_FAILED',
      `a sharded service signs no checkpoints of its own: sign them over every shard with \`execution-ledger shards checkpoint\`; leave out --checkpoint-key (and ${CHECKPOINT_KEY_VARIABLE})`,
      { field: '--checkpoint-key' },
    );
  const checkpoints = await checkpointOptions(options);
  const sessionSecret = process.env[SESSION_SECRET_VARIABLE];
  const home = await openServiceLedger(global, options.allowPrivilegedRole === true, options.readUrl);
  const ledger = shards === undefined ? home : await openShardedService(home, shards);
  const app = await buildServer({
    ledger,
    closeLedger: true,
    ...(adminKey === undefined || adminKey === '' ? {} : { adminKey }),
    ...(options.bodyLimit === undefined ? {} : { bodyLimitBytes: options.bodyLimit }),
    ...(options.rateLimit === undefined
      ? {}
      : { rateLimit: { requestsMax: options.rateLimit, windowMs: 60_000 } }),
    timeouts: timeoutOptions(options),
    logger: options.logLevel === 'silent' ? false : { level: options.logLevel },
    ...(checkpoints === undefined ? {} : { checkpoints }),
    otlp: { graceMs: options.otlpGrace, maxWaitMs: options.otlpMaxWait },
    dashboard: {
      ...(sessionSecret === undefined || sessionSecret === '' ? {} : { sessionSecret }),
      ...(checkpoints === undefined ? {} : { publicKey: checkpoints.privateKey }),
    },
    // Webhooks read the events of one server; a sharded service delivers none (NOT_SHARDED).
    ...(shards === undefined ? { webhooks: {} } : {}),
  });
  const firstKey = adminKey ? undefined : await firstAdminKey(ledger);
  const address = await app.listen({ host: options.host, port: options.port });
  process.stdout.write(`Dashboard: ${address}/ (sign in with an API key of role read or admin)\n`);
  process.stdout.write(`Execution Ledger is listening on ${address} (database: ${describe(global)})\n`);
  if (shards !== undefined)
    process.stdout.write(
      `Projects sharded over ${Object.keys(shards.shards).join(', ')} (catalog: ${redacted(shards.catalog)})\n`,
    );
  if (options.readUrl !== undefined) {
    const lag = await ledger.readLag();
    process.stdout.write(
      `Reads that may lag (statistics, lists, exports): ${redacted(options.readUrl)}, a ${lag.source}, ` +
        `${lag.lag_ms === null ? 'lag unknown' : `${lag.lag_ms} ms behind`}\n`,
    );
  }
  if (checkpoints !== undefined) process.stdout.write(describeCheckpoints(checkpoints));
  process.stdout.write(nextStep(address, firstKey));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write(`${signal}: finishing in-flight requests, then stopping\n`);
    // A client that never lets go of its request must not keep the process up forever.
    setTimeout(() => {
      process.stderr.write(`gave up waiting after ${SHUTDOWN_GRACE_MS_DEFAULT} ms\n`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS_DEFAULT).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function serveShards(options: ServeOptions): ServeShards | undefined {
  const shards = parseShardFlags(options.shard);
  if (Object.keys(shards).length === 0) {
    if (options.catalog === undefined) return undefined;
    throw new LedgerError(
      'VALIDATION_FAILED',
      '--catalog needs every shard: add --shard name=postgres://… for each shard the catalog lists',
      { field: '--shard' },
    );
  }
  const catalog = options.catalog ?? process.env[CATALOG_URL_VARIABLE];
  if (catalog === undefined || catalog === '')
    throw new LedgerError(
      'VALIDATION_FAILED',
      `--shard needs the shard catalog: pass --catalog postgres://… or set ${CATALOG_URL_VARIABLE}`,
      { field: '--catalog' },
    );
  return { catalog, shards };
}

/**
 * The sharded service's ledger over the home one (API keys and the service's tables): the
 * catalog must list exactly shards it was given URLs for, and every shard must answer.
 */
async function openShardedService(home: Ledger, shards: ServeShards): Promise<Ledger> {
  const sharded = createShardedLedger({ catalog: shards.catalog, shards: shards.shards, migrate: false });
  try {
    await sharded.ready();
  } catch (error) {
    await Promise.allSettled([sharded.close(), home.close()]);
    throw error;
  }
  return shardedServiceLedger(home, sharded);
}

function timeoutOptions(options: ServeOptions): SocketTimeoutOptions {
  const timeouts: SocketTimeoutOptions = {};
  if (options.requestTimeout !== undefined) timeouts.requestTimeoutMs = options.requestTimeout;
  if (options.headersTimeout !== undefined) timeouts.headersTimeoutMs = options.headersTimeout;
  if (options.connectionTimeout !== undefined) timeouts.connectionTimeoutMs = options.connectionTimeout;
  if (options.keepAliveTimeout !== undefined) timeouts.keepAliveTimeoutMs = options.keepAliveTimeout;
  return timeouts;
}

/**
 * Opens the ledger the service writes through. On a server the role is checked before anything
 * else: a role that could switch the guards off is refused unless the operator said otherwise.
 * The schema is then migrated only if this role may (the embedded engine, an allowed owner);
 * a runtime role just confirms that it is current and otherwise says to migrate as the owner.
 */
async function openServiceLedger(
  global: ReturnType<typeof globalOptions>,
  allowPrivileged: boolean,
  readUrl: string | undefined,
): Promise<Ledger> {
  const ledger = createLedger({
    ...ledgerOptions(global),
    migrate: false,
    ...(readUrl === undefined ? {} : { readDatabase: readUrl }),
  });
  try {
    if (!allowPrivileged) await ledger.operations.assertRuntimeRole();
    else {
      const review = await ledger.operations.reviewRuntimeRole();
      if (review !== undefined && review.privileges.length > 0)
        process.stderr.write(
          `warning: serving as role ${review.role}, which ${review.privileges.join('; ')} ` +
            '(--allow-privileged-role): only verification and checkpoints would show a rewrite\n',
        );
    }
    await ledger.migrate();
    // A read URL that does not answer stops serve now rather than failing every statistics request.
    if (readUrl !== undefined) await ledger.readLag();
    return ledger;
  } catch (error) {
    await ledger.close();
    throw error;
  }
}

/**
 * A fresh ledger has no key, and on the embedded database no other process can create one
 * while the server holds the folder: the server creates the first admin key and shows it once.
 */
async function firstAdminKey(ledger: Ledger): Promise<string | undefined> {
  const store = new ApiKeyStore(ledger);
  const keys = await store.list();
  if (keys.some((key) => key.role === 'admin' && key.revoked_at === null)) return undefined;
  const created = await store.create({
    name: 'first admin key (created by serve)',
    role: 'admin',
    projects: null,
  });
  return created.token;
}

function nextStep(address: string, firstKey: string | undefined): string {
  const key = firstKey ?? '<your API key>';
  const intro = firstKey
    ? `\nFirst admin key (shown once, store it now):\n  ${firstKey}\n`
    : '\nUse an API key from `execution-ledger keys create` (or the admin key you set).\n';
  return (
    `${intro}\nNext: record a run and read it back:\n` +
    `  curl -s -X POST ${address}/v1/executions -H 'authorization: Bearer ${key}' -H 'content-type: application/json' \\\n` +
    `    -d '{"run_id":"run-1","project_id":"proj-001","user_id":"user-001","agent_id":"backend","intent":"Deploy","input":{},"cost":850,"execution_trace":{"steps":[],"duration_ms":1200},"status":"completed"}'\n` +
    `  curl -s ${address}/v1/executions/run-1 -H 'authorization: Bearer ${key}'\n` +
    `API description: ${address}/openapi.json\n`
  );
}

function describeCheckpoints({ privateKey, intervalMs }: ServeCheckpoints): string {
  return (
    `Checkpoints: signed by ${privateKey.name} (key ${privateKey.keyId}) at start and every ` +
    `${intervalMs / 1000} s when an entry was added\n`
  );
}

function describe(global: ReturnType<typeof globalOptions>): string {
  return redacted(databaseTarget(global));
}

function redacted(target: string): string {
  return /^postgres(ql)?:\/\//i.test(target) ? target.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@') : target;
}
