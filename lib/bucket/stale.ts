/**
 * Whether the run that wrote a lock on this host is gone. Deno lets a program read /proc or
 * signal another process only with --allow-all or --allow-run, which spare does not ask
 * for; instead each run holds an exclusive lock (flock) on a file of its own in the
 * temporary directory while it holds the bucket, and names the file in its lock. The kernel
 * drops the flock when the process ends, however it ends (kill -9 included): a run that can
 * take the flock, or finds the file gone, knows the holder is gone.
 */

/** Names of liveness files start so (a lock naming another path is not believed). */
const PREFIX = "spare-lock-";

/** A file flocked for as long as this run holds a bucket's lock. */
export class LivenessFile {
  private constructor(readonly path: string, private readonly file: Deno.FsFile) {}

  /** Creates and flocks a new file; undefined when the temporary directory is not usable. */
  static async create(): Promise<LivenessFile | undefined> {
    let path: string | undefined;
    try {
      path = await Deno.makeTempFile({ prefix: PREFIX });
      const file = await Deno.open(path, { read: true, write: true });
      if (await file.tryLock(true)) return new LivenessFile(path, file);
      file.close();
    } catch { /* no liveness file: the lock is then never judged stale */ }
    if (path) await Deno.remove(path).catch(() => {});
    return undefined;
  }

  /** Drops the flock and removes the file. */
  async release(): Promise<void> {
    try {
      this.file.close();
    } catch { /* closed already */ }
    await Deno.remove(this.path).catch(() => {});
  }
}

/** True for a path a liveness file may have: absolute, plain, named as ours. */
export function isLivenessPath(path: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return path.startsWith("/") && /^[ -~]{1,1024}$/.test(path) && !/\/\.\.?(\/|$)/.test(path) &&
    name.startsWith(PREFIX);
}

/**
 * True when the run whose liveness file is `path` (on this host) has ended: the file is
 * gone, or its flock can be taken. False when it runs, or nothing can be known.
 */
export async function runGone(path: string): Promise<boolean> {
  if (!isLivenessPath(path)) return false;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    return err instanceof Deno.errors.NotFound;
  }
  try {
    if (!(await file.tryLock(true))) return false;
    await file.unlock();
    return true;
  } catch {
    return false;
  } finally {
    file.close();
  }
}
