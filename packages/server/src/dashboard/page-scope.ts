import type { Ledger } from 'execution-ledger';
import { DASHBOARD_PROJECT_LIST_TTL_MS } from '../bounds.js';
import { type ApiKeyPrincipal, coversProject, requireProject } from '../keys/access-policy.js';
import { html, type SafeHtml } from './html-template.js';
import { type PageRange, RANGE_PRESETS } from './time-range.js';

/** The query every page understands: the project, the range and the zone. */
export interface ScopeQuery {
  project?: string;
  range?: string;
  from?: string;
  to?: string;
  tz?: string;
}

/**
 * The projects of the ledger for the project menus. Listing them counts every entry, so the
 * list is reused for a short while (DASHBOARD_PROJECT_LIST_TTL_MS); a key bound to some
 * projects needs no list at all: it sees exactly its own.
 */
type ProjectSummary = Awaited<ReturnType<Ledger['operations']['listProjects']>>[number];

export class ProjectDirectory {
  private cached: { atMs: number; list: Promise<ProjectSummary[]> } | undefined;

  constructor(private readonly ledger: Ledger) {}

  /** Every project with entries and its number of entries. */
  summaries(): Promise<ProjectSummary[]> {
    const now = Date.now();
    if (this.cached === undefined || now - this.cached.atMs > DASHBOARD_PROJECT_LIST_TTL_MS) {
      const list = this.ledger.operations.listProjects();
      this.cached = { atMs: now, list };
      // A failed read must not be reused: the next page asks again.
      list.catch(() => {
        if (this.cached?.list === list) this.cached = undefined;
      });
    }
    return this.cached.list;
  }

  /** The projects a key may see: its own, or every project with entries. */
  async visible(principal: ApiKeyPrincipal): Promise<string[]> {
    if (principal.projects !== null) return [...principal.projects].sort();
    return (await this.summaries())
      .map((project) => project.project_id)
      .filter((id) => coversProject(principal, id));
  }
}

/**
 * The project a page shows: the one asked for (refused like the API refuses it when the key is
 * not bound to it) or the first visible one; undefined when there is none yet.
 */
export function chooseProject(
  principal: ApiKeyPrincipal,
  asked: string | undefined,
  visible: readonly string[],
): string | undefined {
  if (asked !== undefined && asked !== '') {
    requireProject(principal, asked);
    return asked;
  }
  return visible[0];
}

/** The scope as a query string for links: project, range and zone, as the page was asked. */
export function scopeQuery(
  project: string | undefined,
  range: PageRange,
): Record<string, string | undefined> {
  return {
    project,
    range: range.preset,
    from: range.preset === 'custom' ? range.startDate : undefined,
    to: range.preset === 'custom' ? range.endDate : undefined,
    tz: range.timeZone === 'UTC' ? undefined : range.timeZone,
  };
}

const PRESET_LABELS: Record<string, string> = {
  today: 'Today',
  '24h': 'Last 24 hours',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
  '90d': 'Last 90 days',
  custom: 'Custom dates',
};

/** The controls every page shares: project, range preset, custom dates and time zone. */
export function scopeControls(
  projects: readonly string[],
  project: string | undefined,
  range: PageRange,
  extra: SafeHtml = html``,
): SafeHtml {
  return html`<form class="filters" method="get" aria-label="What to show">
  <label>Project
    <select name="project">${projects.map(
      (id) => html`<option value="${id}"${id === project ? html` selected` : ''}>${id}</option>`,
    )}</select>
  </label>
  <label>Range
    <select name="range">${RANGE_PRESETS.map(
      (preset) =>
        html`<option value="${preset}"${preset === range.preset ? html` selected` : ''}>${PRESET_LABELS[preset]}</option>`,
    )}</select>
  </label>
  <label>From <input type="date" name="from" value="${range.startDate}"></label>
  <label>To <input type="date" name="to" value="${range.endDate}"></label>
  <label>Time zone <input name="tz" value="${range.timeZone}" list="zones" size="16" autocomplete="off"></label>
  <datalist id="zones">${[
    'UTC',
    'Europe/London',
    'Europe/Paris',
    'America/New_York',
    'America/Los_Angeles',
    'Asia/Tokyo',
  ].map((zone) => html`<option value="${zone}"></option>`)}</datalist>
  ${extra}
  <button type="submit">Show</button>
</form>
<p class="range-note">From ${range.start.toISOString()} to ${range.end.toISOString()} (end excluded), shown in ${range.timeZone}.</p>`;
}

/** What a page says when the key sees no project with runs yet. */
export function noProjects(): SafeHtml {
  return html`<p class="notice">No project has runs yet, so every figure would be zero. Record a run (or run
  <code>execution-ledger demo</code>) and reload.</p>`;
}
