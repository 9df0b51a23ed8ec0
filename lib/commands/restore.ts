/** `restore`: rebuild one snapshot (default the latest), or a part of it, into an empty --path, or complete one. */
import { ExitCode, globMatcher, SpareError } from "../util/mod.ts";
import { withLock } from "../bucket/mod.ts";
import { FullDiskError, prepareTarget, restoreSnapshot } from "../restore/mod.ts";
import {
  readSnapshot,
  readSnapshotTable,
  resolveSnapshot,
  type Selection,
  selectSnapshot,
  SNAPSHOT_PREFIX,
  SnapshotTable,
} from "../snapshot/mod.ts";
import {
  type Command,
  type CommandContext,
  FILES_READ_AT_ONCE,
  openCodec,
  progressLine,
} from "./context.ts";

/** `spare restore`. */
export const restoreCommand: Command = {
  needsPassword: true,
  takesPath: true,
  defaultJobs: 0,
  excludeIsGlob: true,
  async run(context) {
    const { flags, log } = context;
    const selection = restoreSelection(context);
    const { bucket } = context.connect();
    const target = context.path!;
    const progress = progressLine(context);
    try {
      await bucket.checkMarker();
      const codec = await openCodec(context, bucket);
      const result = await withLock(bucket, "restore", log, async (signal) => {
        const listing = await bucket.listing();
        const name = resolveSnapshot(listing, flags.snapshot);
        // A partial restore selects from the decoded snapshot; a whole one reads it compactly.
        const snapshot = selection
          ? SnapshotTable.fromData(
            selectSnapshot(await readSnapshot(bucket, codec, listing, name), selection),
          )
          : await readSnapshotTable(bucket, codec, listing, name);
        if (selection && snapshot.count === 0) {
          throw new SpareError(
            `nothing in snapshot ${name.slice(SNAPSHOT_PREFIX.length)} matches ` +
              `${describeSelection(context)} (spare ls lists what is there)`,
          );
        }
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
          if (err instanceof FullDiskError) throw err; // one line says it all
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

/** --include / --exclude globs, compiled; undefined when neither was given (everything). */
function restoreSelection(context: CommandContext): Selection | undefined {
  const { include = [], exclude = [] } = context.flags;
  if (include.length === 0 && exclude.length === 0) return undefined;
  return {
    include: include.map((p) => globMatcher(p, "--include")),
    exclude: exclude.map((p) => globMatcher(p, "--exclude")),
  };
}

/** The selection as typed, for messages. */
function describeSelection(context: CommandContext): string {
  const { include = [], exclude = [] } = context.flags;
  return [
    ...include.map((p) => `--include ${p}`),
    ...exclude.map((p) => `--exclude ${p}`),
  ].join(" ");
}
