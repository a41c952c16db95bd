import { sign, verify } from 'node:crypto';
import { CHECKPOINT_NOTE_BYTES_MAX, NOTE_SIGNATURES_MAX } from '../bounds.js';
import type { NoteVerifierKey, SigningKey } from './signing-key.js';

/**
 * Signed notes (c2sp.org/signed-note): a text ending in a newline, a blank line, then lines
 * "— name base64(key id ‖ Ed25519 signature)". The signature covers the text with its final
 * newline, so the same file can be checked by any signed-note implementation.
 */
const SIGNATURE_PREFIX = '\u2014 ';

export function signNote(body: string, key: SigningKey): string {
  const signature = sign(null, Buffer.from(body, 'utf8'), key.privateKey);
  const blob = Buffer.concat([Buffer.from(key.keyId, 'hex'), signature]).toString('base64');
  return `${body}\n${SIGNATURE_PREFIX}${key.name} ${blob}\n`;
}

export type OpenedNote =
  | { ok: true; body: string; signer: NoteVerifierKey }
  | { ok: false; reason: string; body: string | null };

interface NoteSignature {
  name: string;
  keyId: string;
  signature: Buffer;
}

/** Splits and checks a note; a note that is malformed or badly signed is a value, not an error. */
export function openNote(text: unknown, keys: readonly NoteVerifierKey[]): OpenedNote {
  const split = splitNote(text);
  if (typeof split === 'string') return { ok: false, reason: split, body: null };
  const { body, signatures } = split;
  const message = Buffer.from(body, 'utf8');
  for (const signature of signatures) {
    const key = keys.find(
      (candidate) => candidate.name === signature.name && candidate.keyId === signature.keyId,
    );
    if (key === undefined) continue;
    // A known key whose signature fails rejects the note: a forger cannot hide behind a second line.
    if (!verify(null, message, key.publicKey, signature.signature)) {
      return {
        ok: false,
        reason: `the signature by ${key.name} (key ${key.keyId}) is not valid for this text`,
        body,
      };
    }
    return { ok: true, body, signer: key };
  }
  const seen = signatures.map((signature) => `${signature.name} ${signature.keyId}`).join(', ');
  return {
    ok: false,
    reason: `the note is not signed by a given public key (it is signed by ${seen})`,
    body,
  };
}

function splitNote(text: unknown): { body: string; signatures: NoteSignature[] } | string {
  if (typeof text !== 'string') return 'the note must be text';
  if (Buffer.byteLength(text, 'utf8') > CHECKPOINT_NOTE_BYTES_MAX) {
    return `the note is larger than ${CHECKPOINT_NOTE_BYTES_MAX} bytes`;
  }
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text))
    return 'the note holds control characters other than newline';
  const separator = text.lastIndexOf('\n\n');
  if (separator < 0 || !text.endsWith('\n')) return 'the note has no blank line before its signatures';
  const body = text.slice(0, separator + 1);
  const lines = text.slice(separator + 2, -1).split('\n');
  if (lines.length > NOTE_SIGNATURES_MAX) return `the note has more than ${NOTE_SIGNATURES_MAX} signatures`;
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    const signature = parseSignatureLine(line);
    if (signature === null) return `signature line ${JSON.stringify(line.slice(0, 60))} is malformed`;
    signatures.push(signature);
  }
  return { body, signatures };
}

function parseSignatureLine(line: string): NoteSignature | null {
  if (!line.startsWith(SIGNATURE_PREFIX)) return null;
  const parts = line.slice(SIGNATURE_PREFIX.length).split(' ');
  const [name, encoded] = parts;
  if (parts.length !== 2 || name === undefined || name === '' || encoded === undefined) return null;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return null;
  const blob = Buffer.from(encoded, 'base64');
  // Other signature types may be longer or shorter; only a known key decides, by its own rules.
  if (blob.length < 5) return null;
  return { name, keyId: blob.subarray(0, 4).toString('hex'), signature: blob.subarray(4) };
}
