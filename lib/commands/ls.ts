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
import { digestByPath, type Entry } from "../snapshot/mod.ts";
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
    const structure = snapshot.data.structure;
    const paths = Object.keys(structure)
      .filter((path) => globs.length === 0 || anyGlob(globs, path))
      .sort();
    if (context.flags.json) {
      const digests = digestByPath(snapshot.data);
      context.print(JSON.stringify(paths.map((path) => {
        const digest = digests.get(path);
        return { ...shownEntry(path, structure[path]), ...(digest ? { digest } : {}) };
      })));
    } else {
      const rows = paths.map((path) => lsCells(path, structure[path]));
      if (rows.length > 0) context.print(columns(rows, new Set([3])).join("\n"));
    }
    if (paths.length === 0 && globs.length > 0) {
      context.log.error(
        `nothing in snapshot ${snapshot.id} matches ${context.args.join(" ")} ` +
          `(paths are relative to ${backedUpPath(snapshot.data)})`,
      );
      return ExitCode.failure;
    }
    return ExitCode.ok;
  },
};
