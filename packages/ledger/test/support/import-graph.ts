import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * The import graph of a folder of ES modules (TypeScript sources or built JavaScript): every
 * static import, re-export and dynamic `import()` of every file, read with the TypeScript
 * parser, so that tests can hold the layers apart.
 */
export interface ImportGraph {
  readonly root: string;
  /** Relative paths of the graph's files, with "/" separators. */
  readonly files: readonly string[];
  /** A file's imports: its local files (relative to the root) and its package specifiers. */
  imports(file: string): { local: string[]; packages: string[] };
}

export function readImportGraph(root: string, extension: '.ts' | '.js'): ImportGraph {
  const files = listFiles(root, extension);
  const cache = new Map<string, { local: string[]; packages: string[] }>();
  return {
    root,
    files,
    imports(file) {
      let found = cache.get(file);
      if (found === undefined) {
        const text = readFileSync(join(root, file), 'utf8');
        const specifiers = ts.preProcessFile(text, true, true).importedFiles.map((entry) => entry.fileName);
        found = { local: [], packages: [] };
        for (const specifier of specifiers) {
          if (!specifier.startsWith('.')) found.packages.push(specifier);
          else found.local.push(localFile(root, file, specifier, extension));
        }
        cache.set(file, found);
      }
      return found;
    },
  };
}

/** One way a file reaches something forbidden: the chain of files, then what it imports. */
export interface Violation {
  chain: string[];
  target: string;
}

/**
 * Walks everything `starts` reach (through local imports that `follow` allows) and returns
 * each local file or package that `allowed` refuses, with the import chain that reaches it.
 */
export function findViolations(
  graph: ImportGraph,
  starts: readonly string[],
  allowed: (target: string, isPackage: boolean) => boolean,
  follow: (from: string, to: string) => boolean = () => true,
): Violation[] {
  const violations: Violation[] = [];
  const seen = new Map<string, string[]>(starts.map((start) => [start, [start]]));
  const queue = [...starts];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const chain = seen.get(file) ?? [file];
    const { local, packages } = graph.imports(file);
    for (const target of packages) if (!allowed(target, true)) violations.push({ chain, target });
    for (const target of local) {
      if (!follow(file, target)) continue;
      if (!allowed(target, false)) violations.push({ chain, target });
      if (!seen.has(target)) {
        seen.set(target, [...chain, target]);
        queue.push(target);
      }
    }
  }
  return violations;
}

export function describeViolations(violations: readonly Violation[]): string[] {
  return violations.map((violation) => `${violation.chain.join(' -> ')} imports ${violation.target}`);
}

function listFiles(root: string, extension: string, folder = root): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return listFiles(root, extension, path);
    if (!entry.name.endsWith(extension) || entry.name.endsWith('.d.ts')) return [];
    return [relative(root, path).split('\\').join('/')];
  });
}

function localFile(root: string, file: string, specifier: string, extension: string): string {
  const target = resolve(root, dirname(file), specifier).replace(/\.js$/, extension);
  return relative(root, target).split('\\').join('/');
}
