import type { ExecutionTrace } from 'execution-ledger';
import { DASHBOARD_WATERFALL_STEPS_MAX } from '../../bounds.js';
import { html, type SafeHtml } from '../html-template.js';
import { duration, money } from '../page-format.js';

interface PlacedStep {
  index: number;
  label: string;
  kind: string;
  startedMs: number;
  durationMs: number;
  /** True when the step had no started_ms and sits right after the previous one. */
  placed: boolean;
  error: string | undefined;
  cost: number | undefined;
  tokens: { input: number; output: number } | undefined;
  model: string | undefined;
  childRunId: string | undefined;
}

const WIDTH = 1000;

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
}

function textOr(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Steps placed by started_ms and duration_ms; a step without started_ms follows the one before. */
export function placeSteps(trace: ExecutionTrace): PlacedStep[] {
  const steps = Array.isArray(trace.steps) ? trace.steps.slice(0, DASHBOARD_WATERFALL_STEPS_MAX) : [];
  let cursor = 0;
  return steps.map((step, index) => {
    const given = step.started_ms;
    const startedMs = numberOr(given, cursor);
    const durationMs = numberOr(step.duration_ms, 0);
    cursor = startedMs + durationMs;
    const tokens = step.tokens as { input?: unknown; output?: unknown } | undefined;
    return {
      index,
      label: textOr(step.action) ?? textOr(step.name) ?? `step ${index + 1}`,
      kind: [textOr(step.kind), textOr(step.name)].filter(Boolean).join(' · '),
      startedMs,
      durationMs,
      placed: typeof given !== 'number',
      error: textOr(step.error) ?? (step.status === 'error' ? 'error' : undefined),
      cost: typeof step.cost === 'number' ? step.cost : undefined,
      tokens:
        tokens === undefined || tokens === null
          ? undefined
          : { input: numberOr(tokens.input, 0), output: numberOr(tokens.output, 0) },
      model: textOr(step.model),
      childRunId: textOr(step.child_run_id),
    };
  });
}

/** The trace as a waterfall: one row per step, its bar drawn in SVG (attributes, no inline style). */
export function waterfall(trace: ExecutionTrace, runHref: (runId: string) => string): SafeHtml {
  const steps = placeSteps(trace);
  const total = Math.max(
    numberOr(trace.duration_ms, 0),
    ...steps.map((step) => step.startedMs + step.durationMs),
    1,
  );
  if (steps.length === 0) return html`<p class="empty">This run recorded no steps.</p>`;
  const cut = Array.isArray(trace.steps) && trace.steps.length > steps.length;
  return html`<div class="table-wrap"><table class="waterfall" id="waterfall">
  <caption>Steps over the run's ${duration(total)}${cut ? `, the first ${steps.length} of ${trace.steps.length}` : ''}</caption>
  <thead><tr><th scope="col">Step</th><th scope="col">Start</th><th scope="col">Duration</th><th scope="col">Cost</th>
  <th scope="col">Tokens in / out</th><th scope="col" class="bar-col">Timeline</th></tr></thead>
  <tbody>${steps.map(
    (step) => html`<tr class="${step.error === undefined ? '' : 'step-error'}" data-step="${step.index}">
    <th scope="row">${step.label}${step.kind === '' ? '' : html` <span class="detail">${step.kind}</span>`}${
      step.model === undefined ? '' : html` <span class="detail">${step.model}</span>`
    }${step.error === undefined ? '' : html` <strong class="step-error-text">Error: ${step.error}</strong>`}${
      step.childRunId === undefined ? '' : html` <a href="${runHref(step.childRunId)}">child run</a>`
    }</th>
    <td>${duration(step.startedMs)}${step.placed ? html` <span class="detail" title="no started_ms: placed after the previous step">(after previous)</span>` : ''}</td>
    <td>${duration(step.durationMs)}</td>
    <td>${step.cost === undefined ? '—' : money(step.cost)}</td>
    <td>${step.tokens === undefined ? '—' : `${step.tokens.input} / ${step.tokens.output}`}</td>
    <td class="bar-col"><svg class="bar" viewBox="0 0 ${WIDTH} 12" preserveAspectRatio="none" aria-hidden="true"><rect
      x="${((step.startedMs / total) * WIDTH).toFixed(2)}" y="1" height="10"
      width="${Math.max((step.durationMs / total) * WIDTH, 2).toFixed(2)}"
      class="${step.error === undefined ? 'bar-ok' : 'bar-error'}"
      data-started-ms="${step.startedMs}" data-duration-ms="${step.durationMs}"></rect></svg></td>
  </tr>`,
  )}</tbody></table></div>`;
}
