import { JSONB_SCAN_DEPTH_MAX } from '../bounds.js';
import { MemberStack } from './member-order.js';

// A number token with at most this many significant digits (and no exponent or trailing
// fraction zero) converts to a double and back to the same digits, so it is already in
// JavaScript's (and RFC 8785's) form and is kept as it is.
const VERBATIM_DIGITS_MAX = 15;
// JavaScript writes 0.000001 as it is but 0.0000001 as 1e-7: at most five zeros after the point.
const VERBATIM_FRACTION_ZEROS_MAX = 5;

// Byte values of the JSON syntax (plain constants: V8 folds them, it does not fold enum lookups).
const TAB = 9;
const LINE_FEED = 10;
const CARRIAGE_RETURN = 13;
const SPACE = 32;
const QUOTE = 34;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const POINT = 46;
const ZERO = 48;
const ONE = 49;
const NINE = 57;
const COLON = 58;
const UPPER_E = 69;
const OPEN_BRACKET = 91;
const BACKSLASH = 92;
const CLOSE_BRACKET = 93;
const LOWER_A = 97;
const LOWER_B = 98;
const LOWER_E = 101;
const LOWER_F = 102;
const LOWER_L = 108;
const LOWER_N = 110;
const LOWER_R = 114;
const LOWER_S = 115;
const LOWER_T = 116;
const LOWER_U = 117;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/** Thrown inside the scanner when the text takes a form it does not rewrite; caught by canonicaliseInPlace. */
const UNHANDLED = new Error('jsonb text form not handled by the scanner');

// The scan's state, in module variables for speed: one scan runs at a time (it never awaits).
const NO_BYTES = Buffer.alloc(0);
let bytes: Buffer = NO_BYTES;
let at = 0;
let out = 0;
let escaped = false;
/** Members of the outermost object, when the text is one. */
let outerMembers = -1;
const members = new MemberStack();

/**
 * Rewrites, in place, the UTF-8 text of one JSON value that PostgreSQL wrote for a jsonb value
 * (`bytes[start, end)`, with a 0 byte at `end`) into its RFC 8785 (JCS) form, and returns where
 * that form ends; -1 when the text takes a form this scanner does not handle, and the caller
 * must take the general path. With `topMembers`, the text must be an object of exactly that
 * many members (a payload put together around jsonb texts, each of which must stay one value).
 * The writing never overtakes the reading; `bytes` from `end + 1` on, as many as the text has,
 * are scratch space for re-ordering members.
 *
 * Why this is sound: PostgreSQL escapes strings exactly as JSON.stringify does (escape_json:
 * `\"`, `\\`, \b, \f, \n, \r, \t, other control characters as lower-case \u00xx, everything
 * else as it is), so string tokens are kept byte for byte; numbers are rewritten in JavaScript's
 * form (`1.50` becomes `1.5`), members are re-sorted from jsonb's order (by length, then bytes)
 * into UTF-16 code unit order, and whitespace is dropped. Anything else (an escape JSON.stringify
 * would not write, a raw control character, a repeated key, deep nesting, text that is not JSON)
 * returns -1. The 0 byte at `end` stops every token, so nothing past the text is read as part
 * of it.
 */
export function canonicaliseInPlace(target: Buffer, start: number, end: number, topMembers = -1): number {
  bytes = target;
  at = start;
  out = start;
  outerMembers = -1;
  members.reset(end + 1);
  try {
    scanValue(0);
    skipSpace();
    return at === end && (topMembers < 0 || outerMembers === topMembers) ? out : -1;
  } catch (error) {
    if (error !== UNHANDLED) throw error;
    return -1;
  } finally {
    bytes = NO_BYTES;
  }
}

function skipSpace(): void {
  const source = bytes;
  for (;;) {
    const byte = source[at];
    if (byte !== SPACE && byte !== LINE_FEED && byte !== CARRIAGE_RETURN && byte !== TAB) return;
    at += 1;
  }
}

