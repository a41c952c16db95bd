import { DASHBOARD_FAILURES_READ_MAX } from '../../bounds.js';
import { html, queryString, type SafeHtml } from '../html-template.js';
import { count, statusBadge, time } from '../page-format.js';
import { pageLayout } from '../page-layout.js';
import { chooseProject, noProjects, type ScopeQuery, scopeControls, scopeQuery } from '../page-scope.js';
import { parseRange } from '../time-range.js';
import type { PageRequest } from './page-handler.js';

interface FailureGroup {
  message: string;
  runs: { run_id: string; agent_id: string; status: string; created_at: string }[];
}

/** Failed and aborted runs of the range grouped by error message, the group with the newest failure first. */
export async function failuresPage({
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
  const carry = queryString(scope);
  const layout = { title: 'Failures', current: '/failures', principal, carry };
  const controls = scopeControls(projects, projectId, range);
  if (projectId === undefined) return pageLayout(layout, html`${controls}${noProjects()}`);
  const page = await ledger.listExecutions(
    { projectId, status: ['failed', 'aborted'], start: range.start, end: range.end },
    { limit: DASHBOARD_FAILURES_READ_MAX },
  );
  // Newest first already, so a group's first run is its newest and groups keep that order.
  const groups = new Map<string, FailureGroup>();
  for (const run of page.data) {
    const message = run.error_message ?? '(no error message)';
    const group = groups.get(message) ?? { message, runs: [] };
    group.runs.push(run);
    groups.set(message, group);
  }
  const body = html`${controls}
<p id="failures-total">${count(page.total)} failed or aborted runs in this range${
    page.total > page.data.length ? `; the newest ${page.data.length} are grouped below` : ''
  }.</p>
${
  groups.size === 0
    ? html`<p class="notice empty">No run failed or was aborted in this range.</p>`
    : html`<ol class="failure-groups" id="failure-groups">${[...groups.values()].map(
        (group) => html`<li data-count="${group.runs.length}"><details>
  <summary><strong>${group.message}</strong> — ${group.runs.length} runs, newest ${time(group.runs[0]?.created_at ?? '', range.timeZone)}</summary>
  <ul>${group.runs.map(
    (run) =>
      html`<li><a href="/runs/${encodeURIComponent(run.run_id)}${carry}">${run.run_id}</a> ${run.agent_id} ${statusBadge(run.status)} ${time(run.created_at, range.timeZone)}</li>`,
  )}</ul></details></li>`,
      )}</ol>`
}`;
  return pageLayout(layout, body);
}
