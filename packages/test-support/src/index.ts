/**
 * Helpers both packages' suites use. Vitest runs these TypeScript sources as they are (the
 * package is private and never built), and the test tsconfigs check them through the imports.
 */
export * from './engines.js';
export * from './error-kinds.js';
export * from './expect-error.js';
export * from './fixtures.js';
export * from './folder-ledger.js';
export * from './present.js';
export * from './sharding.js';
export * from './streams.js';
