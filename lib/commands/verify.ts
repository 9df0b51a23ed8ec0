/** `verify` (alias `validate`): download and check every snapshot's contents. */
import { ExitCode } from "../errors.ts";
import { withLock } from "../lock.ts";
import { verifyBucket } from "../verify.ts";
import { type Command, FILES_READ_AT_ONCE, openCodec, progressLine } from "./context.ts";

/** `spare verify`. */
export const verifyCommand: Command = {
  needsPassword: true,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const { bucket } = context.connect();
    const progress = progressLine(context);
    try {
      const codec = await openCodec(context, bucket);
      await bucket.checkMarker();
      const result = await withLock(bucket, "verify", context.log, async (signal) => {
        const listing = await bucket.listing();
        return verifyBucket(bucket, codec, listing, context.log, {
          signal,
          concurrency: Math.max(FILES_READ_AT_ONCE, context.jobs),
          onProgress: (p) => progress.update(p),
        });
      });
      const ok = result.problems.length === 0;
      context.emit({ result: ok ? "ok" : "problems", ...result });
      return ok ? ExitCode.ok : ExitCode.failure;
    } finally {
      progress.clear();
    }
  },
};
