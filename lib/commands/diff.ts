/** `diff`: paths added, removed and changed between two snapshots (default the two newest). */
import { countChanges, diffSnapshots, SNAPSHOT_PREFIX, snapshotNames } from "../snapshot/mod.ts";
import { ExitCode, showName, SpareError } from "../util/mod.ts";
import type { Command } from "./context.ts";
import { openForReading, readChosenSnapshot } from "./read_only.ts";

/** `spare diff [OLD [NEW]]`. */
export const diffCommand: Command = {
  needsPassword: true,
  takesPath: false,
  defaultJobs: 0,
  positionals: { usage: "[OLD [NEW]]", min: 0, max: 2 },
  async run(context) {
    const view = await openForReading(context);
    let [oldId, newId] = context.args;
    if (oldId === undefined) {
      const names = snapshotNames(view.listing);
      if (names.length < 2) {
        throw new SpareError(
          `diff needs two snapshots and the bucket holds ${names.length} ` +
            "(create keeps more with --keep N or --keep-within DURATION)",
        );
      }
      [oldId, newId] = names.slice(-2).map((n) => n.slice(SNAPSHOT_PREFIX.length));
    }
    const older = await readChosenSnapshot(view, oldId);
    const newer = await readChosenSnapshot(view, newId ?? "latest");
    const changes = diffSnapshots(older.table, newer.table);
    const counts = countChanges(changes);
    const summary = `${counts["+"]} added, ${counts["-"]} removed, ${counts.M} changed, ` +
      `${counts.T} changed type, ${counts.P} changed mode, owner or mtime only`;
    if (context.flags.json) {
      context.emit({
        result: "ok",
        old: older.id,
        new: newer.id,
        changes: changes.map((c) => ({ kind: c.kind, path: showName(c.path) })),
        added: counts["+"],
        removed: counts["-"],
        changed: counts.M,
        typeChanged: counts.T,
        metadataChanged: counts.P,
      });
    } else {
      const lines = changes.map((c) => `${c.kind}  ${showName(c.path)}`);
      lines.push(`${older.id} → ${newer.id}: ${summary}`);
      context.print(lines.join("\n"));
    }
    return ExitCode.ok;
  },
};
