import { PROGRESS_LINE_MS, PROGRESS_REDRAW_MS } from '../bounds.js';

/**
 * Progress on stderr with rate and time left: redrawn in place on a terminal, a line every few
 * seconds otherwise (logs, CI). `total` may be unknown; the ETA is then left out.
 */
export class ProgressReporter {
  private done = 0;
  private readonly startedMs = Date.now();
  private lastDrawMs = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly label: string,
    private total: number | undefined,
    private readonly unit = 'records',
  ) {}

  setTotal(total: number): void {
    this.total = total;
  }

  add(count: number): void {
    this.done += count;
    const now = Date.now();
    if (now - this.lastDrawMs >= (this.tty ? PROGRESS_REDRAW_MS : PROGRESS_LINE_MS)) {
      this.lastDrawMs = now;
      this.draw(false);
    }
  }

  finish(): void {
    this.draw(true);
  }

  /** The status line, e.g. "import: 1,200 / 5,000 records (24%), 3,100/s, ETA 2s". */
  line(): string {
    const elapsedS = Math.max((Date.now() - this.startedMs) / 1000, 0.001);
    const rate = this.done / elapsedS;
    const count = this.done.toLocaleString('en-US');
    if (this.total === undefined || this.total === 0) {
      return `${this.label}: ${count} ${this.unit}, ${Math.round(rate).toLocaleString('en-US')}/s`;
    }
    const percent = Math.min(100, (this.done / this.total) * 100).toFixed(0);
    const leftS = rate > 0 ? Math.max(0, (this.total - this.done) / rate) : Number.POSITIVE_INFINITY;
    return (
      `${this.label}: ${count} / ${this.total.toLocaleString('en-US')} ${this.unit} (${percent}%), ` +
      `${Math.round(rate).toLocaleString('en-US')}/s, ETA ${formatSeconds(leftS)}`
    );
  }

  private draw(final: boolean): void {
    const text = final
      ? `${this.line()}, done in ${formatSeconds((Date.now() - this.startedMs) / 1000)}`
      : this.line();
    if (this.tty) process.stderr.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else process.stderr.write(`${text}\n`);
  }
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}
