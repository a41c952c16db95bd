import { LedgerError } from './errors.js';

/** A value that JSON, JSONB and RFC 8785 all represent the same way. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

interface Frame {
  value: unknown;
  path: string;
  depth: number;
}

/**
 * Checks that `value` is plain JSON that PostgreSQL's jsonb and RFC 8785 agree on: plain objects
 * and arrays, finite numbers, well-formed strings without NUL. Iterative, so a hostile
 * 10,000-level nesting fails on the depth bound instead of overflowing the stack.
 */
export function assertPlainJson(value: unknown, field: string, depthMax: number): asserts value is JsonValue {
  const stack: Frame[] = [{ value, path: field, depth: 0 }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const { path, depth } = frame;
    const current = frame.value;
    if (current === null || typeof current === 'boolean') continue;
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) fail(path, `is ${String(current)}; JSON has only finite numbers`);
      continue;
    }
    if (typeof current === 'string') {
      assertJsonText(current, path);
      continue;
    }
    if (typeof current !== 'object') {
      fail(
        path,
        `is ${typeof current === 'undefined' ? 'undefined' : `a ${typeof current}`}; use null or remove it`,
      );
    }
    if (depth >= depthMax) {
      fail(
        path,
        `nests deeper than ${depthMax} levels; flatten the structure or raise limits.json_depth_max`,
      );
    }
    if (Array.isArray(current)) {
      if (Object.getPrototypeOf(current) !== Array.prototype) fail(path, 'is not a plain array');
      for (let index = current.length - 1; index >= 0; index -= 1) {
        if (!(index in current)) fail(`${path}[${index}]`, 'is a hole in a sparse array; fill it with null');
        stack.push({ value: current[index], path: `${path}[${index}]`, depth: depth + 1 });
      }
      continue;
    }
    const prototype = Object.getPrototypeOf(current);
    if (prototype !== Object.prototype && prototype !== null) {
      const name = (current as object).constructor?.name ?? 'object';
      fail(path, `is a ${name}, not a plain object; convert it first (a Date with toISOString())`);
    }
    // Own enumerable string keys only: `__proto__` from JSON.parse is one of them and is kept as data.
    for (const key of Object.keys(current)) {
      assertJsonText(key, `${path} key ${JSON.stringify(key.slice(0, 40))}`);
      stack.push({
        value: (current as Record<string, unknown>)[key],
        path: `${path}.${key}`,
        depth: depth + 1,
      });
    }
  }
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
