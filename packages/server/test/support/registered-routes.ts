import { present } from '@execution-ledger/test-support';
import type { FastifyInstance } from 'fastify';

/**
 * Every route the server answers, as `METHOD /path` in the /openapi.json spelling, read from
 * Fastify's route tree. It is the only listing that includes hidden routes; if its format ever
 * changes the list comes out wrong, and the matrix's comparison with /openapi.json fails loudly.
 */
export function registeredRoutes(app: FastifyInstance): string[] {
  const prefixes: string[] = [];
  const routes: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (match === null) continue;
    const depth = present(match[1]).length / 4;
    prefixes.length = depth;
    const path = `${prefixes.join('')}${present(match[2])}`;
    prefixes.push(present(match[2]));
    for (const method of match[3]?.split(', ') ?? []) {
      routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes;
}
