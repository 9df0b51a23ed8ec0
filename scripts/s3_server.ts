/**
 * Throwaway S3 server for tests and demos, on 127.0.0.1 with a random port, a temporary
 * directory and random keys.
 *
 * Order of preference:
 * 1. MinIO, when a `minio` binary is on the PATH;
 * 2. Ceph RADOS Gateway (one monitor, one OSD, radosgw), when `ceph-mon`, `ceph-osd`,
 *    `radosgw`, `radosgw-admin`, `monmaptool` and `ceph` are on the PATH
 *    (Debian: `apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common`);
 * 3. s3rver (`npm:s3rver@3.7.1`, in a `deno run` subprocess), only with `allowS3rver`:
 *    it checks no signatures and fails on large listings, so it suits a demo, not tests.
 *
 * As a script (`deno task s3`) it starts a server, prints `SPARE_ENDPOINT=...`,
 * `SPARE_ACCESS_KEY=...` and `SPARE_SECRET_KEY=...` on stdout, and runs until SIGINT or
 * SIGTERM, then stops the server. Flags: `--allow-s3rver`, `--quiet`.
 *
 * Ceph starts in about 0.8 s on a 2-core machine: the OSD keeps its data in memory
 * (memstore; bluestore on a sparse file takes about 7 s to start), the monitor proposes
 * changes every 10 ms instead of every second, and radosgw starts once the OSD is up.
 *
 * Environment knobs: `SPARE_CEPH_STORE=memstore|bluestore` (OSD object store, default
 * memstore), `SPARE_S3_KEEP=1` (keep the temporary directory with its logs after stop),
 * `SPARE_S3_START_TIMEOUT` (seconds, default 180).
 *
 * Every daemon runs in its own session (so a Ctrl-C in the terminal reaches only this
 * process, which then stops them in order), and a small watchdog shell process kills
 * exactly those PIDs and removes the directory if this process dies without calling stop().
 */

export interface S3Server {
  kind: "minio" | "ceph" | "s3rver";
  endpoint: string;
  accessKey: string;
  secretKey: string;
  stop(): Promise<void>;
}

export interface StartS3ServerOptions {
  /** Fall back to s3rver when neither MinIO nor Ceph is installed (default false). */
  allowS3rver?: boolean;
  /** Progress messages (default: none). */
  log?: (msg: string) => void;
  /** Aborts a start in progress; whatever was started is stopped again. */
  signal?: AbortSignal;
}

const HOST = "127.0.0.1";
const CEPH_BINARIES = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph"];
const STOP_TIMEOUT_MS = 10_000;

/** Starts a throwaway S3 server on 127.0.0.1 with a random port, temp dir and random keys. */
export async function startS3Server(opts: StartS3ServerOptions = {}): Promise<S3Server> {
  const t0 = performance.now();
  const say = opts.log ?? (() => {});
  const log = (msg: string) => say(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
  const timeoutS = Number(Deno.env.get("SPARE_S3_START_TIMEOUT") ?? "180") || 180;
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new Error(`no answer within ${timeoutS}s`)),
    timeoutS * 1000,
  );
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal;

  try {
    return await start(opts, signal, timeout.signal, timeoutS, log);
  } finally {
    clearTimeout(timer);
  }
}

/** The server that can be started here: MinIO, else Ceph, else none (s3rver aside). */
export async function installedServerKind(): Promise<"minio" | "ceph" | undefined> {
  if (await which("minio")) return "minio";
  if ((await Promise.all(CEPH_BINARIES.map(which))).every(Boolean)) return "ceph";
  return undefined;
}

async function start(
  opts: StartS3ServerOptions,
  signal: AbortSignal,
  timedOut: AbortSignal,
  timeoutS: number,
  log: (msg: string) => void,
): Promise<S3Server> {
  const kind: S3Server["kind"] | undefined = (await installedServerKind()) ??
    (opts.allowS3rver ? "s3rver" : undefined);
  if (!kind) {
    throw new Error(
      "no S3 server to start: install Ceph (Debian: apt-get install -y --no-install-recommends " +
        "ceph-mon ceph-osd radosgw ceph-common) or put a `minio` binary on the PATH",
    );
  }

  const dir = await Deno.makeTempDir({ prefix: `spare-s3-${kind}-` });
  const procs = new Daemons(dir);
  const keys = randomKeys();
  try {
    await procs.startWatchdog();
    let endpoint: string;
    if (kind === "minio") endpoint = await startMinio(dir, procs, keys, signal, log);
    else if (kind === "ceph") endpoint = await startCeph(dir, procs, keys, signal, log);
    else endpoint = await startS3rver(dir, procs, keys, signal, log);
    log(`${kind} ready at ${endpoint}`);
    let stopped: Promise<void> | undefined;
    return {
      kind,
      endpoint,
      accessKey: keys.accessKey,
      secretKey: keys.secretKey,
      stop: () => stopped ??= procs.stopAll(log),
    };
  } catch (err) {
    const detail = timedOut.aborted
      ? new Error(`${kind} did not start within ${timeoutS}s`, { cause: err })
      : err;
    const logs = await procs.logTails();
    await procs.stopAll(log).catch(() => {});
    if (detail instanceof Error && logs) detail.message += `\n${logs}`;
    throw detail;
  }
}

