import type { Command } from 'commander';
import { createShardedLedger, LedgerError, migrateShardCatalog, type ShardedLedger } from 'execution-ledger';
import { printJson, printTable, wantsJson } from '../cli-output.js';
import { EXIT_CODES } from '../exit-codes.js';
import { readPublicKeyFile, readSigningKeyFile } from '../key-file-input.js';
import { collect, globalOptions, positiveInteger, withExample } from './command-options.js';

/** Names the catalog when --catalog is not given. */
export const CATALOG_URL_VARIABLE = 'EXECUTION_LEDGER_CATALOG_URL';

interface ShardsOptions {
  catalog?: string;
  shard?: string[];
}

/** `--shard name=url`, repeated, into the library's `shards` option. */
export function parseShardFlags(flags: readonly string[] | undefined): Record<string, string> {
  const shards: Record<string, string> = {};
  for (const flag of flags ?? []) {
    const match = /^([a-z][a-z0-9_-]{0,62})=(postgres(?:ql)?:\/\/.+)$/.exec(flag);
    if (match === null)
      throw new LedgerError(
        'VALIDATION_FAILED',
        `--shard ${JSON.stringify(flag)} is not name=postgres://…; give each shard as --shard s0=postgres://user:password@host:5432/ledger`,
        { field: '--shard' },
      );
    const [, name, url] = match as unknown as [string, string, string];
    if (shards[name] !== undefined)
      throw new LedgerError('VALIDATION_FAILED', `--shard ${name} is given twice`, { field: '--shard' });
    shards[name] = url;
  }
  return shards;
}

function catalogUrl(options: ShardsOptions): string {
  const url = options.catalog ?? process.env[CATALOG_URL_VARIABLE];
  if (url === undefined || url === '')
    throw new LedgerError(
      'VALIDATION_FAILED',
      `shards needs the catalog: pass --catalog postgres://… or set ${CATALOG_URL_VARIABLE}`,
      { field: '--catalog' },
    );
  return url;
}

/** Opens the sharded ledger from the group's flags, runs `work`, and closes it. */
async function withSharded<T>(self: Command, work: (sharded: ShardedLedger) => Promise<T>): Promise<T> {
  const options = self.parent?.opts<ShardsOptions>() ?? {};
  const catalog = catalogUrl(options);
  const shards = parseShardFlags(options.shard);
  if (Object.keys(shards).length === 0)
    throw new LedgerError(
      'VALIDATION_FAILED',
      'shards needs every shard: --shard name=postgres://… for each',
      {
        field: '--shard',
      },
    );
  const sharded = createShardedLedger({ catalog, shards, migrate: false });
  try {
    return await work(sharded);
  } finally {
    await sharded.close();
  }
}

