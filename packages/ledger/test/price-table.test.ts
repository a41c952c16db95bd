import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectLedgerErrorSync, expectLedgerRejection } from '@execution-ledger/test-support';
import {
  CostManager,
  DEFAULT_PRICE_TABLE,
  DEFAULT_PRICES,
  extendPriceTable,
  loadPriceTableFile,
  PriceTable,
  type PriceTableInput,
} from 'execution-ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ACME: PriceTableInput = {
  version: 'acme-2026-02',
  defaultModel: 'house-model',
  models: {
    'house-model': { inputCentsPerMillion: 100, cachedInputCentsPerMillion: 10, outputCentsPerMillion: 400 },
    '*': { inputCentsPerMillion: 1000, outputCentsPerMillion: 1000 },
  },
  toolCallCents: { deployService: 2.5 },
  externalRequestCents: { stripe: 0.3, '*': 0.1 },
};

function chargeOnce(prices: PriceTable | PriceTableInput) {
  const manager = new CostManager({ prices });
  const runId = `run-${randomUUID()}`;
  manager.createExecution(runId, 'backend');
  return { manager, runId };
}

describe('price tables', () => {
  it('round-trips the default table through JSON unchanged', () => {
    const json = JSON.parse(JSON.stringify(DEFAULT_PRICE_TABLE));
    expect(PriceTable.from(json).toJSON()).toEqual(DEFAULT_PRICE_TABLE.toJSON());
    expect(json.version).toBe(DEFAULT_PRICES.version);
  });

  it("prices a run from a user's table and records that table's version and unit prices", () => {
    const { manager, runId } = chargeOnce(ACME);
    manager.accountTokens(runId, 1_000_000, 1_000_000, { cachedInputTokens: 500_000 });
    manager.accountToolCall(runId, 'deployService');
    manager.accountExternalRequest(runId, 'stripe', 3);
    const metrics = manager.getMetrics(runId);
    expect(metrics.tokensCost).toBe(50 + 5 + 400);
    expect(metrics.toolCallsCost).toBe(2.5);
    expect(metrics.externalRequestsCost).toBe(0.9);
    expect(metrics.pricing).toMatchObject({
      source: 'computed',
      price_table_version: 'acme-2026-02',
      tool_calls: { deployService: { count: 1, cents_each: 2.5, cost: 2.5 } },
      external_requests: { stripe: { count: 3, cents_each: 0.3, cost: 0.9 } },
    });
  });

  it('prices unknown names by the "*" entry and records which entry priced them', () => {
    const { manager, runId } = chargeOnce(ACME);
    manager.accountTokens(runId, 1000, 0, { model: 'someone-elses-model' });
    manager.accountExternalRequest(runId, 'twilio', 2);
    const { pricing } = manager.getMetrics(runId);
    expect(pricing.models).toMatchObject({ 'someone-elses-model': { priced_as: '*', cost: 1 } });
    expect(pricing.external_requests).toEqual({
      twilio: { priced_as: '*', count: 2, cents_each: 0.1, cost: 0.2 },
    });
  });

  it('refuses a tool with no price and no "*" entry with PRICE_NOT_FOUND', () => {
    const { manager, runId } = chargeOnce(ACME);
    const error = expectLedgerErrorSync(() => manager.accountToolCall(runId, 'rollback'), 'PRICE_NOT_FOUND');
    expect(error.message).toContain('add it to toolCallCents or add a "*" entry');
    expect(manager.getMetrics(runId).toolCalls).toBe(0);
  });

  it.each([
    ['no version', { models: {} }, 'prices.version'],
    ['a negative price', { version: 'v', toolCallCents: { t: -1 } }, 'prices.toolCallCents["t"]'],
    ['seven decimals', { version: 'v', toolCallCents: { t: 0.0000001 } }, 'prices.toolCallCents["t"]'],
    [
      'a misspelt field',
      { version: 'v', models: { m: { inputCentPerMillion: 1, outputCentsPerMillion: 1 } } },
      'prices.models["m"].inputCentPerMillion',
    ],
    [
      'a missing output price',
      { version: 'v', models: { m: { inputCentsPerMillion: 1 } } },
      'prices.models["m"].outputCentsPerMillion',
    ],
    ['an unknown default model', { version: 'v', defaultModel: 'x', models: {} }, 'prices.defaultModel'],
    ['models as an array', { version: 'v', models: [] }, 'prices.models'],
    [
      'a price as text',
      { version: 'v', externalRequestCents: { s: '1' } },
      'prices.externalRequestCents["s"]',
    ],
  ])('refuses a table with %s, naming the field', (_name, table, field) => {
    const error = expectLedgerErrorSync(
      () => new CostManager({ prices: table as PriceTableInput }),
      'VALIDATION_FAILED',
    );
    expect(error.field).toBe(field);
    expect(error.message.startsWith(field)).toBe(true);
  });

  it('refuses a table of more than ten thousand prices with PAYLOAD_TOO_LARGE', () => {
    const toolCallCents = Object.fromEntries(
      Array.from({ length: 10_001 }, (_, index) => [`tool-${index}`, 1]),
    );
    expectLedgerErrorSync(() => PriceTable.from({ version: 'huge', toolCallCents }), 'PAYLOAD_TOO_LARGE');
  });

  it('extends the defaults under a new version, keeping what it does not change', () => {
    const table = extendPriceTable(DEFAULT_PRICE_TABLE, {
      version: 'default-2025-06+acme',
      models: { 'gpt-4o': { inputCentsPerMillion: 200, outputCentsPerMillion: 800 } },
      toolCallCents: { deployService: 5 },
    });
    expect(table.version).toBe('default-2025-06+acme');
    expect(table.defaultModel).toBe('gpt-4o');
    expect(table.modelPrice('gpt-4o').price.inputMicrosPerMillion).toBe(200_000_000n);
    expect(table.modelPrice('claude-sonnet-4').price.outputMicrosPerMillion).toBe(1_500_000_000n);
    expect(table.toolCallPrice('deployService').price).toBe(5_000_000n);
    expect(table.toolCallPrice('other')).toEqual({ pricedAs: '*', price: 1_000_000n });
  });

  it('refuses changes without a version, naming the changes', () => {
    const error = expectLedgerErrorSync(
      () => extendPriceTable(DEFAULT_PRICE_TABLE, { toolCallCents: { t: 1 } } as unknown as PriceTableInput),
      'VALIDATION_FAILED',
    );
    expect(error.field).toBe('changes.version');
  });
});

