import { readdir, readFile } from 'node:fs/promises';
import { present } from '@execution-ledger/test-support';
import { describe, expect, it, vi } from 'vitest';

// docs/costs.md shows its code as fenced blocks, each marked with the snippet file it must equal;
// the files are type-checked with the tests and run here, so the page cannot show code that fails.
const SNIPPETS = new URL('../../../docs/snippets/', import.meta.url);
const PAGE = new URL('../../../docs/costs.md', import.meta.url);
const MARKED_BLOCK = /<!-- snippet: ([\w.-]+) -->\n```(\w+)\n([\s\S]*?)```/g;

const markdown = await readFile(PAGE, 'utf8');
const blocks = [...markdown.matchAll(MARKED_BLOCK)].map(([, file, language, code]) => ({
  file,
  language,
  code,
}));
const runnable = blocks.filter((block) => block.language === 'ts').map((block) => present(block.file));

describe('docs/costs.md', () => {
  it('marks every fenced block with the snippet file it shows', () => {
    const fences = markdown.match(/^```\w*$/gm) ?? [];
    expect(blocks.length).toBeGreaterThan(0);
    expect(fences.length).toBe(blocks.length * 2);
  });

  it('shows each snippet file exactly as it is, and every file once', async () => {
    const files = (await readdir(SNIPPETS)).filter((name) => name.startsWith('costs-'));
    expect(blocks.map((block) => block.file).sort()).toEqual(files.sort());
    for (const block of blocks) {
      expect(block.code, block.file).toBe(await readFile(new URL(present(block.file), SNIPPETS), 'utf8'));
    }
  });

  it.each(runnable)('runs %s to the end, every assertion in it holding', async (file) => {
    // Each snippet is a program of its own: a fresh module graph, so no process-wide state is shared.
    vi.resetModules();
    await expect(import(new URL(file, SNIPPETS).href)).resolves.toBeDefined();
  });
});
