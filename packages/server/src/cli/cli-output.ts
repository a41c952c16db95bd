/**
 * What commands print: aligned tables for people, JSON with --json for scripts. Progress and
 * diagnostics go to stderr so stdout stays data.
 */
export interface OutputOptions {
  json?: boolean;
}

export function wantsJson(options: OutputOptions): boolean {
  return options.json === true;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export type Cell = string | number | boolean | null | undefined;

/** Columns padded to their widest cell; long cells are cut so a row fits a line. */
export function formatTable(rows: Record<string, Cell>[], columns: string[], cellCharsMax = 48): string {
  const text = (value: Cell) => {
    const raw = value === null || value === undefined ? '' : String(value);
    return raw.length > cellCharsMax ? `${raw.slice(0, cellCharsMax - 1)}…` : raw;
  };
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => text(row[column]).length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, index) => cell.padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd();
  const header = line(columns);
  const rule = line(widths.map((width) => '-'.repeat(width)));
  return [header, rule, ...rows.map((row) => line(columns.map((column) => text(row[column]))))].join('\n');
}

export function printTable(rows: Record<string, Cell>[], columns: string[]): void {
  process.stdout.write(`${rows.length === 0 ? '(none)' : formatTable(rows, columns)}\n`);
}

/** Cents as dollars for people, e.g. 850 → $8.50; exact values stay in --json. */
export function dollars(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`;
}
