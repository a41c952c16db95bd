/**
 * What the offline verifier reads: a whole text, its lines in order, lines (or groups of
 * whole lines) from an async source, or a byte stream such as fs.createReadStream, whose
 * chunks end anywhere.
 */
export type ExportLines = string | Iterable<string> | AsyncIterable<string | Uint8Array>;

/** A line end in a byte stream, as node:readline cuts them: CRLF, LF or a lone CR. */
const STREAM_LINE_END = /\r\n|\r|\n/;

/**
 * The lines of an export, without Node's readline or stream modules so that the verifier
 * runs wherever there is no Node.js. A text or a list of lines is cut at "\n" only; a byte
 * stream is cut as node:readline cut it, and its empty lines are skipped.
 */
export async function* splitExportLines(source: ExportLines): AsyncGenerator<string> {
  if (typeof source === 'string') {
    yield* wholeLines(source);
    return;
  }
  if (isByteStream(source)) {
    yield* streamLines(source);
    return;
  }
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  for await (const item of source) yield* wholeLines(typeof item === 'string' ? item : decoder.decode(item));
}

/** A Node.js readable stream (it pipes); any other async source yields whole lines. */
function isByteStream(source: Exclude<ExportLines, string>): source is AsyncIterable<string | Uint8Array> {
  return typeof (source as { pipe?: unknown }).pipe === 'function' && Symbol.asyncIterator in source;
}

function* wholeLines(text: string): Generator<string> {
  const parts = text.split('\n');
  if (parts[parts.length - 1] === '') parts.pop();
  yield* parts;
}

async function* streamLines(stream: AsyncIterable<string | Uint8Array>): AsyncGenerator<string> {
  // ignoreBOM keeps a byte order mark in the text, as readline's decoder does.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  let pending = '';
  for await (const chunk of stream) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    // A CR at the end may be the first half of a CRLF: it waits for the next chunk.
    const end = pending.endsWith('\r') ? pending.length - 1 : pending.length;
    const pieces = pending.slice(0, end).split(STREAM_LINE_END);
    pending = (pieces.pop() ?? '') + pending.slice(end);
    for (const piece of pieces) if (piece !== '') yield piece;
  }
  pending += decoder.decode();
  for (const piece of pending.split(STREAM_LINE_END)) if (piece !== '') yield piece;
}