function scanValue(depth: number): void {
  const source = bytes;
  let byte = byteOf(source, at);
  if (byte <= SPACE) {
    skipSpace();
    byte = byteOf(source, at);
  }
  if (byte === QUOTE) scanString();
  else if (byte === OPEN_BRACE) scanObject(depth + 1);
  else if (byte === OPEN_BRACKET) scanArray(depth + 1);
  else if (byte === MINUS || (byte >= ZERO && byte <= NINE)) scanNumber();
  else if (byte === LOWER_T) copyLiteral(LOWER_T, LOWER_R, LOWER_U, LOWER_E, 0);
  else if (byte === LOWER_F) copyLiteral(LOWER_F, LOWER_A, LOWER_L, LOWER_S, LOWER_E);
  else if (byte === LOWER_N) copyLiteral(LOWER_N, LOWER_U, LOWER_L, LOWER_L, 0);
  else throw UNHANDLED;
}

/** true, false or null, given by its bytes (0 ends a four-letter word). */
function copyLiteral(first: number, second: number, third: number, fourth: number, fifth: number): void {
  const source = bytes;
  const length = fifth === 0 ? 4 : 5;
  if (
    source[at + 1] !== second ||
    source[at + 2] !== third ||
    source[at + 3] !== fourth ||
    (fifth !== 0 && source[at + 4] !== fifth)
  ) {
    throw UNHANDLED;
  }
  source[out] = first;
  source[out + 1] = second;
  source[out + 2] = third;
  source[out + 3] = fourth;
  if (fifth !== 0) source[out + 4] = fifth;
  at += length;
  out += length;
}

/** Keeps a string token, quotes included: its bytes are also its JSON.stringify form. */
function scanString(): void {
  const source = bytes;
  let index = at + 1;
  let written = out + 1;
  source[out] = QUOTE;
  escaped = false;
  for (;;) {
    const byte = byteOf(source, index);
    if (byte === QUOTE) break;
    if (byte === BACKSLASH) {
      const length = escapeLength(source, index);
      for (let copied = 0; copied < length; copied += 1)
        source[written + copied] = byteOf(source, index + copied);
      index += length;
      written += length;
      escaped = true;
    } else if (byte < SPACE) {
      // Also the 0 byte after the text: an unterminated string ends here.
      throw UNHANDLED;
    } else {
      source[written] = byte;
      index += 1;
      written += 1;
    }
  }
  source[written] = QUOTE;
  out = written + 1;
  at = index + 1;
}

/** The length of an escape that JSON.stringify itself writes; any other escape is not handled. */
function escapeLength(source: Buffer, index: number): number {
  const code = source[index + 1];
  if (
    code === QUOTE ||
    code === BACKSLASH ||
    code === LOWER_B ||
    code === LOWER_F ||
    code === LOWER_N ||
    code === LOWER_R ||
    code === LOWER_T
  ) {
    return 2;
  }
  // \u00xx in lower-case hex, for a control character without a short form.
  if (code !== LOWER_U || source[index + 2] !== ZERO || source[index + 3] !== ZERO) throw UNHANDLED;
  const high = byteOf(source, index + 4);
  const low = byteOf(source, index + 5);
  if (high !== ZERO && high !== ONE) throw UNHANDLED;
  const lowValue = low >= ZERO && low <= NINE ? low - ZERO : low >= LOWER_A && low <= LOWER_F ? low - 87 : -1;
  if (lowValue < 0) throw UNHANDLED;
  const value = (high - ZERO) * 16 + lowValue;
  if (value === 8 || value === 9 || value === 10 || value === 12 || value === 13) throw UNHANDLED;
  return 6;
}

function isDigit(byte: number): boolean {
  return byte >= ZERO && byte <= NINE;
}

function skipDigits(index: number): number {
  const source = bytes;
  let next = index;
  while (isDigit(byteOf(source, next))) next += 1;
  return next;
}

/** A number token (JSON grammar, strictly), in JavaScript's form as JSON.stringify writes it. */
function scanNumber(): void {
  const source = bytes;
  const start = at;
  let index = start;
  if (source[index] === MINUS) index += 1;
  const first = byteOf(source, index);
  if (first === ZERO) index += 1;
  else if (first >= ONE && first <= NINE) index = skipDigits(index + 1);
  else throw UNHANDLED;
  const integerEnd = index;
  let fractionEnd = index;
  if (source[index] === POINT) {
    if (!isDigit(byteOf(source, index + 1))) throw UNHANDLED;
    index = fractionEnd = skipDigits(index + 1);
  }
  let exponent = false;
  if (source[index] === LOWER_E || source[index] === UPPER_E) {
    exponent = true;
    index += 1;
    if (source[index] === PLUS || source[index] === MINUS) index += 1;
    if (!isDigit(byteOf(source, index))) throw UNHANDLED;
    index = skipDigits(index);
  }
  at = index;
  if (!exponent && isVerbatimNumber(start, integerEnd, fractionEnd)) {
    for (let copied = start; copied < index; copied += 1) source[out++] = byteOf(source, copied);
    return;
  }
  // JSON.stringify, not String: a number beyond the double range reads as Infinity, written null.
  const text = JSON.stringify(Number(source.toString('latin1', start, index)));
  // Never ahead of the reading: true of jsonb text, whose numbers only get shorter.
  if (out + text.length > at) throw UNHANDLED;
  out += source.write(text, out, 'latin1');
}

