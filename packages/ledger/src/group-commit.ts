import { AssertionError } from 'node:assert';
import { GROUP_COMMIT_BYTES_MAX, GROUP_COMMIT_ENTRIES_MAX } from './bounds.js';
import { type AppendResultRow, appendBatch } from './db/append-queries.js';
import type { Database } from './db/database.js';
import { PROJECT_SEALED } from './db/database-errors.js';

interface Pending {
  /** The entry's JSON (AppendEntry), serialised when it was submitted. */
  text: string;
  resolve: (row: AppendResultRow) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: concurrent appends to one project wait while a batch is in flight and then go
 * together in the next one: one lock, one transaction, N entries. Each caller gets its own
 * result row. If a batch fails as a whole, its entries are retried one by one so that a bad
 * entry fails alone and its neighbours still land.
 */
export class GroupCommitter {
  private readonly queues = new Map<string, Pending[]>();
  private readonly active = new Set<string>();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly database: Database) {}

  submit(projectId: string, text: string): Promise<AppendResultRow> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(projectId) ?? [];
      queue.push({ text, resolve, reject });
      this.queues.set(projectId, queue);
      this.inFlight += 1;
      if (!this.active.has(projectId)) {
        this.active.add(projectId);
        // Let callers that are already on their way join the first batch.
        setImmediate(() => void this.drain(projectId));
      }
    });
  }

  /** Resolves once every submitted append has its result. */
  async idle(): Promise<void> {
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(projectId: string): Promise<void> {
    const queue = this.queues.get(projectId);
    try {
      while (queue !== undefined && queue.length > 0) {
        await this.commit(projectId, takeBatch(queue));
      }
    } finally {
      this.active.delete(projectId);
      this.queues.delete(projectId);
    }
  }

  private async commit(projectId: string, batch: Pending[]): Promise<void> {
    let rows: AppendResultRow[];
    try {
      // One statement in autocommit mode is its own READ COMMITTED transaction: one round trip.
      rows = await appendBatch(
        this.database,
        projectId,
        batch.map((pending) => pending.text),
      );
    } catch (error) {
      // A project sealed on this shard (moved away) refuses every entry alike: no retry one by one.
      if (batch.length > 1 && !isProjectSealed(error)) {
        for (const pending of batch) await this.commit(projectId, [pending]);
        return;
      }
      for (const pending of batch) pending.reject(error);
      this.settle(batch.length);
      return;
    }
    batch.forEach((pending, index) => {
      const row = rows[index];
      // append_batch answers one row per entry: anything else is a broken invariant, not a caller's error.
      if (row === undefined)
        pending.reject(new AssertionError({ message: 'append_batch returned fewer rows than entries' }));
      else pending.resolve(row);
    });
    this.settle(batch.length);
  }

  private settle(count: number): void {
    this.inFlight -= count;
    if (this.inFlight === 0) for (const waiter of this.idleWaiters.splice(0)) waiter();
  }
}

function takeBatch(queue: Pending[]): Pending[] {
  let bytes = 0;
  let count = 0;
  while (count < GROUP_COMMIT_ENTRIES_MAX) {
    const next = queue[count];
    if (next === undefined) break;
    if (count > 0 && bytes + next.text.length > GROUP_COMMIT_BYTES_MAX) break;
    bytes += next.text.length;
    count += 1;
  }
  return queue.splice(0, count);
}

function isProjectSealed(error: unknown): boolean {
  const details = (error as { details?: { sqlstate?: unknown } } | null)?.details;
  const code = (error as { code?: unknown } | null)?.code;
  return code === PROJECT_SEALED || details?.sqlstate === PROJECT_SEALED;
}
