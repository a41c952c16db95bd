import type { ExecutionReader } from 'execution-ledger';
import { DASHBOARD_TOP_ROWS } from '../../bounds.js';
import { html, queryString, type SafeHtml } from '../html-template.js';
import { count, duration, money, percent } from '../page-format.js';
import { pageLayout } from '../page-layout.js';
import { chooseProject, noProjects, type ScopeQuery, scopeControls, scopeQuery } from '../page-scope.js';
import type { PageRange } from '../time-range.js';
import { parseRange } from '../time-range.js';
import type { PageRequest } from './page-handler.js';

/** Per agent: spend, runs, failure rate, p50/p95/p99 of cost and duration, and a spend trend. */
export async function agentsPage({
  query,
  principal,
  context,
  directory,
}: PageRequest<ScopeQuery>): Promise<SafeHtml> {
  // Figures that may lag the primary: the read database (--read-url) when there is one.
  const ledger = context.reads;
  const range = parseRange(query);
  const projects = await directory.visible(principal);
  const projectId = chooseProject(principal, query.project, projects);
  const scope = scopeQuery(projectId, range);
  const layout = { title: 'Agents', current: '/agents', principal, carry: queryString(scope) };
  const controls = scopeControls(projects, projectId, range);
  if (projectId === undefined) return pageLayout(layout, html`${controls}${noProjects()}`);
  const stats = await ledger.getProjectExecutionStats(projectId, range.start, range.end);
  const agents = Object.entries(stats.by_agent).sort((a, b) => b[1].cost - a[1].cost);
  const shown = agents.slice(0, DASHBOARD_TOP_ROWS);
  const rows = await Promise.all(shown.map(([agentId]) => agentFigures(ledger, projectId, agentId, range)));
  const body = html`${controls}
${
  agents.length === 0
    ? html`<p class="notice empty">No agent ran in this range, so there is nothing to compare. Choose a longer range.</p>`
    : html`<p>${agents.length} agents ran in this range${agents.length > shown.length ? `; the ${shown.length} costliest are shown` : ''}.</p>
<div class="table-wrap"><table id="agents-table"><caption>Agents, costliest first</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Spend</th><th scope="col">Runs</th><th scope="col">Failure rate</th>
<th scope="col">Cost p50 / p95 / p99</th><th scope="col">Duration p50 / p95 / p99</th><th scope="col">Spend per ${range.bucket}</th></tr></thead>
<tbody>${shown.map(([agentId, figures], index) => {
        const row = rows[index];
        if (row === undefined) return '';
        return html`<tr data-agent="${agentId}">
  <th scope="row"><a href="/runs${queryString({ ...scope, agent: agentId })}">${agentId}</a></th>
  <td data-figure="cost">${money(figures.cost)}</td><td data-figure="count">${count(figures.count)}</td>
  <td data-figure="failure_rate">${percent(row.failures, figures.count)}</td>
  <td data-figure="cost_percentiles">${money(row.percentiles.cost.p50)} / ${money(row.percentiles.cost.p95)} / ${money(row.percentiles.cost.p99)}</td>
  <td data-figure="duration_percentiles">${duration(row.percentiles.duration_ms.p50)} / ${duration(row.percentiles.duration_ms.p95)} / ${duration(row.percentiles.duration_ms.p99)}</td>
  <td>${sparkline(row.trend, `Spend trend of ${agentId}`)}</td></tr>`;
      })}</tbody></table></div>`
}`;
  return pageLayout(layout, body);
}

async function agentFigures(ledger: ExecutionReader, projectId: string, agentId: string, range: PageRange) {
  const filter = { projectId, agentId, start: range.start, end: range.end };
  const [percentiles, failed, series] = await Promise.all([
    ledger.getExecutionPercentiles(filter),
    ledger.listExecutions({ ...filter, status: ['failed', 'aborted'] }, { limit: 1 }),
    ledger.getCostTimeSeries({ ...filter, bucket: range.bucket, groupBy: 'none', timeZone: range.timeZone }),
  ]);
  return { percentiles, failures: failed.total, trend: series.points.map((point) => point.total_cost) };
}

/** A small line of the values, drawn in SVG with attributes only (the CSP forbids inline style). */
function sparkline(values: readonly number[], label: string): SafeHtml {
  if (values.length === 0) return html`<span class="detail">no spend</span>`;
  const max = Math.max(...values, 1e-9);
  const step = values.length === 1 ? 0 : 100 / (values.length - 1);
  const points = values
    .map((value, index) => `${(index * step).toFixed(1)},${(28 - (value / max) * 26).toFixed(1)}`)
    .join(' ');
  return html`<svg class="spark" viewBox="0 0 100 30" preserveAspectRatio="none" role="img" aria-label="${label}"><polyline points="${points}"></polyline></svg>`;
}
