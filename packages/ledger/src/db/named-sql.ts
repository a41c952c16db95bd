import { createHash } from 'node:crypto';
import { NAMED_STATEMENTS_MAX } from '../bounds.js';
import type { NamedSql } from './database.js';

// A statement's name is derived from its text, so one name never stands for two texts (which
// node-postgres refuses) and a connection prepares each text once. Bounded: only the library's
// hot reads are named, and filters give them a few hundred texts at most.
const namedByText = new Map<string, NamedSql>();

/**
 * The SQL of a hot read, named for a prepared statement: on a PostgreSQL server each pooled
 * connection parses and plans it once instead of on every call (about 0.1-0.3 ms saved per
 * read). PGlite runs the text as usual. Only for texts built from a fixed set of fragments
 * (values always go in parameters), never for text that varies with input.
 */
export function namedSql(text: string): NamedSql {
  let named = namedByText.get(text);
  if (named === undefined) {
    if (namedByText.size >= NAMED_STATEMENTS_MAX) namedByText.clear();
    named = { name: `el_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text };
    namedByText.set(text, named);
  }
  return named;
}

/** The text of a query's SQL, named or not. */
export function sqlText(sql: string | NamedSql): string {
  return typeof sql === 'string' ? sql : sql.text;
}
