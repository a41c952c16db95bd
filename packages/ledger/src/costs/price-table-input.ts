import { DEFAULT_LIMITS, PRICE_TABLE_ENTRIES_MAX } from '../bounds.js';
import { LedgerError } from '../errors.js';
import { centsToMicros } from '../money.js';
import { requireId } from '../record.js';

/** Prices of one model in cents per million tokens; cached input defaults to the input price. */
export interface ModelPriceInput {
  inputCentsPerMillion: number;
  outputCentsPerMillion: number;
  cachedInputCentsPerMillion?: number;
}

/**
 * A price table as users write it (an object, or a JSON file of the same shape). All amounts
 * are cents with up to six decimals. The name "*" in a map is the fallback for names not listed.
 */
export interface PriceTableInput {
  /** Names this set of prices; stored with every cost computed from it. */
  version: string;
  /** The model charged when accountTokens() is given no model. */
  defaultModel?: string;
  models?: Record<string, ModelPriceInput>;
  toolCallCents?: Record<string, number>;
  externalRequestCents?: Record<string, number>;
}

/** A model's prices in exact micro-cents per million tokens. */
export interface ModelPrice {
  inputMicrosPerMillion: bigint;
  cachedInputMicrosPerMillion: bigint;
  outputMicrosPerMillion: bigint;
}

/** The validated content of a price table. */
export interface ParsedPriceTable {
  version: string;
  defaultModel: string | undefined;
  models: Map<string, ModelPrice>;
  toolCalls: Map<string, bigint>;
  externalRequests: Map<string, bigint>;
}

const TABLE_KEYS = ['version', 'defaultModel', 'models', 'toolCallCents', 'externalRequestCents'];
const MODEL_KEYS = ['inputCentsPerMillion', 'cachedInputCentsPerMillion', 'outputCentsPerMillion'];

/**
 * Validates a user's price table and converts every amount to micro-cents. Unknown keys are
 * refused, so a misspelt price never silently falls back to a default.
 */
export function parsePriceTable(raw: unknown, field = 'prices'): ParsedPriceTable {
  const table = requireRecord(raw, field, TABLE_KEYS);
  const version = requireId(table.version, `${field}.version`, DEFAULT_LIMITS);
  const models = parseMap(table.models, `${field}.models`, parseModelPrice);
  const toolCalls = parseMap(table.toolCallCents, `${field}.toolCallCents`, parseCents);
  const externalRequests = parseMap(table.externalRequestCents, `${field}.externalRequestCents`, parseCents);
  const entries = models.size + toolCalls.size + externalRequests.size;
  if (entries > PRICE_TABLE_ENTRIES_MAX) {
    throw new LedgerError(
      'PAYLOAD_TOO_LARGE',
      `${field} has ${entries} prices, more than ${PRICE_TABLE_ENTRIES_MAX}; use "*" fallbacks for long tails`,
      { field },
    );
  }
  let defaultModel: string | undefined;
  if (table.defaultModel !== undefined) {
    defaultModel = requireId(table.defaultModel, `${field}.defaultModel`, DEFAULT_LIMITS);
    if (!models.has(defaultModel)) {
      fail(`${field}.defaultModel`, `names ${JSON.stringify(defaultModel)}, which is not in ${field}.models`);
    }
  }
  return { version, defaultModel, models, toolCalls, externalRequests };
}

function parseModelPrice(value: unknown, path: string): ModelPrice {
  const price = requireRecord(value, path, MODEL_KEYS);
  const input = parseCents(price.inputCentsPerMillion, `${path}.inputCentsPerMillion`);
  return {
    inputMicrosPerMillion: input,
    cachedInputMicrosPerMillion:
      price.cachedInputCentsPerMillion === undefined
        ? input
        : parseCents(price.cachedInputCentsPerMillion, `${path}.cachedInputCentsPerMillion`),
    outputMicrosPerMillion: parseCents(price.outputCentsPerMillion, `${path}.outputCentsPerMillion`),
  };
}

function parseCents(value: unknown, path: string): bigint {
  if (value === undefined) fail(path, 'is required: a price in cents, e.g. 250 for $2.50');
  return centsToMicros(value, path, DEFAULT_LIMITS.cost_cents_max);
}

function parseMap<T>(
  raw: unknown,
  field: string,
  parse: (value: unknown, path: string) => T,
): Map<string, T> {
  const parsed = new Map<string, T>();
  if (raw === undefined) return parsed;
  const record = requireRecord(raw, field);
  for (const name of Object.keys(record)) {
    requireId(name, `${field} key`, DEFAULT_LIMITS);
    parsed.set(name, parse(record[name], `${field}[${JSON.stringify(name)}]`));
  }
  return parsed;
}

function requireRecord(value: unknown, field: string, keys?: string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(
      field,
      `must be an object; got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  const record = value as Record<string, unknown>;
  if (keys !== undefined) {
    for (const key of Object.keys(record)) {
      if (!keys.includes(key))
        fail(`${field}.${key}`, `is not a known field; allowed are ${keys.join(', ')}`);
    }
  }
  return record;
}

function fail(field: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${field} ${problem}`, { field });
}
