import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Every `new TypeError(`, `new RangeError(` and `new Error(` in the TypeScript sources under
 * `folder`, as `file:line: text`. Caller and operating errors are LedgerErrors and broken
 * invariants assert, so a suite lists the few deliberate exceptions and expects nothing else.
 */
export async function plainErrorConstructions(folder: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines.forEach((line, index) => {
      if (/\bnew (TypeError|RangeError|Error)\(/.test(line)) {
        found.push(`${path.relative(folder, file)}:${index + 1}: ${line.trim()}`);
      }
    });
  }
  return found.sort();
}