export function registerShardsCommand(program: Command): void {
  const group = program
    .command('shards')
    .description(
      'projects sharded over several servers: placement, moves, verification and checkpoints (docs/scaling.md)',
    )
    .option('--catalog <url>', `the shard catalog (default: ${CATALOG_URL_VARIABLE})`)
    .option('--shard <name=url>', "a shard's ledger, once per shard", collect);

  group
    .command('migrate-catalog')
    .description('applies the catalog migrations (connect as a superuser: PL/Proxy is an untrusted language)')
    .action(async (_options: unknown, self: Command) => {
      const report = await migrateShardCatalog(catalogUrl(self.parent?.opts<ShardsOptions>() ?? {}));
      if (wantsJson(globalOptions(self))) return printJson(report);
      process.stdout.write(
        report.applied.length === 0 ? 'the catalog is current\n' : `applied ${report.applied.join(', ')}\n`,
      );
    });

  group
    .command('list')
    .description('the shards, and every placed project with its shard and entries')
    .action(async (_options: unknown, self: Command) =>
      withSharded(self, async (sharded) => {
        const shards = await sharded.shardList();
        const projects = await sharded.listProjects();
        if (wantsJson(globalOptions(self))) return printJson({ shards, projects });
        printTable(
          shards.map((shard) => ({
            shard: shard.name,
            position: shard.position,
            new_projects: shard.takes_new_projects,
            projects: projects.filter((project) => project.shard === shard.name).length,
            entries: projects
              .filter((project) => project.shard === shard.name)
              .reduce((sum, project) => sum + project.entries, 0),
          })),
          ['shard', 'position', 'new_projects', 'projects', 'entries'],
        );
      }),
    );

  const add = group
    .command('add <name>')
    .description('adds a shard: placed projects stay, new projects are spread over it too')
    .requiredOption('--connstr <libpq>', 'what PL/Proxy opens: host=… port=… dbname=… user=… password=…')
    .option('--no-new-projects', 'place no new project on it (a target for moves only)')
    .action(async (name: string, options: { connstr: string; newProjects: boolean }, self: Command) =>
      withSharded(self, async (sharded) => {
        const position = await sharded.addShard(name, options.connstr, {
          takesNewProjects: options.newProjects,
        });
        process.stdout.write(`shard ${name} added at position ${position}\n`);
      }),
    );
  withExample(
    add,
    "execution-ledger shards --catalog $CATALOG --shard s0=$S0 --shard s1=$S1 --shard s2=$S2 add s2 --connstr 'host=db2 dbname=ledger user=ledger_runtime'",
  );

  const move = group
    .command('move <project>')
    .description(
      'copies the project to another shard, verifies it there, and switches (its appends wait only for the switch)',
    )
    .requiredOption('--to <shard>', 'the shard to move it to')
    .option('--batch-size <n>', 'entries per copy statement (default 2000)', positiveInteger)
    .action(async (project: string, options: { to: string; batchSize?: number }, self: Command) =>
      withSharded(self, async (sharded) => {
        const report = await sharded.moveProject(project, options.to, {
          ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
        });
        if (wantsJson(globalOptions(self))) return printJson(report);
        process.stdout.write(
          `moved ${report.project_id} from ${report.from} to ${report.to}: ${report.entries} entries copied and verified, ` +
            `appends paused ${report.paused_ms} ms\n`,
        );
      }),
    );
  withExample(
    move,
    'execution-ledger shards --catalog $CATALOG --shard s0=$S0 --shard s1=$S1 move proj-7 --to s1',
  );

  group
    .command('verify')
    .description('re-derives every chain on the shard that holds it (exit 5 when one is broken)')
    .option('--public-key <file>', "check each shard's newest checkpoint signature too")
    .action(async (options: { publicKey?: string }, self: Command) => {
      const keys =
        options.publicKey === undefined ? null : await readPublicKeyFile(options.publicKey, '--public-key');
      await withSharded(self, async (sharded) => {
        const result = await sharded.verifyAll(keys === null ? {} : { publicKey: keys });
        if (wantsJson(globalOptions(self))) printJson(result);
        else {
          for (const failure of result.failures)
            process.stderr.write(
              `${failure.project_id} on ${failure.shard}: broken at seq ${failure.report.first_bad_seq}: ${failure.report.reason}\n`,
            );
          process.stdout.write(
            `${result.projects} projects, ${result.entries} entries verified; ${result.failures.length} broken\n`,
          );
        }
        if (!result.ok) process.exitCode = EXIT_CODES.CHAIN_BROKEN;
      });
    });

  group
    .command('checkpoint')
    .description("signs a checkpoint over every shard's heads, kept in the catalog, and prints its note")
    .requiredOption('--private-key <file>', 'the signing key file')
    .option('--if-changed', 'sign nothing when no head moved since the newest one')
    .action(async (options: { privateKey: string; ifChanged?: boolean }, self: Command) => {
      const privateKey = await readSigningKeyFile(options.privateKey, '--private-key');
      await withSharded(self, async (sharded) => {
        const result = await sharded.createCheckpoint({
          privateKey,
          onlyIfChanged: options.ifChanged === true,
        });
        if (wantsJson(globalOptions(self))) return printJson(result);
        process.stderr.write(
          result.created
            ? `sharded checkpoint ${result.checkpoint.seq}: ${result.checkpoint.tree_size} project heads\n`
            : `no head moved since sharded checkpoint ${result.checkpoint.seq}; nothing signed\n`,
        );
        process.stdout.write(result.checkpoint.note);
      });
    });
}
