/** `restore`: rebuild one snapshot (default the latest) into an empty --path, or complete one. */
import { ExitCode } from "../errors.ts";
import { withLock } from "../lock.ts";
import { prepareTarget, restoreSnapshot } from "../restore.ts";
import { SNAPSHOT_PREFIX } from "../snapshot.ts";
import { readSnapshot, resolveSnapshot } from "../snapshots.ts";
import { type Command, FILES_READ_AT_ONCE, openCodec, progressLine } from "./context.ts";

/** `spare restore`. */
export const restoreCommand: Command = {
  needsPassword: true,
  takesPath: true,
  defaultJobs: 0,
  async run(context) {
    const { bucket } = context.connect();
    const { flags, log } = context;
    const target = context.path!;
    const progress = progressLine(context);
    try {
      const codec = await openCodec(context, bucket);
      await bucket.checkMarker();
      const result = await withLock(bucket, "restore", log, async (signal) => {
        const listing = await bucket.listing();
        const name = resolveSnapshot(listing, flags.snapshot);
        const snapshot = await readSnapshot(bucket, codec, listing, name);
        const resume = await prepareTarget(target, snapshot, {
          resume: flags.resume,
          snapshotId: name.slice(SNAPSHOT_PREFIX.length),
        });
        try {
          return await restoreSnapshot(bucket, codec, listing, name, snapshot, log, {
            target,
            resume,
            signal,
            concurrency: Math.max(FILES_READ_AT_ONCE, context.jobs),
            onProgress: (p) => progress.update(p),
          });
        } catch (err) {
          log.error(
            `the restore into ${target} is incomplete; run the same restore with --resume to complete it`,
          );
          throw err;
        }
      });
      if (result.refused > 0) {
        log.error(
          `the restore into ${target} is incomplete: ${result.refused} entries of the snapshot were refused (named above)`,
        );
        context.emit({ result: "incomplete", ...result });
        return ExitCode.failure;
      }
      context.emit({ result: "ok", ...result });
      return 0;
    } finally {
      progress.clear();
    }
  },
};
