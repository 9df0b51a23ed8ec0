/** `snapshots`: list the bucket's snapshots, oldest first. */
import { ExitCode } from "../errors.ts";
import { SNAPSHOT_PREFIX, ulidTime } from "../snapshot.ts";
import { readSnapshot, snapshotNames } from "../snapshots.ts";
import { type Command, openCodec } from "./context.ts";

/** `spare snapshots`. */
export const snapshotsCommand: Command = {
  needsPassword: true,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const { bucket } = context.connect();
    const codec = await openCodec(context, bucket);
    await bucket.checkMarker();
    const listing = await bucket.listing();
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
    else {
      for (const r of rows) {
        context.print(`${r.id}  ${r.created}  ${r.files} files  ${r.bytes} bytes  ${r.identity}`);
      }
    }
    return ExitCode.ok;
  },
};
