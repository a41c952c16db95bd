import { AsyncLocalStorage } from 'node:async_hooks';
import { microsToCents } from '../money.js';
import type { JsonObject } from '../plain-json.js';
import type { StepKind, StepTokens } from '../step-shape.js';

/** One charge as a step sees it: its category, the model, tool, service or reason, and its amount. */
export interface ChargeNote {
  category: 'tokens' | 'toolCalls' | 'externalRequests' | 'penalties';
  name: string;
  micros: bigint;
  count: bigint;
  input?: bigint;
  cached?: bigint;
  output?: bigint;
}

interface TokenCounts {
  input: bigint;
  cached: bigint;
  output: bigint;
}

/**
 * What the charges made inside one step cost, in exact micro-cents, and what they were for.
 * A token charge adds the change of its model's run total (priced once on the accumulated
 * quantity), so the steps of a run add up to the run's total exactly, whatever the rounding.
 */
export class StepCharges {
  micros = 0n;
  readonly models = new Map<string, TokenCounts>();
  readonly tools = new Map<string, bigint>();
  readonly services = new Map<string, bigint>();
  penalties = 0n;

  add(charge: ChargeNote): void {
    this.micros += charge.micros;
    if (charge.category === 'tokens') {
      const counts = this.models.get(charge.name) ?? { input: 0n, cached: 0n, output: 0n };
      counts.input += charge.input ?? 0n;
      counts.cached += charge.cached ?? 0n;
      counts.output += charge.output ?? 0n;
      this.models.set(charge.name, counts);
    } else if (charge.category === 'toolCalls') {
      this.tools.set(charge.name, (this.tools.get(charge.name) ?? 0n) + charge.count);
    } else if (charge.category === 'externalRequests') {
      this.services.set(charge.name, (this.services.get(charge.name) ?? 0n) + charge.count);
    } else {
      this.penalties += charge.count;
    }
  }

  get isEmpty(): boolean {
    return (
      this.micros === 0n &&
      this.models.size === 0 &&
      this.tools.size === 0 &&
      this.services.size === 0 &&
      this.penalties === 0n
    );
  }

  /** Token counts of every model the step charged, summed; undefined when it charged none. */
  tokens(): StepTokens | undefined {
    if (this.models.size === 0) return undefined;
    let input = 0n;
    let cached = 0n;
    let output = 0n;
    for (const counts of this.models.values()) {
      input += counts.input;
      cached += counts.cached;
      output += counts.output;
    }
    return { input: Number(input), output: Number(output), cached_input: Number(cached) };
  }

  /**
   * The typed fields of the step (docs/api.md, "Typed steps"), inferred from what it charged
   * unless given: a tool call makes it a `tool` step named after the tool, else an external
   * request an `external` step named after the service, else tokens an `llm` step named after
   * the model. A name or model is set only when the step charged exactly one.
   */
  fields(given: StepLabels = {}): JsonObject {
    const single = (names: Map<string, unknown>) => (names.size === 1 ? [...names.keys()][0] : undefined);
    const inferredKind: StepKind | undefined =
      this.tools.size > 0
        ? 'tool'
        : this.services.size > 0
          ? 'external'
          : this.models.size > 0
            ? 'llm'
            : this.penalties > 0n
              ? 'other'
              : undefined;
    const kind = given.kind ?? inferredKind;
    const inferredName =
      kind === 'tool'
        ? single(this.tools)
        : kind === 'external'
          ? single(this.services)
          : kind === 'llm'
            ? single(this.models)
            : undefined;
    const name = given.name ?? inferredName;
    const model = given.model ?? single(this.models);
    const fields: JsonObject = {};
    if (kind !== undefined) fields.kind = kind;
    if (name !== undefined) fields.name = name;
    if (model !== undefined) fields.model = model;
    fields.cost = microsToCents(this.micros);
    const tokens = this.tokens();
    if (tokens !== undefined) fields.tokens = { ...tokens };
    return fields;
  }
}

/** A step's kind, name and model when the caller says them instead of leaving them inferred. */
export interface StepLabels {
  kind?: StepKind;
  name?: string;
  model?: string;
}

interface Scope {
  owner: object;
  charges: StepCharges;
  parent: Scope | undefined;
}

const scopes = new AsyncLocalStorage<Scope>();

/** Runs `fn` so that every charge of `owner`'s run made from it (and its async work) goes to `charges`. */
export function runInStep<T>(owner: object, charges: StepCharges, fn: () => T): T {
  return scopes.run({ owner, charges, parent: scopes.getStore() }, fn);
}

/** The innermost step of `owner`'s run that the current async context is inside, if any. */
export function currentStep(owner: object): StepCharges | undefined {
  for (let scope = scopes.getStore(); scope !== undefined; scope = scope.parent) {
    if (scope.owner === owner) return scope.charges;
  }
  return undefined;
}

/** The action of the steps that hold charges made outside every step. */
export const OUTSIDE_STEPS_ACTION = 'outside_steps';

/**
 * Charges made outside every step, as typed steps: one per model, tool and service, and one for
 * all penalties, so that every charge of the run belongs to a step and the steps add up to the
 * run's total. Zero-duration: they say what was charged, not when.
 */
export function outsideSteps(outside: OutsideCharges): JsonObject[] {
  const steps: JsonObject[] = [];
  const step = (kind: StepKind, name: string, charges: StepCharges, model?: string): JsonObject => {
    const fields = charges.fields({ kind, name, ...(model === undefined ? {} : { model }) });
    return { action: OUTSIDE_STEPS_ACTION, duration_ms: 0, ...fields };
  };
  for (const [name, charges] of outside.models) steps.push(step('llm', name, charges, name));
  for (const [name, charges] of outside.tools) steps.push(step('tool', name, charges));
  for (const [name, charges] of outside.services) steps.push(step('external', name, charges));
  if (!outside.penalties.isEmpty) steps.push(step('other', 'penalties', outside.penalties));
  return steps;
}

/** Charges made outside every step, kept apart by model, tool and service. */
export class OutsideCharges {
  readonly models = new Map<string, StepCharges>();
  readonly tools = new Map<string, StepCharges>();
  readonly services = new Map<string, StepCharges>();
  readonly penalties = new StepCharges();

  add(charge: ChargeNote): void {
    const byName =
      charge.category === 'tokens'
        ? this.models
        : charge.category === 'toolCalls'
          ? this.tools
          : charge.category === 'externalRequests'
            ? this.services
            : undefined;
    if (byName === undefined) {
      this.penalties.add(charge);
      return;
    }
    const charges = byName.get(charge.name) ?? new StepCharges();
    charges.add(charge);
    byName.set(charge.name, charges);
  }
}
