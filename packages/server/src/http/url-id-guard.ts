import type { LedgerLimits } from 'execution-ledger';
import { requireId } from 'execution-ledger/validation';
import type { FastifyInstance } from 'fastify';

/** Schema keyword that marks a path or query parameter holding a ledger id. */
export const LEDGER_ID_MARK = 'x-ledger-id';

interface ObjectSchema {
  properties?: Record<string, Record<string, unknown>>;
}

/**
 * Holds ids taken from URLs to the rules ids in bodies obey (length, control characters, NUL,
 * lone surrogates), by calling the library's own validator. Without it a `%00` in a path
 * reaches PostgreSQL, which fails with an encoding error: a 500 instead of a 400 naming the
 * parameter. Runs after schema validation, so values are already single strings.
 */
export function installUrlIdGuard(app: FastifyInstance, limits: LedgerLimits): void {
  app.addHook('preHandler', async (request) => {
    const schema = request.routeOptions.schema;
    if (schema === undefined) return;
    requireMarkedIds(schema.params as ObjectSchema | undefined, request.params, limits);
    requireMarkedIds(schema.querystring as ObjectSchema | undefined, request.query, limits);
  });
}

function requireMarkedIds(schema: ObjectSchema | undefined, values: unknown, limits: LedgerLimits): void {
  if (schema?.properties === undefined || values === null || typeof values !== 'object') return;
  for (const [name, property] of Object.entries(schema.properties)) {
    if (property[LEDGER_ID_MARK] !== true) continue;
    const value = (values as Record<string, unknown>)[name];
    if (value !== undefined) requireId(value, name, limits);
  }
}
