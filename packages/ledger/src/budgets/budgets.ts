import assert from 'node:assert/strict';
import { DEFAULT_LIMITS } from '../bounds.js';
import type { Database } from '../db/database.js';
import { namedSql } from '../db/named-sql.js';
import { LedgerError } from '../errors.js';
import { centsToMicros, microsToCents } from '../money.js';
import { requireId } from '../record.js';
import {
  type BudgetAction,
  type BudgetDefinition,
  type BudgetPeriod,
  checkBudget,
  checkReservationScope,
  checkTtl,
  checkUuid,
  type ReservationScope,
} from './budget-input.js';

export interface Budget {
  id: string;
  project_id: string | null;
  agent_id: string | null;
  user_id: string | null;
  period: BudgetPeriod;
  time_zone: string;
  limit_cents: number;
  thresholds: number[];
  action: BudgetAction;
  created_at: string;
  updated_at: string;
}

export interface BudgetStatus extends Budget {
  /** The start of the current period (ISO, UTC); null for a 'total' budget. */
  period_start: string | null;
  /** What the recorded runs in scope cost this period: derived from the entries. */
  spent_cents: number;
  /** Runs recorded in scope this period. */
  runs: number;
  /** What live (unexpired, unsettled) reservations hold. */
  held_cents: number;
  /** limit − spent − held; negative when recorded spend went past the limit. */
  remaining_cents: number;
}

export interface ReservedBudget {
  budget_id: string;
  action: BudgetAction;
  limit_cents: number;
  /** Spend this period when the reservation was taken. */
  spent_cents: number;
  /** Holds including this reservation's. */
  held_cents: number;
}

export interface BudgetReservation {
  id: string;
  estimated_cents: number;
  expires_at: string;
  scope: ReservationScope;
  /** Every budget the reservation holds against (empty when no budget covers the scope). */
  budgets: ReservedBudget[];
}

export interface ReserveOptions {
  /** How long the hold lasts unless settled or released; default 5 minutes. */
  ttl_ms?: number;
}

export interface SettleOptions {
  /** The recorded run whose exact cost_total settles the reservation. */
  run_id: string;
  /** Optional check: the cost the caller expects; refused when the recorded cost differs. */
  actual_cents?: number;
}

export interface SettledReservation {
  reservation_id: string;
  run_id: string;
  estimated_cents: number;
  actual_cents: number;
  /** True when the reservation had expired before it was settled (its hold no longer counted). */
  expired: boolean;
  replayed: boolean;
}

export type ReservationState = 'held' | 'settled' | 'released' | 'expired';

export interface ReservationRecord {
  id: string;
  project_id: string;
  agent_id: string;
  user_id: string;
  estimated_cents: number;
  budget_ids: string[];
  state: ReservationState;
  created_at: string;
  expires_at: string;
  settled_at: string | null;
  run_id: string | null;
  actual_cents: number | null;
}

interface BudgetRow {
  id: string;
  project_id: string | null;
  agent_id: string | null;
  user_id: string | null;
  period: BudgetPeriod;
  time_zone: string;
  limit_micros: string | number | bigint;
  thresholds: string | number[];
  action: BudgetAction;
  created_at: string;
  updated_at: string;
}

interface StatusRow extends BudgetRow {
  period_start: string | null;
  spent_micros: string | number | bigint;
  runs: string | number | bigint;
  held_micros: string | number | bigint;
}

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;
const BUDGET_COLUMNS = `b.id, b.project_id, b.agent_id, b.user_id, b.period, b.time_zone,
  b.limit_micros::text as limit_micros, array_to_string(b.thresholds, ',') as thresholds, b.action,
  to_char(b.created_at at time zone 'UTC', ${ISO}) as created_at,
  to_char(b.updated_at at time zone 'UTC', ${ISO}) as updated_at`;

const STATUS_SQL = `
  select ${BUDGET_COLUMNS},
    case when p.start = '-infinity' then null else to_char(p.start at time zone 'UTC', ${ISO}) end as period_start,
    coalesce((select s.spent_micros from execution_ledger.budget_spend s
      where s.budget_id = b.id and s.period_start = p.start), 0)::text as spent_micros,
    coalesce((select s.runs from execution_ledger.budget_spend s
      where s.budget_id = b.id and s.period_start = p.start), 0)::text as runs,
    coalesce((select sum(h.micros) from execution_ledger.budget_holds h
      where h.budget_id = b.id and h.expires_at > clock_timestamp()), 0)::text as held_micros
  from execution_ledger.budgets b
  cross join lateral (select execution_ledger.budget_period_start(b.period, b.time_zone, clock_timestamp()) as start) p`;

