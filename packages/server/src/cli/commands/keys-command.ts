import { type Command, Option } from 'commander';
import { KEY_ROLES, type KeyRole } from '../../keys/access-policy.js';
import { ApiKeyStore } from '../../keys/api-key-store.js';
import { printJson, printTable, wantsJson } from '../cli-output.js';
import { withLedger } from '../open-ledger.js';
import { collect, globalOptions, withExample } from './command-options.js';

const KEY_COLUMNS = ['id', 'name', 'role', 'projects', 'created_at', 'revoked_at'];

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('create, list and revoke API keys of the HTTP service');
  withExample(keys, 'execution-ledger keys create --role admin --name operator');

  const create = keys
    .command('create')
    .description('create an API key; its text is printed once and never stored')
    .addOption(
      new Option('--role <role>', 'ingest (append only), read, or admin')
        .choices([...KEY_ROLES])
        .makeOptionMandatory(),
    )
    .requiredOption('--name <name>', 'who or what uses the key')
    .option('--project <id>', 'bind to this project (repeatable); none means every project', collect)
    .action(async (options: { role: KeyRole; name: string; project?: string[] }, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const created = await new ApiKeyStore(ledger).create({
          name: options.name,
          role: options.role,
          projects: options.project ?? null,
        });
        if (wantsJson(global)) return printJson(created);
        process.stdout.write(
          `API key ${created.id} (${created.role}, ${created.projects?.join(', ') ?? 'every project'}).\n`,
        );
        process.stdout.write(`Store this key now; it is not shown again:\n${created.token}\n`);
      });
    });
  withExample(create, 'execution-ledger keys create --role ingest --name deploy-agent --project proj-001');

  const list = keys
    .command('list')
    .description('list API keys (never their secrets)')
    .action(async (_options: unknown, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const all = await new ApiKeyStore(ledger).list();
        if (wantsJson(global)) return printJson(all);
        printTable(
          all.map((key) => ({ ...key, projects: key.projects?.join(',') ?? '(all)' })),
          KEY_COLUMNS,
        );
      });
    });
  withExample(list, 'execution-ledger keys list');

  const revoke = keys
    .command('revoke')
    .description('revoke an API key for good')
    .argument('<id>', 'the key id, as shown by keys list')
    .action(async (id: string, _options: unknown, self: Command) => {
      const global = globalOptions(self);
      await withLedger(global, async (ledger) => {
        const revoked = await new ApiKeyStore(ledger).revoke(id);
        if (wantsJson(global)) return printJson(revoked);
        process.stdout.write(`API key ${revoked.id} revoked at ${revoked.revoked_at}\n`);
      });
    });
  withExample(revoke, 'execution-ledger keys revoke 3f9c2a7b1d0e');
}
