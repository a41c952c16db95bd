import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeEachEngine } from '@execution-ledger/test-support';
import { expect, it } from 'vitest';

// A distributed engine evaluates the SET list of ON CONFLICT DO UPDATE where the row lives and
// refuses any function that is not immutable there (docs/scaling.md, "Where the schema stands
// against Citus's list"). Every upsert of the ledger, in its SQL functions and in the library's
// own statements, must set values from `excluded`, the row, constants and immutable functions.

const SOURCE = fileURLToPath(new URL('../src', import.meta.url));

/**
 * The SET list (and its WHERE) of every ON CONFLICT … DO UPDATE in `text`: up to the end of its
 * statement, a RETURNING, a plpgsql LOOP, or the parenthesis that closes its CTE.
 */
function updateSetLists(text: string): string[] {
  const lists: string[] = [];
  for (const match of text.matchAll(/on\s+conflict\b[^;]*?\bdo\s+update\s+set\b/gi)) {
    const start = (match.index ?? 0) + match[0].length;
    let depth = 0;
    let end = start;
    for (; end < text.length; end += 1) {
      const char = text[end];
      if (char === '(') depth += 1;
      else if (char === ')' && --depth < 0) break;
      else if (char === ';') break;
      else if (
        depth === 0 &&
        /^\b(returning|loop)\b/i.test(text.slice(end, end + 10)) &&
        /\W/.test(text[end - 1] ?? ' ')
      )
        break;
    }
    lists.push(text.slice(start, end));
  }
  return lists;
}

/** Every name called as a function in `list` (schema prefixes dropped). */
function calledNames(list: string): string[] {
  return [...list.matchAll(/([a-z_][a-z0-9_]*)\s*\(/gi)].map((match) => (match[1] ?? '').toLowerCase());
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describeEachEngine('only immutable functions in ON CONFLICT DO UPDATE', (context) => {
  it('finds none but immutable ones in the SQL functions of the schema and in the library', async () => {
    const functions = await context.admin(
      `select p.proname as name, p.prosrc as source from pg_proc p
       where p.pronamespace = 'execution_ledger'::regnamespace and p.prolang in (
         select l.oid from pg_language l where l.lanname in ('plpgsql', 'sql'))`,
    );
    const texts = [
      ...functions.map((row) => ({ where: `function ${String(row.name)}`, text: String(row.source) })),
      ...sourceFiles(SOURCE).map((file) => ({
        where: path.relative(SOURCE, file),
        text: readFileSync(file, 'utf8'),
      })),
    ];
    const calls = texts.flatMap(({ where, text }) =>
      updateSetLists(text).flatMap((list) => calledNames(list).map((name) => ({ where, name }))),
    );
    // Upserts exist (the rollups, budgets, anomaly state): the scan found them.
    expect(texts.filter(({ text }) => updateSetLists(text).length > 0).length).toBeGreaterThan(3);
    const volatility = await context.admin(
      `select p.proname as name, bool_or(p.provolatile <> 'i') as not_immutable from pg_proc p
       where p.proname = any($1::text[]) group by 1`,
      [[...new Set(calls.map((call) => call.name))]],
    );
    const notImmutable = new Set(
      volatility.filter((row) => row.not_immutable === true).map((row) => row.name),
    );
    expect(calls.filter((call) => notImmutable.has(call.name))).toEqual([]);
  });
});