/**
 * Budgets kept in the database and shared by every process that opens the ledger: scope ×
 * period × limit × thresholds × action. Reservations are taken and settled by SQL functions
 * that lock the budgets, so no number of processes can hold more than a block budget allows;
 * spend is what the recorded entries cost (docs/budgets.md).
 */
export class LedgerBudgets {
  constructor(private readonly ready: () => Promise<Database>) {}

  /** Creates or replaces a budget and derives its spend from the entries already recorded. */
  async set(definition: BudgetDefinition): Promise<BudgetStatus> {
    const budget = checkBudget(definition);
    const database = await this.ready();
    await database.query(
      `select execution_ledger.budget_set($1, $2, $3, $4, $5, $6, $7::bigint, $8::smallint[], $9)`,
      [
        budget.id,
        budget.project_id,
        budget.agent_id,
        budget.user_id,
        budget.period,
        budget.time_zone,
        budget.limit_micros.toString(),
        `{${budget.thresholds.join(',')}}`,
        budget.action,
      ],
    );
    return this.status(budget.id);
  }

  async list(): Promise<Budget[]> {
    const database = await this.ready();
    const rows = await database.query<BudgetRow>(
      `select ${BUDGET_COLUMNS} from execution_ledger.budgets b order by b.id`,
    );
    return rows.map(toBudget);
  }

  /** Every budget's current period: spend, holds and what remains. */
  async statuses(): Promise<BudgetStatus[]> {
    const database = await this.ready();
    const rows = await database.query<StatusRow>(`${STATUS_SQL} order by b.id`);
    return rows.map(toStatus);
  }

  /** One budget's current period; BUDGET_NOT_FOUND when there is no such budget. */
  async status(budgetId: string): Promise<BudgetStatus> {
    const id = requireId(budgetId, 'budget_id', DEFAULT_LIMITS);
    const database = await this.ready();
    const [row] = await database.query<StatusRow>(`${STATUS_SQL} where b.id = $1`, [id]);
    if (row === undefined) throw budgetNotFound(id);
    return toStatus(row);
  }

  /** Removes a budget, its spend and its holds; reservations keep their history. */
  async delete(budgetId: string): Promise<void> {
    const id = requireId(budgetId, 'budget_id', DEFAULT_LIMITS);
    const database = await this.ready();
    const [row] = await database.query<{ deleted: boolean }>(
      'select execution_ledger.budget_delete($1) as deleted',
      [id],
    );
    if (row?.deleted !== true) throw budgetNotFound(id);
  }

  /**
   * Holds `estimatedCents` against every budget covering the scope, atomically in the database.
   * A block budget that cannot afford it refuses with BUDGET_BLOCKED and nothing is held.
   */
  async reserve(
    scope: ReservationScope,
    estimatedCents: number,
    options: ReserveOptions = {},
  ): Promise<BudgetReservation> {
    const checked = checkReservationScope(scope);
    const micros = centsToMicros(estimatedCents, 'estimated_cents', DEFAULT_LIMITS.cost_cents_max);
    const ttl = checkTtl(options?.ttl_ms);
    const database = await this.ready();
    const rows = await database.query<{
      r_outcome: 'reserved' | 'blocked';
      r_reservation_id: string | null;
      r_expires_at: string | null;
      r_budget_id: string | null;
      r_action: BudgetAction | null;
      r_limit_micros: string | number | bigint | null;
      r_spent_micros: string | number | bigint | null;
      r_held_micros: string | number | bigint | null;
    }>(namedSql('select * from execution_ledger.budget_reserve($1, $2, $3, $4::bigint, $5::integer)'), [
      checked.project_id,
      checked.agent_id,
      checked.user_id,
      micros.toString(),
      ttl,
    ]);
    const [first] = rows;
    assert(first !== undefined, 'budget_reserve returns at least one row');
    if (first.r_outcome === 'blocked') {
      const limit = cents(first.r_limit_micros);
      const spent = cents(first.r_spent_micros);
      const held = cents(first.r_held_micros);
      throw new LedgerError(
        'BUDGET_BLOCKED',
        `estimated_cents ${estimatedCents} does not fit budget ${JSON.stringify(first.r_budget_id)} this period: ` +
          `limit ${limit}, spent ${spent}, held by other reservations ${held}; wait for the next period, ` +
          'raise limit_cents, or reserve less',
        {
          field: 'estimated_cents',
          details: {
            budget_id: first.r_budget_id,
            limit_cents: limit,
            spent_cents: spent,
            held_cents: held,
            requested_cents: estimatedCents,
          },
        },
      );
    }
    assert(
      first.r_reservation_id !== null && first.r_expires_at !== null,
      'a granted reservation has an id and an expiry',
    );
    return {
      id: first.r_reservation_id,
      estimated_cents: microsToCents(micros),
      expires_at: first.r_expires_at,
      scope: checked,
      budgets: rows
        .filter((row) => row.r_budget_id !== null)
        .map((row) => ({
          budget_id: row.r_budget_id as string,
          action: row.r_action as BudgetAction,
          limit_cents: cents(row.r_limit_micros),
          spent_cents: cents(row.r_spent_micros),
          held_cents: cents(row.r_held_micros),
        })),
    };
  }

