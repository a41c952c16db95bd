import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLedger, type Ledger } from 'execution-ledger';
import { afterAll, beforeAll } from 'vitest';

/**
 * A second ledger, embedded in a folder of its own, for the suite it is called in: opened before
 * the suite's tests and closed, its folder removed, after them. The getter answers the open one.
 */
export function suiteFolderLedger(prefix: string): () => Ledger {
  let folder: string | undefined;
  let ledger: Ledger | undefined;
  beforeAll(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), prefix));
    ledger = createLedger({ database: folder });
    await ledger.ready();
  });
  afterAll(async () => {
    await ledger?.close();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });
  return () => {
    if (ledger === undefined) throw new Error('the suite ledger is opened before the suite runs');
    return ledger;
  };
}
