import type { Command } from 'commander';
import { createSigningKeyFiles, isLedgerError, LedgerError, rotateSigningKeyFiles } from 'execution-ledger';
import { DEFAULT_KEY_NAME } from 'execution-ledger/verify';
import { printJson, wantsJson } from '../cli-output.js';
import { readPublicKeyFile, readSigningKeyFile } from '../key-file-input.js';
import { globalOptions, withExample } from './command-options.js';

interface KeyFileOptions {
  privateKey: string;
  publicKey: string;
}

/**
 * The checkpoint signing key: two files, never the database. A command of its own rather than
 * under `keys`, which manages API keys stored in the database; this one never opens it.
 */
export function registerSigningKeyCommand(program: Command): void {
  const signingKey = program
    .command('signing-key')
    .description('create and rotate the Ed25519 key that signs checkpoints (files only, never the database)');
  withExample(
    signingKey,
    'execution-ledger signing-key create --private-key checkpoint.key --public-key checkpoint.pub',
  );
  registerCreate(signingKey);
  registerRotate(signingKey);
}

function registerCreate(signingKey: Command): void {
  const create = signingKey
    .command('create')
    .description('write a new key pair; refuses to overwrite either file')
    .requiredOption('--private-key <file>', 'where the private key goes (written with mode 0600)')
    .requiredOption('--public-key <file>', 'where the public key goes (give it to auditors)')
    .option('--name <name>', 'the key name, which is the origin line of every checkpoint', DEFAULT_KEY_NAME)
    .action(async (options: KeyFileOptions & { name: string }, self: Command) => {
      const created = await createSigningKeyFiles({
        privateKeyFile: options.privateKey,
        publicKeyFile: options.publicKey,
        name: options.name,
      }).catch((error: unknown) => {
        if (!isLedgerError(error, 'KEY_FILE_EXISTS')) throw error;
        const flag = error.field === 'privateKeyFile' ? '--private-key' : '--public-key';
        const file = flag === '--private-key' ? options.privateKey : options.publicKey;
        throw new LedgerError(
          'KEY_FILE_EXISTS',
          `${flag} ${file} already exists and keys are never overwritten; choose another path, ` +
            'or replace the key with `execution-ledger signing-key rotate`',
          { field: flag, cause: error },
        );
      });
      if (wantsJson(globalOptions(self))) {
        return printJson({ key_id: created.keyId, public_key: created.publicKeyText, ...files(options) });
      }
      process.stdout.write(
        `Signing key ${created.keyId} (${options.name}) created.\n` +
          `  private key: ${options.privateKey} (only you may read it; never share it or put it in the database)\n` +
          `  public key:  ${options.publicKey} (give it to auditors: ${created.publicKeyText})\n`,
      );
    });
  withExample(
    create,
    'execution-ledger signing-key create --private-key checkpoint.key --public-key checkpoint.pub',
  );
}

function registerRotate(signingKey: Command): void {
  const rotate = signingKey
    .command('rotate')
    .description('replace the private key; the public key file keeps the old key so older checkpoints verify')
    .requiredOption('--private-key <file>', 'the private key to replace')
    .requiredOption('--public-key <file>', 'the public key file to add the new key to')
    .action(async (options: KeyFileOptions, self: Command) => {
      // Read first for messages that name the flags; rotation reads them again and changes both.
      await readSigningKeyFile(options.privateKey, '--private-key');
      await readPublicKeyFile(options.publicKey, '--public-key');
      const rotated = await rotateSigningKeyFiles({
        privateKeyFile: options.privateKey,
        publicKeyFile: options.publicKey,
      });
      if (wantsJson(globalOptions(self))) {
        return printJson({
          key_id: rotated.keyId,
          previous_key_id: rotated.previousKeyId,
          public_key: rotated.publicKeyText,
          ...files(options),
        });
      }
      process.stdout.write(
        `Signing key rotated: ${rotated.previousKeyId} → ${rotated.keyId}.\n` +
          `  ${options.publicKey} now also holds the new key; give it to auditors again.\n`,
      );
    });
  withExample(
    rotate,
    'execution-ledger signing-key rotate --private-key checkpoint.key --public-key checkpoint.pub',
  );
}

function files(options: KeyFileOptions) {
  return { private_key_file: options.privateKey, public_key_file: options.publicKey };
}
