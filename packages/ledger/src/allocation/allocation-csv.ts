import { neutralizeFormula } from '../analytics/csv-export.js';
import { decimalTextToMicros } from '../money.js';
import type { AllocationReport } from './allocation-types.js';

/**
 * The columns of an allocation CSV: FOCUS names where FOCUS has one (amounts in the billing
 * currency, US dollars), `x_`-prefixed ones for what FOCUS leaves to the provider.
 */
export const ALLOCATION_CSV_COLUMNS = [
  'BillingCurrency',
  'ChargePeriodStart',
  'ChargePeriodEnd',
  'ChargeCategory',
  'ChargeDescription',
  'BilledCost',
  'EffectiveCost',
  'AllocatedMethodId',
  'AllocatedMethodDetails',
  'AllocatedResourceId',
  'AllocatedResourceName',
  'x_CostCenter',
  'x_Markup',
  'x_RuleSetVersion',
  'x_RuleSetHash',
] as const;

const NEEDS_QUOTES = /[",\r\n]/;

function field(text: string): string {
  const safe = neutralizeFormula(text);
  return NEEDS_QUOTES.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** Cents (exact to the micro-cent) as exact dollars text: 850.5 → "8.505". */
function dollars(cents: number): string {
  const micros = decimalTextToMicros(String(cents)) ?? 0n;
  const whole = micros / 100_000_000n;
  const fraction = (micros % 100_000_000n).toString().padStart(8, '0').replace(/0+$/, '');
  return fraction === '' ? whole.toString() : `${whole}.${fraction}`;
}

/** One RFC 4180 record per line of the report, header first, CRLF line ends. */
export function allocationReportToCsv(report: AllocationReport): string {
  let text = `${ALLOCATION_CSV_COLUMNS.join(',')}\r\n`;
  for (const line of report.lines) {
    const method = line.basis === null ? line.method : `${line.method}:${line.basis}`;
    const cells = [
      'USD',
      report.period_start,
      report.period_end,
      'Usage',
      `${line.source} allocated by rule ${line.rule_id} to ${line.cost_center}`,
      dollars(line.billed_cost),
      dollars(line.effective_cost),
      `${line.rule_id}/${method}`,
      JSON.stringify({ method: line.method, basis: line.basis, weight: line.weight }),
      line.source,
      line.rule_id,
      line.cost_center,
      dollars(line.markup),
      String(report.rule_set.version),
      report.rule_set.hash,
    ];
    text += `${cells.map(field).join(',')}\r\n`;
  }
  return text;
}
