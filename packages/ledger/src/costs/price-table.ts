import { LedgerError } from '../errors.js';
import { microsToCents } from '../money.js';
import {
  type ModelPrice,
  type ModelPriceInput,
  type ParsedPriceTable,
  type PriceTableInput,
  parsePriceTable,
} from './price-table-input.js';

/** The name under which a map of a price table holds its fallback price. */
export const FALLBACK_PRICE_NAME = '*';

/** A price found in a table, with the entry it came from (the name itself or "*"). */
export interface PriceLookup<T> {
  pricedAs: string;
  price: T;
}

/**
 * A validated, immutable price table. Costs computed from it carry its `version`, so a record
 * always says which prices produced its amounts, even after the table changes.
 */
export class PriceTable {
  readonly version: string;
  readonly defaultModel: string | undefined;
  readonly #parsed: ParsedPriceTable;

  private constructor(parsed: ParsedPriceTable) {
    this.version = parsed.version;
    this.defaultModel = parsed.defaultModel;
    this.#parsed = parsed;
  }

  /** Validates `input` (see PriceTableInput); a PriceTable is returned as it is. */
  static from(input: PriceTable | PriceTableInput | unknown, field = 'prices'): PriceTable {
    return input instanceof PriceTable ? input : new PriceTable(parsePriceTable(input, field));
  }

  /** The model a token charge is priced as: the one given, else the table's default model. */
  resolveModel(model: string | undefined): string {
    if (model !== undefined) return model;
    if (this.defaultModel !== undefined) return this.defaultModel;
    throw new LedgerError(
      'PRICE_NOT_FOUND',
      `model was not given and price table ${JSON.stringify(this.version)} has no defaultModel; ` +
        'pass { model } to accountTokens() or set defaultModel in the table',
      { field: 'model' },
    );
  }

  modelPrice(model: string): PriceLookup<ModelPrice> {
    return this.#find(this.#parsed.models, model, 'model', 'models (cents per million tokens)');
  }

  toolCallPrice(tool: string): PriceLookup<bigint> {
    return this.#find(this.#parsed.toolCalls, tool, 'toolName', 'toolCallCents');
  }

  externalRequestPrice(service: string): PriceLookup<bigint> {
    return this.#find(this.#parsed.externalRequests, service, 'service', 'externalRequestCents');
  }

  /** The table in its input shape: what `JSON.stringify` writes and `PriceTable.from` reads back. */
  toJSON(): PriceTableInput {
    const { models, toolCalls, externalRequests } = this.#parsed;
    const json: PriceTableInput = { version: this.version };
    if (this.defaultModel !== undefined) json.defaultModel = this.defaultModel;
    json.models = Object.fromEntries([...models].map(([name, price]) => [name, modelPriceJson(price)]));
    json.toolCallCents = centsRecord(toolCalls);
    json.externalRequestCents = centsRecord(externalRequests);
    return json;
  }

  #find<T>(prices: Map<string, T>, name: string, field: string, section: string): PriceLookup<T> {
    const own = prices.get(name);
    if (own !== undefined) return { pricedAs: name, price: own };
    const fallback = prices.get(FALLBACK_PRICE_NAME);
    if (fallback !== undefined) return { pricedAs: FALLBACK_PRICE_NAME, price: fallback };
    throw new LedgerError(
      'PRICE_NOT_FOUND',
      `${field} ${JSON.stringify(name)} has no price in table ${JSON.stringify(this.version)} and there is no ` +
        `"*" fallback; add it to ${section} or add a "*" entry`,
      { field, details: { name, price_table_version: this.version } },
    );
  }
}

/**
 * A new table that keeps `base` and adds or replaces the prices in `changes`. The version is
 * required: prices that differ must never be recorded under the old table's name.
 */
export function extendPriceTable(base: PriceTable | PriceTableInput, changes: PriceTableInput): PriceTable {
  const from = PriceTable.from(base).toJSON();
  // Validate the changes on their own first, so an error names the caller's field, not the merge.
  const { defaultModel: ownDefault, ...ownPrices } = changes;
  const own = PriceTable.from(ownPrices, 'changes').toJSON();
  const merged: PriceTableInput = {
    version: own.version,
    models: mergeRecords(from.models, own.models),
    toolCallCents: mergeRecords(from.toolCallCents, own.toolCallCents),
    externalRequestCents: mergeRecords(from.externalRequestCents, own.externalRequestCents),
  };
  const defaultModel = ownDefault ?? from.defaultModel;
  if (defaultModel !== undefined) merged.defaultModel = defaultModel;
  return PriceTable.from(merged, 'changes');
}

/** Entries of `changes` win; built from entries so that a "__proto__" name stays plain data. */
function mergeRecords<T>(base: Record<string, T> | undefined, changes: Record<string, T> | undefined) {
  return Object.fromEntries([...Object.entries(base ?? {}), ...Object.entries(changes ?? {})]);
}

function modelPriceJson(price: ModelPrice): ModelPriceInput {
  return {
    inputCentsPerMillion: microsToCents(price.inputMicrosPerMillion),
    cachedInputCentsPerMillion: microsToCents(price.cachedInputMicrosPerMillion),
    outputCentsPerMillion: microsToCents(price.outputMicrosPerMillion),
  };
}

function centsRecord(prices: Map<string, bigint>): Record<string, number> {
  return Object.fromEntries([...prices].map(([name, micros]) => [name, microsToCents(micros)]));
}
