import type { Checkpoint, Ledger } from 'execution-ledger';
import { isLedgerError, LedgerError } from 'execution-ledger';
import type { NoteVerifierKey } from 'execution-ledger/verify';
import { hasPermission, requireProject } from '../../keys/access-policy.js';
import type { RunningVerification } from '../../verifications/project-verifier.js';
import type { VerificationEntry } from '../../verifications/verification-log.js';
import { html, queryString, type SafeHtml } from '../html-template.js';
import { count, time } from '../page-format.js';
import { pageLayout } from '../page-layout.js';
import { requireTimeZone } from '../time-range.js';
import type { PageRequest } from './page-handler.js';

/** Checkpoints listed, newest first. */
const CHECKPOINTS_SHOWN = 10;

/** Signed checkpoints, each visible project's last verification, and (admin) verify now. */
export async function integrityPage({
  query,
  principal,
  context,
  directory,
}: PageRequest<{ tz?: string; project?: string }>): Promise<SafeHtml> {
  const { ledger } = context;
  const timeZone = requireTimeZone(query.tz);
  const projects = await directory.visible(principal);
  const entries = new Map(
    (await ledger.operations.listProjects()).map((project) => [project.project_id, project.entries]),
  );
  const [checkpoints, latest] = await Promise.all([
    recentCheckpoints(ledger),
    context.verifier.log.latest(projects),
  ]);
  const canVerify = hasPermission(principal, 'verify');
  const body = html`
<section aria-labelledby="projects-title"><h2 id="projects-title">Projects</h2>
<p>Verification re-derives every hash of a project's chain and compares its head with the newest signed checkpoint.
The last verification shown is the newest one run through this service, from this page or the API.</p>
${
  projects.length === 0
    ? html`<p class="notice empty">No project has entries yet.</p>`
    : html`<div class="table-wrap"><table id="projects-table"><caption>Chains</caption>
<thead><tr><th scope="col">Project</th><th scope="col">Entries</th><th scope="col">Last verification</th>${canVerify ? html`<th scope="col">Verify</th>` : ''}</tr></thead>
<tbody>${projects.map(
        (projectId) => html`<tr data-project="${projectId}"><th scope="row">${projectId}</th>
  <td>${count(entries.get(projectId) ?? 0)}</td>
  <td data-field="verification">${verificationText(latest.get(projectId), timeZone)}</td>
  ${canVerify ? verifyForm(projectId, context.verifier.progress(projectId)) : ''}</tr>`,
      )}</tbody></table></div>`
}
${canVerify ? '' : html`<p>Verifying needs a key of role admin.</p>`}
</section>
<section aria-labelledby="checkpoints-title"><h2 id="checkpoints-title">Signed checkpoints</h2>
${
  checkpoints === 'sharded'
    ? html`<p class="notice">This service serves projects sharded over several servers: their checkpoints are signed over every shard's heads and kept in the shard catalog (<code>execution-ledger shards … checkpoint</code>), not listed here.</p>`
    : checkpoints.length === 0
      ? html`<p class="notice empty">No checkpoint has been signed yet: run <code>execution-ledger checkpoint</code>, or serve with <code>--checkpoint-key</code>.</p>`
      : html`<div class="table-wrap"><table id="checkpoints-table"><caption>Newest first</caption>
<thead><tr><th scope="col">Seq</th><th scope="col">Signed</th><th scope="col">Project heads</th><th scope="col">Key</th><th scope="col">Root</th></tr></thead>
<tbody>${checkpoints.map(
          (
            checkpoint,
          ) => html`<tr id="checkpoint-${checkpoint.seq}"><th scope="row">${checkpoint.seq}</th><td>${time(checkpoint.created_at, timeZone)}</td>
  <td>${checkpoint.tree_size}</td><td>${checkpoint.origin} (${checkpoint.key_id})</td><td><code>${checkpoint.root.slice(0, 16)}…</code></td></tr>`,
        )}</tbody></table></div>`
}</section>`;
  return pageLayout(
    { title: 'Integrity', current: '/integrity', principal, carry: queryString({ tz: query.tz }) },
    body,
  );
}

/**
 * The verify button, with the progress of a verification of the project running now (the
 * client script polls /integrity/progress while one runs, and reloads the page at its end).
 */
function verifyForm(projectId: string, running: RunningVerification | undefined): SafeHtml {
  return html`<td><form method="post" action="/integrity/verify" class="verify-form"${running === undefined ? '' : html` data-running="1"`}>
    <input type="hidden" name="project" value="${projectId}">
    <button type="submit"${running === undefined ? '' : html` disabled`}>Verify now<span class="visually-hidden"> ${projectId}</span></button>
    <progress${running === undefined ? html` hidden` : ''} aria-label="Verifying ${projectId}" max="${Math.max(running?.entries_total ?? 1, 1)}" value="${running?.entries_checked ?? 0}"></progress>
    <span class="verify-status" role="status">${running === undefined ? '' : progressText(running)}</span>
  </form></td>`;
}

/** "verifying: 1,000 of 2,500 entries (40%), started by <key name>": what the page and the client script show. */
export function progressText(running: RunningVerification): string {
  const share =
    running.entries_total === 0
      ? ''
      : ` (${Math.floor((running.entries_checked / running.entries_total) * 100)}%)`;
  return `verifying: ${running.entries_checked.toLocaleString('en-US')} of ${running.entries_total.toLocaleString('en-US')} entries${share}, started by ${running.by}`;
}

function verificationText(entry: VerificationEntry | undefined, timeZone: string): SafeHtml {
  if (entry === undefined) return html`never verified through this service`;
  const { report } = entry;
  const checkpoint = report.checkpoint;
  const against =
    checkpoint === undefined || checkpoint === null
      ? 'no checkpoint to compare with'
      : checkpoint.ok
        ? `matches checkpoint ${checkpoint.seq} (signature ${checkpoint.signature.replace('_', ' ')})`
        : `checkpoint ${checkpoint.seq}: ${checkpoint.reason ?? 'does not match'}`;
  return report.ok
    ? html`<span class="good">chain intact</span>: ${report.entries_checked} entries, ${against}; ${time(entry.at, timeZone)} by ${entry.by}`
    : html`<strong class="bad">broken at seq ${report.first_bad_seq ?? '?'}</strong>: ${report.reason ?? ''}; ${time(entry.at, timeZone)} by ${entry.by}`;
}

/** The newest checkpoints, or 'sharded' on a sharded service (its checkpoints are in the shard catalog). */
async function recentCheckpoints(ledger: Ledger): Promise<Checkpoint[] | 'sharded'> {
  let newest: Checkpoint;
  try {
    newest = await ledger.getCheckpoint();
  } catch (error) {
    if (isLedgerError(error) && error.code === 'CHECKPOINT_NOT_FOUND') return [];
    if (isLedgerError(error) && error.code === 'NOT_SHARDED') return 'sharded';
    throw error;
  }
  const older = [];
  for (let seq = newest.seq - 1; seq >= 1 && seq > newest.seq - CHECKPOINTS_SHOWN; seq -= 1)
    older.push(ledger.getCheckpoint(seq));
  return [newest, ...(await Promise.all(older))];
}

/** Verifies a project's chain now (admin), or waits for the verification already running, and records it. */
export async function verifyProject(
  { request, principal, context }: PageRequest,
  publicKeys: NoteVerifierKey[] | undefined,
) {
  const projectId = (request.body as { project?: string } | undefined)?.project ?? '';
  requireProject(principal, projectId);
  return context.verifier.verify(projectId, principal, publicKeys);
}

/** How far the verification of a project running in this process has come (for the client script). */
export function verificationProgress({ query, principal, context }: PageRequest<{ project?: string }>) {
  const projectId = query.project ?? '';
  if (projectId === '') {
    throw new LedgerError(
      'VALIDATION_FAILED',
      'project is required: the project whose verification to follow',
      {
        field: 'project',
      },
    );
  }
  requireProject(principal, projectId);
  const running = context.verifier.progress(projectId);
  return running === undefined
    ? { running: false, project_id: projectId }
    : { running: true, ...running, text: progressText(running) };
}

export const integrityHref = (projectId: string) => `/integrity${queryString({ project: projectId })}`;
