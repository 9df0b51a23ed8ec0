/**
 * Measuring the bench's child processes: wall time, user+sys CPU time and peak VmRSS
 * (GNU time), and peak RssAnon (anonymous resident memory, sampled from /proc by a helper
 * process: Deno grants /proc only to --allow-all). Each run starts on a quiet machine, with
 * its sampler already up.
 */

const GNU_TIME = "/usr/bin/time";

/**
 * Prints "ready", reads a PID from stdin, then samples /proc/PID/status of that process and
 * its descendants every 50 ms until it ends, and prints the peak RssAnon of the largest
 * process in KiB (0 without /proc).
 */
const SAMPLER = `
console.log("ready");
let input = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) input += chunk;
const root = Number(input.trim());
const read = (p) => { try { return Deno.readTextFileSync(p); } catch { return ""; } };
const tree = (pid) => [pid, ...read(\`/proc/\${pid}/task/\${pid}/children\`).trim().split(/\\s+/)
  .filter(Boolean).map(Number).flatMap(tree)];
let peak = 0;
while (read(\`/proc/\${root}/status\`)) {
  for (const pid of tree(root)) {
    const kib = Number(/RssAnon:\\s+(\\d+)/.exec(read(\`/proc/\${pid}/status\`))?.[1] ?? 0);
    if (kib > peak) peak = kib;
  }
  await new Promise((r) => setTimeout(r, 50));
}
console.log(peak);
`;

/** A memory sampler, started and ready before the run it watches. */
interface Sampler {
  /** Samples `pid` until it ends; its peak RssAnon in MiB (undefined without /proc). */
  watch(pid: number): Promise<number | undefined>;
}

/**
 * Starts the sampler and waits until it is up: its own start (a deno process, a few tenths
 * of a second of CPU) would otherwise compete with the first moments of the run it times.
 */
async function startSampler(): Promise<Sampler | undefined> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", SAMPLER],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch {
    return undefined;
  }
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) return undefined;
    text += value;
  }
  text = text.slice(text.indexOf("ready\n") + 6);
  return {
    async watch(pid) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(`${pid}\n`));
      await writer.close();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      await child.status;
      const kib = Number(text.trim());
      return kib > 0 ? kib / 1024 : undefined;
    },
  };
}

