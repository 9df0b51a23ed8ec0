/** `lock` and `unlock`: take or release the bucket's lock by hand. */
import { ExitCode } from "../util/errors.ts";
import { lockHolder } from "../bucket/lock.ts";
import type { Command } from "./context.ts";

/** `spare lock`: creates `.lock` (exit 1 when it exists already). */
export const lockCommand: Command = {
  needsPassword: false,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const { bucket } = context.connect();
    await bucket.ensure();
    const result = await bucket.lock(lockHolder("lock"));
    context.emit({ result: result.taken ? "locked" : "already locked" });
    if (!result.taken) context.log.error(`bucket ${context.bucketName} is already locked`);
    return result.taken ? ExitCode.ok : ExitCode.failure;
  },
};

/** `spare unlock`: removes `.lock` (exit 1 when there was none). */
export const unlockCommand: Command = {
  needsPassword: false,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const { bucket } = context.connect();
    await bucket.checkMarker(true);
    const removed = await bucket.unlock();
    context.emit({ result: removed ? "unlocked" : "not locked" });
    if (!removed) context.log.error(`bucket ${context.bucketName} was not locked`);
    return removed ? ExitCode.ok : ExitCode.failure;
  },
};
