import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { parseStrictJson } from '../http/strict-json-parser.js';

/** Reads a JSON document from a file, or from stdin when the path is `-` or absent. */
export async function readJsonInput(path: string | undefined): Promise<unknown> {
  const source =
    path === undefined || path === '-' ? await text(process.stdin) : await readFile(path, 'utf8');
  // The same edge rules as the HTTP API: no duplicate keys, no numbers that lose digits.
  return parseStrictJson(source);
}