// ---------------------------------------------------------------------------------------
// MinIO

async function startMinio(
  dir: string,
  procs: Daemons,
  keys: Keys,
  signal: AbortSignal,
  log: (msg: string) => void,
): Promise<string> {
  const port = freePort();
  const consolePort = freePort();
  await Deno.mkdir(`${dir}/data`);
  procs.spawn("minio", "minio", [
    "server",
    `${dir}/data`,
    "--address",
    `${HOST}:${port}`,
    "--console-address",
    `${HOST}:${consolePort}`,
    "--certs-dir",
    `${dir}/certs`,
    "--quiet",
  ], {
    MINIO_ROOT_USER: keys.accessKey,
    MINIO_ROOT_PASSWORD: keys.secretKey,
    MINIO_BROWSER: "off",
    MINIO_UPDATE: "off",
  });
  log(`minio started on port ${port}`);
  await procs.waitHttp(port, "/minio/health/live", signal, (status) => status === 200);
  return `http://${HOST}:${port}`;
}

// ---------------------------------------------------------------------------------------
// Ceph: 1 monitor + 1 OSD + radosgw, auth none (S3 SigV4 in radosgw is unaffected).

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number, store: string) {
  return `[global]
fsid = ${fsid}
mon host = v2:${HOST}:${monPort}
mon initial members = a
public addr = ${HOST}
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
keyring = /dev/null
# radosgw defaults to ms_mon_client_mode = secure, which needs cephx: it never comes up
ms mon client mode = crc
ms client mode = crc
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
pid file = ${dir}/run/$name.pid
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# the disk may be fairly full: the defaults (crit 5%) make the monitor shut down
mon data avail warn = 2
mon data avail crit = 1
# every osdmap change (OSD boot, each pool radosgw creates) waited ~1 s for the next proposal
paxos propose interval = 0.01
paxos min wait = 0.001

[mon]
mon data = ${dir}/mon.$id
mon cluster log file = ${dir}/log/cluster.log

[osd]
osd data = ${dir}/osd.$id
osd objectstore = ${store}
# memstore keeps the objects in the OSD's memory; this is only the capacity it reports
memstore device bytes = 8589934592
bluestore block path = ${dir}/osd.$id/block.img
bluestore block create = true
bluestore block size = 10737418240
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 134217728
osd memory target = 1073741824
osd max object size = 134217728

[client.rgw.a]
# tcp_nodelay: without it every response with a body waited ~44 ms for a delayed ACK
rgw frontends = beast endpoint=${HOST}:${rgwPort} tcp_nodelay=1
rgw data = ${dir}/rgw
rgw dns name = ${HOST}
rgw thread pool size = 64
rgw enable lc threads = false
# no per-request log lines (errors are still logged)
debug rgw = 0/5
rgw dynamic resharding = false
`;
}

async function startCeph(
  dir: string,
  procs: Daemons,
  keys: Keys,
  signal: AbortSignal,
  log: (msg: string) => void,
): Promise<string> {
  const store = Deno.env.get("SPARE_CEPH_STORE") || "memstore";
  if (store !== "memstore" && store !== "bluestore") {
    throw new Error(`SPARE_CEPH_STORE must be memstore or bluestore, not ${store}`);
  }
  for (const sub of ["run", "log", "mon.a", "osd.0", "rgw"]) await Deno.mkdir(`${dir}/${sub}`);
  const fsid = crypto.randomUUID();
  const osdUuid = crypto.randomUUID();
  const monPort = freePort();
  const rgwPort = freePort();
  const conf = `${dir}/ceph.conf`;
  await Deno.writeTextFile(conf, cephConf(dir, fsid, monPort, rgwPort, store));
  const c = ["-c", conf];

  await run("monmaptool", [
    "--create",
    "--clobber",
    "--fsid",
    fsid,
    "--addv",
    "a",
    `[v2:${HOST}:${monPort}]`,
    `${dir}/monmap`,
  ], signal);
  await run("ceph-mon", [...c, "--mkfs", "-i", "a", "--monmap", `${dir}/monmap`], signal);
  procs.spawn("mon.a", "ceph-mon", [...c, "-i", "a", "-f"]);
  log(`mon started on port ${monPort}`);

  // The OSD's mkfs and its registration in the osdmap (which needs the monitor) overlap.
  await Promise.all([
    run("ceph-osd", [...c, "-i", "0", "--mkfs", "--osd-uuid", osdUuid], signal).then(() =>
      log(`osd.0 mkfs done (${store})`)
    ),
    run("ceph", [...c, "osd", "new", osdUuid, "0"], signal).then(() => log("osd.0 registered")),
  ]);
  procs.spawn("osd.0", "ceph-osd", [...c, "-i", "0", "-f"]);
  log("osd.0 started");
  // radosgw only after the OSD is up: the placement groups of a pool created while no OSD
  // is up are only created at the monitor's next tick (5 s later).
  const up = await procs.waitForLine(`${dir}/log/osd.0.log`, "state: booting -> active", signal);
  log(up ? "osd.0 up" : "osd.0 did not say it is up; starting radosgw all the same");
  procs.spawn("rgw.a", "radosgw", [...c, "-n", "client.rgw.a", "-f"]);
  log("radosgw started");
  await procs.waitHttp(rgwPort, "/", signal);
  log(`radosgw answering on port ${rgwPort}`);
  // After radosgw is up, so that the two do not race to create the default zone.
  await run("radosgw-admin", [
    ...c,
    "-n",
    "client.admin",
    "user",
    "create",
    "--uid=spare",
    "--display-name=spare",
    `--access-key=${keys.accessKey}`,
    `--secret-key=${keys.secretKey}`,
  ], signal);
  log("S3 user created");
  return `http://${HOST}:${rgwPort}`;
}

