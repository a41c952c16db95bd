import type { Checkpoint, Ledger } from 'execution-ledger';
import { isLedgerError } from 'execution-ledger';
import type { NoteVerifierKey } from 'execution-ledger/verify';
import { hasPermission, requireProject } from '../../keys/access-policy.js';
import { html, queryString, type SafeHtml } from '../html-template.js';
import { count, time } from '../page-format.js';
import { pageLayout } from '../page-layout.js';
import { requireTimeZone } from '../time-range.js';
import type { VerificationEntry } from '../verification-log.js';
import type { PageRequest } from './page-handler.js';

/** Checkpoints listed, newest first. */
const CHECKPOINTS_SHOWN = 10;

/** Signed checkpoints, each visible project's last verification, and (admin) verify now. */
export async function integrityPage({
  query,
  principal,
  context,
  verifications,
  directory,
}: PageRequest<{ tz?: string; project?: string }>): Promise<SafeHtml> {
  const { ledger } = context;
  const timeZone = requireTimeZone(query.tz);
  const projects = await directory.visible(principal);
  const entries = new Map(
    (await ledger.operations.listProjects()).map((project) => [project.project_id, project.entries]),
  );
  const checkpoints = await recentCheckpoints(ledger);
  const canVerify = hasPermission(principal, 'verify');
  const body = html`
<section aria-labelledby="projects-title"><h2 id="projects-title">Projects</h2>
<p>Verification re-derives every hash of a project's chain and compares its head with the newest signed checkpoint.
The last verification shown is the newest one run through this server since it started.</p>
${
  projects.length === 0
    ? html`<p class="notice empty">No project has entries yet.</p>`
    : html`<div class="table-wrap"><table id="projects-table"><caption>Chains</caption>
<thead><tr><th scope="col">Project</th><th scope="col">Entries</th><th scope="col">Last verification</th>${canVerify ? html`<th scope="col">Verify</th>` : ''}</tr></thead>
<tbody>${projects.map(
        (projectId) => html`<tr data-project="${projectId}"><th scope="row">${projectId}</th>
  <td>${count(entries.get(projectId) ?? 0)}</td>
  <td data-field="verification">${verificationText(verifications.latest(projectId), timeZone)}</td>
  ${
    canVerify
      ? html`<td><form method="post" action="/integrity/verify" class="verify-form">
    <input type="hidden" name="project" value="${projectId}">
    <button type="submit">Verify now<span class="visually-hidden"> ${projectId}</span></button>
    <progress hidden aria-label="Verifying ${projectId}"></progress><span class="verify-status" role="status"></span>
  </form></td>`
      : ''
  }</tr>`,
      )}</tbody></table></div>`
}
${canVerify ? '' : html`<p>Verifying needs a key of role admin.</p>`}
</section>
<section aria-labelledby="checkpoints-title"><h2 id="checkpoints-title">Signed checkpoints</h2>
${
  checkpoints.length === 0
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

function verificationText(entry: VerificationEntry | undefined, timeZone: string): SafeHtml {
  if (entry === undefined) return html`not verified since this server started`;
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

async function recentCheckpoints(ledger: Ledger): Promise<Checkpoint[]> {
  let newest: Checkpoint;
  try {
    newest = await ledger.getCheckpoint();
  } catch (error) {
    if (isLedgerError(error) && error.code === 'CHECKPOINT_NOT_FOUND') return [];
    throw error;
  }
  const older = [];
  for (let seq = newest.seq - 1; seq >= 1 && seq > newest.seq - CHECKPOINTS_SHOWN; seq -= 1)
    older.push(ledger.getCheckpoint(seq));
  return [newest, ...(await Promise.all(older))];
}

/** Verifies a project's chain now (admin) and records the result for the pages. */
export async function verifyProject(
  { request, principal, context, verifications }: PageRequest,
  publicKeys: NoteVerifierKey[] | undefined,
) {
  const projectId = (request.body as { project?: string } | undefined)?.project ?? '';
  requireProject(principal, projectId);
  const report = await context.ledger.verifyLedger(
    projectId,
    publicKeys === undefined ? {} : { publicKey: publicKeys },
  );
  return verifications.record(report, principal.name);
}

export const integrityHref = (projectId: string) => `/integrity${queryString({ project: projectId })}`;
