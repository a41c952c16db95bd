import type { CheckpointResult, SigningKey } from 'execution-ledger';
import { parseSigningKey } from 'execution-ledger/verify';
import type { FastifyInstance } from 'fastify';
import { CHECKPOINT_INTERVAL_MS_DEFAULT } from '../bounds.js';
import type { ServerContext } from '../http/server-context.js';
import { CheckpointScheduler } from './checkpoint-scheduler.js';

export interface PeriodicCheckpointOptions {
  /** The signing key, or the text of its private key file. It never reaches the database. */
  privateKey: SigningKey | string;
  /** Time between the end of one run and the start of the next; default 60 s. */
  intervalMs?: number;
}

/**
 * Signs a checkpoint when the server is ready and then every interval, only when some
 * project's head moved. Stopped before the server closes, so the ledger is never closed under
 * a running checkpoint. A diverged project (its committed head is gone or changed) is logged
 * at error level and counted in /metrics: it means someone tampered with the chain.
 */
export function installPeriodicCheckpoints(
  app: FastifyInstance,
  context: ServerContext,
  options: PeriodicCheckpointOptions,
): void {
  // Parsed now, so a bad key stops the server from starting instead of failing every run.
  const signingKey =
    typeof options.privateKey === 'string'
      ? parseSigningKey(options.privateKey, 'checkpoints.privateKey')
      : options.privateKey;
  const scheduler = new CheckpointScheduler({
    intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS_DEFAULT,
    makeCheckpoint: () => context.ledger.createCheckpoint({ privateKey: signingKey, onlyIfChanged: true }),
    onResult: (result) => reportResult(app, context, result),
    onError: (error) => {
      context.metrics.countCheckpointRun('failed');
      app.log.error({ err: error }, 'periodic checkpoint failed; the next run tries again');
    },
  });
  app.addHook('onReady', async () => scheduler.start());
  app.addHook('preClose', async () => scheduler.stop());
}

function reportResult(app: FastifyInstance, context: ServerContext, result: CheckpointResult): void {
  context.metrics.countCheckpointRun(result.created ? 'created' : 'unchanged', result.diverged.length);
  if (result.created && result.checkpoint !== null) {
    app.log.info(
      { checkpoint_seq: result.checkpoint.seq, heads_changed: result.heads_changed },
      'checkpoint signed',
    );
  }
  if (result.diverged.length > 0) {
    app.log.error(
      { diverged: result.diverged.map(({ project_id, reason }) => ({ project_id, reason })) },
      'projects lost the head an earlier checkpoint committed to: their chains were changed; run verify',
    );
  }
}
