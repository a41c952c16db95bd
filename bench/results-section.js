import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** Replaces one benchmark's marked section of bench/RESULTS.md (or appends it), keeping the rest. */
export function writeResultsSection({ marker, title, intro, results, notes }) {
  const file = new URL('./RESULTS.md', import.meta.url);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '# Benchmark results\n';
  }
  const begin = `<!-- ${marker}:begin -->`;
  const end = `<!-- ${marker}:end -->`;
  const header = '| engine | measure | result | detail | goal | met |\n|---|---|---|---|---|---|\n';
  const rows = results
    .map((row) => `| ${[row.engine, row.measure, row.result, row.detail, row.goal, row.met].join(' | ')} |`)
    .join('\n');
  const section = [begin, intro, '', header + rows, '', ...notes.map((note) => `- ${note}`), end].join('\n');
  const at = text.indexOf(begin);
  const after = text.indexOf(end);
  text =
    at === -1
      ? `${text.trimEnd()}\n\n## ${title}\n\n${section}\n`
      : text.slice(0, at) + section + text.slice(after + end.length);
  writeFileSync(file, text);
  // The lint checks every Markdown file's format: align the new table the way Biome writes it.
  execFileSync('npx', ['biome', 'format', '--write', file.pathname], { stdio: 'ignore' });
}
