/** `snapshots`: list the bucket's snapshots, the newest last. */
import { columns, ExitCode, humanBytes, localIsoTime } from "../util/mod.ts";
import { readSnapshot, SNAPSHOT_PREFIX, snapshotNames, ulidTime } from "../snapshot/mod.ts";
import type { Command } from "./context.ts";
import { openForReading } from "./read_only.ts";

/** `spare snapshots`. */
export const snapshotsCommand: Command = {
  needsPassword: true,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const { bucket, codec, listing } = await openForReading(context);
    const rows = [];
    for (const name of snapshotNames(listing)) {
      const snapshot = await readSnapshot(bucket, codec, listing, name);
      const fileEntries = Object.values(snapshot.structure).filter((e) => e.type === "file");
      const id = name.slice(SNAPSHOT_PREFIX.length);
      rows.push({
        id,
        created: ulidTime(id).toISOString(),
        files: fileEntries.length,
        bytes: fileEntries.reduce((n, e) => n + e.size, 0),
        identity: snapshot.identity,
      });
    }
    if (context.flags.json) context.print(JSON.stringify(rows));
    else if (Deno.stdout.isTerminal()) {
      // For people: local times, sizes in binary units, a header; the newest last.
      const table = columns([
        ["ID", "created", "files", "size", "identity"],
        ...rows.map((r) => [
          r.id,
          localIsoTime(new Date(r.created)),
          String(r.files),
          humanBytes(r.bytes),
          r.identity,
        ]),
      ], new Set([2, 3]));
      context.print(table.join("\n"));
    } else {
      for (const r of rows) {
        context.print(`${r.id}  ${r.created}  ${r.files} files  ${r.bytes} bytes  ${r.identity}`);
      }
    }
    return ExitCode.ok;
  },
};
