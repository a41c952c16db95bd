import type { ExecutionRecord, Ledger, ProjectProof } from 'execution-ledger';
import { isLedgerError, LedgerError } from 'execution-ledger';
import { DASHBOARD_PAGE_ROWS } from '../../bounds.js';
import { type ApiKeyPrincipal, coversProject } from '../../keys/access-policy.js';
import { html, queryString, type SafeHtml } from '../html-template.js';
import { duration, money, statusBadge, time } from '../page-format.js';
import { pageLayout } from '../page-layout.js';
import { requireTimeZone } from '../time-range.js';
import type { VerificationEntry } from '../verification-log.js';
import type { PageRequest } from './page-handler.js';
import { waterfall } from './waterfall.js';

/** Record fields shown in the fields table; the JSON ones, the cost and the hashes have sections of their own. */
const PLAIN_FIELDS = [
  'run_id',
  'project_id',
  'agent_id',
  'user_id',
  'intent',
  'status',
  'error_message',
  'created_at',
  'id',
] as const;

/** A run the key may see, or NOT_FOUND worded like the API's (a run of another project is "missing"). */
export async function visibleRun(
  ledger: Ledger,
  principal: ApiKeyPrincipal,
  runId: string,
): Promise<ExecutionRecord> {
  const run = await ledger.getExecutionByRunId(runId);
  if (run === null || !coversProject(principal, run.project_id)) {
    throw new LedgerError('NOT_FOUND', `no run with run_id ${JSON.stringify(runId)} is visible to this key`, {
      field: 'run_id',
    });
  }
  return run;
}

/** Every field of a run, its input and output, cost, the waterfall, its lineage and its integrity. */
export async function runPage({
  request,
  query,
  principal,
  context,
  verifications,
}: PageRequest<{ tz?: string; project?: string }>): Promise<SafeHtml> {
  const { ledger } = context;
  const timeZone = requireTimeZone(query.tz);
  const runId = (request.params as { runId: string }).runId;
  const run = await visibleRun(ledger, principal, runId);
  const carry = queryString({ project: run.project_id, tz: query.tz });
  const runHref = (id: string) => `/runs/${encodeURIComponent(id)}${carry}`;
  const [children, parent, proof] = await Promise.all([
    ledger.listExecutions(
      { projectId: run.project_id, parentRunId: run.run_id },
      { limit: DASHBOARD_PAGE_ROWS },
    ),
    run.parent_run_id === null ? null : ledger.getExecutionByRunId(run.parent_run_id),
    newestProof(ledger, run.project_id),
  ]);
  const parentVisible = parent !== null && coversProject(principal, parent.project_id);
  const breakdown = Object.entries(run.cost_json.breakdown ?? {}).filter(
    ([, cents]) => typeof cents === 'number',
  );
  const body = html`
<section aria-labelledby="fields-title"><h2 id="fields-title">Fields</h2>
<dl class="fields" id="run-fields">${PLAIN_FIELDS.map((field) => {
    const value = run[field];
    if (value === undefined || value === null) return '';
    const shown =
      field === 'status'
        ? statusBadge(String(value))
        : field === 'created_at'
          ? time(String(value), timeZone)
          : String(value);
    return html`<div><dt>${field}</dt><dd data-field="${field}">${shown}</dd></div>`;
  })}
  <div><dt>duration_ms</dt><dd data-field="duration_ms">${duration(run.execution_trace_json.duration_ms)}</dd></div>
</dl>
<details><summary>Input (JSON)</summary><pre class="json" id="run-input">${JSON.stringify(run.input, null, 2)}</pre></details>
<details><summary>Output (JSON)</summary><pre class="json" id="run-output">${run.output === undefined ? '(no output)' : JSON.stringify(run.output, null, 2)}</pre></details>
<details><summary>Whole trace (JSON)</summary><pre class="json">${JSON.stringify(run.execution_trace_json, null, 2)}</pre></details>
</section>
<section aria-labelledby="cost-title"><h2 id="cost-title">Cost</h2>
<dl class="fields" id="run-cost"><div><dt>Total</dt><dd data-field="cost">${money(run.cost_json.total)}</dd></div>
${breakdown.map(([part, cents]) => html`<div><dt>${part}</dt><dd>${money(cents as number)}</dd></div>`)}
${run.cost_json.pricing === undefined ? '' : html`<div><dt>pricing</dt><dd>${run.cost_json.pricing.source}${run.cost_json.pricing.price_table_version === undefined ? '' : `, price table ${run.cost_json.pricing.price_table_version}`}</dd></div>`}
</dl></section>
<section aria-labelledby="trace-title"><h2 id="trace-title">Trace</h2>${waterfall(run.execution_trace_json, runHref)}</section>
<section aria-labelledby="lineage-title"><h2 id="lineage-title">Lineage</h2>
<p>Parent: ${
    run.parent_run_id === null
      ? 'none (a top-level run)'
      : parentVisible
        ? html`<a id="parent-link" href="${runHref(run.parent_run_id)}">${run.parent_run_id}</a>`
        : html`${run.parent_run_id} (not recorded in a project this key sees)`
  }</p>
<p>Children: ${children.total === 0 ? 'none' : html`${children.total} — <a href="/runs${queryString({ project: run.project_id, parent: run.run_id, range: '90d', tz: query.tz })}">list them</a>`}</p>
${children.data.length === 0 ? '' : html`<ul id="children">${children.data.map((child) => html`<li><a href="${runHref(child.run_id)}">${child.run_id}</a> ${child.agent_id} ${money(child.cost_json.total)}</li>`)}</ul>`}
</section>
<section aria-labelledby="integrity-title"><h2 id="integrity-title">Integrity</h2>
<dl class="fields hashes" id="run-integrity">
  <div><dt>seq</dt><dd data-field="seq">${run.seq}</dd></div>
  <div><dt>entry hash</dt><dd data-field="entry_hash"><code>${run.entry_hash}</code></dd></div>
  <div><dt>previous hash</dt><dd><code>${run.prev_hash}</code></dd></div>
  <div><dt>payload hash</dt><dd><code>${run.payload_hash}</code> (hash version ${run.hash_version})</dd></div>
  <div><dt>chain</dt><dd data-field="chain">${chainStatus(run, verifications.latest(run.project_id), timeZone)}</dd></div>
  <div><dt>checkpoint</dt><dd data-field="checkpoint">${checkpointStatus(run, proof, verifications.latest(run.project_id))}</dd></div>
</dl></section>`;
  return pageLayout({ title: `Run ${run.run_id}`, current: '/runs', principal, carry }, body);
}

