/**
 * Taking and releasing the bucket's lock. Each run first writes a lock object of its own,
 * `.spare-locks/<milliseconds>-<random>`, twice with `If-None-Match: *`: the second write
 * tells whether the server honours conditional writes (412) or not (it overwrites, or
 * refuses the header).
 * - Conditional writes honoured: `.lock` written with `If-None-Match: *` is the lock, as
 *   in 0.4.0; the lock object is removed at once.
 * - Otherwise (restic's protocol): after a short wait the run lists `.spare-locks/`; with no
 *   other lock object it holds the bucket; when an older one (by name) is there it backs
 *   off; when only newer ones are there, they back off, and it looks again. Then `.lock`
 *   is written for 0.4.0. This needs listings that show a written key at once.
 * A lock of this host whose run is gone (its liveness file no longer flocked, stale.ts) is
 * taken over with one warning; a lock of another host is left to `spare unlock`.
 */
import type { Bucket } from "./bucket.ts";
import { LOCK_KEY } from "./bucket.ts";
import { isLivenessPath, LivenessFile, runGone } from "./stale.ts";
import { randomHex, sleep, SpareError } from "../util/mod.ts";

/** Where each run's lock object lives (keys starting with "." are internal, FORMAT.md). */
export const LOCK_OBJECTS = ".spare-locks/";
const LOCK_OBJECT_NAME = /^\.spare-locks\/\d{13}-[0-9a-f]{16}$/;
/** A lock object or `.lock` is a small JSON object; a larger one is not read. */
const MAX_LOCK_BYTES = 4096;
/** Wait between writing one's lock object and listing the others (restic waits as long). */
const SETTLE_MS = 200;
/** Listings an oldest lock object waits for newer ones to back off, before it backs off too. */
const RECHECKS = 5;

/** Who holds a lock, as written into `.lock` and the lock objects (0.4.0 wrote `.lock` empty). */
export interface LockHolder {
  hostname?: string;
  pid?: number;
  command?: string;
  started?: string;
  /** The holder's lock object, when it wrote one. */
  lockObject?: string;
  /** The holder's liveness file on its host (stale.ts); absent for `spare lock`'s. */
  alive?: string;
}

/** How a lock was taken: a conditional write of `.lock`, or lock objects and a listing. */
export type LockMethod = "conditional write" | "lock objects";

/** The outcome of an attempt to take the lock. */
export type LockAttempt = { taken: true; method: LockMethod } | {
  taken: false;
  holder?: LockHolder;
};

/** Describes a lock holder for messages. */
export function describeLockHolder(holder: LockHolder | undefined): string {
  if (!holder?.hostname) return "another spare run (the lock object names no holder)";
  return `${holder.hostname} pid ${holder.pid ?? "?"} since ${holder.started ?? "?"}` +
    (holder.command ? ` (${holder.command})` : "");
}

/** A lock object's or `.lock`'s body as a holder, keeping only well-formed fields. */
export function parseLockHolder(body: Uint8Array): LockHolder {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return {};
  }
  if (!parsed || typeof parsed !== "object") return {};
  const p = parsed as Record<string, unknown>;
  const text = (value: unknown) =>
    typeof value === "string" && value.length <= 256 && /^[ -~]*$/.test(value) ? value : undefined;
  const holder: LockHolder = {};
  if (text(p.hostname)) holder.hostname = text(p.hostname);
  if (Number.isSafeInteger(p.pid) && (p.pid as number) > 0) holder.pid = p.pid as number;
  if (text(p.command)) holder.command = text(p.command);
  if (text(p.started)) holder.started = text(p.started);
  if (typeof p.lockObject === "string" && LOCK_OBJECT_NAME.test(p.lockObject)) {
    holder.lockObject = p.lockObject;
  }
  if (typeof p.alive === "string" && isLivenessPath(p.alive)) holder.alive = p.alive;
  return holder;
}

/** A new lock object key: sorts by the time it was made. */
function newLockObjectKey(): string {
  return `${LOCK_OBJECTS}${String(Date.now()).padStart(13, "0")}-${randomHex(8)}`;
}

/** The lock of one run on one bucket: acquire, then release. */
export class BucketLock {
  /** How the lock was taken, once it was. */
  method?: LockMethod;
  private ownObject?: string;
  private holdsLockKey = false;
  private liveness?: LivenessFile;
  /** Stale locks taken over, by holder, so that each is named once. */
  private readonly tookOver = new Set<string>();

  constructor(
    private readonly bucket: Bucket,
    private readonly thisHost: string,
    private readonly warn: (message: string) => void,
    private readonly settleMs = SETTLE_MS,
  ) {}

  /**
   * Takes the lock for `holder`, or says who holds it. With `forThisProcess`, the lock is
   * stale once this process ends (a run's); without, it stays until `spare unlock`.
   */
  async acquire(holder: LockHolder, forThisProcess = true): Promise<LockAttempt> {
    const { store, name } = this.bucket;
    const key = newLockObjectKey();
    if (forThisProcess) this.liveness = await LivenessFile.create();
    const mine = { ...holder, lockObject: key, alive: this.liveness?.path };
    const body = new TextEncoder().encode(JSON.stringify(mine));
    this.ownObject = key;
    try {
      let method: LockMethod = "lock objects";
      if ((await store.putIfAbsent(name, key, body)) === "refused") {
        await store.put(name, key, body);
      } else if ((await store.putIfAbsent(name, key, body)) === "exists") {
        method = "conditional write";
      }
      const attempt = method === "conditional write"
        ? await this.takeLockKey(body)
        : await this.takeByLockObjects(key, body);
      if (!attempt.taken || method === "conditional write") await this.removeOwnObject();
      if (attempt.taken) this.method = method;
      else await this.dropLiveness();
      return attempt;
    } catch (err) {
      await this.release().catch(() => {});
      throw err;
    }
  }

