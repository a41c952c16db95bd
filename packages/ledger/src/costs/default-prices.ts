import { PriceTable } from './price-table.js';
import type { PriceTableInput } from './price-table-input.js';

/**
 * The built-in prices: providers' published list prices per million tokens, in cents, as of
 * the version's date. Tool calls and external requests have no public price, so they cost a
 * placeholder cent each rather than zero: a charge that is counted but priced at nothing is
 * how real spend goes missing. Deployments supply their own table (docs/costs.md).
 */
export const DEFAULT_PRICES: Readonly<PriceTableInput> = deepFreeze({
  version: 'default-2025-06',
  defaultModel: 'gpt-4o',
  models: {
    'gpt-4o': { inputCentsPerMillion: 250, cachedInputCentsPerMillion: 125, outputCentsPerMillion: 1000 },
    'gpt-4o-mini': { inputCentsPerMillion: 15, cachedInputCentsPerMillion: 7.5, outputCentsPerMillion: 60 },
    'gpt-4.1': { inputCentsPerMillion: 200, cachedInputCentsPerMillion: 50, outputCentsPerMillion: 800 },
    'gpt-4.1-mini': { inputCentsPerMillion: 40, cachedInputCentsPerMillion: 10, outputCentsPerMillion: 160 },
    'claude-sonnet-4': {
      inputCentsPerMillion: 300,
      cachedInputCentsPerMillion: 30,
      outputCentsPerMillion: 1500,
    },
    'claude-opus-4': {
      inputCentsPerMillion: 1500,
      cachedInputCentsPerMillion: 150,
      outputCentsPerMillion: 7500,
    },
    'claude-3-5-haiku': {
      inputCentsPerMillion: 80,
      cachedInputCentsPerMillion: 8,
      outputCentsPerMillion: 400,
    },
  },
  toolCallCents: { '*': 1 },
  externalRequestCents: { '*': 1 },
});

export const DEFAULT_PRICE_TABLE: PriceTable = PriceTable.from(DEFAULT_PRICES, 'DEFAULT_PRICES');

/** Frozen all the way down, so no caller can edit the defaults that other code reads as published. */
function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null) deepFreeze(child);
  }
  return Object.freeze(value);
}
