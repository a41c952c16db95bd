import { readFileSync } from 'node:fs';
import { present } from '@execution-ledger/test-support';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// docs/api.md lists every name of every entry point, and nothing else is public: a name added
// to an entry point without its line in the docs, or documented but gone, fails here.
const PACKAGE = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, { import: string }>;
};
const API_DOC = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');

/** The names an entry point's source exports (it only re-exports, by name). */
function exportedNames(entry: string): string[] {
  const path = new URL(`../src/${entry.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')}`, import.meta.url);
  const source = ts.createSourceFile(entry, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const names: string[] = [];
  source.forEachChild((node) => {
    if (
      ts.isExportDeclaration(node) &&
      node.exportClause !== undefined &&
      ts.isNamedExports(node.exportClause)
    ) {
      for (const element of node.exportClause.elements) names.push(element.name.text);
    } else if (
      ts.canHaveModifiers(node) &&
      ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
    ) {
      const declaration = node as ts.Node & {
        name?: ts.Identifier;
        declarationList?: ts.VariableDeclarationList;
      };
      if (declaration.name !== undefined) names.push(declaration.name.text);
      for (const variable of declaration.declarationList?.declarations ?? [])
        names.push(variable.name.getText());
    }
  });
  return names.sort();
}

/** "### `spec`" headings of the Entry points section, each with the names of its "Names:" paragraph. */
function documentedEntryPoints(): Map<string, string[]> {
  const section = API_DOC.slice(API_DOC.indexOf('\n## Entry points\n'));
  const entries = new Map<string, string[]>();
  for (const part of section.split('\n### ').slice(1)) {
    const spec = /^`([^`]+)`/.exec(part)?.[1];
    const names = /\nNames: ([\s\S]*?)\.\n/.exec(part)?.[1];
    if (spec === undefined || names === undefined)
      throw new Error(`docs/api.md: no names under ${part.slice(0, 40)}`);
    entries.set(spec, [...names.matchAll(/`([^`]+)`/g)].map((match) => present(match[1])).sort());
  }
  return entries;
}

describe('the public API', () => {
  const documented = documentedEntryPoints();

  it('documents exactly the entry points package.json exports', () => {
    const specs = Object.keys(PACKAGE.exports).map((key) => `execution-ledger${key.slice(1)}`);
    expect([...documented.keys()].sort()).toEqual(specs.sort());
  });

  for (const [key, target] of Object.entries(PACKAGE.exports)) {
    const spec = `execution-ledger${key.slice(1)}`;
    it(`${spec} exports exactly the names docs/api.md lists`, () => {
      expect(documented.get(spec)).toEqual(exportedNames(target.import));
    });
  }

  it('keeps Merkle primitives and money arithmetic out of the main entry point', () => {
    const main = exportedNames('./dist/index.js');
    for (const internal of ['hashLeaf', 'merkleRoot', 'centsToMicros', 'openDatabase', 'requireId']) {
      expect(main).not.toContain(internal);
    }
  });
});
