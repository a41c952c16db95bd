import type { ExecutionRecord, Ledger, ProjectProof, RunTree, RunTreeNode } from 'execution-ledger';
import { isLedgerError, LedgerError } from 'execution-ledger';
import { DASHBOARD_RUN_TREE_DEPTH_MAX, DASHBOARD_RUN_TREE_NODES_MAX } from '../../bounds.js';
import { type ApiKeyPrincipal, coversProject, soleProject } from '../../keys/access-policy.js';
import type { VerificationEntry } from '../../verifications/verification-log.js';
import { html, queryString, type SafeHtml } from '../html-template.js';
import { duration, money, statusBadge, time } from '../page-format.js';
import { pageLayout } from '../page-layout.js';
import { requireTimeZone } from '../time-range.js';
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
  const projectId = soleProject(principal);
  const run = await ledger.getExecutionByRunId(runId, projectId === undefined ? {} : { projectId });
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
}: PageRequest<{ tz?: string; project?: string }>): Promise<SafeHtml> {
  const { ledger } = context;
  const timeZone = requireTimeZone(query.tz);
  const runId = (request.params as { runId: string }).runId;
  const run = await visibleRun(ledger, principal, runId);
  const carry = queryString({ project: run.project_id, tz: query.tz });
  const runHref = (id: string) => `/runs/${encodeURIComponent(id)}${carry}`;
  const [tree, proof, verifications] = await Promise.all([
    ledger.getRunTree(run.run_id, {
      maxNodes: DASHBOARD_RUN_TREE_NODES_MAX,
      maxDepth: DASHBOARD_RUN_TREE_DEPTH_MAX,
      // A key bound to some projects sees a parent or child elsewhere as not recorded, as in the API.
      ...(principal.projects === null ? {} : { projects: principal.projects }),
    }),
    newestProof(ledger, run.project_id),
    context.verifier.log.latest([run.project_id]),
  ]);
  const lastVerification = verifications.get(run.project_id);
  const self = tree.nodes.find((node) => node.run_id === run.run_id);
  const parentVisible =
    run.parent_run_id !== null &&
    tree.nodes.some((node) => node.run_id === run.parent_run_id && node.recorded);
  const childCount = self?.children.length ?? 0;
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
<p>Children: ${childCount === 0 ? 'none' : html`${childCount}${tree.complete ? '' : ' or more'} — <a href="/runs${queryString({ project: run.project_id, parent: run.run_id, range: '90d', tz: query.tz })}">list them</a>`}</p>
${lineageTree(tree, run.run_id, runHref)}
</section>
<section aria-labelledby="integrity-title"><h2 id="integrity-title">Integrity</h2>
<dl class="fields hashes" id="run-integrity">
  <div><dt>seq</dt><dd data-field="seq">${run.seq}</dd></div>
  <div><dt>entry hash</dt><dd data-field="entry_hash"><code>${run.entry_hash}</code></dd></div>
  <div><dt>previous hash</dt><dd><code>${run.prev_hash}</code></dd></div>
  <div><dt>payload hash</dt><dd><code>${run.payload_hash}</code> (hash version ${run.hash_version})</dd></div>
  <div><dt>chain</dt><dd data-field="chain">${chainStatus(run, lastVerification, timeZone)}</dd></div>
  <div><dt>checkpoint</dt><dd data-field="checkpoint">${checkpointStatus(run, proof, lastVerification)}</dd></div>
</dl></section>`;
  return pageLayout({ title: `Run ${run.run_id}`, current: '/runs', principal, carry }, body);
}

/**
 * The whole task the run belongs to (getRunTree): its cost, this run's subtree cost, and the runs
 * as nested lists, each a link with its own and its subtree's cost; this run marked.
 */
function lineageTree(tree: RunTree, runId: string, runHref: (id: string) => string): SafeHtml {
  if (tree.node_count <= 1) return html`<p>No other run is linked to this one: it is the whole task.</p>`;
  const byId = new Map(tree.nodes.map((node) => [node.run_id, node]));
  const self = byId.get(runId);
  const cut = tree.nodes_exceeded || tree.depth_exceeded;
  const item = (node: RunTreeNode): SafeHtml => {
    const children = node.children.flatMap((id) => {
      const child = byId.get(id);
      return child === undefined ? [] : [child];
    });
    const label =
      node.run_id === runId
        ? html`<strong aria-current="true">${node.run_id}</strong> (this run)`
        : node.recorded
          ? html`<a href="${runHref(node.run_id)}">${node.run_id}</a>`
          : html`${node.run_id} <span class="detail">(not recorded, or in a project this key does not see)</span>`;
    return html`<li data-run-id="${node.run_id}" data-cost="${node.cost}" data-subtree-cost="${node.subtree_cost}">${label}${
      node.recorded ? html` <span class="detail">${node.agent_id ?? ''} ${node.status ?? ''}</span>` : ''
    } own ${money(node.cost)}${node.children.length === 0 ? '' : html`, with the runs below ${money(node.subtree_cost)}`}${
      children.length === 0 ? '' : html`<ul>${children.map(item)}</ul>`
    }</li>`;
  };
  const root = byId.get(tree.root_run_id);
  return html`<dl class="fields" id="run-tree-figures">
  <div><dt>Whole task</dt><dd data-field="tree_cost">${money(tree.total_cost)}${cut ? ' or more' : ''} over ${tree.node_count}${cut ? '+' : ''} runs</dd></div>
  <div><dt>This run and the runs below it</dt><dd data-field="subtree_cost">${money(self?.subtree_cost ?? 0)}</dd></div>
</dl>
${cut ? html`<p class="notice">The tree is larger than shown: its first ${tree.node_count} runs are listed, and the costs cover only those. <code>execution-ledger tree</code> or <code>GET /v1/runs/{runId}/tree</code> reads more.</p>` : ''}
${tree.cycle === null ? '' : html`<p class="notice error">These runs name each other as parents in a circle: ${tree.cycle.join(' → ')}.</p>`}
<ul class="run-tree" id="run-tree" aria-label="The runs of this task">${root === undefined ? '' : item(root)}</ul>`;
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
  if (last === undefined) return html`never verified through this service — ${verifyLink}`;
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
