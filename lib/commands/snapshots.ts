/** `snapshots`: list the bucket's snapshots, the newest last. */
import { columns, ExitCode, humanBytes, localIsoTime } from "../util/mod.ts";
import { readSnapshotTable, SNAPSHOT_PREFIX, snapshotNames, ulidTime } from "../snapshot/mod.ts";
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
      const table = await readSnapshotTable(bucket, codec, listing, name);
      let files = 0;
      let bytes = 0;
      for (let row = 0; row < table.count; row++) {
        if (table.type(row) !== "file") continue;
        files++;
        bytes += table.size(row);
      }
      const id = name.slice(SNAPSHOT_PREFIX.length);
      rows.push({
        id,
        created: ulidTime(id).toISOString(),
        files,
        bytes,
        identity: table.identity,
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
