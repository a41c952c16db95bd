import { html, type SafeHtml } from './html-template.js';
import { dollars } from './page-format.js';

/** One point of any of the ledger's cost series: a bucket, a group key, and its cost in cents. */
export interface SeriesPoint {
  bucket_start: string;
  bucket_local: string;
  key: string | null;
  cost: number;
}

export interface StackedSeries {
  /** Bucket starts, epoch seconds, ascending. */
  x: number[];
  labels: string[];
  series: { name: string; values: number[] }[];
}

/** Series drawn one by one; smaller groups are summed as one "other" series so the chart stays legible. */
const SERIES_DRAWN_MAX = 8;

/** Pivots points into one row per group over the same buckets, costliest group first. */
export function stackSeries(
  points: readonly SeriesPoint[],
  emptyKey: string,
  allBuckets: readonly Date[] = [],
  timeZone = 'UTC',
): StackedSeries {
  const buckets = new Map<string, string>();
  // Quiet buckets are zero, not missing, but a range without any point stays empty (and says so).
  if (points.length > 0)
    for (const start of allBuckets) buckets.set(start.toISOString(), localLabel(start, timeZone));
  const totals = new Map<string, number>();
  // Keyed by the instant in one spelling, so the filled buckets and the series' own starts meet.
  const instant = (point: SeriesPoint) => new Date(point.bucket_start).toISOString();
  for (const point of points) {
    buckets.set(instant(point), point.bucket_local);
    const key = point.key ?? emptyKey;
    totals.set(key, (totals.get(key) ?? 0) + point.cost);
  }
  const starts = [...buckets.keys()].sort((a, b) => Date.parse(a) - Date.parse(b));
  const index = new Map(starts.map((start, position) => [start, position]));
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([key]) => key);
  const drawn = ranked.slice(0, SERIES_DRAWN_MAX);
  const rows = new Map(drawn.map((key) => [key, starts.map(() => 0)]));
  const other = starts.map(() => 0);
  for (const point of points) {
    const row = rows.get(point.key ?? emptyKey) ?? other;
    const position = index.get(instant(point)) ?? 0;
    row[position] = (row[position] ?? 0) + point.cost;
  }
  const series = drawn.map((name) => ({ name, values: rows.get(name) ?? [] }));
  if (ranked.length > drawn.length)
    series.push({ name: `other (${ranked.length - drawn.length})`, values: other });
  return {
    x: starts.map((start) => Date.parse(start) / 1000),
    labels: starts.map((start) => buckets.get(start) ?? start),
    series,
  };
}

/**
 * The chart (drawn by the client script with uPlot from `data-series`) and the same numbers as
 * a table, which screen readers, tests and browsers without script read. An empty range says so.
 */
export function seriesChart(stacked: StackedSeries, caption: string, emptyText: string): SafeHtml {
  if (stacked.x.length === 0) {
    return html`<figure class="chart-box"><figcaption>${caption}</figcaption>
  <p class="notice empty" data-empty-chart>${emptyText}</p></figure>`;
  }
  return html`<figure class="chart-box"><figcaption id="chart-caption">${caption}</figcaption>
  <div class="chart" data-series="${JSON.stringify(stacked)}" role="img" aria-labelledby="chart-caption"></div>
  <details><summary>The chart's numbers as a table</summary>
  <div class="table-wrap"><table class="series-table">
    <thead><tr><th scope="col">Bucket</th>${stacked.series.map((row) => html`<th scope="col">${row.name}</th>`)}</tr></thead>
    <tbody>${stacked.labels.map(
      (label, position) =>
        html`<tr><th scope="row">${label}</th>${stacked.series.map((row) => {
          const cents = row.values[position] ?? 0;
          return html`<td><data value="${cents}">${dollars(cents)}</data></td>`;
        })}</tr>`,
    )}</tbody>
  </table></div></details></figure>`;
}

function localLabel(start: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).format(start);
}