  /**
   * Settles a reservation with the recorded run it paid for: the run's exact cost_total is the
   * actual amount, and the hold is given back. Settling again with the same run replays.
   */
  async settle(reservation: string | { id: string }, options: SettleOptions): Promise<SettledReservation> {
    const id = checkUuid(
      typeof reservation === 'object' && reservation !== null ? reservation.id : reservation,
      'reservation_id',
    );
    if (options === null || typeof options !== 'object') {
      throw new LedgerError('VALIDATION_FAILED', 'options must be { run_id } naming the recorded run', {
        field: 'run_id',
      });
    }
    const runId = requireId(options.run_id, 'run_id', DEFAULT_LIMITS);
    const expected =
      options.actual_cents === undefined
        ? undefined
        : centsToMicros(options.actual_cents, 'actual_cents', DEFAULT_LIMITS.cost_cents_max);
    const database = await this.ready();
    return database.transaction(async (tx) => {
      const [row] = await tx.query<{
        r_outcome: string;
        r_actual_micros: string | number | bigint | null;
        r_estimated_micros: string | number | bigint | null;
        r_expired: boolean | null;
      }>(namedSql('select * from execution_ledger.budget_settle($1::uuid, $2)'), [id, runId]);
      assert(row !== undefined, 'budget_settle returns one row');
      refuseSettle(row.r_outcome, id, runId);
      const actual = BigInt(String(row.r_actual_micros));
      if (expected !== undefined && expected !== actual) {
        throw new LedgerError(
          'VALIDATION_FAILED',
          `actual_cents is ${options.actual_cents} but run ${JSON.stringify(runId)} was recorded costing ` +
            `${microsToCents(actual)} cents; a reservation settles with the recorded cost: omit actual_cents or pass that amount`,
          { field: 'actual_cents' },
        );
      }
      return {
        reservation_id: id,
        run_id: runId,
        estimated_cents: cents(row.r_estimated_micros),
        actual_cents: microsToCents(actual),
        expired: row.r_expired === true,
        replayed: row.r_outcome === 'replayed',
      };
    });
  }

  /** Gives a reservation's hold back without a run (the work was not done). */
  async release(reservation: string | { id: string }): Promise<void> {
    const id = checkUuid(
      typeof reservation === 'object' && reservation !== null ? reservation.id : reservation,
      'reservation_id',
    );
    const database = await this.ready();
    const [row] = await database.query<{ outcome: string }>(
      namedSql('select execution_ledger.budget_release($1::uuid) as outcome'),
      [id],
    );
    refuseSettle(row?.outcome ?? 'not_found', id, null);
  }

