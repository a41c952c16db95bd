import { type CheckpointResult, LedgerError } from 'execution-ledger';
import { CHECKPOINT_INTERVAL_MS_MAX } from '../bounds.js';

export interface CheckpointSchedulerOptions {
  /** Time from the end of one run to the start of the next, in milliseconds. */
  intervalMs: number;
  /** One checkpoint attempt, e.g. `ledger.createCheckpoint({ privateKey, onlyIfChanged: true })`. */
  makeCheckpoint: () => Promise<CheckpointResult>;
  onResult?: (result: CheckpointResult) => void;
  /** A failed run is reported here and the schedule goes on: the next run may well succeed. */
  onError?: (error: unknown) => void;
}

/**
 * Runs `makeCheckpoint` now and then again `intervalMs` after each run ends. The next run is
 * scheduled only once the current one has finished, so runs never overlap however slow the
 * database is; stop() cancels the next run and waits for the one in flight.
 */
export class CheckpointScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(private readonly options: CheckpointSchedulerOptions) {
    requireIntervalMs(options.intervalMs);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(): void {
    this.timer = undefined;
    this.running = this.runOnce().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      this.timer = setTimeout(() => this.tick(), this.options.intervalMs);
      // The schedule alone must not keep a process alive; the server it belongs to does.
      this.timer.unref();
    });
  }

  private async runOnce(): Promise<void> {
    try {
      const result = await this.options.makeCheckpoint();
      this.options.onResult?.(result);
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}

function requireIntervalMs(intervalMs: unknown): void {
  if (
    typeof intervalMs !== 'number' ||
    !Number.isSafeInteger(intervalMs) ||
    intervalMs < 1 ||
    intervalMs > CHECKPOINT_INTERVAL_MS_MAX
  ) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `checkpoints.intervalMs must be a whole number of milliseconds from 1 to ${CHECKPOINT_INTERVAL_MS_MAX} ` +
        `(one day); got ${String(intervalMs)}`,
      { field: 'checkpoints.intervalMs' },
    );
  }
}