describe('price table files', () => {
  let folder = '';
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'prices-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function file(name: string, text: string): Promise<string> {
    const path = join(folder, name);
    await writeFile(path, text);
    return path;
  }

  it('loads a valid JSON table from a path', async () => {
    const table = await loadPriceTableFile(await file('acme.json', JSON.stringify(ACME)));
    expect(table.toJSON()).toEqual(PriceTable.from(ACME).toJSON());
  });

  it('names the file when it is not JSON', async () => {
    const path = await file('broken.json', '{ "version": ');
    const error = await expectLedgerRejection(loadPriceTableFile(path), 'VALIDATION_FAILED');
    expect(error.message).toContain(`price table file ${path} is not valid JSON`);
  });

  it('names the file and the field when the table is invalid', async () => {
    const path = await file('negative.json', JSON.stringify({ version: 'v', toolCallCents: { t: -1 } }));
    const error = await expectLedgerRejection(loadPriceTableFile(path), 'VALIDATION_FAILED');
    expect(error.message).toMatch(
      /^price table file .*negative\.json: prices\.toolCallCents\["t"\] must be zero/,
    );
    expect(error.field).toBe('prices.toolCallCents["t"]');
  });

  it('names the file when it cannot be read', async () => {
    const error = await expectLedgerRejection(
      loadPriceTableFile(join(folder, 'missing.json')),
      'VALIDATION_FAILED',
    );
    expect(error.message).toContain('cannot be read (ENOENT)');
  });
});
