import { DEFAULT_LIMITS } from '../bounds.js';
import { LedgerError } from '../errors.js';
import { centsToMicros, formatDollars } from '../money.js';

export interface BudgetExceededDetails {
  /** Set when a reservation was refused: what the caller asked to hold. */
  requestedCents?: number;
  /** What other reservations held when this one was refused. */
  reservedCents?: number;
}

/**
 * A run went past, or a reservation would take it past, its hard budget. The code is
 * BUDGET_EXCEEDED; `allocatedCents` and `spentCents` say by how much.
 */
export class BudgetExceededError extends LedgerError {
  readonly runId: string;
  readonly allocatedCents: number;
  readonly spentCents: number;
  readonly requestedCents: number | undefined;
  readonly reservedCents: number | undefined;

  constructor(runId: string, allocatedCents: number, spentCents: number, more: BudgetExceededDetails = {}) {
    const allocated = formatDollars(amount(allocatedCents, 'allocatedCents'));
    const spent = formatDollars(amount(spentCents, 'spentCents'));
    const refused =
      more.requestedCents === undefined
        ? `run ${JSON.stringify(runId)} is over its budget. Allocated: ${allocated}, Spent: ${spent}`
        : `run ${JSON.stringify(runId)} cannot reserve ${formatDollars(amount(more.requestedCents, 'requestedCents'))}. ` +
          `Allocated: ${allocated}, Spent: ${spent}, Reserved: ${formatDollars(amount(more.reservedCents ?? 0, 'reservedCents'))}`;
    super(
      'BUDGET_EXCEEDED',
      `${refused}; raise budgetCents, do less work, or create the run with enforce: 'check' to only report`,
      {
        field: 'budgetCents',
        details: {
          run_id: runId,
          allocated_cents: allocatedCents,
          spent_cents: spentCents,
          requested_cents: more.requestedCents ?? null,
          reserved_cents: more.reservedCents ?? null,
        },
      },
    );
    this.runId = runId;
    this.allocatedCents = allocatedCents;
    this.spentCents = spentCents;
    this.requestedCents = more.requestedCents;
    this.reservedCents = more.reservedCents;
  }

  /** The error message a run aborted by its budget records, in the form the specification shows. */
  get abortMessage(): string {
    const allocated = formatDollars(amount(this.allocatedCents, 'allocatedCents'));
    const spent = formatDollars(amount(this.spentCents, 'spentCents'));
    // A refused reservation spent nothing yet: say what was asked, or the line would not add up.
    const requested =
      this.requestedCents === undefined
        ? ''
        : `, Reserved: ${formatDollars(amount(this.reservedCents ?? 0, 'reservedCents'))}` +
          `, Requested: ${formatDollars(amount(this.requestedCents, 'requestedCents'))}`;
    return `Execution aborted: Budget exceeded. Allocated: ${allocated}, Spent: ${spent}${requested}`;
  }
}

function amount(cents: number, field: string): bigint {
  return centsToMicros(cents, field, DEFAULT_LIMITS.cost_cents_max);
}
