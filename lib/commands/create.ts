/** `create`: back up --path into the bucket as a new snapshot, then prune. */
import { displayPath } from "../snapshot/mod.ts";
import {
  ExitCode,
  keepFreedMemoryWhileReading,
  reuseCompressorMemory,
  showName,
  SpareError,
} from "../util/mod.ts";
import { createSnapshot } from "../backup/mod.ts";
import { withLock } from "../bucket/mod.ts";
import { type Command, openCodec, progressLine } from "./context.ts";

/** `spare create`. */
export const createCommand: Command = {
  needsPassword: true,
  takesPath: true,
  defaultJobs: 1,
  async run(context) {
    const { flags, log } = context;
    const root = context.path!;
    await checkSourceDirectory(root);
    const { bucket } = context.connect();
    reuseCompressorMemory();
    keepFreedMemoryWhileReading(true);
    const progress = progressLine(context);
    try {
      await bucket.ensure();
      const result = await withLock(
        bucket,
        "create",
        log,
        async (signal) =>
          createSnapshot(bucket, await openCodec(context, bucket), log, {
            root,
            skip: context.skip,
            force: flags.force,
            keep: context.keep,
            keepWithinMs: context.keepWithinMs,
            rehash: flags.rehash,
            signal,
            onProgress: (p) => progress.update(p),
          }),
      );
      for (const missed of result.missed) log.error(`not backed up: ${displayPath(missed)}`);
      const code = result.missed.length ? ExitCode.warnings : ExitCode.ok;
      context.emit({
        result: code === ExitCode.ok ? "ok" : "incomplete",
        ...result,
        missed: result.missed.map(showName),
      });
      return code;
    } finally {
      progress.clear();
    }
  },
};

async function checkSourceDirectory(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new SpareError(`--path ${path} does not exist`);
    throw new SpareError(
      `--path ${path} cannot be read: ${err instanceof Error ? err.message : err}`,
    );
  }
  if (!info.isDirectory) throw new SpareError(`--path ${path} is not a directory`);
}
