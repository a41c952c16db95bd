import { Readable } from 'node:stream';
import type { ExecutionFilter, ExecutionStatus } from 'execution-ledger';
import { EXECUTION_STATUSES, LedgerError } from 'execution-ledger';
import { DEFAULT_EXPORT_FORMAT, exportFormat, exportFormats } from 'execution-ledger/export-formats';
import type { FastifyReply } from 'fastify';
import { DASHBOARD_PAGE_ROWS } from '../../bounds.js';
import { exportChunks, exportContentType } from '../../export/export-stream.js';
import { hasPermission } from '../../keys/access-policy.js';
import { html, queryString, type SafeHtml } from '../html-template.js';
import { count, duration, money, statusBadge, time } from '../page-format.js';
import { pageLayout } from '../page-layout.js';
import { chooseProject, noProjects, type ScopeQuery, scopeControls, scopeQuery } from '../page-scope.js';
import { type PageRange, parseRange } from '../time-range.js';
import type { PageRequest } from './page-handler.js';

export interface RunsQuery extends ScopeQuery {
  agent?: string;
  user?: string;
  status?: string;
  parent?: string;
  cursor?: string;
  format?: string;
}

/** The library's filter for the runs page's query: the same filter lists and exports take. */
export function runsFilter(projectId: string, query: RunsQuery, range: PageRange): ExecutionFilter {
  const filter: ExecutionFilter = { projectId, start: range.start, end: range.end };
  if (query.agent) filter.agentId = query.agent;
  if (query.user) filter.userId = query.user;
  if (query.parent) filter.parentRunId = query.parent;
  if (query.status) {
    if (!EXECUTION_STATUSES.includes(query.status as ExecutionStatus)) {
      throw new LedgerError('VALIDATION_FAILED', `status must be one of ${EXECUTION_STATUSES.join(', ')}`, {
        field: 'status',
      });
    }
    filter.status = [query.status as ExecutionStatus];
  }
  return filter;
}

function filterQuery(projectId: string, query: RunsQuery, range: PageRange) {
  return {
    ...scopeQuery(projectId, range),
    agent: query.agent,
    user: query.user,
    status: query.status,
    parent: query.parent,
  };
}

/** A filtered table of runs, newest first, in cursor pages, with export links for the same filter. */
export async function runsPage({
  query,
  principal,
  context,
  directory,
}: PageRequest<RunsQuery>): Promise<SafeHtml> {
  const { ledger } = context;
  const range = parseRange(query);
  const projects = await directory.visible(principal);
  const projectId = chooseProject(principal, query.project, projects);
  const carry = projectId === undefined ? '' : queryString(scopeQuery(projectId, range));
  const layout = { title: 'Runs', current: '/runs', principal, carry };
  const extra = html`<label>Agent <input name="agent" value="${query.agent ?? ''}" size="12"></label>
  <label>User <input name="user" value="${query.user ?? ''}" size="12"></label>
  <label>Status <select name="status"><option value="">any</option>${EXECUTION_STATUSES.map(
    (status) =>
      html`<option value="${status}"${status === query.status ? html` selected` : ''}>${status}</option>`,
  )}</select></label>
  <label>Parent run <input name="parent" value="${query.parent ?? ''}" size="14"></label>`;
  const controls = scopeControls(projects, projectId, range, extra);
  if (projectId === undefined) return pageLayout(layout, html`${controls}${noProjects()}`);
  const filter = runsFilter(projectId, query, range);
  const page = await ledger.listExecutions(filter, {
    limit: DASHBOARD_PAGE_ROWS,
    ...(query.cursor ? { cursor: query.cursor } : {}),
  });
  const kept = filterQuery(projectId, query, range);
  const exportLinks = hasPermission(principal, 'export')
    ? html`<p class="exports">Export these runs (every page, oldest first):
  ${exportFormats().map(({ name, label }) => html` <a href="/export${queryString({ ...kept, format: name })}" download>${label}</a>`)}</p>`
    : html`<p class="exports">Exports need a key of role admin, as in the API.</p>`;
  const body = html`${controls}${exportLinks}
<p id="runs-total">${count(page.total)} runs match${query.cursor ? ' (a later page)' : ''}.</p>
${
  page.data.length === 0
    ? html`<p class="notice empty">No run matches this filter in this range. Widen the range or clear a filter.</p>`
    : html`<div class="table-wrap"><table id="runs-table">
  <caption>Runs, newest first</caption>
  <thead><tr><th scope="col">Run</th><th scope="col">Agent</th><th scope="col">User</th><th scope="col">Status</th>
  <th scope="col">Cost</th><th scope="col">Duration</th><th scope="col">Recorded</th><th scope="col">Seq</th></tr></thead>
  <tbody>${page.data.map(
    (run) => html`<tr data-run-id="${run.run_id}">
    <td><a href="/runs/${encodeURIComponent(run.run_id)}${carry}">${run.run_id}</a></td>
    <td>${run.agent_id}</td><td>${run.user_id}</td><td>${statusBadge(run.status)}</td>
    <td>${money(run.cost_json.total)}</td><td>${duration(run.execution_trace_json.duration_ms)}</td>
    <td>${time(run.created_at, range.timeZone)}</td><td>${run.seq}</td></tr>`,
  )}</tbody></table></div>`
}
<nav class="pager" aria-label="Pages of runs">
  ${query.cursor ? html`<a href="/runs${queryString(kept)}">First page</a>` : ''}
  ${page.next_cursor === null ? '' : html`<a rel="next" href="/runs${queryString({ ...kept, cursor: page.next_cursor })}">Next page</a>`}
</nav>`;
  return pageLayout(layout, body);
}

/** The runs of the page's filter as CSV or NDJSON, streamed like the API's export. */
export async function sendRunsExport(
  { query, principal, context, request, directory }: PageRequest<RunsQuery>,
  reply: FastifyReply,
): Promise<FastifyReply> {
  const format = exportFormat(query.format ?? DEFAULT_EXPORT_FORMAT);
  const range = parseRange(query);
  const projects = await directory.visible(principal);
  const projectId = chooseProject(principal, query.project, projects);
  if (projectId === undefined)
    throw new LedgerError('NOT_FOUND', 'no project has runs yet', { field: 'project' });
  const stream = Readable.from(
    exportChunks(context.ledger, runsFilter(projectId, query, range), format.name),
  );
  stream.on('error', (error) => request.log.error({ err: error }, 'dashboard export stream failed'));
  return reply
    .type(exportContentType(format))
    .header('content-disposition', `attachment; filename="runs-${projectId}.${format.extension}"`)
    .send(stream);
}
