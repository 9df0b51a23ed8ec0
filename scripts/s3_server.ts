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
import { CEPH_BINARIES, startCeph } from "./s3/ceph.ts";
import { Daemons, randomKeys, which } from "./s3/daemons.ts";
import { startMinio } from "./s3/minio.ts";
import { startS3rver } from "./s3/s3rver.ts";

export { freePort, which } from "./s3/daemons.ts";

export interface S3Server {
  kind: "minio" | "ceph" | "s3rver";
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** The PIDs of the server's processes (for the bench's count of the server's CPU time). */
  pids(): number[];
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
    const setup = { dir, procs, keys, signal, log };
    if (kind === "minio") endpoint = await startMinio(setup);
    else if (kind === "ceph") endpoint = await startCeph(setup);
    else endpoint = await startS3rver(setup);
    log(`${kind} ready at ${endpoint}`);
    let stopped: Promise<void> | undefined;
    return {
      kind,
      endpoint,
      accessKey: keys.accessKey,
      secretKey: keys.secretKey,
      pids: () => procs.pids(),
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
