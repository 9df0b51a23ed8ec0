/** `ls`: the paths of one snapshot (default the latest), all or those matching globs. */
import {
  anyGlob,
  columns,
  ExitCode,
  globMatcher,
  localIsoTime,
  modeString,
  showName,
} from "../util/mod.ts";
import type { Entry } from "../snapshot/mod.ts";
import type { Command } from "./context.ts";
import { backedUpPath, openForReading, readChosenSnapshot } from "./read_only.ts";

/** One `ls` line's cells: mode, owner, group, size, local mtime, path (and `-> link`). */
export function lsCells(path: string, entry: Entry): string[] {
  const link = entry.type === "symlink" ? ` -> ${showName(entry.link ?? entry.target)}` : "";
  return [
    modeString(entry.mode),
    entry.user,
    entry.group,
    String(entry.size),
    localIsoTime(new Date(Math.floor(entry.mtime_ns / 1e6))),
    showName(path) + link,
  ];
}

/** An entry for --json, its path (and link text) in the shown form. */
function shownEntry(path: string, entry: Entry): Record<string, unknown> {
  const out: Record<string, unknown> = { path: showName(path), ...entry };
  if (entry.type === "symlink") {
    out.target = showName(entry.target);
    if (entry.link !== undefined) out.link = showName(entry.link);
  }
  return out;
}

/** `spare ls [--snapshot ID] [PATTERN...]`. */
export const lsCommand: Command = {
  needsPassword: true,
  takesPath: false,
  defaultJobs: 0,
  positionals: { usage: "[PATTERN...]", min: 0, max: Infinity },
  async run(context) {
    const globs = context.args.map((p) => globMatcher(p));
    const view = await openForReading(context);
    const snapshot = await readChosenSnapshot(view, context.flags.snapshot);
    const table = snapshot.table;
    // rows are sorted by path
    const rows: number[] = [];
    for (let row = 0; row < table.count; row++) {
      if (!table.type(row)) continue;
      if (globs.length === 0 || anyGlob(globs, table.paths[row])) rows.push(row);
    }
    if (context.flags.json) {
      context.print(JSON.stringify(rows.map((row) => {
        const digest = table.digest(row);
        return { ...shownEntry(table.paths[row], table.entry(row)), ...(digest ? { digest } : {}) };
      })));
    } else {
      const cells = rows.map((row) => lsCells(table.paths[row], table.entry(row)));
      if (cells.length > 0) context.print(columns(cells, new Set([3])).join("\n"));
    }
    if (rows.length === 0 && globs.length > 0) {
      context.log.error(
        `nothing in snapshot ${snapshot.id} matches ${context.args.join(" ")} ` +
          `(paths are relative to ${backedUpPath(snapshot.table)})`,
      );
      return ExitCode.failure;
    }
    return ExitCode.ok;
  },
};
