import { LedgerError } from './errors.js';

/**
 * Money is counted in cents with up to six decimals. Inside, every amount is an integer
 * number of micro-cents held in a bigint, so sums never drift the way float additions do.
 */
export const MICROS_PER_CENT = 1_000_000n;
export const CENTS_DECIMALS_MAX = 6;

const DECIMAL_PATTERN = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/;

/**
 * Whether `value` is whole cents that centsToMicros accepts without a word (zero or more, not
 * -0, at most `centsMax`): the usual amount, checked without building the field's name.
 */
export function isWholeCents(value: unknown, centsMax: number): value is number {
  return (
    Number.isSafeInteger(value) &&
    (value as number) >= 0 &&
    (value as number) <= centsMax &&
    !Object.is(value, -0)
  );
}

/** Turns a cents amount given as a JS number into exact micro-cents, or explains what is wrong. */
export function centsToMicros(value: unknown, field: string, centsMax: number): bigint {
  if (typeof value !== 'number') {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} must be a number of cents, got ${describeType(value)}; pass e.g. 850 for $8.50`,
      { field },
    );
  }
  if (!Number.isFinite(value)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} must be a finite number of cents, got ${String(value)}; compute the amount before recording`,
      { field },
    );
  }
  if (value < 0 || Object.is(value, -0)) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} must be zero or more, got ${value}; record refunds or credits as a separate entry`,
      { field },
    );
  }
  if (value > centsMax) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} is ${value} cents, above the limit of ${centsMax}; check the unit (cents, not micro-cents)`,
      { field },
    );
  }
  // Whole cents (the usual amount) need no decimal text; anything else is parsed from the digits
  // JavaScript prints for it.
  if (isWholeCents(value, centsMax)) return BigInt(value) * MICROS_PER_CENT;
  const micros = decimalTextToMicros(String(value));
  if (micros === undefined) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `${field} has more than ${CENTS_DECIMALS_MAX} decimal places (${value}); round it to micro-cents`,
      { field },
    );
  }
  return micros;
}

/**
 * Parses a non-negative decimal text (as JS prints numbers, or as PostgreSQL prints numeric)
 * into micro-cents; undefined when it has more than six decimals.
 */
export function decimalTextToMicros(text: string): bigint | undefined {
  const match = DECIMAL_PATTERN.exec(text.trim());
  if (match === null) {
    throw new LedgerError(
      'VALIDATION_FAILED',
      `amount ${JSON.stringify(text)} is not a decimal number of cents; write it like 12.5 or 1e-6`,
      { field: 'amount' },
    );
  }
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  const exponent = Number(match[3] ?? '0');
  // Shift the decimal point by the exponent, then by six more places for micro-cents.
  const digits = whole + fraction;
  const scale = fraction.length - exponent - CENTS_DECIMALS_MAX;
  if (scale > 0) {
    const dropped = digits.slice(digits.length - scale);
    if (!/^0*$/.test(dropped)) return undefined;
    return BigInt(digits.slice(0, digits.length - scale) || '0');
  }
  return BigInt(digits) * 10n ** BigInt(-scale);
}

/** Exact decimal text of micro-cents, e.g. 850_000_000n → "850", 1n → "0.000001". */
export function microsToDecimalText(micros: bigint): string {
  const negative = micros < 0n;
  const absolute = negative ? -micros : micros;
  const whole = absolute / MICROS_PER_CENT;
  const fraction = (absolute % MICROS_PER_CENT)
    .toString()
    .padStart(CENTS_DECIMALS_MAX, '0')
    .replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

/** The JS number closest to the exact amount; exact for every amount below 2^53 micro-cents. */
export function microsToCents(micros: bigint): number {
  return Number(microsToDecimalText(micros));
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string ${JSON.stringify(value.slice(0, 40))}` : typeof value;
}

const MICROS_PER_DOLLAR = 100n * MICROS_PER_CENT;
const ONE_MILLION = 1_000_000n;

/**
 * Micro-cents for `quantity` units at a price given per million units, rounded half up to the
 * micro-cent. Callers price a run's accumulated quantity, not each charge, so the rounding
 * happens once and splitting one call into many small ones cannot change the amount.
 */
export function priceByMillion(quantity: bigint, microsPerMillion: bigint): bigint {
  return (quantity * microsPerMillion + ONE_MILLION / 2n) / ONE_MILLION;
}

/**
 * Dollars for messages, exact: two decimals when the amount is whole cents and as many as it
 * needs otherwise, so an overspend of a fraction of a cent never reads as "equal to budget".
 */
export function formatDollars(micros: bigint): string {
  const negative = micros < 0n;
  const absolute = negative ? -micros : micros;
  const fraction = (absolute % MICROS_PER_DOLLAR)
    .toString()
    .padStart(8, '0')
    .replace(/0{1,6}$/, '');
  return `${negative ? '-' : ''}$${absolute / MICROS_PER_DOLLAR}.${fraction}`;
}
