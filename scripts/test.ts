/**
 * `deno task test [deno test arguments...]`: the test runner.
 *
 * Starts one throwaway S3 server (scripts/s3_server.ts: MinIO or Ceph RADOS Gateway, never
 * s3rver), runs `deno test` over tests/ (or over the files and directories given) with
 * SPARE_TEST_ENDPOINT, SPARE_TEST_ACCESS_KEY and SPARE_TEST_SECRET_KEY set, streams its
 * output, stops the server, and exits with deno test's exit code. SIGINT and SIGTERM are
 * passed on to deno test, and the server is stopped all the same.
 *
 * Other arguments go to deno test as they are, e.g.
 *   deno task test tests/server_test.ts
 *   deno task test --filter "bucket"
 *
 * When SPARE_TEST_ENDPOINT, SPARE_TEST_ACCESS_KEY and SPARE_TEST_SECRET_KEY are already set,
 * that server is used and none is started. SPARE_TEST_NO_S3=1 runs without a server: the
 * tests that need one are then ignored.
 *
 * With neither MinIO nor Ceph installed: as root on Debian or Ubuntu it installs Debian's
 * Ceph packages first (apt's output in a log file); elsewhere it prints the command to run
 * and exits 1 (scripts/test_setup.ts).
 */
import { installedServerKind, type S3Server, startS3Server, which } from "./s3_server.ts";
import { aptInstall, type MachineFacts, readOsRelease, setupPlan } from "./test_setup.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** What the tests may do: spawn the CLI, use the lzma native addon, talk to 127.0.0.1. */
const TEST_PERMISSIONS = [
  "--allow-net=127.0.0.1",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
  "--allow-ffi",
];

/** deno test options whose value may follow as the next argument. */
const OPTIONS_WITH_VALUE = new Set(["--filter", "--reporter", "--junit-path", "--config", "-c"]);

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
};

/** The deno test command line: our permissions, then the caller's arguments, then tests/. */
function testArgs(args: string[]): string[] {
  const sep = args.indexOf("--");
  const own = sep < 0 ? args : args.slice(0, sep);
  const rest = sep < 0 ? [] : args.slice(sep);
  let hasPath = false;
  for (let i = 0; i < own.length; i++) {
    const a = own[i];
    if (OPTIONS_WITH_VALUE.has(a)) i++;
    else if (!a.startsWith("-")) hasPath = true;
  }
  return ["test", ...TEST_PERMISSIONS, ...own, ...(hasPath ? [] : ["tests/"]), ...rest];
}

function envServer(): Record<string, string> | undefined {
  const env = {
    SPARE_TEST_ENDPOINT: Deno.env.get("SPARE_TEST_ENDPOINT") ?? "",
    SPARE_TEST_ACCESS_KEY: Deno.env.get("SPARE_TEST_ACCESS_KEY") ?? "",
    SPARE_TEST_SECRET_KEY: Deno.env.get("SPARE_TEST_SECRET_KEY") ?? "",
  };
  return Object.values(env).every(Boolean) ? env : undefined;
}

/** What setupPlan decides on, read from this machine. */
async function machineFacts(): Promise<MachineFacts> {
  const osRelease = await Deno.readTextFile("/etc/os-release").catch(() => "");
  return {
    hasServer: (await installedServerKind()) !== undefined,
    isRoot: Deno.uid() === 0,
    ...readOsRelease(osRelease),
    hasAptGet: (await which("apt-get")) !== undefined,
    hasXz: (await which("xz")) !== undefined,
  };
}

/** Installs the test server's packages when needed and possible; false when the tests cannot run. */
async function setUp(log: (msg: string) => void): Promise<boolean> {
  const plan = setupPlan(await machineFacts());
  if (plan.action === "run") return true;
  if (plan.action === "instruct") {
    log(plan.message);
    return false;
  }
  const logFile = await Deno.makeTempFile({ prefix: "spare-test-apt-", suffix: ".log" });
  log(
    `no S3 server installed: installing Debian's ${plan.packages.join(" ")} with apt-get ` +
      `(output in ${logFile})`,
  );
  try {
    await aptInstall(plan.packages, logFile);
    return true;
  } catch (err) {
    log(err instanceof Error ? err.message : String(err));
    return false;
  }
}

async function main(): Promise<number> {
  const log = (msg: string) => console.error(`[test.ts] ${msg}`);
  const abort = new AbortController();
  let server: S3Server | undefined;
  let child: Deno.ChildProcess | undefined;
  let signalled: number | undefined;

  const onSignal = (sig: Deno.Signal) => () => {
    if (signalled === undefined) signalled = 128 + (SIGNAL_NUMBERS[sig] ?? 0);
    if (child) {
      try {
        child.kill(sig);
      } catch { /* already exited */ }
    } else {
      abort.abort(new Error(`interrupted by ${sig}`));
    }
  };
  const listeners = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((sig) => {
    const fn = onSignal(sig);
    Deno.addSignalListener(sig, fn);
    return [sig, fn] as const;
  });

  try {
    let env = envServer();
    if (env) {
      log(`using the S3 server at ${env.SPARE_TEST_ENDPOINT} from the environment`);
    } else if (Deno.env.get("SPARE_TEST_NO_S3")) {
      log("SPARE_TEST_NO_S3 is set: no S3 server, the tests that need one are ignored");
      env = {};
    } else {
      if (!await setUp(log)) return 1;
      const t = performance.now();
      try {
        server = await startS3Server({ log: (m) => log(`s3: ${m}`), signal: abort.signal });
      } catch (err) {
        if (signalled !== undefined) return signalled;
        log(`cannot start the test S3 server: ${err instanceof Error ? err.message : err}`);
        return 1;
      }
      log(
        `${server.kind} S3 server at ${server.endpoint}, started in ${
          ((performance.now() - t) / 1000).toFixed(1)
        }s`,
      );
      env = {
        SPARE_TEST_ENDPOINT: server.endpoint,
        SPARE_TEST_ACCESS_KEY: server.accessKey,
        SPARE_TEST_SECRET_KEY: server.secretKey,
      };
    }
    if (signalled !== undefined) return signalled;

    const args = testArgs(Deno.args);
    log(`deno ${args.join(" ")}`);
    child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      env,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const status = await child.status;
    child = undefined;
    if (signalled !== undefined) return signalled;
    return status.signal ? 128 + (SIGNAL_NUMBERS[status.signal] ?? 0) : status.code;
  } finally {
    if (server) await server.stop();
    for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
  }
}

Deno.exit(await main());