  /** Gives the lock back: `.lock` when this run wrote it, then its own lock object. */
  async release(): Promise<void> {
    if (this.holdsLockKey) {
      await this.bucket.store.delete(this.bucket.name, LOCK_KEY);
      this.holdsLockKey = false;
    }
    await this.removeOwnObject();
    await this.dropLiveness();
  }

  private async dropLiveness(): Promise<void> {
    await this.liveness?.release();
    this.liveness = undefined;
  }

  private async removeOwnObject(): Promise<void> {
    if (this.ownObject === undefined) return;
    await this.bucket.store.delete(this.bucket.name, this.ownObject);
    this.ownObject = undefined;
  }

  /** Takes `.lock` with a conditional write (taking a stale one over once). */
  private async takeLockKey(body: Uint8Array): Promise<LockAttempt> {
    const { store, name } = this.bucket;
    for (let attempt = 0;; attempt++) {
      const put = await store.putIfAbsent(name, LOCK_KEY, body);
      if (put === "written") {
        this.holdsLockKey = true;
        return { taken: true, method: "conditional write" };
      }
      if (put === "refused") {
        throw new SpareError(`S3 PutObject ${name}/${LOCK_KEY}: the conditional write was refused`);
      }
      const holder = await this.readHolder(LOCK_KEY);
      if (holder === undefined && attempt < 3) continue; // released meanwhile
      if (holder && attempt < 3 && await this.takeOverIfStale(LOCK_KEY, holder)) continue;
      return { taken: false, holder };
    }
  }

  /** restic's protocol over lock objects, then `.lock` for 0.4.0. */
  private async takeByLockObjects(own: string, body: Uint8Array): Promise<LockAttempt> {
    const { store, name } = this.bucket;
    for (let round = 0;; round++) {
      await sleep(this.settleMs);
      const others = await this.otherLockObjects(own);
      if (others.length === 0) break;
      const older = others.find((other) => other.key < own);
      if (older || round >= RECHECKS) return { taken: false, holder: (older ?? others[0]).holder };
      // only newer ones: they see this one and back off; look again
    }
    const existing = await this.readHolder(LOCK_KEY);
    if (existing && !(await this.takeOverIfStale(LOCK_KEY, existing))) {
      return { taken: false, holder: existing };
    }
    await store.put(name, LOCK_KEY, body);
    this.holdsLockKey = true;
    return { taken: true, method: "lock objects" };
  }

  /** The lock objects of other runs, oldest first; stale ones of this host are taken over. */
  private async otherLockObjects(own: string): Promise<{ key: string; holder: LockHolder }[]> {
    const { store, name } = this.bucket;
    const others: { key: string; holder: LockHolder }[] = [];
    for await (const object of store.list(name, LOCK_OBJECTS)) {
      if (object.key === own || !LOCK_OBJECT_NAME.test(object.key)) continue;
      const holder = await this.readHolder(object.key);
      if (holder === undefined) continue; // removed meanwhile
      if (await this.takeOverIfStale(object.key, holder)) continue;
      others.push({ key: object.key, holder });
    }
    return others.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  }

  /** The holder written in `key`, or undefined when the object does not exist. */
  private async readHolder(key: string): Promise<LockHolder | undefined> {
    const body = await this.bucket.store.getIfExists(this.bucket.name, key, {
      maxSize: MAX_LOCK_BYTES,
    }).catch((err) => {
      if (err instanceof SpareError && /more than the/.test(err.message)) {
        return new Uint8Array(0); // too large to be ours: a lock that names no holder
      }
      throw err;
    });
    return body === undefined ? undefined : parseLockHolder(body);
  }

  /**
   * Removes the lock in `key` when its holder ran on this host and its process is gone
   * (never `spare lock`'s, which is meant to stay); true when it did. The first time a
   * holder is taken over, one warning names it.
   */
  private async takeOverIfStale(key: string, holder: LockHolder): Promise<boolean> {
    if (!(await isStaleHere(holder, this.thisHost))) return false;
    const { store, name } = this.bucket;
    const id = `${holder.hostname} ${holder.pid} ${holder.started}`;
    if (!this.tookOver.has(id)) {
      this.tookOver.add(id);
      this.warn(
        `taking over the lock of ${describeLockHolder(holder)}: that process is gone ` +
          `from this host`,
      );
    }
    await store.delete(name, key);
    if (key === LOCK_KEY && holder.lockObject) await store.delete(name, holder.lockObject);
    if (holder.alive) await Deno.remove(holder.alive).catch(() => {});
    return true;
  }
}

/** True when `holder` ran on `thisHost` and has ended; never for `spare lock`'s. */
export async function isStaleHere(holder: LockHolder, thisHost: string): Promise<boolean> {
  if (!holder.hostname || thisHost === "unknown" || holder.hostname !== thisHost) return false;
  if (!holder.alive || holder.command === "lock") return false;
  return await runGone(holder.alive);
}

/** Removes `.lock` and every lock object (`spare unlock`); false when there was none. */
export async function removeAllLocks(bucket: Bucket): Promise<boolean> {
  const { store, name } = bucket;
  let removed = false;
  if (await store.exists(name, LOCK_KEY)) {
    await store.delete(name, LOCK_KEY);
    removed = true;
  }
  const keys: string[] = [];
  for await (const object of store.list(name, LOCK_OBJECTS)) keys.push(object.key);
  if (keys.length) {
    await store.deleteMany(name, keys);
    removed = true;
  }
  return removed;
}