  /** A reservation as it stands; an unsettled one past its expiry reads as 'expired'. */
  async reservation(reservationId: string): Promise<ReservationRecord> {
    const id = checkUuid(reservationId, 'reservation_id');
    const database = await this.ready();
    const [row] = await database.query<Record<string, unknown>>(
      `select r.id::text as id, r.project_id, r.agent_id, r.user_id, r.estimated_micros::text as estimated_micros,
         array_to_string(r.budget_ids, ',') as budget_ids,
         case when r.state = 'held' and r.expires_at <= clock_timestamp() then 'expired' else r.state end as state,
         to_char(r.created_at at time zone 'UTC', ${ISO}) as created_at,
         to_char(r.expires_at at time zone 'UTC', ${ISO}) as expires_at,
         to_char(r.settled_at at time zone 'UTC', ${ISO}) as settled_at,
         r.run_id, r.actual_micros::text as actual_micros
       from execution_ledger.budget_reservations r where r.id = $1::uuid`,
      [id],
    );
    if (row === undefined) throw reservationNotFound(id);
    const budgetIds = String(row.budget_ids ?? '');
    return {
      id: String(row.id),
      project_id: String(row.project_id),
      agent_id: String(row.agent_id),
      user_id: String(row.user_id),
      estimated_cents: cents(row.estimated_micros as string),
      budget_ids: budgetIds === '' ? [] : budgetIds.split(','),
      state: row.state as ReservationState,
      created_at: String(row.created_at),
      expires_at: String(row.expires_at),
      settled_at: row.settled_at == null ? null : String(row.settled_at),
      run_id: row.run_id == null ? null : String(row.run_id),
      actual_cents: row.actual_micros == null ? null : cents(row.actual_micros as string),
    };
  }

  /** Re-derives the spend of one budget, or of every budget, from the recorded entries. */
  async rebuild(budgetId?: string): Promise<{ periods: number }> {
    const id = budgetId === undefined ? null : requireId(budgetId, 'budget_id', DEFAULT_LIMITS);
    const database = await this.ready();
    if (id !== null) await this.status(id);
    const [row] = await database.query<{ periods: string | number }>(
      'select execution_ledger.budget_rebuild($1)::text as periods',
      [id],
    );
    return { periods: Number(row?.periods ?? 0) };
  }
}

function refuseSettle(outcome: string, id: string, runId: string | null): void {
  switch (outcome) {
    case 'settled':
    case 'replayed':
    case 'released':
      return;
    case 'not_found':
      throw reservationNotFound(id);
    case 'closed':
      throw new LedgerError(
        'RESERVATION_CLOSED',
        `reservation_id ${id} was already settled by another run or released; reserve again for new work`,
        { field: 'reservation_id' },
      );
    case 'run_not_found':
      throw new LedgerError(
        'NOT_FOUND',
        `run_id ${JSON.stringify(runId)} is not recorded; append the run first, then settle its reservation with it`,
        { field: 'run_id' },
      );
    case 'scope_mismatch':
      throw new LedgerError(
        'RESERVATION_MISMATCH',
        `run_id ${JSON.stringify(runId)} was recorded under a different project, agent or user than reservation ${id}; ` +
          'settle a reservation with a run of the scope it was taken for',
        { field: 'run_id' },
      );
    case 'run_taken':
      throw new LedgerError(
        'RESERVATION_MISMATCH',
        `run_id ${JSON.stringify(runId)} already settles another reservation; each run settles one reservation`,
        { field: 'run_id' },
      );
    default:
      assert.fail(`unknown settle outcome ${outcome}`);
  }
}

function reservationNotFound(id: string): LedgerError {
  return new LedgerError(
    'RESERVATION_NOT_FOUND',
    `reservation_id ${id} names no budget reservation; use the id reserve() returned`,
    {
      field: 'reservation_id',
    },
  );
}

function budgetNotFound(id: string): LedgerError {
  return new LedgerError(
    'BUDGET_NOT_FOUND',
    `budget_id ${JSON.stringify(id)} names no budget; list the budgets, or create it with budgets.set()`,
    { field: 'budget_id' },
  );
}

function cents(value: string | number | bigint | null | undefined): number {
  return value == null ? 0 : microsToCents(BigInt(String(value)));
}

function toBudget(row: BudgetRow): Budget {
  const thresholds =
    typeof row.thresholds === 'string' ? row.thresholds.split(',').map(Number) : row.thresholds;
  return {
    id: row.id,
    project_id: row.project_id,
    agent_id: row.agent_id,
    user_id: row.user_id,
    period: row.period,
    time_zone: row.time_zone,
    limit_cents: cents(row.limit_micros),
    thresholds: thresholds.filter((value) => Number.isFinite(value) && value > 0),
    action: row.action,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

function toStatus(row: StatusRow): BudgetStatus {
  const limit = BigInt(String(row.limit_micros));
  const spent = BigInt(String(row.spent_micros));
  const held = BigInt(String(row.held_micros));
  return {
    ...toBudget(row),
    period_start: row.period_start,
    spent_cents: microsToCents(spent),
    runs: Number(row.runs),
    held_cents: microsToCents(held),
    remaining_cents: microsToCents(limit - spent - held),
  };
}