/**
 * Whether a plain decimal token is already written as JavaScript writes its double: at most 15
 * significant digits (so no other decimal of as few digits rounds to the same double), no
 * trailing fraction zero, not -0, and not small enough for exponent notation.
 */
function isVerbatimNumber(start: number, integerEnd: number, fractionEnd: number): boolean {
  const source = bytes;
  const digitsStart = source[start] === MINUS ? start + 1 : start;
  const zeroInteger = source[digitsStart] === ZERO;
  if (fractionEnd === integerEnd) {
    return zeroInteger ? digitsStart === start : integerEnd - digitsStart <= VERBATIM_DIGITS_MAX;
  }
  if (source[fractionEnd - 1] === ZERO) return false;
  if (!zeroInteger) return fractionEnd - digitsStart - 1 <= VERBATIM_DIGITS_MAX;
  let significant = integerEnd + 1;
  while (source[significant] === ZERO) significant += 1;
  return (
    significant - integerEnd - 1 <= VERBATIM_FRACTION_ZEROS_MAX &&
    fractionEnd - significant <= VERBATIM_DIGITS_MAX
  );
}

function scanArray(depth: number): void {
  const source = bytes;
  if (depth > JSONB_SCAN_DEPTH_MAX) throw UNHANDLED;
  at += 1;
  source[out++] = OPEN_BRACKET;
  if (byteOf(source, at) <= SPACE) skipSpace();
  if (source[at] !== CLOSE_BRACKET) {
    for (;;) {
      scanValue(depth);
      if (byteOf(source, at) <= SPACE) skipSpace();
      const byte = source[at];
      at += 1;
      if (byte === CLOSE_BRACKET) break;
      if (byte !== COMMA) throw UNHANDLED;
      source[out++] = COMMA;
    }
  } else {
    at += 1;
  }
  source[out++] = CLOSE_BRACKET;
}

function scanObject(depth: number): void {
  const source = bytes;
  if (depth > JSONB_SCAN_DEPTH_MAX) throw UNHANDLED;
  at += 1;
  source[out++] = OPEN_BRACE;
  if (byteOf(source, at) <= SPACE) skipSpace();
  if (source[at] !== CLOSE_BRACE) {
    const base = members.top;
    for (;;) {
      if (source[at] !== QUOTE) throw UNHANDLED;
      const memberStart = out;
      scanString();
      const keyEnd = out - 1;
      const keyEscaped = escaped;
      if (byteOf(source, at) <= SPACE) skipSpace();
      if (source[at] !== COLON) throw UNHANDLED;
      at += 1;
      source[out++] = COLON;
      scanValue(depth);
      members.push(memberStart, out, keyEnd, keyEscaped);
      if (byteOf(source, at) <= SPACE) skipSpace();
      const byte = source[at];
      at += 1;
      if (byte === CLOSE_BRACE) break;
      if (byte !== COMMA) throw UNHANDLED;
      source[out++] = COMMA;
      if (byteOf(source, at) <= SPACE) skipSpace();
    }
    if (depth === 1) outerMembers = (members.top - base) / MemberStack.SLOTS;
    // Equal keys (never in jsonb text): JSON.parse keeps the last, so the general path decides.
    if (!members.sortFrom(base, source)) throw UNHANDLED;
  } else {
    if (depth === 1) outerMembers = 0;
    at += 1;
  }
  source[out++] = CLOSE_BRACE;
}

/**
 * The byte at `index`. The text ends in a 0 byte that stops every scan before the end of the
 * buffer, so a read beyond it means a form this scanner does not know: the general path takes it.
 */
function byteOf(source: Uint8Array, index: number): number {
  const byte = source[index];
  if (byte === undefined) throw UNHANDLED;
  return byte;
}
