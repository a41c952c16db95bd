import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitExportLines } from '../src/format/ndjson-lines.js';

// How the offline verifier cut a byte stream while it used node:readline: the splitter that
// replaced it (so that the verifier needs no Node.js module but node:crypto) must agree.
async function readlineLines(chunks: readonly Buffer[]): Promise<string[]> {
  const lines: string[] = [];
  const reader = createInterface({ input: Readable.from(chunks), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of reader) if (line !== '') lines.push(line);
  return lines;
}

async function collect(source: Parameters<typeof splitExportLines>[0]): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of splitExportLines(source)) lines.push(line);
  return lines;
}

/** Cuts bytes at the given offsets, so that chunks end inside CRLFs and UTF-8 sequences. */
function cut(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

const TEXT = fc
  .array(fc.constantFrom('a', '{"x":1}', '\r', '\n', '\r\n', ' ', 'é', '€', '😀', '\uFEFF', '\u2028'), {
    maxLength: 40,
  })
  .map((parts) => parts.join(''));

describe('splitExportLines', () => {
  it('cuts a byte stream exactly as node:readline did, wherever its chunks end', async () => {
    await fc.assert(
      fc.asyncProperty(TEXT, fc.array(fc.nat(), { maxLength: 8 }), async (text, offsets) => {
        const chunks = cut(Buffer.from(text, 'utf8'), offsets);
        expect(await collect(Readable.from(chunks))).toEqual(await readlineLines(chunks));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps invalid UTF-8 as replacement characters, as readline did', async () => {
    const chunks = [
      Buffer.from([0x7b, 0xe2, 0x82]),
      Buffer.from([0x0a, 0xff, 0x7d, 0x0d]),
      Buffer.from([0x0a]),
    ];
    expect(await collect(Readable.from(chunks))).toEqual(await readlineLines(chunks));
    expect(await collect(Readable.from(chunks))).toEqual(['{\uFFFD', '\uFFFD}']);
  });

  it('cuts a text and a list of lines at "\\n" only, keeping empty lines and CRs', async () => {
    expect(await collect('a\r\n\nb\n')).toEqual(['a\r', '', 'b']);
    expect(await collect(['a\nb', 'c\n'])).toEqual(['a', 'b', 'c']);
    const asyncLines = (async function* () {
      yield Buffer.from('x\n\n');
      yield 'y';
    })();
    expect(await collect(asyncLines)).toEqual(['x', '', 'y']);
  });
});
