/** `lock` and `unlock`: take or release the bucket's lock by hand. */
import { ExitCode } from "../util/mod.ts";
import { bucketLock, lockedError, lockHolder, removeAllLocks } from "../bucket/mod.ts";
import type { Command } from "./context.ts";

/** `spare lock`: takes the lock and keeps it (exit 1 when the bucket is locked already). */
export const lockCommand: Command = {
  needsPassword: false,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const { bucket } = context.connect();
    await bucket.ensure();
    const attempt = await bucketLock(bucket, context.log).acquire(lockHolder("lock"), false);
    context.emit({ result: attempt.taken ? "locked" : "already locked" });
    if (!attempt.taken) {
      context.log.error(lockedError(bucket, attempt, "is already locked by").message);
    }
    return attempt.taken ? ExitCode.ok : ExitCode.failure;
  },
};

/** `spare unlock`: removes `.lock` and every run's lock object (exit 1 when there was none). */
export const unlockCommand: Command = {
  needsPassword: false,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const { bucket } = context.connect();
    await bucket.checkMarker(true);
    const removed = await removeAllLocks(bucket);
    context.emit({ result: removed ? "unlocked" : "not locked" });
    if (!removed) context.log.error(`bucket ${context.bucketName} was not locked`);
    return removed ? ExitCode.ok : ExitCode.failure;
  },
};
