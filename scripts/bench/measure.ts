/**
 * Measuring the bench's child processes: wall time, user+sys CPU time and peak VmRSS
 * (GNU time), and peak RssAnon (anonymous resident memory, sampled from /proc by a helper
 * process: Deno grants /proc only to --allow-all).
 */

const GNU_TIME = "/usr/bin/time";

/**
 * Samples /proc/PID/status of `root` and its descendants every 50 ms until `root` ends; the
 * peak RssAnon of the largest process, in MiB (undefined without /proc).
 */
const SAMPLER = `
const root = Number(Deno.env.get("ROOT_PID"));
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

/** Starts the sampler on `pid`; resolves to the peak RssAnon in MiB once `pid` ended. */
async function sampleAnonymousMemory(pid: number): Promise<number | undefined> {
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", SAMPLER],
      env: { ROOT_PID: String(pid) },
      stdout: "piped",
      stderr: "null",
    }).output();
    const kib = Number(new TextDecoder().decode(out.stdout).trim());
    return kib > 0 ? kib / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** What one measured run took. */
export interface Measured {
  wall: number;
  cpu: number;
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
  const t0 = performance.now();
  const child = command.spawn();
  running.add(child.pid);
  const sampler = sampleAnonymousMemory(child.pid);
  try {
    const out = await child.output();
    const wall = (performance.now() - t0) / 1000;
    const decoder = new TextDecoder();
    const result: Measured = {
      wall,
      cpu: NaN,
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
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
