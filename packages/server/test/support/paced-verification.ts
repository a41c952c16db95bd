import type { Ledger, VerificationReport, VerifyLedgerOptions, VerifyProgress } from 'execution-ledger';

/**
 * Paces the ledger's verifications so that a test can see one while it runs: each verification
 * reads and checks the chain as usual, then hands its progress reports to the caller one at a
 * time, holding after each until the test calls release(), and answers after the last. The database and the
 * checks are the real ones; only the moment the caller hears of them is held.
 */
export interface PacedVerifications {
  /** Resolves once a progress report has reached the caller and is held there. */
  held(): Promise<void>;
  /** Lets the oldest held verification go on to its next report, or to its answer. */
  release(): void;
  /** Lets everything through from now on and puts verifyLedger back. */
  restore(): void;
}

export function paceVerifications(ledger: Ledger): PacedVerifications {
  const original = ledger.verifyLedger;
  const waiting: (() => void)[] = [];
  const arrived: (() => void)[] = [];
  let paced = true;
  const hold = () =>
    new Promise<void>((resolve) => {
      if (!paced) return resolve();
      waiting.push(resolve);
      arrived.shift()?.();
    });
  ledger.verifyLedger = async (
    projectId: string,
    options: VerifyLedgerOptions = {},
  ): Promise<VerificationReport> => {
    const reports: VerifyProgress[] = [];
    const report = await original.call(ledger, projectId, {
      ...options,
      onProgress: (progress) => reports.push(progress),
    });
    for (const progress of reports) {
      options.onProgress?.(progress);
      await hold();
    }
    return report;
  };
  return {
    async held() {
      if (waiting.length === 0) await new Promise<void>((resolve) => arrived.push(resolve));
    },
    release() {
      waiting.shift()?.();
    },
    restore() {
      paced = false;
      ledger.verifyLedger = original;
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}
