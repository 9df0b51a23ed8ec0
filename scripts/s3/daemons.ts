/**
 * Processes and network helpers of the throwaway S3 servers: daemons spawned detached and
 * stopped by PID, free ports, HTTP probes, random keys.
 */

/** Where every test server listens. */
export const HOST = "127.0.0.1";
const STOP_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------
// Processes

interface Daemon {
  name: string;
  child: Deno.ChildProcess;
  logFile: string;
  exit?: Deno.CommandStatus;
  done: Promise<unknown>;
}

/** The daemons of one server: spawned detached, stopped by PID, logs in the temp dir. */
export class Daemons {
  #list: Daemon[] = [];
  #watchdog?: Deno.ChildProcess;
  constructor(readonly dir: string) {}

  /**
   * A shell that waits for EOF on its stdin (a pipe only this process holds), then kills
   * the PIDs listed in `pids` and removes the directory: cleanup if we die without stop().
   */
  async startWatchdog() {
    await Deno.writeTextFile(`${this.dir}/pids`, "");
    const script = `trap '' INT TERM HUP
while IFS= read -r _; do :; done
pids=$(cat "$1/pids" 2>/dev/null)
if [ -n "$pids" ]; then
  kill -TERM $pids 2>/dev/null
  i=0
  while [ $i -lt 50 ] && kill -0 $pids 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
  kill -KILL $pids 2>/dev/null
fi
case "$1" in */spare-s3-*) [ -n "$2" ] || rm -rf "$1" ;; esac`;
    const keep = Deno.env.get("SPARE_S3_KEEP") ? "keep" : "";
    this.#watchdog = new Deno.Command("sh", {
      args: ["-c", script, "spare-s3-watchdog", this.dir, keep],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    this.#watchdog.unref();
  }

