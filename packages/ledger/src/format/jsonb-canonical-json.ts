import type { JsonValue } from '../plain-json.js';
import { canonicalJsonOfParsed } from './fast-canonical-json.js';
import { canonicaliseInPlace } from './jsonb-text-scanner.js';

/**
 * Writes RFC 8785 (JCS) text as UTF-8 into one growing buffer, so the verifier assembles a whole
 * payload and hashes its bytes without building a string per value. A jsonb value's text is
 * rewritten in place by the scanner (jsonb-text-scanner.ts), without JSON.parse; text the scanner
 * does not handle goes to JSON.parse and canonicalJsonOfParsed, so the bytes are always theirs.
 */
export class CanonicalJsonWriter {
  private out = Buffer.allocUnsafe(64 * 1024);
  private written = 0;

  /** Empties the buffer for the next payload. */
  reset(): void {
    this.written = 0;
  }

  /** The bytes written since the last reset; valid until the next write. */
  bytes(): Buffer {
    return this.out.subarray(0, this.written);
  }

  /** Text already in its final form (JSON syntax and JSON.stringify output), as UTF-8. */
  writeText(text: string): void {
    this.reserve(text.length * 3);
    this.written += this.out.write(text, this.written, 'utf8');
  }

  /** The JCS of a jsonb value given as the text PostgreSQL writes for it, null as null. */
  writeJsonbText(text: string | null): void {
    if (text === null) this.writeText('null');
    else if (!this.tryWriteJsonbText(text))
      this.writeText(canonicalJsonOfParsed(JSON.parse(text) as JsonValue));
  }

  /**
   * The JCS of JSON text in the form PostgreSQL writes for jsonb, rewritten in place by the
   * scanner; false, with nothing written, when the scanner does not handle the text (or it is
   * not an object of `topMembers` members, when given).
   */
  tryWriteJsonbText(text: string, topMembers?: number): boolean {
    // A lone surrogate has no UTF-8 form (JSON.stringify escapes it): only whole text is copied.
    if (!text.isWellFormed()) return false;
    // UTF-8 takes at most three bytes a UTF-16 unit; as much again is the scanner's scratch space.
    this.reserve(text.length * 6 + 2);
    const start = this.written;
    const end = start + this.out.write(text, start, 'utf8');
    this.out[end] = 0;
    const canonicalEnd = canonicaliseInPlace(this.out, start, end, topMembers);
    if (canonicalEnd < 0) return false;
    this.written = canonicalEnd;
    return true;
  }

  /** Room for `bytes` more: the buffer doubles, keeping what is written. */
  private reserve(bytes: number): void {
    if (this.written + bytes <= this.out.length) return;
    let size = this.out.length * 2;
    while (size < this.written + bytes) size *= 2;
    const larger = Buffer.allocUnsafe(size);
    this.out.copy(larger, 0, 0, this.written);
    this.out = larger;
  }
}

// One writer for canonicalJsonOfJsonbText, made on first use: it never awaits, so calls cannot
// interleave.
let sharedWriter: CanonicalJsonWriter | undefined;

/**
 * RFC 8785 (JCS) text of the text PostgreSQL writes for a jsonb value (`column::text`), without
 * JSON.parse when the text is in that form. It equals canonicalJson(JSON.parse(text)) for any
 * JSON text; where canonicalJson refuses a parsed value, strings and numbers are written as
 * JSON.stringify writes them (a lone surrogate escaped, a number beyond the double range as
 * null). Text that is not JSON throws JSON.parse's SyntaxError.
 */
export function canonicalJsonOfJsonbText(text: string): string {
  sharedWriter ??= new CanonicalJsonWriter();
  sharedWriter.reset();
  sharedWriter.writeJsonbText(text);
  return sharedWriter.bytes().toString('utf8');
}