// ---------------------------------------------------------------------------------------
// s3rver (fallback for demos only)

async function startS3rver(
  dir: string,
  procs: Daemons,
  keys: Keys,
  signal: AbortSignal,
  log: (msg: string) => void,
): Promise<string> {
  const port = freePort();
  // s3rver 3.7.1 hard-codes the key pair S3RVER/S3RVER: a tiny entry script swaps in ours.
  const entry = `${dir}/s3rver-main.mjs`;
  await Deno.writeTextFile(
    entry,
    `import S3rver from "npm:s3rver@3.7.1";
import account from "npm:s3rver@3.7.1/lib/models/account.js";
const [directory, port, accessKey, secretKey] = Deno.args;
account.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");
account.DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);
await new S3rver({ address: "${HOST}", port: Number(port), directory, silent: true }).run();
`,
  );
  await Deno.mkdir(`${dir}/data`);
  // --no-config/--no-lock: the package goes to Deno's global cache, not to this project's
  // node_modules or deno.lock.
  procs.spawn("s3rver", Deno.execPath(), [
    "run",
    "--no-config",
    "--no-lock",
    "--quiet",
    `--allow-net=${HOST}`,
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
    "--allow-env",
    "--allow-sys",
    entry,
    `${dir}/data`,
    String(port),
    keys.accessKey,
    keys.secretKey,
  ]);
  log(`s3rver started on port ${port}`);
  await procs.waitHttp(port, "/", signal);
  return `http://${HOST}:${port}`;
}

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
class Daemons {
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
async function run(cmd: string, args: string[], signal: AbortSignal): Promise<string> {
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

interface Keys {
  accessKey: string;
  secretKey: string;
}

function randomKeys(): Keys {
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

// ---------------------------------------------------------------------------------------
// CLI

if (import.meta.main) {
  const args = new Set(Deno.args);
  const quiet = args.has("--quiet");
  const log = (msg: string) => {
    if (!quiet) console.error(msg);
  };
  const abort = new AbortController();
  let server: S3Server | undefined;
  let exitCode: number | undefined;
  const onSignal = (sig: Deno.Signal) => async () => {
    if (exitCode !== undefined) return;
    // Exit code as if killed by the signal: 128 + signal number.
    exitCode = sig === "SIGINT" ? 130 : sig === "SIGTERM" ? 143 : 129;
    log(`${sig}: stopping`);
    if (server) {
      await server.stop();
      Deno.exit(exitCode);
    }
    // Still starting: the start fails, stops what it started, and the catch below exits.
    abort.abort(new Error(`interrupted by ${sig}`));
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    Deno.addSignalListener(sig, onSignal(sig));
  }
  try {
    const t = performance.now();
    server = await startS3Server({
      allowS3rver: args.has("--allow-s3rver"),
      log,
      signal: abort.signal,
    });
    log(`${server.kind} started in ${((performance.now() - t) / 1000).toFixed(1)}s`);
  } catch (err) {
    if (exitCode === undefined) console.error(`error: ${err instanceof Error ? err.message : err}`);
    Deno.exit(exitCode ?? 1);
  }
  console.log(`SPARE_ENDPOINT=${server.endpoint}`);
  console.log(`SPARE_ACCESS_KEY=${server.accessKey}`);
  console.log(`SPARE_SECRET_KEY=${server.secretKey}`);
  log(`${server.kind} S3 server running; Ctrl-C (SIGINT) or SIGTERM stops it`);
  // Keep the event loop alive until a signal arrives.
  setInterval(() => {}, 1 << 30);
}
