import { type FilterScope, toFilterScope } from '../query/execution-filter.js';
import type { AnalyticsFilter } from './analytics-types.js';

/**
 * The scope of an analytics call: the filter checked by the one filter check, with open ends of
 * the range as PostgreSQL's '-infinity' and 'infinity' so rollup queries keep one shape whether
 * or not a bound was given.
 */
export type AnalyticsScope = FilterScope;

/** Analytics take every filter field but the parent run, which the rollups do not keep. */
export function toAnalyticsScope(filter: AnalyticsFilter | undefined): AnalyticsScope {
  return toFilterScope(filter, { parentRunId: 'refuse' });
}
