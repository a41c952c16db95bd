import { randomUUID } from 'node:crypto';
import { access, readFile, rename, writeFile } from 'node:fs/promises';
import { LedgerError } from '../errors.js';
import {
  DEFAULT_KEY_NAME,
  generateSigningKey,
  invalidKey,
  type NoteVerifierKey,
  parsePublicKeys,
  parseSigningKey,
  type SigningKey,
} from '../format/signing-key.js';

export interface KeyFilePaths {
  /** Written with mode 0600: only its owner may read it. Never stored in the database. */
  privateKeyFile: string;
  /** The verifier keys, one per line; safe to publish and to hand to auditors. */
  publicKeyFile: string;
}

export interface KeyFilesResult {
  keyId: string;
  publicKeyText: string;
}

/** Creates a new signing key pair in two files; refuses to overwrite either one. */
export async function createSigningKeyFiles(
  paths: KeyFilePaths & { name?: string },
): Promise<KeyFilesResult> {
  const generated = generateSigningKey(paths.name ?? DEFAULT_KEY_NAME);
  // Check both paths first so a refusal leaves no half-written pair behind.
  await requireAbsent(paths.privateKeyFile, 'privateKeyFile');
  await requireAbsent(paths.publicKeyFile, 'publicKeyFile');
  // 'wx' fails when the file exists, so an existing key is never silently replaced.
  await writeNewFile(paths.privateKeyFile, `${generated.privateKeyText}\n`, 0o600, 'privateKeyFile');
  await writeNewFile(paths.publicKeyFile, `${generated.publicKeyText}\n`, 0o644, 'publicKeyFile');
  return { keyId: generated.signingKey.keyId, publicKeyText: generated.publicKeyText };
}

/**
 * Replaces the private key with a new one of the same name and adds the new verifier key to
 * the public key file, keeping the older lines so checkpoints signed before still verify.
 */
export async function rotateSigningKeyFiles(
  paths: KeyFilePaths,
): Promise<KeyFilesResult & { previousKeyId: string }> {
  const previous = await loadSigningKey(paths.privateKeyFile);
  const published = await loadPublicKeys(paths.publicKeyFile);
  const generated = generateSigningKey(previous.name);
  const temporary = `${paths.privateKeyFile}.${randomUUID()}.tmp`;
  await writeNewFile(temporary, `${generated.privateKeyText}\n`, 0o600, 'privateKeyFile');
  const lines = [...published.map((key) => key.text), generated.publicKeyText];
  await writeFile(paths.publicKeyFile, `${lines.join('\n')}\n`, { mode: 0o644 });
  // rename() replaces the old private key in one step: no moment without a usable key file.
  await rename(temporary, paths.privateKeyFile);
  return {
    keyId: generated.signingKey.keyId,
    publicKeyText: generated.publicKeyText,
    previousKeyId: previous.keyId,
  };
}

export async function loadSigningKey(file: string): Promise<SigningKey> {
  return parseSigningKey(await readKeyFile(file, 'privateKeyFile'), 'privateKeyFile');
}

export async function loadPublicKeys(file: string): Promise<NoteVerifierKey[]> {
  return parsePublicKeys(await readKeyFile(file, 'publicKeyFile'), 'publicKeyFile');
}

async function readKeyFile(file: string, field: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw invalidKey(
      field,
      `cannot be read from ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

async function requireAbsent(file: string, field: string): Promise<void> {
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (exists) throw keyFileExists(file, field);
}

async function writeNewFile(file: string, text: string, mode: number, field: string): Promise<void> {
  try {
    await writeFile(file, text, { flag: 'wx', mode });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw keyFileExists(file, field);
    throw error;
  }
}

function keyFileExists(file: string, field: string): LedgerError {
  return new LedgerError(
    'KEY_FILE_EXISTS',
    `${field} ${file} already exists; keys are never overwritten: choose another path, or use rotateSigningKeyFiles() to replace a key`,
    { field },
  );
}
