import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { SIGNING_KEY_NAME_CHARS_MAX } from '../bounds.js';
import { LedgerError } from '../errors.js';

/**
 * Ed25519 keys in the text forms of the signed-note ecosystem, so checkpoint notes can be
 * checked with other tools too: a verifier key `name+keyid+base64(0x01 ‖ public key)` and a
 * private key `PRIVATE+KEY+name+keyid+base64(0x01 ‖ seed)`.
 */
export const DEFAULT_KEY_NAME = 'execution-ledger';

const ED25519_TYPE = 0x01;
// DER headers that wrap a raw 32-byte Ed25519 seed or public key for node:crypto (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A public key that may sign checkpoint notes, named as in the notes' signature lines. */
export interface NoteVerifierKey {
  name: string;
  /** 8 hex digits: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key). */
  keyId: string;
  publicKey: KeyObject;
  /** The verifier key text, as written to a public key file. */
  text: string;
}

/** A private key that signs checkpoints. It is read from a file and never stored in the database. */
export interface SigningKey extends NoteVerifierKey {
  privateKey: KeyObject;
}

export interface GeneratedKey {
  signingKey: SigningKey;
  privateKeyText: string;
  publicKeyText: string;
}

export function generateSigningKey(name: string = DEFAULT_KEY_NAME): GeneratedKey {
  requireKeyName(name, 'name');
  const { privateKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  return fromSeed(name, Buffer.from(seed));
}

/** Reads `PRIVATE+KEY+name+keyid+base64`; INVALID_KEY when it is anything else. */
export function parseSigningKey(text: unknown, field = 'privateKey'): SigningKey {
  const parts = typeof text === 'string' ? splitKeyText(text.trim(), 5) : [];
  const [tag1, tag2, name, keyId, encoded] = parts;
  const seed = parts.length === 5 && tag1 === 'PRIVATE' && tag2 === 'KEY' ? decodeTyped(encoded) : null;
  if (seed === null || name === undefined) {
    throw invalidKey(field, 'is not a private key of the form PRIVATE+KEY+name+keyid+base64');
  }
  requireKeyName(name, field);
  const key = fromSeed(name, seed).signingKey;
  if (key.keyId !== keyId) throw invalidKey(field, `names key id ${keyId} but its key has id ${key.keyId}`);
  return key;
}

/**
 * Reads verifier keys: one `name+keyid+base64` per line (a rotated key file keeps the older
 * keys so older checkpoints still verify), or keys already parsed.
 */
export function parsePublicKeys(value: unknown, field = 'publicKey'): NoteVerifierKey[] {
  if (Array.isArray(value)) return value.flatMap((item) => parsePublicKeys(item, field));
  if (isVerifierKey(value)) return [value];
  if (typeof value !== 'string') throw invalidKey(field, 'must be the text of a public key file');
  const lines = value
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length === 0) throw invalidKey(field, 'holds no public key');
  return lines.map((line) => parseVerifierKey(line, field));
}

function parseVerifierKey(line: string, field: string): NoteVerifierKey {
  const parts = splitKeyText(line, 3);
  const [name, keyId, encoded] = parts;
  const raw = parts.length === 3 ? decodeTyped(encoded) : null;
  if (raw === null || name === undefined) {
    throw invalidKey(
      field,
      `line ${JSON.stringify(line.slice(0, 40))} is not a key of the form name+keyid+base64`,
    );
  }
  requireKeyName(name, field);
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  const key = verifierKey(name, publicKey, raw);
  if (key.keyId !== keyId) throw invalidKey(field, `names key id ${keyId} but its key has id ${key.keyId}`);
  return key;
}

/** Splits at the first `count - 1` plus signs: the last part is base64, which may hold "+" too. */
function splitKeyText(text: string, count: number): string[] {
  const parts: string[] = [];
  let rest = text;
  while (parts.length < count - 1) {
    const plus = rest.indexOf('+');
    if (plus < 0) break;
    parts.push(rest.slice(0, plus));
    rest = rest.slice(plus + 1);
  }
  parts.push(rest);
  return parts;
}

export function computeKeyId(name: string, rawPublicKey: Buffer): string {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, ED25519_TYPE]))
    .update(rawPublicKey)
    .digest()
    .subarray(0, 4)
    .toString('hex');
}

function fromSeed(name: string, seed: Buffer): GeneratedKey {
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  const raw = Buffer.from(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
  const verifier = verifierKey(name, publicKey, raw);
  const privateKeyText = `PRIVATE+KEY+${name}+${verifier.keyId}+${typed(seed)}`;
  return { signingKey: { ...verifier, privateKey }, privateKeyText, publicKeyText: verifier.text };
}

function verifierKey(name: string, publicKey: KeyObject, raw: Buffer): NoteVerifierKey {
  const keyId = computeKeyId(name, raw);
  return { name, keyId, publicKey, text: `${name}+${keyId}+${typed(raw)}` };
}

function typed(raw: Buffer): string {
  return Buffer.concat([Buffer.from([ED25519_TYPE]), raw]).toString('base64');
}

function decodeTyped(encoded: string | undefined): Buffer | null {
  if (encoded === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return null;
  const bytes = Buffer.from(encoded, 'base64');
  return bytes.length === 33 && bytes[0] === ED25519_TYPE ? bytes.subarray(1) : null;
}

/** Key names follow the signed-note rules: non-empty, no spaces and no plus sign. */
function requireKeyName(name: unknown, field: string): void {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > SIGNING_KEY_NAME_CHARS_MAX ||
    /[\s+]/u.test(name)
  ) {
    throw invalidKey(
      field,
      `key name ${JSON.stringify(name)} must be 1 to ${SIGNING_KEY_NAME_CHARS_MAX} characters without spaces or "+"`,
    );
  }
}

function isVerifierKey(value: unknown): value is NoteVerifierKey {
  const candidate = value as Partial<NoteVerifierKey> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.keyId === 'string' &&
    typeof candidate.publicKey === 'object'
  );
}

export function invalidKey(field: string, problem: string): LedgerError {
  return new LedgerError(
    'INVALID_KEY',
    `${field} ${problem}; create one with createSigningKeyFiles() and pass the file's text (or loadSigningKey/loadPublicKeys)`,
    { field },
  );
}

/** A SigningKey as given, or parsed from the text of a private key file. */
export function resolveSigningKey(value: unknown, field = 'privateKey'): SigningKey {
  if (isVerifierKey(value) && typeof (value as Partial<SigningKey>).privateKey === 'object') {
    return value as SigningKey;
  }
  if (value === undefined) throw invalidKey(field, 'is required');
  return parseSigningKey(value, field);
}
