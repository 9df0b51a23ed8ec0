/** Holding the bucket lock for a run, and turning SIGINT/SIGTERM into a clean stop. */
import type { Bucket } from "./bucket.ts";
import {
  BucketLock,
  describeLockHolder,
  type LockAttempt,
  type LockHolder,
} from "./lock_protocol.ts";
import { InterruptedError, type Log, SpareError } from "../util/mod.ts";

/** This machine's host name, or "unknown" without --allow-sys=hostname. */
export function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** Who we are, for the lock object. */
export function lockHolder(command: string): LockHolder {
  return { hostname: hostName(), pid: Deno.pid, command, started: new Date().toISOString() };
}

/** A lock of this run on `bucket`, warning through `log`. */
export function bucketLock(bucket: Bucket, log: Log): BucketLock {
  return new BucketLock(bucket, hostName(), (message) => log.warn(message));
}

/** The error of a run that found the bucket locked: the holder, and what to do. */
export function lockedError(
  bucket: Bucket,
  attempt: LockAttempt,
  verb = "is locked by",
): SpareError {
  const holder = attempt.taken ? undefined : attempt.holder;
  const elsewhere = holder?.hostname && holder.hostname !== hostName();
  return new SpareError(
    `bucket ${bucket.name} ${verb} ${describeLockHolder(holder)}` +
      (elsewhere || !holder?.hostname
        ? "; once no spare run uses it, `spare unlock` removes the lock"
        : ""),
  );
}

/** Aborted with an InterruptedError when SIGINT or SIGTERM arrives while installed. */
export class Interruption {
  readonly controller = new AbortController();
  private readonly handlers: [Deno.Signal, () => void][] = [];

  /** Called when a second signal arrives while the first one is being honoured. */
  constructor(private readonly onSecondSignal?: () => void) {}

  /** Starts listening for SIGINT and SIGTERM. */
  install(): this {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => {
        if (!this.controller.signal.aborted) this.controller.abort(new InterruptedError(signal));
        else this.onSecondSignal?.();
      };
      Deno.addSignalListener(signal, handler);
      this.handlers.push([signal, handler]);
    }
    return this;
  }

  /** The signal that the pipeline checks before starting new work. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops listening. */
  uninstall(): void {
    for (const [signal, handler] of this.handlers) Deno.removeSignalListener(signal, handler);
    this.handlers.length = 0;
  }
}

/**
 * Runs `work` while holding the bucket's lock and listening for SIGINT/SIGTERM; the lock is
 * released whatever happens. An interruption wins over the error it caused.
 */
export async function withLock<T>(
  bucket: Bucket,
  command: string,
  log: Log,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  // A second signal does not wait for the requests in flight: they are abandoned.
  const interruption = new Interruption(() => {
    log.warn("second signal: abandoning the requests in flight");
    bucket.store.abandonInFlight();
  }).install();
  const lock = bucketLock(bucket, log);
  try {
    const attempt = await lock.acquire(lockHolder(command));
    if (!attempt.taken) throw lockedError(bucket, attempt);
    try {
      interruption.signal.throwIfAborted();
      const value = await work(interruption.signal);
      interruption.signal.throwIfAborted();
      return value;
    } catch (err) {
      if (interruption.signal.aborted) throw interruption.signal.reason;
      throw err;
    } finally {
      try {
        await lock.release();
      } catch (err) {
        log.error(
          `could not release the lock of bucket ${bucket.name} (${
            err instanceof Error ? err.message : err
          }); ` +
            `once no spare run uses it, run \`spare unlock --bucket ${bucket.name}\``,
        );
      }
    }
  } finally {
    interruption.uninstall();
  }
}
