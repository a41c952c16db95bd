import { LedgerError } from '../errors.js';
import type { Database } from './database.js';

const FUNCTION_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
// PostgreSQL's own limit on a function's arguments (FUNC_MAX_ARGS), not a tunable.
const FUNCTION_ARGUMENTS_MAX = 100;

/**
 * How a package built on the ledger reaches the tables of its own migration set: it calls, by
 * name and with parameters, the functions its migrations define in its schema. It writes no SQL
 * of its own; the SQL lives in the set's migration files, checksummed and forward-only like the
 * ledger's, and the functions run with the caller's privileges (the set's grants still hold).
 */
export class OwnedSchema {
  constructor(
    /** The set's schema, e.g. execution_ledger_keys. */
    readonly schema: string,
    private readonly ready: () => Promise<Database>,
  ) {}

  /**
   * Runs `select * from <schema>.<name>($1, …)` and returns its rows. Arguments take the types
   * of the function's parameters: keep the set's functions free of overloads.
   */
  async call<Row = Record<string, unknown>>(name: string, args: readonly unknown[] = []): Promise<Row[]> {
    if (typeof name !== 'string' || !FUNCTION_NAME_PATTERN.test(name)) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `function ${JSON.stringify(name)} is not a plain function name; use lower-case letters, digits and ` +
          `underscores, as defined in ${this.schema}'s migrations`,
        { field: 'name' },
      );
    }
    if (!Array.isArray(args) || args.length > FUNCTION_ARGUMENTS_MAX) {
      throw new LedgerError(
        'VALIDATION_FAILED',
        `args must be an array of at most ${FUNCTION_ARGUMENTS_MAX} values, one per parameter of ${name}`,
        { field: 'args' },
      );
    }
    const placeholders = args.map((_, index) => `$${index + 1}`).join(', ');
    const database = await this.ready();
    return database.query<Row>(`select * from ${this.schema}.${name}(${placeholders})`, args);
  }
}
