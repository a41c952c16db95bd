import { LedgerError } from './errors.js';

/** A value that JSON, JSONB and RFC 8785 all represent the same way. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/**
 * Checks that `value` is plain JSON that PostgreSQL's jsonb and RFC 8785 agree on (plain objects
 * and arrays, finite numbers, well-formed strings without NUL, at most `depthMax` levels) and
 * returns its JSON text as JSON.stringify writes it; the text's UTF-8 length is what the size
 * bounds limit. The check is one walk that builds no path text unless it fails: writing the text
 * in that same walk was measured slower than V8's native JSON.stringify after it
 * (bench/validation.js). Recursive, but no deeper than `depthMax`: a hostile 10,000-level
 * nesting fails on the depth bound first.
 */
export function plainJsonText(value: unknown, field: string, depthMax: number): string {
  new PlainJsonCheck(field, depthMax).visit(value, 0);
  return JSON.stringify(value);
}

/** The same check for a value whose text is not needed (a captured request or response). */
export function assertPlainJson(value: unknown, field: string, depthMax: number): asserts value is JsonValue {
  new PlainJsonCheck(field, depthMax).visit(value, 0);
}

/** The walk of plainJsonText. The path of each value is kept as a list of keys and built only for a message. */
class PlainJsonCheck {
  private readonly keys: (string | number)[] = [];

  constructor(
    private readonly field: string,
    private readonly depthMax: number,
  ) {}

  visit(value: unknown, depth: number): void {
    if (value === null) return;
    switch (typeof value) {
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(value)) this.fail(`is ${String(value)}; JSON has only finite numbers`);
        return;
      case 'string':
        if (!isJsonText(value)) assertJsonText(value, this.path());
        return;
      case 'object':
        break;
      default:
        this.fail(
          `is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}; use null or remove it`,
        );
    }
    if (depth >= this.depthMax) {
      this.fail(
        `nests deeper than ${this.depthMax} levels; flatten the structure or raise limits.json_depth_max`,
      );
    }
    if (Array.isArray(value)) this.visitArray(value, depth);
    else this.visitObject(value as object, depth);
  }

  private visitArray(array: unknown[], depth: number): void {
    if (Object.getPrototypeOf(array) !== Array.prototype) this.fail('is not a plain array');
    for (let index = 0; index < array.length; index += 1) {
      this.keys.push(index);
      if (!(index in array)) this.fail('is a hole in a sparse array; fill it with null');
      this.visit(array[index], depth + 1);
      this.keys.pop();
    }
  }

  private visitObject(object: object, depth: number): void {
    const prototype = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) {
      const name = object.constructor?.name ?? 'object';
      this.fail(`is a ${name}, not a plain object; convert it first (a Date with toISOString())`);
    }
    // Own enumerable string keys only, as JSON.stringify writes them: `__proto__` from
    // JSON.parse is one of them and is kept as data.
    for (const key of Object.keys(object)) {
      if (!isJsonText(key)) assertJsonText(key, `${this.path()} key ${JSON.stringify(key.slice(0, 40))}`);
      this.keys.push(key);
      this.visit((object as Record<string, unknown>)[key], depth + 1);
      this.keys.pop();
    }
  }

  /** The path of the value being checked: `execution_trace.steps[2].name`. */
  private path(): string {
    let path = this.field;
    for (const key of this.keys) path += typeof key === 'number' ? `[${key}]` : `.${key}`;
    return path;
  }

  private fail(problem: string): never {
    return fail(this.path(), problem);
  }
}

/** Whether jsonb can store the text and RFC 8785 can hash it (the check of assertJsonText, without a message). */
function isJsonText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}

/** Text that jsonb can store and RFC 8785 can hash: no NUL character, no lone surrogate. */
export function assertJsonText(text: string, path: string): void {
  if (text.includes('\u0000'))
    fail(path, 'contains the NUL character \\u0000, which PostgreSQL cannot store; remove it');
  if (!text.isWellFormed()) fail(path, 'contains a lone UTF-16 surrogate; send well-formed Unicode text');
}

function fail(path: string, problem: string): never {
  throw new LedgerError('VALIDATION_FAILED', `${path} ${problem}`, { field: path });
}

/** A short description of a caller's value for an error message: text quoted and cut at 40 characters. */
export function preview(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}
