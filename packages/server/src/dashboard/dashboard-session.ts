import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyPrincipal } from '../keys/access-policy.js';
import type { ApiKeyStore } from '../keys/api-key-store.js';

/** The cookie that carries a signed session: the key's id and when the session ends. */
export const SESSION_COOKIE = 'ledger_session';

export interface SessionOptions {
  /**
   * The secret that signs session cookies (HMAC-SHA256), at least 32 characters. Without one a
   * random secret is made when the server starts, so restarting the server signs everyone out.
   */
  secret?: string;
  /** How long a session lasts after sign-in, in ms. */
  ttlMs: number;
}

export const SESSION_SECRET_CHARS_MIN = 32;

/** The secret given, or a fresh random one. */
export function sessionSecret(given: string | undefined): string {
  return given ?? randomBytes(32).toString('base64url');
}

/**
 * The cookie holds only the key's id and an expiry, signed by the server: never the key itself.
 * Every request looks the key up again, so a revoked key signs its sessions out at once.
 */
export function startSession(reply: FastifyReply, keyId: string, ttlMs: number, secure: boolean): void {
  const expiresAtMs = Date.now() + ttlMs;
  reply.setCookie(SESSION_COOKIE, `${keyId}|${expiresAtMs}`, {
    signed: true,
    httpOnly: true,
    sameSite: 'strict',
    secure,
    path: '/',
    maxAge: Math.floor(ttlMs / 1000),
  });
}

export function endSession(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure });
}

/** The principal of a request's session, or undefined when it has none or it no longer holds. */
export async function sessionPrincipal(
  request: FastifyRequest,
  store: ApiKeyStore,
): Promise<ApiKeyPrincipal | undefined> {
  const cookie = request.cookies[SESSION_COOKIE];
  if (cookie === undefined) return undefined;
  const unsigned = request.unsignCookie(cookie);
  if (!unsigned.valid || unsigned.value === null) return undefined;
  const separator = unsigned.value.lastIndexOf('|');
  const keyId = unsigned.value.slice(0, separator);
  const expiresAtMs = Number(unsigned.value.slice(separator + 1));
  if (separator <= 0 || !Number.isFinite(expiresAtMs) || expiresAtMs <= Date.now()) return undefined;
  const key = await store.find(keyId);
  if (key === undefined || key.revoked_at !== null) return undefined;
  return { id: key.id, name: key.name, role: key.role, projects: key.projects };
}
