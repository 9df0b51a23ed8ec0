/** Messages for the operator: warnings and errors on stderr, `--verbose` listings, nothing else by default. */

import { showEscapedBytes } from "./names.ts";

/** How much to say. */
export interface LogOptions {
  verbose?: boolean;
  quiet?: boolean;
}

/** Writes to stderr and counts warnings. */
export class Log {
  warnings: string[] = [];
  private readonly encoder = new TextEncoder();
  /** Called before each line is written (the progress line clears itself). */
  beforeWrite?: () => void;

  constructor(readonly options: LogOptions = {}) {}

  private write(line: string): void {
    this.beforeWrite?.();
    Deno.stderr.writeSync(this.encoder.encode(showEscapedBytes(line) + "\n"));
  }

  /** A path being uploaded or restored, shown with --verbose. */
  detail(message: string): void {
    if (this.options.verbose) this.write(message);
  }

  /** Something the operator should know; nothing was lost (exit code stays 0). */
  warn(message: string): void {
    this.warnings.push(showEscapedBytes(message));
    if (!this.options.quiet) this.write(`warning: ${message}`);
  }

  /** An error line (always shown). */
  error(message: string): void {
    this.write(`error: ${message}`);
  }
}
