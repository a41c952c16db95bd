import type { ExecutionReader, ExecutionRecord } from 'execution-ledger';
import { LedgerError } from 'execution-ledger';
import { DASHBOARD_TOP_ROWS } from '../../bounds.js';
import { html, queryString, type SafeHtml } from '../html-template.js';
import { change, count, duration, money, percent } from '../page-format.js';
import { pageLayout } from '../page-layout.js';
import { chooseProject, noProjects, type ScopeQuery, scopeControls, scopeQuery } from '../page-scope.js';
import { type SeriesPoint, seriesChart, stackSeries } from '../series-chart.js';
import { bucketStarts, dayStart, type PageRange, parseRange } from '../time-range.js';
import type { PageRequest } from './page-handler.js';

export const GROUPS = ['agent', 'model', 'tool', 'user'] as const;
type Group = (typeof GROUPS)[number];
const DAY_MS = 86_400_000;

interface OverviewQuery extends ScopeQuery {
  group?: string;
}

/** Spend over the range stacked by a group, the period tiles, the range's figures and the top lists. */
export async function overviewPage({
  query,
  principal,
  context,
  directory,
}: PageRequest<OverviewQuery>): Promise<SafeHtml> {
  // Figures that may lag the primary: the read database (--read-url) when there is one.
  const ledger = context.reads;
  const range = parseRange(query);
  const group = (query.group ?? 'agent') as Group;
  if (!GROUPS.includes(group)) {
    throw new LedgerError('VALIDATION_FAILED', `group must be one of ${GROUPS.join(', ')}`, {
      field: 'group',
    });
  }
  const projects = await directory.visible(principal);
  const projectId = chooseProject(principal, query.project, projects);
  const scope = scopeQuery(projectId, range);
  const carry = queryString(scope);
  const layout = {
    title: 'Overview',
    current: '/',
    principal,
    carry,
    scripts: ['uPlot.iife.min.js'],
    styles: ['uPlot.min.css'],
  };
  const groupControl = html`<label>Stack by <select name="group">${GROUPS.map(
    (name) => html`<option value="${name}"${name === group ? html` selected` : ''}>${name}</option>`,
  )}</select></label>`;
  const controls = scopeControls(projects, projectId, range, groupControl);
  if (projectId === undefined) return pageLayout(layout, html`${controls}${noProjects()}`);

  const filter = { projectId, start: range.start, end: range.end };
  const [stats, percentiles, points, users, tools, models, runs, tiles] = await Promise.all([
    ledger.getProjectExecutionStats(projectId, range.start, range.end),
    ledger.getExecutionPercentiles(filter),
    seriesPoints(ledger, projectId, group, range),
    ledger.getCostByUser({ ...filter, limit: DASHBOARD_TOP_ROWS }),
    ledger.getCostByTool({ ...filter, limit: DASHBOARD_TOP_ROWS }),
    ledger.getCostByModel({ ...filter, limit: DASHBOARD_TOP_ROWS }),
    ledger.getMostExpensiveRuns({ ...filter, limit: DASHBOARD_TOP_ROWS }),
    periodTiles(ledger, projectId, range.timeZone),
  ]);
  const failures = stats.failed + stats.aborted;
  const empty = stats.total_executions === 0;
  const runsLink = (extra: Record<string, string>) => `/runs${queryString({ ...scope, ...extra })}`;
  const agents = Object.entries(stats.by_agent)
    .sort((a, b) => b[1].cost - a[1].cost)
    .slice(0, DASHBOARD_TOP_ROWS);
  const body = html`${controls}
<section aria-labelledby="tiles-title"><h2 id="tiles-title">Spend by period</h2>
<ul class="tiles">${tiles}</ul></section>
<section aria-labelledby="range-title"><h2 id="range-title">In this range</h2>
${empty ? html`<p class="notice empty">No runs were recorded in this range, so every figure below is zero. Choose a longer range or another project.</p>` : ''}
<dl class="figures" id="range-figures">
  <div><dt>Spend</dt><dd data-figure="total_cost">${money(stats.total_cost)}</dd></div>
  <div><dt>Runs</dt><dd data-figure="total_executions">${count(stats.total_executions)}</dd></div>
  <div><dt>Failure rate</dt><dd data-figure="failure_rate">${percent(failures, stats.total_executions)}</dd></div>
  <div><dt>Duration p50</dt><dd data-figure="duration_p50">${duration(percentiles.duration_ms.p50)}</dd></div>
  <div><dt>Duration p95</dt><dd data-figure="duration_p95">${duration(percentiles.duration_ms.p95)}</dd></div>
  <div><dt>Cost p50</dt><dd data-figure="cost_p50">${money(percentiles.cost.p50)}</dd></div>
  <div><dt>Cost p95</dt><dd data-figure="cost_p95">${money(percentiles.cost.p95)}</dd></div>
</dl>
${seriesChart(
  stackSeries(
    points,
    group === 'tool' || group === 'model' ? 'other' : '(none)',
    bucketStarts(range),
    range.timeZone,
  ),
  `Spend per ${range.bucket} by ${group}, ${range.timeZone}`,
  'No spend in this range: the chart would be flat at zero.',
)}
</section>
<section aria-labelledby="top-title"><h2 id="top-title">Most expensive</h2><div class="top-lists">
${topList(
  'Agents',
  'top-agents',
  agents.map(([agent, figures]) => ({
    label: agent,
    href: runsLink({ agent }),
    cents: figures.cost,
    detail: `${figures.count} runs`,
  })),
)}
${topList(
  'Users',
  'top-users',
  users.map((user) => ({
    label: user.user_id,
    href: runsLink({ user: user.user_id }),
    cents: user.total_cost,
    detail: `${user.count} runs`,
  })),
)}
${topList(
  'Tools',
  'top-tools',
  tools.top.map((tool) => ({
    label: `${tool.name ?? '(unnamed)'} (${tool.kind ?? 'step'})`,
    href: `/${queryString({ ...scope, group: 'tool' })}#main`,
    cents: tool.cost,
    detail: `${tool.steps} steps`,
  })),
)}
${topList(
  'Models',
  'top-models',
  models.top.map((model) => ({
    label: model.model ?? '(none)',
    href: `/${queryString({ ...scope, group: 'model' })}#main`,
    cents: model.cost,
    detail: `${model.input_tokens + model.output_tokens} tokens`,
  })),
)}
${topList(
  'Runs',
  'top-runs',
  runs.map((run: ExecutionRecord) => ({
    label: `${run.run_id} (${run.agent_id})`,
    href: `/runs/${encodeURIComponent(run.run_id)}${carry}`,
    cents: run.cost_json.total,
    detail: run.status,
  })),
)}
</div></section>`;
  return pageLayout(layout, body);
}

interface TopRow {
  label: string;
  href: string;
  cents: number;
  detail: string;
}

function topList(title: string, id: string, rows: TopRow[]): SafeHtml {
  return html`<section class="top" aria-labelledby="${id}-title"><h3 id="${id}-title">${title}</h3>
  ${
    rows.length === 0
      ? html`<p class="empty">Nothing in this range.</p>`
      : html`<ol id="${id}">${rows.map(
          (row) =>
            html`<li><a href="${row.href}">${row.label}</a> <span class="amount">${money(row.cents)}</span> <span class="detail">${row.detail}</span></li>`,
        )}</ol>`
  }</section>`;
}

async function seriesPoints(
  ledger: ExecutionReader,
  projectId: string,
  group: Group,
  range: PageRange,
): Promise<SeriesPoint[]> {
  const window = {
    projectId,
    bucket: range.bucket,
    start: range.start,
    end: range.end,
    timeZone: range.timeZone,
  };
  if (group === 'agent' || group === 'user') {
    const series = await ledger.getCostTimeSeries({ ...window, groupBy: group });
    return series.points.map((point) => ({ ...point, cost: point.total_cost }));
  }
  const series = await ledger.getStepCostTimeSeries({ ...window, groupBy: group });
  return series.points.map((point) => ({ ...point, key: point.key }));
}

/** Spend today, over 7 and over 30 days, each against the period just before it. */
async function periodTiles(
  ledger: ExecutionReader,
  projectId: string,
  timeZone: string,
): Promise<SafeHtml[]> {
  const now = new Date();
  const today = dayStart(now, timeZone);
  const periods = [
    { name: 'today', label: 'Today', start: today, end: now, previous: [dayStart(now, timeZone, -1), today] },
    {
      name: '7d',
      label: '7 days',
      start: new Date(now.getTime() - 7 * DAY_MS),
      end: now,
      previous: [new Date(now.getTime() - 14 * DAY_MS), new Date(now.getTime() - 7 * DAY_MS)],
    },
    {
      name: '30d',
      label: '30 days',
      start: new Date(now.getTime() - 30 * DAY_MS),
      end: now,
      previous: [new Date(now.getTime() - 60 * DAY_MS), new Date(now.getTime() - 30 * DAY_MS)],
    },
  ] as const;
  return Promise.all(
    periods.map(async (period) => {
      const [current, previous] = await Promise.all([
        ledger.getProjectExecutionStats(projectId, period.start, period.end),
        ledger.getProjectExecutionStats(projectId, period.previous[0], period.previous[1]),
      ]);
      return html`<li class="tile" data-period="${period.name}" data-start="${period.start.toISOString()}" data-end="${period.end.toISOString()}">
  <span class="tile-label">${period.label}</span>
  <span class="tile-value">${money(current.total_cost)}</span>
  ${change(current.total_cost, previous.total_cost)}
  <span class="tile-runs">${count(current.total_executions)} runs</span></li>`;
    }),
  );
}
