/**
 * Whether the process that wrote a lock on this host is gone, as restic judges it: read
 * from /proc (Linux), within the read permission spare has anyway; elsewhere nothing is
 * known, and a lock is never judged stale.
 */

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux architecture in use). */
const TICKS_PER_SECOND = 100;

/** A process started this much after the lock's own time is another one (its PID reused). */
const REUSED_AFTER_MS = 10_000;

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/**
 * True when process `pid` of this host no longer runs: no /proc entry, a zombie, or a
 * process that started well after `startedIso` (the PID was given to another). False when
 * it runs or nothing can be known (no /proc, no permission).
 */
export async function processGone(pid: number, startedIso?: string): Promise<boolean> {
  if (Deno.build.os !== "linux" || !Number.isSafeInteger(pid) || pid <= 0) return false;
  if ((await readText("/proc/self/stat")) === undefined) return false; // no /proc to ask
  const stat = await readText(`/proc/${pid}/stat`);
  if (stat === undefined) {
    try {
      await Deno.stat(`/proc/${pid}`);
      return false; // there, but unreadable: assume it runs
    } catch (err) {
      return err instanceof Deno.errors.NotFound;
    }
  }
  // the fields after the command name, which is in parentheses and may hold anything
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return true;
  const started = startedIso ? Date.parse(startedIso) : NaN;
  const bootTime = /^btime (\d+)$/m.exec((await readText("/proc/stat")) ?? "")?.[1];
  const ticks = Number(fields[19]); // field 22, starttime
  if (Number.isNaN(started) || !bootTime || !Number.isFinite(ticks)) return false;
  const processStart = Number(bootTime) * 1000 + (ticks / TICKS_PER_SECOND) * 1000;
  return processStart > started + REUSED_AFTER_MS;
}
