import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeViolations, findViolations, readImportGraph } from './support/import-graph.js';

// The library's layers (docs/architecture.md): the pure formats in src/format/ (and their
// entry point src/verify.ts) read no database and start no thread; src/db/ knows no feature.
const graph = readImportGraph(fileURLToPath(new URL('../src/', import.meta.url)), '.ts');

/** Root modules with no feature behind them: the format layer may use them. */
const FOUNDATION = ['errors.ts', 'bounds.ts', 'plain-json.ts', 'types.ts', 'record-fields.ts'];
/** The packages the format layer may import: pure JavaScript, and Node's crypto for SHA-256 and Ed25519. */
const FORMAT_PACKAGES = ['node:crypto', 'canonicalize', 'lossless-json'];
const FEATURE_FOLDERS = [
  'allocation/',
  'analytics/',
  'budgets/',
  'costs/',
  'integrity/',
  'lineage/',
  'replay/',
];
/** Root modules that are features or entry points: the database layer sits below them. */
const FEATURE_MODULES = [
  'ledger.ts',
  'execution-reader.ts',
  'group-commit.ts',
  'seed-api.ts',
  'index.ts',
  'verify.ts',
  'database.ts',
  'validation.ts',
  'export-formats.ts',
];

const FORMAT_FILES = [...graph.files.filter((file) => file.startsWith('format/')), 'verify.ts'];

function formatAllows(target: string, isPackage: boolean): boolean {
  if (isPackage) return FORMAT_PACKAGES.includes(target);
  return target.startsWith('format/') || FOUNDATION.includes(target);
}

function isFeature(target: string): boolean {
  return FEATURE_FOLDERS.some((folder) => target.startsWith(folder)) || FEATURE_MODULES.includes(target);
}

describe('the format layer', () => {
  it('holds the pure formats and the offline verifier', () => {
    for (const file of ['format/canonical-json.ts', 'format/merkle-tree.ts', 'format/export-verifier.ts']) {
      expect(FORMAT_FILES).toContain(file);
    }
  });

  it('reaches, however indirectly, no database, thread, feature module or Node module but crypto', () => {
    expect(describeViolations(findViolations(graph, FORMAT_FILES, formatAllows))).toEqual([]);
  });

  it('would see a database or a worker thread reached through another file', () => {
    // The checker itself, on the database-reading verification: the rehash worker loads pg,
    // and a chain scan reaches worker threads and db/ through the rehash pool.
    const workerTargets = findViolations(graph, ['integrity/rehash-worker.ts'], formatAllows).map(
      (v) => v.target,
    );
    expect(workerTargets).toContain('pg');
    const chains = describeViolations(findViolations(graph, ['integrity/chain-scan.ts'], formatAllows));
    expect(chains).toContain(
      'integrity/chain-scan.ts -> integrity/rehash-pool.ts imports node:worker_threads',
    );
    expect(chains).toContain(
      'integrity/chain-scan.ts -> integrity/rehash-pool.ts imports db/database-errors.ts',
    );
  });
});

describe('the database layer', () => {
  const dbFiles = graph.files.filter((file) => file.startsWith('db/'));

  it('imports no feature module, however indirectly', () => {
    const violations = findViolations(graph, dbFiles, (target, isPackage) => isPackage || !isFeature(target));
    expect(describeViolations(violations)).toEqual([]);
  });
});
