// Starting and killing crash-writer.js children.
import { spawn } from 'node:child_process';

const WRITER_SCRIPT = new URL('./crash-writer.js', import.meta.url).pathname;

/**
 * Starts a writer. `ready` resolves when it has opened the ledger and begun appending; `exited`
 * resolves with its exit code, or the signal that ended it.
 */
export function startWriter(config) {
  const child = spawn(process.execPath, [WRITER_SCRIPT, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const ready = new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    exited.then((how) => reject(new Error(`writer ${config.writer} ended before it began writing (${how})`)));
  });
  // Only a writer killed before it was ready leaves this rejection unobserved; that is expected.
  ready.catch(() => undefined);
  return { child, ready, exited, config };
}

/** kill -9, and wait until the process is gone so that its lock and files are final. */
export async function killWriter(writer) {
  if (writer.child.exitCode === null && writer.child.signalCode === null) writer.child.kill('SIGKILL');
  const how = await writer.exited;
  // Exit code 3 is the writer reporting an error that is not a crash: a finding, not a kill.
  if (how === 3) throw new Error(`writer ${writer.config.writer} failed on its own (see its error above)`);
}
