import { assert } from './invariant.js';

// Bytes at and above 0xEE lead the UTF-8 of U+E000..U+FFFF and of U+10000 and beyond: the one
// place where UTF-8 byte order (code point order) and UTF-16 code unit order disagree.
const UTF8_ORDER_DIFFERS_FROM = 0xee;
const COMMA = 44;
/** Int32 slots per member: start (key's opening quote), end (after the value), key's closing quote, escaped. */
const SLOTS = 4;

/**
 * The members of the objects being written, innermost last: where each member's bytes lie in
 * the output, so an object's members can be put in key order once the object is complete.
 * Reused across values, so writing an object allocates nothing.
 */
export class MemberStack {
  static readonly SLOTS = SLOTS;
  records = new Int32Array(SLOTS * 64);
  top = 0;
  private order = new Int32Array(64);
  /** Where, in the buffer being rewritten, members may be copied aside while they are re-ordered. */
  private scratchAt = 0;

  /** Empties the stack for a new text; `scratchAt` has room for as many bytes as that text. */
  reset(scratchAt: number): void {
    this.top = 0;
    this.scratchAt = scratchAt;
  }

  push(start: number, end: number, keyEnd: number, escaped: boolean): void {
    if (this.top + SLOTS > this.records.length) {
      const larger = new Int32Array(this.records.length * 2);
      larger.set(this.records);
      this.records = larger;
    }
    this.records[this.top] = start;
    this.records[this.top + 1] = end;
    this.records[this.top + 2] = keyEnd;
    this.records[this.top + 3] = escaped ? 1 : 0;
    this.top += SLOTS;
  }

  /**
   * Rewrites the members from `base` up in RFC 8785 order (keys by UTF-16 code units) in place,
   * and pops them. False when two keys are equal: JSON.parse keeps the last, so that text is
   * left to it.
   */
  sortFrom(base: number, out: Buffer): boolean {
    const count = (this.top - base) / SLOTS;
    this.top = base;
    if (count < 2) return true;
    if (this.order.length < count) this.order = new Int32Array(count * 2);
    const order = this.order;
    let moved = false;
    for (let index = 0; index < count; index += 1) {
      const record = base + index * SLOTS;
      let slot = index;
      for (; slot > 0; slot -= 1) {
        const comparison = compareKeys(this.records, slotOf(order, slot - 1), record, out);
        if (comparison === 0) return false;
        if (comparison < 0) break;
        order[slot] = slotOf(order, slot - 1);
        moved = true;
      }
      order[slot] = record;
    }
    if (moved) this.rewrite(base, count, out);
    return true;
  }

  /** Moves the members into `order`; those already in place at either end are not touched. */
  private rewrite(base: number, count: number, out: Buffer): void {
    const records = this.records;
    const order = this.order;
    let first = 0;
    while (order[first] === base + first * SLOTS) first += 1;
    let last = count - 1;
    while (order[last] === base + last * SLOTS) last -= 1;
    const regionStart = slotOf(records, base + first * SLOTS);
    const regionEnd = slotOf(records, base + last * SLOTS + 1);
    const scratch = this.scratchAt - regionStart;
    out.copyWithin(this.scratchAt, regionStart, regionEnd);
    let at = regionStart;
    for (let index = first; index <= last; index += 1) {
      const record = slotOf(order, index);
      if (index > first) out[at++] = COMMA;
      const start = slotOf(records, record);
      const end = slotOf(records, record + 1);
      // Short members byte by byte: below about 16 bytes that is cheaper than a call.
      if (end - start <= 16)
        for (let from = start; from < end; from += 1) out[at++] = slotOf(out, scratch + from);
      else {
        out.copyWithin(at, scratch + start, scratch + end);
        at += end - start;
      }
    }
  }
}

/** Orders two members' keys by UTF-16 code units, as JavaScript's sort does. */
function compareKeys(records: Int32Array, left: number, right: number, out: Buffer): number {
  if (records[left + 3] === 1 || records[right + 3] === 1) return compareDecoded(records, left, right, out);
  let leftAt = slotOf(records, left) + 1;
  let rightAt = slotOf(records, right) + 1;
  const leftEnd = slotOf(records, left + 2);
  const rightEnd = slotOf(records, right + 2);
  for (; leftAt < leftEnd && rightAt < rightEnd; leftAt += 1, rightAt += 1) {
    const leftByte = slotOf(out, leftAt);
    const rightByte = slotOf(out, rightAt);
    if (leftByte === rightByte) continue;
    if (leftByte >= UTF8_ORDER_DIFFERS_FROM && rightByte >= UTF8_ORDER_DIFFERS_FROM) {
      return compareDecoded(records, left, right, out);
    }
    return leftByte - rightByte;
  }
  return leftEnd - leftAt - (rightEnd - rightAt);
}

/** The slow comparison, on decoded keys: for escapes and for characters where the orders differ. */
function compareDecoded(records: Int32Array, left: number, right: number, out: Buffer): number {
  const leftKey = JSON.parse(
    out.toString('utf8', slotOf(records, left), slotOf(records, left + 2) + 1),
  ) as string;
  const rightKey = JSON.parse(
    out.toString('utf8', slotOf(records, right), slotOf(records, right + 2) + 1),
  ) as string;
  return leftKey < rightKey ? -1 : leftKey > rightKey ? 1 : 0;
}

/**
 * A member slot or an output byte the sort wrote itself: the indexes come from those records,
 * so one outside its array is a broken invariant. A plain check, not assert(): it runs per byte.
 */
function slotOf(array: Int32Array | Uint8Array, index: number): number {
  const value = array[index];
  if (value === undefined) assert(false, `member record index ${index} is out of range`);
  return value;
}
