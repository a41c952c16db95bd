import { LedgerError } from '../errors.js';

/** How long to wait for a PostgreSQL server before deciding that it no longer answers. */
export interface ServerTimeouts {
  /** Silence on one statement after which the server is asked whether it answers at all. */
  replyTimeoutMs: number;
  /** The longest a new connection (or a connection from the pool) may take. */
  connectTimeoutMs: number;
}

/** Answers true when the server answers a trivial statement within the connect timeout. */
export type ServerProbe = () => Promise<boolean>;

/**
 * Thrown when a statement got no answer and the server answers no probe either (a frozen or
 * unreachable server). Its connection is then unusable: the adapter destroys it instead of
 * sending a ROLLBACK that would wait just as long.
 */
export class ServerSilentError extends LedgerError {
  constructor(where: string, silentMs: number) {
    super(
      'DATABASE_UNAVAILABLE',
      `the database at ${where} did not answer for ${silentMs} ms and a new connection got no answer ` +
        'either, so the call was abandoned; an append that was in flight may or may not be recorded: ' +
        'send it again with the same run_id (a recorded run replays). Check that the server runs, ' +
        'or raise databaseReplyTimeoutMs for a slow network',
      { details: { silent_ms: silentMs } },
    );
  }
}

/** True when `promise` settles (either way) within `ms`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** True when `promise` fulfils within `ms`: a probe that fails or takes longer says no. */
export async function answersWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const answered = promise.then(
    () => true,
    () => false,
  );
  return (await settlesWithin(answered, ms)) && (await answered);
}

/**
 * Waits for a statement's reply. After each `replyTimeoutMs` of silence the server is probed
 * on another connection: a server that answers is busy (a long rebuild, a lock wait) and is
 * waited for again; one that does not is given up on with ServerSilentError.
 */
export async function awaitReply<T>(
  reply: Promise<T>,
  timeouts: ServerTimeouts,
  probe: ServerProbe,
  where: string,
): Promise<T> {
  // If the wait is abandoned, the reply fails later when its connection is destroyed: expected.
  reply.catch(() => undefined);
  let silentMs = 0;
  while (!(await settlesWithin(reply, timeouts.replyTimeoutMs))) {
    silentMs += timeouts.replyTimeoutMs;
    if (!(await probe())) throw new ServerSilentError(where, silentMs);
  }
  return reply;
}
