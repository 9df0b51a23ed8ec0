/**
 * `deno task bench [--quick] [--dir DIR] [--parts LIST] [--paths N,...] [--yardsticks] ...`: spare
 * measured side by side with spare 0.4.0 (issue 12).
 *
 * 1. Builds a deterministic tree under DIR (default `.bench/` in the repository, which is
 *    gitignored), in `DIR/full/` (or `DIR/quick/`), and reuses it when it is already there
 *    (scripts/bench/data.ts): `tree/` (a 200 MiB file half random, half text, and 2,000
 *    text files of 1–50 KiB), `memory/` (one 1 GiB file, random and text in turn) and
 *    `many/` (20,000 text files of 1–4 KiB). `--quick`: 20 MiB / 200 / 100 MiB / 2,000.
 * 2. Starts a throwaway S3 server (scripts/s3_server.ts) and stops it at the end.
 * 3. Runs spare (`deno run <the spare task's flags> main.ts`) as a child: create into a
 *    fresh bucket, create again over the unchanged tree, restore, verify; create --jobs 0;
 *    create of the 1 GiB file; create of the 20,000 files and again unchanged.
 * 4. When SPARE_040 names the script that runs spare 0.4.0 (it takes 0.4.0's arguments:
 *    create|restore|validate --endpoint URL --access-key K --secret-key S --password P
 *    --bucket B --path DIR), runs 0.4.0 on the same data and server right after each of our
 *    runs: create, restore, validate, the 20,000 files and their unchanged re-run (the
 *    1 GiB file only with --old-big: it takes 0.4.0 several minutes). Without SPARE_040
 *    the 0.4.0 column says not measured.
 * 5. Every child runs under GNU time (`/usr/bin/time`) for CPU time and peak VmRSS; its
 *    peak RssAnon (anonymous memory, what competes with the server's programs) is sampled
 *    from /proc (scripts/bench/measure.ts).
 * 6. `--parts paths` (not run by default): trees of tiny files in folders of 1,000 (issue 29),
 *    `--paths 100000,1000000` their sizes (scripts/bench/paths.ts).
 * 7. Prints a Markdown table (ours, 0.4.0's, the ratio), then the targets of issue 12 with
 *    met / not met; also written to DIR/<full|quick>/results.md. `--yardsticks` adds xz,
 *    b2sum and raw PUT/GET of the same data for reference.
 *
 * Exits 0 whatever the timings are; 1 on a real error, 130 when interrupted.
 */
import { parseArgs } from "node:util";
import { ObjectStore } from "../lib/s3/client.ts";
import { passThroughEnv, spareTaskFlags } from "../tests/cli.ts";
import { type S3Server, startS3Server } from "./s3_server.ts";
import {
  ensureData,
  FULL,
  manyPlan,
  memoryPlan,
  MIB,
  prettySize,
  QUICK,
  treePlan,
} from "./bench/data.ts";
import {
  chooseTimer,
  measure,
  type Measured,
  running,
  signalTree,
  watchServerCpu,
} from "./bench/measure.ts";
import {
  fmt,
  fmtBytes,
  loadAverage,
  machineInfo,
  renderRows,
  renderTargets,
  type Row,
  type Run,
  type Target,
} from "./bench/report.ts";
import { bucketName, failure, storedBytes, walkFiles } from "./bench/yardsticks.ts";
import { runYardsticks } from "./bench/yardstick_runs.ts";
import { runPathsPart } from "./bench/paths.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PASSWORD = "bench password";
/** The environment variable naming the script that runs spare 0.4.0. */
const OLD_VARIABLE = "SPARE_040";

const USAGE =
  `deno task bench [--quick] [--dir DIR] [--no-memory] [--parts LIST] [--paths N,...] [--yardsticks] [--old-big]

  --quick       small data (20 MiB file, 200 text files; 100 MiB, 2,000 small files)
  --dir DIR     work directory for the generated data (default .bench/ in the repository)
  --no-memory   leave out the 1 GiB file and the 20,000 small files (--parts tree)
  --parts LIST  which runs, of tree,big,many,paths (default tree,big,many): the tree, the 1 GiB
                file, the small files, trees of tiny files in folders of 1,000 (issue 29)
  --paths N,... the sizes of the paths part (default 100000,1000000; --quick 10000,30000); with two
                or more, the memory per path between the smallest and the largest
  --yardsticks  also measure xz, b2sum and raw PUT/GET of the same data
  --old-big     also run spare 0.4.0 on the 1 GiB file (several minutes)

${OLD_VARIABLE}=/path/to/spare-0.4.0.sh runs spare 0.4.0 beside us (else its column is missing).`;

