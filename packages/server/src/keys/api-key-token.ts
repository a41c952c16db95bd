import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LedgerError } from 'execution-ledger';

/**
 * An API key's text is `elk_<id>_<secret>`: the id is public (shown in lists and logs), the
 * secret is 32 random bytes. Only SHA-256 of the whole text is stored, so a copy of the
 * database does not give anyone a working key.
 */
const TOKEN_PATTERN = /^elk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
/** A key given by the operator (environment variable) may be any long enough printable text. */
const OPERATOR_TOKEN_PATTERN = /^[\x21-\x7e]{32,200}$/;

export interface NewToken {
  id: string;
  token: string;
  secretHash: Buffer;
}

export function generateToken(): NewToken {
  const id = randomBytes(6).toString('hex');
  const token = `elk_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, token, secretHash: hashToken(token) };
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The id a presented token claims, or undefined when it cannot be a key. An operator's own
 * token has an id derived from its hash, so it can be found without storing it.
 */
export function tokenId(token: string): string | undefined {
  const match = TOKEN_PATTERN.exec(token);
  if (match !== null) return match[1];
  if (OPERATOR_TOKEN_PATTERN.test(token)) return operatorKeyId(token);
  return undefined;
}

export function operatorKeyId(token: string): string {
  return `env_${hashToken(token).toString('hex').slice(0, 12)}`;
}

export function requireOperatorToken(token: string, variable: string): void {
  if (!OPERATOR_TOKEN_PATTERN.test(token)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${variable} must be 32 to 200 printable characters without spaces; generate one with ` +
        '`openssl rand -base64 33` or create a key with `execution-ledger keys create`',
      { field: variable },
    );
  }
}

/** Constant-time comparison of the presented token's hash with the stored one. */
export function tokenMatches(token: string, storedHash: Buffer): boolean {
  const presented = hashToken(token);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}
