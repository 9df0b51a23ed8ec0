/** A single progress line on stderr that updates in place, only when stderr is a terminal. */
import type { Log } from "./log.ts";

/** Figures a progress line shows. */
export interface ProgressFigures {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

const MIB = 1024 * 1024;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** Formats one progress line: files and bytes done of total, rate, ETA. */
export function formatProgress(label: string, p: ProgressFigures, elapsedSeconds: number): string {
  const rate = elapsedSeconds > 0 ? p.bytesDone / MIB / elapsedSeconds : 0;
  const left = p.bytesTotal - p.bytesDone;
  const eta = rate > 0 ? left / MIB / rate : Infinity;
  return `${label}: ${p.filesDone}/${p.filesTotal} files, ` +
    `${(p.bytesDone / MIB).toFixed(1)}/${(p.bytesTotal / MIB).toFixed(1)} MiB, ` +
    `${rate.toFixed(1)} MiB/s, ETA ${duration(eta)}`;
}

/** Draws the line at most every `intervalMs`; does nothing when disabled. */
export class ProgressLine {
  private readonly started = performance.now();
  private lastDraw = -Infinity;
  private shown = false;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly label: string,
    readonly enabled: boolean,
    private readonly intervalMs = 200,
  ) {}

  /** A progress line for stderr when it is a terminal, hooked into the log so messages clear it first. */
  static forTerminal(label: string, log: Log, quiet: boolean): ProgressLine {
    const line = new ProgressLine(label, !quiet && Deno.stderr.isTerminal());
    if (line.enabled) log.beforeWrite = () => line.clear();
    return line;
  }

  /** Redraws with new figures (throttled). */
  update(figures: ProgressFigures, force = false): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < this.intervalMs) return;
    this.lastDraw = now;
    const text = formatProgress(this.label, figures, (now - this.started) / 1000);
    const columns = Deno.stderr.isTerminal() ? Deno.consoleSize().columns : 0;
    const width = columns >= 40 ? columns : 100;
    Deno.stderr.writeSync(this.encoder.encode(`\r\x1b[K${text.slice(0, Math.max(20, width - 1))}`));
    this.shown = true;
  }

  /** Removes the line (before other output, and at the end). */
  clear(): void {
    if (!this.shown) return;
    Deno.stderr.writeSync(this.encoder.encode("\r\x1b[K"));
    this.shown = false;
  }
}