/** The CPU times of the whole machine so far (idle and all), from /proc/stat; undefined elsewhere. */
async function machineCpuTimes(): Promise<{ idle: number; total: number } | undefined> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", "head -n 1 /proc/stat"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const fields = new TextDecoder().decode(out.stdout).trim().split(/\s+/);
    if (fields[0] !== "cpu") return undefined;
    const times = fields.slice(1).map(Number);
    if (times.length < 4 || times.some((t) => !Number.isFinite(t))) return undefined;
    // user nice system idle iowait irq softirq steal (guest time is counted in user)
    const total = times.slice(0, 8).reduce((a, b) => a + b, 0);
    return { idle: times[3] + (times[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/** At least this share of the machine is idle over a second before a run starts. */
const QUIET_SHARE = 0.8;

/**
 * Waits until the machine has been at least 80 % idle for a second, at most `maxSeconds`:
 * a run then does not pay for the server's background work left by the one before (Ceph
 * settling after 20,000 PUTs, say), whichever tool ran it. Returns the seconds waited.
 */
export async function waitForQuietMachine(maxSeconds = 60): Promise<number> {
  const started = performance.now();
  let before = await machineCpuTimes();
  while (before && (performance.now() - started) / 1000 < maxSeconds) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = await machineCpuTimes();
    if (!after) break;
    const elapsed = after.total - before.total;
    if (elapsed > 0 && (after.idle - before.idle) / elapsed >= QUIET_SHARE) break;
    before = after;
  }
  return (performance.now() - started) / 1000;
}

/** What one measured run took. */
export interface Measured {
  wall: number;
  cpu: number;
  /** CPU seconds the S3 server's processes spent during the run (see watchServerCpu). */
  serverCpu?: number;
  /** Peak VmRSS (GNU time's maximum resident set size), MiB. */
  rssMiB?: number;
  /** Peak RssAnon of the largest process of the run, sampled, MiB. */
  anonMiB?: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Where and with what environment a child runs. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  clearEnv?: boolean;
}

/** How children are timed: GNU time (wall, CPU, peak RSS), bash's `time` (no RSS), or none. */
type Timer = "gnu-time" | "bash" | "none";
let timer: Timer | undefined;
/** PIDs of the children running now (for passing on SIGINT). */
export const running = new Set<number>();

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Finds out how children can be timed (once). */
export async function chooseTimer(): Promise<Timer> {
  if (timer === undefined) {
    if (await succeeds(GNU_TIME, ["-o", "/dev/null", "-f", "%M", "true"])) timer = "gnu-time";
    else if (await succeeds("bash", ["-c", "time true"])) timer = "bash";
    else timer = "none";
  }
  return timer;
}

/** The processes whose CPU time each measured run reports as the server's. */
let serverPids: () => number[] = () => [];

/** Has every measured run also report the CPU time of the processes `pids` gives (the S3 server's). */
export function watchServerCpu(pids: () => number[]): void {
  serverPids = pids;
}

let clockTicks: number | undefined;

/**
 * utime + stime, in clock ticks, from a line of /proc/PID/stat (NaN when it is no such
 * line). The command name in parentheses may hold spaces and parentheses itself: the
 * fields are counted from the last ")".
 */
export function cpuTicksOfStat(stat: string): number {
  const close = stat.lastIndexOf(")");
  if (close < 0) return NaN;
  // after "(comm) ": state, ppid, ...: utime is the 12th field, stime the 13th
  const fields = stat.slice(close + 2).split(" ");
  return fields.length < 13 ? NaN : Number(fields[11]) + Number(fields[12]);
}

/** CPU seconds (user + system, all threads) the processes `pids` have used so far, if /proc tells. */
async function cpuSecondsOf(pids: number[]): Promise<number | undefined> {
  if (pids.length === 0) return undefined;
  // Deno grants /proc only to --allow-all: ask sh, as descendants() does.
  const script = 'getconf CLK_TCK; for p; do cat /proc/"$p"/stat; done 2>/dev/null';
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", script, "sh", ...pids.map(String)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const [ticksLine, ...stats] = new TextDecoder().decode(out.stdout).trim().split("\n");
    clockTicks ??= Number(ticksLine) || 100;
    const ticks = stats.reduce((sum, stat) => sum + cpuTicksOfStat(stat), 0);
    return stats.length === pids.length && Number.isFinite(ticks) ? ticks / clockTicks : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `cmd args` to the end, with its wall time, user+sys CPU time and peak RSS. */
export async function measure(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<Measured> {
  const how = await chooseTimer();
  const timeFile = how === "none" ? "" : await Deno.makeTempFile({ prefix: "spare-bench-time-" });
  let program = cmd;
  let argv = args;
  if (how === "gnu-time") {
    program = GNU_TIME;
    argv = ["-o", timeFile, "-f", "%e %U %S %M", cmd, ...args];
  } else if (how === "bash") {
    // The report of `time` goes to the group's stderr (the file), the command's to fd 3.
    program = "bash";
    argv = [
      "-c",
      'f=$1; shift; TIMEFORMAT="%R %U %S"; { time "$@" 2>&3 3>&-; } 3>&2 2>"$f"',
      "bash",
      timeFile,
      cmd,
      ...args,
    ];
  }
  const command = new Deno.Command(program, {
    args: argv,
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const settled = await waitForQuietMachine();
  if (settled > 2) console.error(`  (waited ${settled.toFixed(0)} s for the machine to settle)`);
  const memory = await startSampler();
  const pids = serverPids();
  const serverBefore = await cpuSecondsOf(pids);
  const t0 = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = command.spawn();
  } catch (err) {
    await memory?.watch(0); // no such process: the sampler ends at once
    throw err;
  }
  running.add(child.pid);
  const sampler = memory?.watch(child.pid);
  try {
    const out = await child.output();
    const wall = (performance.now() - t0) / 1000;
    const serverAfter = await cpuSecondsOf(pids);
    const decoder = new TextDecoder();
    const result: Measured = {
      wall,
      cpu: NaN,
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      serverCpu: serverBefore === undefined || serverAfter === undefined
        ? undefined
        : serverAfter - serverBefore,
    };
    if (timeFile) {
      // GNU time puts "Command exited with non-zero status N" before the figures.
      const lines = (await Deno.readTextFile(timeFile)).trim().split("\n");
      const [, user, sys, rss] = (lines.at(-1) ?? "").trim().split(/\s+/).map(Number);
      result.cpu = user + sys;
      if (how === "gnu-time" && Number.isFinite(rss)) result.rssMiB = rss / 1024;
    }
    result.anonMiB = await sampler;
    return result;
  } finally {
    running.delete(child.pid);
    if (timeFile) await Deno.remove(timeFile).catch(() => {});
  }
}

/** The PIDs of every descendant of `pid` (Deno grants /proc only to --allow-all: ask sh). */
async function descendants(pid: number): Promise<number[]> {
  let text = "";
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", 'cat /proc/"$1"/task/*/children 2>/dev/null', "sh", String(pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    text = new TextDecoder().decode(out.stdout).trim();
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const child of text ? text.split(/\s+/).map(Number) : []) {
    found.push(child, ...await descendants(child));
  }
  return found;
}

/** Sends `signal` to `pid` and all its descendants (GNU time ignores SIGINT itself). */
export async function signalTree(pid: number, signal: Deno.Signal): Promise<void> {
  for (const p of [...await descendants(pid), pid]) {
    try {
      Deno.kill(p, signal);
    } catch { /* already gone */ }
  }
}
