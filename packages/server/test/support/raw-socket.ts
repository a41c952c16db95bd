import { connect } from 'node:net';

export interface SocketOutcome {
  /** Everything the server sent before it closed the socket. */
  received: string;
  /** Milliseconds from connecting to the close; null when the socket was still open at the deadline. */
  closedAfterMs: number | null;
}

/**
 * Opens a raw TCP socket, writes `bytes` (and nothing more), and waits until the server closes
 * the socket or `deadlineMs` passes; a socket still open then is destroyed by this side.
 */
export function holdSocket(port: number, bytes: string | Buffer, deadlineMs: number): Promise<SocketOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const deadline = setTimeout(() => {
      socket.destroy();
      resolve({ received, closedAfterMs: null });
    }, deadlineMs);
    socket.on('connect', () => {
      if (bytes.length > 0) socket.write(bytes);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve({ received, closedAfterMs: performance.now() - started });
    });
  });
}

/**
 * Like holdSocket, but after `head` sends one byte of body every `intervalMs`, as a slow-drip
 * client would, so no inactivity timeout alone can catch it.
 */
export function dripSocket(
  port: number,
  head: string,
  intervalMs: number,
  deadlineMs: number,
): Promise<SocketOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    let drip: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      clearInterval(drip);
      socket.destroy();
      resolve({ received, closedAfterMs: null });
    }, deadlineMs);
    socket.on('connect', () => {
      socket.write(head);
      drip = setInterval(() => socket.write(' '), intervalMs);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(drip);
      clearTimeout(deadline);
      resolve({ received, closedAfterMs: performance.now() - started });
    });
  });
}