class Interrupted extends Error {
  constructor() {
    super("interrupted");
  }
}

/** Aborted by SIGINT or SIGTERM. */
const abort = new AbortController();

function runOf(m: Measured, stored?: number): Run {
  const { wall, cpu, rssMiB, anonMiB, serverCpu } = m;
  return { wall, cpu, rssMiB, anonMiB, serverCpu, stored };
}

async function main(): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args: Deno.args,
      options: {
        quick: { type: "boolean" },
        dir: { type: "string" },
        "no-memory": { type: "boolean" },
        parts: { type: "string" },
        paths: { type: "string" },
        yardsticks: { type: "boolean" },
        "old-big": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : err}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const sizes = flags.quick ? QUICK : FULL;
  const workDir = (flags.dir ?? `${ROOT}.bench`).replace(/\/+$/, "");
  // `deno task` runs in the repository; INIT_CWD is where it was started from.
  const base = Deno.env.get("INIT_CWD") || Deno.cwd();
  const dataDir = `${workDir.startsWith("/") ? "" : `${base}/`}${workDir}/${sizes.mode}`;
  const treeDir = `${dataDir}/tree`;
  const memoryDir = `${dataDir}/memory`;
  const manyDir = `${dataDir}/many`;
  const restoreDir = `${dataDir}/restore`;
  const t0 = performance.now();
  const log = (msg: string) =>
    console.error(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

  let signals = 0;
  const onSignal = (sig: Deno.Signal) => () => {
    signals++;
    if (signals > 1) Deno.exit(130); // the server's watchdog cleans up after us
    log(`${sig}: stopping`);
    abort.abort(new Interrupted());
    for (const pid of running) signalTree(pid, "SIGINT").catch(() => {});
  };
  const sigint = onSignal("SIGINT");
  const sigterm = onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  const checkAbort = () => {
    if (abort.signal.aborted) throw new Interrupted();
  };

  const oldScript = Deno.env.get(OLD_VARIABLE) || undefined;
  if (!oldScript) {
    log(`${OLD_VARIABLE} is not set: the 0.4.0 column is missing (see deno task bench --help)`);
  }
  if ((await chooseTimer()) !== "gnu-time") {
    log("/usr/bin/time (GNU time; Debian: apt-get install time) is missing: no peak VmRSS");
  }

  const tree = treePlan(sizes);
  const memory = memoryPlan(sizes);
  const many = manyPlan(sizes);
  const treeMiB = tree.reduce((n, f) => n + f.size, 0) / MIB;
  const manyMiB = many.reduce((n, f) => n + f.size, 0) / MIB;
  const parts = new Set(
    (flags.parts ?? (flags["no-memory"] ? "tree" : "tree,big,many")).split(",").map((p) =>
      p.trim()
    ),
  );
  for (const part of parts) {
    if (!["tree", "big", "many", "paths"].includes(part)) {
      console.error(`error: unknown part ${part}\n\n${USAGE}`);
      return 2;
    }
  }

  const pathCounts = (flags.paths ?? (flags.quick ? "10000,30000" : "100000,1000000")).split(",")
    .map((n) => Number(n.trim().replaceAll("_", "")));
  if (pathCounts.some((n) => !Number.isSafeInteger(n) || n < 1)) {
    console.error(`error: --paths takes whole numbers, comma-separated\n\n${USAGE}`);
    return 2;
  }

  log(`starting the S3 server; data in ${dataDir}`);
  const serverPromise = startS3Server({ log: (m) => log(`s3: ${m}`), signal: abort.signal });
  serverPromise.catch(() => {}); // awaited below
  let server: S3Server | undefined;
  let store: ObjectStore | undefined;
  try {
    await Deno.mkdir(dataDir, { recursive: true });
    if (parts.has("tree")) await ensureData(treeDir, tree, abort.signal, log);
    if (parts.has("big")) await ensureData(memoryDir, memory, abort.signal, log);
    if (parts.has("many")) await ensureData(manyDir, many, abort.signal, log);
    server = await serverPromise;
    checkAbort();
    const s3 = server;
    watchServerCpu(s3.pids);
    store = new ObjectStore(s3);
    const bucketStore = store;
    const loadBefore = loadAverage();

    // spare, as the spare task runs it.
    const flagsOfSpare = spareTaskFlags();
    const spareRun = async (name: string, args: string[], bucket: string, path: string) => {
      log(`spare ${args.join(" ")} (${name})`);
      const m = await measure(
        Deno.execPath(),
        ["run", "--quiet", ...flagsOfSpare, `${ROOT}main.ts`, ...args, "--json"],
        {
          cwd: ROOT,
          env: {
            ...passThroughEnv(),
            NO_COLOR: "1",
            SPARE_ENDPOINT: s3.endpoint,
            SPARE_ACCESS_KEY: s3.accessKey,
            SPARE_SECRET_KEY: s3.secretKey,
            SPARE_BUCKET: bucket,
            SPARE_PASSWORD: PASSWORD,
            SPARE_PATH: path,
          },
          clearEnv: true,
        },
      );
      checkAbort();
      if (m.code !== 0) throw failure(`spare ${args.join(" ")}`, m);
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(m.stdout.trim().split("\n").at(-1) ?? "{}");
      } catch { /* no JSON: nothing extra to report */ }
      const run = runOf(m, (await storedBytes(bucketStore, bucket)).bytes);
      log(`  ${m.wall.toFixed(2)} s, RssAnon ${fmt(m.anonMiB, 1)} MiB, VmRSS ${fmt(m.rssMiB, 1)}`);
      return { run, json };
    };
    // spare 0.4.0, when SPARE_040 names its script.
    const oldRun = async (
      name: string,
      command: string,
      bucket: string,
      path: string,
    ): Promise<Run | undefined> => {
      if (!oldScript) return undefined;
      log(`spare 0.4.0 ${command} (${name})`);
      const m = await measure(oldScript, [
        command,
        ...["--endpoint", s3.endpoint, "--access-key", s3.accessKey],
        ...["--secret-key", s3.secretKey, "--password", PASSWORD, "--bucket", bucket],
        ...(command === "validate" ? [] : ["--path", path]),
      ]);
      checkAbort();
      if (m.code !== 0) throw failure(`spare 0.4.0 ${command}`, m);
      const run = runOf(m, (await storedBytes(bucketStore, bucket)).bytes);
      log(`  ${m.wall.toFixed(2)} s, RssAnon ${fmt(m.anonMiB, 1)} MiB, VmRSS ${fmt(m.rssMiB, 1)}`);
      return run;
    };
    const emptyDir = async (dir: string) => {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.mkdir(dir, { recursive: true });
    };
    const checkRestore = async (dir: string, who: string) => {
      const restored = await walkFiles(dir);
      const wrong = tree.filter((f) => restored.get(f.rel) !== f.size);
      if (wrong.length || restored.size !== tree.length) {
        throw new Error(
          `${who}: the restore does not match the tree: ${restored.size} files restored, ` +
            `${wrong.length} missing or of the wrong size (e.g. ${wrong[0]?.rel})`,
        );
      }
    };

    // Compiles and caches main.ts's module graph, so no measured run pays for it.
    const warm = await measure(
      Deno.execPath(),
      ["run", "--quiet", ...flagsOfSpare, `${ROOT}main.ts`, "--version"],
      { cwd: ROOT, env: { ...passThroughEnv(), NO_COLOR: "1" }, clearEnv: true },
    );
    if (warm.code !== 0) throw failure("spare --version", warm);
    const codec = warm.stdout.split("\n").find((l) => l.startsWith("xz codec: "))?.slice(10) ??
      "unknown";

    const rows: Row[] = [];
    const row = (name: string, run: Run, sourceMiB?: number, old?: Run): Row => {
      const r: Row = { name, ...run, old, mibps: sourceMiB ? sourceMiB / run.wall : undefined };
      rows.push(r);
      return r;
    };

    let createRow: Row | undefined;
    let jobs0Row: Row | undefined;
    let restoreRow: Row | undefined;
    let verifyRow: Row | undefined;
    if (parts.has("tree")) {
      const mainBucket = bucketName("main");
      const oldMain = bucketName("old-main");
      const create = await spareRun("create", ["create"], mainBucket, treeDir);
      const oldCreate = await oldRun("create", "create", oldMain, treeDir);
      createRow = row("create", create.run, treeMiB, oldCreate);
      const jobs0 = await spareRun(
        "create --jobs 0",
        ["create", "--jobs", "0"],
        bucketName("j0"),
        treeDir,
      );
      jobs0Row = row("create --jobs 0 (0.4.0: its only create)", jobs0.run, treeMiB, oldCreate);
      const unchanged = await spareRun("create-unchanged", ["create"], mainBucket, treeDir);
      const unchangedRow = row("create, unchanged tree", unchanged.run, treeMiB);
      unchangedRow.note = `${unchanged.json.filesReused} of ${unchanged.json.filesTotal} reused`;

      await emptyDir(restoreDir);
      const restore = await spareRun("restore", ["restore"], mainBucket, restoreDir);
      await checkRestore(restoreDir, "spare");
      let oldRestore: Run | undefined;
      if (oldScript) {
        await emptyDir(restoreDir);
        oldRestore = await oldRun("restore", "restore", oldMain, restoreDir);
        await checkRestore(restoreDir, "spare 0.4.0");
      }
      await Deno.remove(restoreDir, { recursive: true });
      restoreRow = row("restore", restore.run, treeMiB, oldRestore);
      const verify = await spareRun("verify", ["verify"], mainBucket, treeDir);
      verifyRow = row(
        "verify (0.4.0: validate)",
        verify.run,
        treeMiB,
        await oldRun("validate", "validate", oldMain, treeDir),
      );
    }

    let bigRow: Row | undefined;
    let manyRow: Row | undefined;
    let manyAgainRow: Row | undefined;
    const manyName = `${sizes.manyFiles.toLocaleString("en-US")} files of 1–4 KiB`;
    if (parts.has("big")) {
      const bigBucket = bucketName("big");
      const big = await spareRun("1 GiB", ["create"], bigBucket, memoryDir);
      const oldBig = flags["old-big"]
        ? await oldRun("1 GiB", "create", bucketName("old-big"), memoryDir)
        : undefined;
      bigRow = row(
        `create, one ${prettySize(sizes.memoryBytes)} file`,
        big.run,
        sizes.memoryBytes / MIB,
        oldBig,
      );
    }
    if (parts.has("many")) {
      const manyBucket = bucketName("many");
      const oldMany = bucketName("old-many");
      const manyFirst = await spareRun("many", ["create"], manyBucket, manyDir);
      manyRow = row(
        `create, ${manyName}`,
        manyFirst.run,
        manyMiB,
        await oldRun("many", "create", oldMany, manyDir),
      );
      const manyAgain = await spareRun("many, unchanged", ["create"], manyBucket, manyDir);
      manyAgainRow = row(
        `create, ${manyName}, unchanged`,
        manyAgain.run,
        manyMiB,
        await oldRun("many, unchanged", "create", oldMany, manyDir),
      );
      manyAgainRow.note = `${manyAgain.json.filesReused} of ${manyAgain.json.filesTotal} reused`;
    }
    const pathsTargets = parts.has("paths")
      ? await runPathsPart({
        dataDir,
        restoreDir,
        log,
        bucketName,
        spare: async (name, args, bucket, path) => (await spareRun(name, args, bucket, path)).run,
        old: oldRun,
        row,
      }, pathCounts)
      : [];
    if (flags.yardsticks) {
      rows.push(...await runYardsticks(bucketStore, treeDir, tree, sizes, log, abort.signal));
    }

    const vs = (name: string, ours: Row | undefined, limit: number): Target => {
      const old = ours?.old;
      const value = ours && old ? ours.wall / old.wall : undefined;
      return {
        name: `${name} / 0.4.0's`,
        value,
        digits: 2,
        limit: `≤ ${limit}`,
        met: value === undefined ? undefined : value <= limit,
        detail: old
          ? `${ours!.wall.toFixed(1)} s against ${old.wall.toFixed(1)} s`
          : "0.4.0 not run",
      };
    };
    const anon = (name: string, r: Row | undefined, limit: number): Target => ({
      name: `peak RssAnon of ${name}, MiB`,
      value: r?.anonMiB,
      digits: 1,
      limit: `≤ ${limit}`,
      met: r?.anonMiB === undefined ? undefined : r.anonMiB <= limit,
      detail: `VmRSS ${fmt(r?.rssMiB, 1)}${
        r?.old ? `; 0.4.0: ${fmt(r.old.anonMiB, 1)} / ${fmt(r.old.rssMiB, 1)}` : ""
      }`,
    });
    const storedRatio = createRow?.old?.stored
      ? createRow.stored! / createRow.old.stored
      : undefined;
    const treeTargets: Target[] = [
      vs("create time", createRow, 0.6),
      vs("create --jobs 0 time", jobs0Row, 0.35),
      vs("restore time", restoreRow, 0.1),
      vs("verify time (0.4.0: validate)", verifyRow, 0.1),
      ...(manyRow ? [vs(`create time, ${manyName}`, manyRow, 0.15)] : []),
      ...(manyAgainRow
        ? [{
          name: `unchanged re-run, ${manyName}, s`,
          value: manyAgainRow.wall,
          digits: 2,
          limit: "≤ 2",
          met: manyAgainRow.wall <= 2,
          detail: manyAgainRow.old ? `0.4.0: ${manyAgainRow.old.wall.toFixed(1)} s` : undefined,
        }]
        : []),
      anon("create (tree)", createRow, 64),
      ...(bigRow ? [anon(`create (${prettySize(sizes.memoryBytes)} file)`, bigRow, 64)] : []),
      ...(manyRow ? [anon(`create (${manyName})`, manyRow, 64)] : []),
      anon("restore", restoreRow, 96),
      anon("verify", verifyRow, 96),
      {
        name: "bytes stored / 0.4.0's",
        value: storedRatio,
        digits: 3,
        limit: "≤ 1.01",
        met: storedRatio === undefined ? undefined : storedRatio <= 1.01,
        detail: `${fmtBytes(createRow?.stored)} against ${fmtBytes(createRow?.old?.stored)}`,
      },
    ];
    // Only the targets of the parts that ran.
    const ranOnly = parts.has("tree") ? treeTargets : treeTargets.filter((t) => t.value);
    const targets = [...ranOnly, ...pathsTargets];

    const header = [
      `## spare bench (${sizes.mode}): ${new Date().toISOString()}`,
      "",
      `Machine: ${await machineInfo(s3, loadBefore, codec)}; load average ${
        fmt(loadAverage(), 2)
      } at the end.`,
      `Data: ${tree.length} files, ${treeMiB.toFixed(1)} MiB (${prettySize(sizes.mixedBytes)} ` +
      `half random, half text; ${sizes.textFiles} text files of 1–50 KiB)` +
      (parts.has("big") || parts.has("many")
        ? `; one ${prettySize(sizes.memoryBytes)} file; ${manyName} (${manyMiB.toFixed(1)} MiB)`
        : "") +
      (parts.has("paths")
        ? `; trees of ${pathCounts.join(", ")} files of a few bytes in folders of 1,000`
        : "") +
      `. spare 0.4.0: ${
        oldScript ? "run beside us (SPARE_040)" : "not run (SPARE_040 not set)"
      }. ` +
      "Times are wall seconds; CPU, RssAnon and VmRSS are the client's; server CPU is what " +
      "the S3 server's processes spent during the same run, on the same cores.",
    ].join("\n");
    const text = `${header}\n\n${renderRows(rows)}\n\n${renderTargets(targets)}\n` +
      (sizes.mode === "quick" ? "\n(quick data: the targets are meant for the full run)\n" : "");
    console.log(`\n${text}`);
    await Deno.writeTextFile(`${dataDir}/results.md`, text);
    log(`written to ${dataDir}/results.md`);
    return 0;
  } finally {
    store?.close();
    await Deno.remove(restoreDir, { recursive: true }).catch(() => {});
    server ??= await serverPromise.catch(() => undefined);
    if (server) {
      log("stopping the S3 server");
      await server.stop().catch((err) => log(`stopping the server failed: ${err}`));
    }
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGTERM", sigterm);
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main();
  } catch (err) {
    if (abort.signal.aborted) {
      code = 130;
    } else {
      console.error(`bench failed: ${err instanceof Error ? err.message : err}`);
      code = 1;
    }
  }
  Deno.exit(code);
}