async function newestProof(ledger: Ledger, projectId: string): Promise<ProjectProof | null> {
  try {
    return await ledger.proveProject(projectId);
  } catch (error) {
    // No checkpoint signed yet is an answer here, not a failure of the page.
    if (isLedgerError(error) && error.code === 'CHECKPOINT_NOT_FOUND') return null;
    throw error;
  }
}

function chainStatus(run: ExecutionRecord, last: VerificationEntry | undefined, timeZone: string): SafeHtml {
  const verifyLink = html`<a href="/integrity${queryString({ project: run.project_id })}">verify the project</a>`;
  if (last === undefined) return html`not verified since this server started — ${verifyLink}`;
  const { report } = last;
  if (report.first_bad_seq !== null && report.first_bad_seq <= run.seq) {
    return html`<strong class="bad">broken at seq ${report.first_bad_seq}</strong> (${report.reason ?? 'see the integrity page'}), found ${time(last.at, timeZone)}`;
  }
  if (report.head !== null && report.head.seq >= run.seq) {
    return html`<span class="good">verified through this entry</span> (${report.entries_checked} entries, ${time(last.at, timeZone)})`;
  }
  return html`recorded after the last verification (${time(last.at, timeZone)}) — ${verifyLink}`;
}

function checkpointStatus(
  run: ExecutionRecord,
  proof: ProjectProof | null,
  last: VerificationEntry | undefined,
): SafeHtml {
  if (proof === null || proof.head.seq < run.seq) {
    return html`not yet covered by a signed checkpoint (the next one will cover it)`;
  }
  const check = last?.report.checkpoint;
  const signature =
    check === undefined || check === null || check.seq !== proof.checkpoint_seq
      ? 'signature not checked yet (verify the project)'
      : check.signature === 'valid'
        ? 'signature valid'
        : check.signature === 'invalid'
          ? 'signature INVALID'
          : 'signature not checked: this server has no public key';
  return html`included in checkpoint <a href="/integrity#checkpoint-${proof.checkpoint_seq}">${proof.checkpoint_seq}</a> (head seq ${proof.head.seq}), ${signature}`;
}
