import { html, type SafeHtml } from './html-template.js';

/**
 * Cents as dollars. Small amounts keep more decimals so a micro-cent charge is not shown as
 * $0.00; the exact value stays in `data-value` for scripts and tests.
 */
export function dollars(cents: number): string {
  const value = cents / 100;
  const digits = value !== 0 && Math.abs(value) < 0.01 ? 6 : Math.abs(value) < 100 ? 4 : 2;
  return `$${value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: digits })}`;
}

export function money(cents: number): SafeHtml {
  return html`<data value="${cents}">${dollars(cents)}</data>`;
}

export function count(value: number): SafeHtml {
  return html`<data value="${value}">${value.toLocaleString('en-US')}</data>`;
}

export function duration(ms: number): SafeHtml {
  const text =
    ms < 1000
      ? `${Math.round(ms)} ms`
      : ms < 60_000
        ? `${(ms / 1000).toFixed(1)} s`
        : `${(ms / 60_000).toFixed(1)} min`;
  return html`<data value="${ms}">${text}</data>`;
}

/** A share in [0, 1] as a percentage; zero runs give 0 %, not NaN. */
export function percent(part: number, whole: number): SafeHtml {
  const share = whole === 0 ? 0 : part / whole;
  return html`<data value="${share}">${(share * 100).toFixed(1)} %</data>`;
}

/** The change from a previous period, with its direction in words (not only in colour). */
export function change(current: number, previous: number): SafeHtml {
  if (previous === 0) {
    return current === 0
      ? html`<span class="change">no change</span>`
      : html`<span class="change up">new (nothing the period before)</span>`;
  }
  const ratio = (current - previous) / previous;
  const label = `${ratio >= 0 ? '+' : '−'}${Math.abs(ratio * 100).toFixed(1)} % vs previous period`;
  return html`<span class="change ${ratio > 0 ? 'up' : ratio < 0 ? 'down' : ''}">${label}</span>`;
}

/** One formatter per zone: building one costs far more than formatting, and tables format hundreds. */
const TIME_FORMATS = new Map<string, Intl.DateTimeFormat>();
const TIME_FORMATS_MAX = 100;

function timeFormat(timeZone: string): Intl.DateTimeFormat {
  let format = TIME_FORMATS.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: 'short',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    if (TIME_FORMATS.size >= TIME_FORMATS_MAX) TIME_FORMATS.clear();
    TIME_FORMATS.set(timeZone, format);
  }
  return format;
}

/** An instant as local time in the page's zone, with the exact UTC time in `datetime`. */
export function time(iso: string, timeZone: string): SafeHtml {
  const text = timeFormat(timeZone).format(new Date(iso));
  return html`<time datetime="${iso}">${text}</time>`;
}

export function statusBadge(status: string): SafeHtml {
  return html`<span class="status status-${status}">${status}</span>`;
}
