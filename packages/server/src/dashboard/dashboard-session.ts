import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DASHBOARD_SIGNED_OUT_MAX } from '../bounds.js';
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
 * Sessions signed out before they expire. The cookie is signed, not stored, so a copy of it
 * would otherwise outlive sign-out: its id is kept here until it would have expired anyway.
 * Held in this process only: behind several processes, sign-out ends the session where it ran.
 */
export class SignedOutSessions {
  private readonly ended = new Map<string, number>();

  add(sessionId: string, expiresAtMs: number): void {
    const now = Date.now();
    for (const [id, until] of this.ended) if (until <= now) this.ended.delete(id);
    if (this.ended.size >= DASHBOARD_SIGNED_OUT_MAX) {
      const oldest = this.ended.keys().next();
      if (oldest.done !== true) this.ended.delete(oldest.value);
    }
    this.ended.set(sessionId, expiresAtMs);
  }

  has(sessionId: string): boolean {
    return this.ended.has(sessionId);
  }
}

/** What a valid session cookie says. */
export interface SessionClaims {
  keyId: string;
  expiresAtMs: number;
  sessionId: string;
}

/**
 * The cookie holds only the key's id, an expiry and a random session id, signed by the server:
 * never the key itself. Every request looks the key up again, so a revoked key signs its
 * sessions out at once.
 */
export function startSession(reply: FastifyReply, keyId: string, ttlMs: number, secure: boolean): void {
  const expiresAtMs = Date.now() + ttlMs;
  const sessionId = randomBytes(16).toString('base64url');
  reply.setCookie(SESSION_COOKIE, `${keyId}|${expiresAtMs}|${sessionId}`, {
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

/** The claims of a request's session cookie when its signature holds and it has not expired. */
export function sessionClaims(request: FastifyRequest): SessionClaims | undefined {
  const cookie = request.cookies[SESSION_COOKIE];
  if (cookie === undefined) return undefined;
  const unsigned = request.unsignCookie(cookie);
  if (!unsigned.valid || unsigned.value === null) return undefined;
  const [keyId, expires, sessionId, ...rest] = unsigned.value.split('|');
  const expiresAtMs = Number(expires);
  if (keyId === undefined || keyId === '' || sessionId === undefined || rest.length > 0) return undefined;
  if (!Number.isFinite(expiresAtMs) || expiresAtMs <= Date.now()) return undefined;
  return { keyId, expiresAtMs, sessionId };
}

/** The principal of a request's session, or undefined when it has none or it no longer holds. */
export async function sessionPrincipal(
  request: FastifyRequest,
  store: ApiKeyStore,
  signedOut: SignedOutSessions,
): Promise<ApiKeyPrincipal | undefined> {
  const claims = sessionClaims(request);
  if (claims === undefined || signedOut.has(claims.sessionId)) return undefined;
  const key = await store.find(claims.keyId);
  if (key === undefined || key.revoked_at !== null) return undefined;
  return { id: key.id, name: key.name, role: key.role, projects: key.projects };
}