  /** Spawns `cmd args` in its own session with stdout and stderr appended to a log file. */
  spawn(name: string, cmd: string, args: string[], env?: Record<string, string>) {
    const logFile = `${this.dir}/${name}.out`;
    // `exec` keeps the PID: the one we get back is the daemon's own.
    const child = new Deno.Command("sh", {
      args: ["-c", 'out=$1; shift; exec "$@" >>"$out" 2>&1', "sh", logFile, cmd, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env,
      detached: true,
    }).spawn();
    const d: Daemon = { name, child, logFile, done: Promise.resolve() };
    d.done = child.status.then((s) => d.exit = s);
    this.#list.push(d);
    Deno.writeTextFileSync(`${this.dir}/pids`, this.#list.map((x) => x.child.pid).join(" "));
    return child;
  }

  /** The PIDs of the daemons still running. */
  pids(): number[] {
    return this.#list.filter((d) => !d.exit).map((d) => d.child.pid);
  }

  /** Throws when a daemon has exited. */
  checkAlive() {
    for (const d of this.#list) {
      if (d.exit) {
        throw new Error(
          `${d.name} (pid ${d.child.pid}) exited with ${
            d.exit.signal ? `signal ${d.exit.signal}` : `code ${d.exit.code}`
          } during start`,
        );
      }
    }
  }

  /** Waits until `GET path` on the port gets an HTTP answer (accepted by `ok`). */
  async waitHttp(
    port: number,
    path: string,
    signal: AbortSignal,
    ok: (status: number) => boolean = () => true,
  ) {
    while (true) {
      this.checkAlive();
      signal.throwIfAborted();
      const status = await httpStatus(port, path);
      if (status !== undefined && ok(status)) return;
      await sleep(status === undefined ? 100 : 250, signal);
    }
  }

  /** Waits until `file` contains `text`; false when it has not after `maxMs`. */
  async waitForLine(file: string, text: string, signal: AbortSignal, maxMs = 15_000) {
    const end = performance.now() + maxMs;
    while (performance.now() < end) {
      this.checkAlive();
      signal.throwIfAborted();
      try {
        if ((await Deno.readTextFile(file)).includes(text)) return true;
      } catch { /* not written yet */ }
      await sleep(20, signal);
    }
    return false;
  }

  /** The last lines of each daemon's logs, for an error message. */
  async logTails(): Promise<string> {
    const parts: string[] = [];
    const files = this.#list.map((d) => d.logFile);
    try {
      for await (const e of Deno.readDir(`${this.dir}/log`)) {
        files.push(`${this.dir}/log/${e.name}`);
      }
    } catch { /* no log dir */ }
    for (const f of files) {
      try {
        const lines = (await Deno.readTextFile(f)).trimEnd().split("\n").filter(Boolean);
        if (lines.length) parts.push(`--- ${f} (last lines)\n${lines.slice(-8).join("\n")}`);
      } catch { /* missing */ }
    }
    return parts.join("\n");
  }

  /**
   * Stops the daemons one by one, newest first (radosgw, OSD, then the monitor that the OSD
   * reports its shutdown to): SIGTERM, then SIGKILL after a timeout. Removes the directory.
   */
  async stopAll(log: (msg: string) => void) {
    const t = performance.now();
    for (const d of [...this.#list].reverse()) {
      if (d.exit) continue;
      signalPid(d.child, "SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        d.done.then(() => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(true), STOP_TIMEOUT_MS)),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        log(
          `${d.name} (pid ${d.child.pid}) ignored SIGTERM for ${STOP_TIMEOUT_MS / 1000}s: SIGKILL`,
        );
        signalPid(d.child, "SIGKILL");
        await d.done;
      }
    }
    if (this.#watchdog) {
      signalPid(this.#watchdog, "SIGKILL");
      await this.#watchdog.status;
      await this.#watchdog.stdin.close().catch(() => {});
      this.#watchdog = undefined;
    }
    if (Deno.env.get("SPARE_S3_KEEP")) log(`kept ${this.dir}`);
    else await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    log(`stopped in ${((performance.now() - t) / 1000).toFixed(1)}s`);
  }
}

function signalPid(child: Deno.ChildProcess, sig: Deno.Signal) {
  try {
    child.kill(sig);
  } catch { /* already exited */ }
}

/** Runs a command to completion; throws with its output when it fails. */
export async function run(cmd: string, args: string[], signal: AbortSignal): Promise<string> {
  signal.throwIfAborted();
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    signal.throwIfAborted();
    const text = (dec.decode(out.stdout) + dec.decode(out.stderr)).trim().split("\n").slice(-15);
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${
        out.signal ? `signal ${out.signal}` : `exit ${out.code}`
      })\n${text.join("\n")}`,
    );
  }
  return dec.decode(out.stdout);
}

// ---------------------------------------------------------------------------------------
// Small helpers

/** What a server kind's start function gets: its directory, daemons, keys, abort and log. */
export interface ServerSetup {
  dir: string;
  procs: Daemons;
  keys: Keys;
  signal: AbortSignal;
  log: (msg: string) => void;
}

/** An S3 key pair. */
export interface Keys {
  accessKey: string;
  secretKey: string;
}

/** A random access key (20 hex digits) and secret key (40 letters and digits). */
export function randomKeys(): Keys {
  const hex = (n: number) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
  const alnum = (n: number) => {
    const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let s = "";
    while (s.length < n) {
      for (const b of crypto.getRandomValues(new Uint8Array(n))) {
        if (b < 248 && s.length < n) s += abc[b % 62];
      }
    }
    return s;
  };
  return { accessKey: hex(10).toUpperCase(), secretKey: alnum(40) };
}

/** A port that was free a moment ago: bind port 0 on 127.0.0.1, read it, close. */
export function freePort(): number {
  const l = Deno.listen({ hostname: HOST, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The path of an executable `name` on the PATH, or undefined. */
export async function which(name: string): Promise<string | undefined> {
  for (const d of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!d) continue;
    const p = `${d}/${name}`;
    try {
      const st = await Deno.stat(p);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111)) return p;
    } catch { /* not here */ }
  }
  return undefined;
}

/** The status code of `GET path` on 127.0.0.1:port, or undefined when nothing answers. */
async function httpStatus(port: number, path: string): Promise<number | undefined> {
  let conn: Deno.Conn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    conn = await Deno.connect({ hostname: HOST, port });
    const c = conn;
    const timeout = new Promise<undefined>((r) => {
      timer = setTimeout(() => r(undefined), 2000);
    });
    const answer = (async () => {
      await c.write(
        new TextEncoder().encode(
          `GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nConnection: close\r\n\r\n`,
        ),
      );
      const buf = new Uint8Array(64);
      let got = 0;
      while (got < 12) {
        const n = await c.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(new TextDecoder().decode(buf.subarray(0, got)));
      return m ? Number(m[1]) : undefined;
    })();
    return await Promise.race([answer, timeout]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
