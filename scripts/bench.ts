/**
 * `deno task bench [--quick] [--dir DIR] [--no-memory]`: the performance bench of issue 5.
 *
 * 1. Builds a deterministic tree under DIR (default `.bench/` in the repository, which is
 *    gitignored), in `DIR/full/` (or `DIR/quick/`), and reuses it when it is already there
 *    with the right sizes:
 *    - `tree/mixed-200MiB.bin`: the first half pseudo-random bytes (xorshift128), the second
 *      half text that looks like application logs;
 *    - `tree/text/dNN/fNNNN.txt`: 2,000 text files of 1–50 KiB (logs and prose);
 *    - `memory/big-1GiB.bin`, for the memory check in a run of its own: real (non-sparse)
 *      data, 2.5 MiB pseudo-random and 1 MiB text in turn (so blocks straddle both kinds);
 *    - `many/dNNN/fNNNNN.txt`: 20,000 text files of 1–4 KiB, for a second memory run (a
 *      tree of many files).
 *    `--quick` builds 20 MiB / 200 files / 100 MiB / 2,000 files instead, for a fast round.
 * 2. Starts a throwaway S3 server (scripts/s3_server.ts) and stops it at the end, also on
 *    SIGINT or SIGTERM.
 * 3. Runs spare (`deno run <the spare task's flags> main.ts`, SPARE_* variables) as a child:
 *    create into a fresh bucket, create again over the unchanged tree, restore into an empty
 *    directory, verify; create --jobs 0 into another fresh bucket; create of the 1 GiB file
 *    into a third one, of the 20,000 files into a fourth. Each child runs under GNU time (`/usr/bin/time`; Debian:
 *    `apt-get install time`) for its user+sys CPU time and peak RSS; without it, bash's
 *    `time` gives the CPU time and peak RSS is reported as not measured.
 * 4. Measures yardsticks in the same run on the same files: `b2sum -l 256`,
 *    `xz -6 -T1 --block-size=1MiB` (one process, one .xz stream per file, like spare),
 *    `xz -d` of that output, and raw PUT/GET of 1 MiB objects to the same server, one at a
 *    time and 8 in flight; and, for reference (no target uses them), one GET of every object
 *    create stored, 8 in flight, through the SDK and through `fetch` with our own SigV4
 *    signing (scripts/fetch_get.ts), which show what the requests of a restore cost by
 *    themselves and how much of that is the SDK.
 * 5. Prints one Markdown table of runs and yardsticks, then the targets of issue 5 with the
 *    measured ratios, and, for reference, restore and verify against `xz -d` plus the GETs
 *    of the stored objects. The tables are also written to DIR/<full|quick>/results.md.
 *
 * It exits 0 whatever the timings are; 1 on a real error (a spare command or a yardstick
 * failing, a restore that does not match the tree), 130 when interrupted.
 *
 * Needs `xz` and `b2sum` on the PATH and Ceph (or a `minio` binary) for the S3 server.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { type ObjectInfo, ObjectStore } from "../lib/s3.ts";
import { FetchGetter } from "./fetch_get.ts";
import { passThroughEnv, spareTaskFlags } from "../tests/cli.ts";
import { type S3Server, startS3Server } from "./s3_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MIB = 1024 * 1024;
const KIB = 1024;
/** Bump when the generated content changes, so that old trees are rebuilt. */
const GENERATOR_VERSION = 1;
const GNU_TIME = "/usr/bin/time";
const PASSWORD = "bench password";

const USAGE = `deno task bench [--quick] [--dir DIR] [--no-memory]

  --quick       small data (20 MiB file, 200 text files; memory runs: 100 MiB, 2,000 files)
  --dir DIR     work directory for the generated data (default .bench/ in the repository)
  --no-memory   leave out the memory runs (the 1 GiB file, the 20,000 files)`;

// ---------------------------------------------------------------------------------------
// Deterministic data

/** xorshift128: fast, deterministic, and good enough to defeat any compressor. */
class Rng {
  private x: number;
  private y: number;
  private z: number;
  private w: number;

  constructor(seed: number) {
    // splitmix32 spreads the seed over the four state words (never all zero).
    let s = seed >>> 0;
    const mix = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      return (t ^ (t >>> 16)) >>> 0;
    };
    this.x = mix();
    this.y = mix();
    this.z = mix();
    this.w = mix() | 1;
  }

  /** The next 32-bit unsigned number. */
  next(): number {
    const t = this.x ^ (this.x << 11);
    this.x = this.y;
    this.y = this.z;
    this.z = this.w;
    this.w = (this.w ^ (this.w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.w;
  }

  /** A whole number in [0, n). */
  below(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }

  /** One element of `list`, earlier ones more often (roughly Zipf-like). */
  skewed<T>(list: readonly T[]): T {
    const u = this.next() / 4294967296;
    return list[Math.floor(u * u * u * list.length)];
  }

  pick<T>(list: readonly T[]): T {
    return list[this.below(list.length)];
  }

  /** Fills `out` with pseudo-random bytes (words little-endian, as on every platform we run). */
  fill(out: Uint8Array): void {
    const words = out.length >>> 2;
    let { x, y, z, w } = this;
    // Words go straight into `out` when it is 4-byte aligned, else through a copy.
    const u32 = out.byteOffset % 4 === 0
      ? new Uint32Array(out.buffer, out.byteOffset, words)
      : new Uint32Array(words);
    for (let i = 0; i < words; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
      u32[i] = w;
    }
    if (u32.buffer !== out.buffer) out.set(new Uint8Array(u32.buffer, 0, words * 4));
    Object.assign(this, { x, y, z, w });
    for (let i = words * 4; i < out.length; i++) out[i] = this.next();
  }
}

const WORDS = (
  "the of and to a in is it that was for on are as with his they at be this from have or " +
  "by one had not but what all were when we there can an your which their said if do will " +
  "each about how up out them then she many some so these would other into has more her two " +
  "like him see time could no make than first been its who now people my made over did down " +
  "only way find use may water long little very after words called just where most know get " +
  "through back much before go good new write our used me man too any day same right look " +
  "think also around another came come work three word must because does part even place " +
  "well such here take why things help put years different away again off went old number " +
  "great tell men say small every found still between name should home big give air line set " +
  "own under read last never us left end along while might next sound below saw something " +
  "thought both few those always looked show large often together asked house world going " +
  "want school important until form food keep children feet land side without boy once " +
  "animals life enough took sometimes four head above kind began almost live page got earth " +
  "need far hand high year mother light parts country father let night following picture " +
  "being study second eyes soon times story boys since white days ever paper hard near " +
  "sentence better best across during today others however sure means knew try told young " +
  "miles sun ways thing whole hear example heard several change answer room sea against top " +
  "turned learn point city play toward five using himself usually server request backup " +
  "archive storage bucket snapshot block digest compress encrypt upload restore verify"
).split(" ");
const COMPONENTS = [
  "http.server",
  "db.pool",
  "auth",
  "scheduler",
  "cache",
  "queue.worker",
  "api.v2",
  "storage",
  "mailer",
  "metrics",
  "search.index",
  "billing",
  "session",
  "replication",
  "gc",
];
const LEVELS = ["INFO ", "INFO ", "INFO ", "INFO ", "DEBUG", "DEBUG", "DEBUG", "WARN ", "ERROR"];
const METHODS = ["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"];
const RESOURCES = ["users", "orders", "items", "invoices", "sessions", "files", "reports"];
const STATUSES = [200, 200, 200, 200, 200, 201, 204, 304, 400, 403, 404, 500];
const USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"];
const JOBS = ["reindex", "rotate-logs", "send-digest", "expire-sessions", "sync-ledger"];

/** Deterministic text: application log lines, or prose paragraphs. */
class TextGen {
  private readonly rng: Rng;
  private clock: number;
  private rest = new Uint8Array(0);
  private readonly encoder = new TextEncoder();

  constructor(seed: number, private readonly style: "log" | "prose") {
    this.rng = new Rng(seed);
    this.clock = Date.UTC(2024, 0, 1) + this.rng.below(300 * 86_400_000);
  }

  private sentence(): string {
    const r = this.rng;
    const n = 5 + r.below(14);
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(r.skewed(WORDS));
    const text = words.join(" ");
    return text[0].toUpperCase() + text.slice(1) + (r.below(8) === 0 ? "?" : ".");
  }

  private hex(): string {
    return this.rng.next().toString(16).padStart(8, "0");
  }

  private logLine(): string {
    const r = this.rng;
    this.clock += r.below(40);
    const head = `${new Date(this.clock).toISOString()} ${r.pick(LEVELS)} [${
      r.skewed(COMPONENTS)
    }]`;
    switch (r.below(7)) {
      case 0:
      case 1:
        return `${head} ${r.pick(METHODS)} /api/v2/${r.pick(RESOURCES)}/${r.below(100000)} ${
          r.pick(STATUSES)
        } ${(r.below(20000) / 10).toFixed(1)}ms req=${this.hex()}\n`;
      case 2:
        return `${head} pool stats: active=${r.below(32)} idle=${r.below(16)} waiting=${
          r.below(4)
        }\n`;
      case 3:
        return `${head} job ${r.pick(JOBS)}#${r.below(1_000_000)} finished in ${
          r.below(90000)
        }ms (${r.below(5000)} items)\n`;
      case 4:
        return `${head} user ${r.pick(USERS)} logged in from 10.${r.below(256)}.${r.below(256)}.${
          r.below(256)
        } session=${this.hex()}${this.hex()}\n`;
      case 5:
        return `${head} cache miss for ${r.pick(RESOURCES)}:${r.below(100000)}, loaded in ${
          r.below(500)
        }ms\n`;
      default:
        return `${head} ${this.sentence()}\n`;
    }
  }

  private paragraph(): string {
    const n = 2 + this.rng.below(7);
    const sentences: string[] = [];
    for (let i = 0; i < n; i++) sentences.push(this.sentence());
    return sentences.join(" ") + "\n\n";
  }

  /** Fills `out` with the next bytes of the text (ASCII only). */
  fill(out: Uint8Array): void {
    let pos = Math.min(this.rest.length, out.length);
    out.set(this.rest.subarray(0, pos));
    this.rest = this.rest.subarray(pos);
    while (pos < out.length) {
      const need = out.length - pos;
      const parts: string[] = [];
      let length = 0;
      while (length < need) {
        const piece = this.style === "log" ? this.logLine() : this.paragraph();
        parts.push(piece);
        length += piece.length;
      }
      const bytes = this.encoder.encode(parts.join(""));
      const n = Math.min(bytes.length, need);
      out.set(bytes.subarray(0, n), pos);
      pos += n;
      this.rest = bytes.subarray(n);
    }
  }
}

/** One stretch of a generated file. */
interface Segment {
  bytes: number;
  source: { fill(out: Uint8Array): void };
}

/** A file of the generated data: its path relative to its directory, size, and content. */
interface PlannedFile {
  rel: string;
  size: number;
  segments: () => Segment[];
}

/** The sizes of one data set. */
interface Sizes {
  mode: "full" | "quick";
  mixedBytes: number;
  textFiles: number;
  memoryBytes: number;
  /** Small files of the second memory run (a tree of many files). */
  manyFiles: number;
  rawObjects: number;
}

const FULL: Sizes = {
  mode: "full",
  mixedBytes: 200 * MIB,
  textFiles: 2000,
  memoryBytes: 1024 * MIB,
  manyFiles: 20_000,
  rawObjects: 100,
};
const QUICK: Sizes = {
  mode: "quick",
  mixedBytes: 20 * MIB,
  textFiles: 200,
  memoryBytes: 100 * MIB,
  manyFiles: 2_000,
  rawObjects: 100,
};

function sizeName(bytes: number): string {
  return bytes % (1024 * MIB) === 0 ? `${bytes / 1024 / MIB}GiB` : `${bytes / MIB}MiB`;
}

/** "1 GiB", "200 MiB". */
function prettySize(bytes: number): string {
  return sizeName(bytes).replace(/(\d)([GM])/, "$1 $2");
}

/** The backup tree: the half random, half text file and the small text files. */
function treePlan(sizes: Sizes): PlannedFile[] {
  const half = Math.floor(sizes.mixedBytes / 2 / MIB) * MIB;
  const files: PlannedFile[] = [{
    rel: `mixed-${sizeName(sizes.mixedBytes)}.bin`,
    size: sizes.mixedBytes,
    segments: () => [
      { bytes: half, source: new Rng(1) },
      { bytes: sizes.mixedBytes - half, source: new TextGen(2, "log") },
    ],
  }];
  const sizeRng = new Rng(3);
  for (let i = 0; i < sizes.textFiles; i++) {
    const size = KIB + sizeRng.below(49 * KIB + 1);
    const dir = String(Math.floor(i / 100)).padStart(2, "0");
    const seed = 1000 + i;
    files.push({
      rel: `text/d${dir}/f${String(i).padStart(4, "0")}.txt`,
      size,
      segments: () => [{ bytes: size, source: new TextGen(seed, i % 3 === 2 ? "prose" : "log") }],
    });
  }
  return files;
}

/** The memory check's single large file: 2.5 MiB random and 1 MiB text in turn. */
function memoryPlan(sizes: Sizes): PlannedFile[] {
  return [{
    rel: `big-${sizeName(sizes.memoryBytes)}.bin`,
    size: sizes.memoryBytes,
    segments: () => {
      const random = new Rng(4);
      const text = new TextGen(5, "log");
      const list: Segment[] = [];
      for (let left = sizes.memoryBytes, i = 0; left > 0; i++) {
        const want = i % 2 === 0 ? 2.5 * MIB : MIB;
        const bytes = Math.min(want, left);
        list.push({ bytes, source: i % 2 === 0 ? random : text });
        left -= bytes;
      }
      return list;
    },
  }];
}

/** The second memory check: many small text files (1–4 KiB), 100 to a directory. */
function manyPlan(sizes: Sizes): PlannedFile[] {
  const sizeRng = new Rng(6);
  return Array.from({ length: sizes.manyFiles }, (_, i) => {
    const size = KIB + sizeRng.below(3 * KIB + 1);
    const seed = 100_000 + i;
    return {
      rel: `d${String(Math.floor(i / 100)).padStart(3, "0")}/f${String(i).padStart(5, "0")}.txt`,
      size,
      segments: () => [{ bytes: size, source: new TextGen(seed, "log") }],
    };
  });
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await file.write(data.subarray(off));
}

async function writePlanned(path: string, planned: PlannedFile, signal: AbortSignal) {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const buffer = new Uint8Array(MIB);
    for (const segment of planned.segments()) {
      for (let left = segment.bytes; left > 0;) {
        signal.throwIfAborted();
        const chunk = buffer.subarray(0, Math.min(MIB, left));
        segment.source.fill(chunk);
        await writeAll(file, chunk);
        left -= chunk.length;
      }
    }
  } finally {
    file.close();
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.isFile ? info.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes `dir` hold exactly the planned files: reused when the marker `dir.json` names this
 * generator and every file has its size, rebuilt from scratch otherwise.
 */
async function ensureData(
  dir: string,
  plan: PlannedFile[],
  signal: AbortSignal,
  log: (msg: string) => void,
): Promise<void> {
  const marker = `${dir}.json`;
  const expected = JSON.stringify({
    version: GENERATOR_VERSION,
    files: plan.length,
    bytes: plan.reduce((n, f) => n + f.size, 0),
  });
  let current: string | undefined;
  try {
    current = await Deno.readTextFile(marker);
  } catch { /* no marker */ }
  if (current === expected) {
    const sizes = await Promise.all(plan.map((f) => sizeOf(`${dir}/${f.rel}`)));
    if (sizes.every((s, i) => s === plan[i].size)) {
      log(`reusing ${dir}`);
      return;
    }
  }
  const t = performance.now();
  await Deno.remove(marker).catch(() => {});
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  for (const planned of plan) await writePlanned(`${dir}/${planned.rel}`, planned, signal);
  await Deno.writeTextFile(marker, expected);
  log(`built ${dir} (${plan.length} files) in ${((performance.now() - t) / 1000).toFixed(1)}s`);
}

// ---------------------------------------------------------------------------------------
// Measuring child processes

/** What one measured run took. */
interface Measured {
  wall: number;
  cpu: number;
  rssMiB?: number;
  code: number;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  clearEnv?: boolean;
}

/** How children are timed: GNU time (wall, CPU, peak RSS), bash's `time` (no RSS), or none. */
type Timer = "gnu-time" | "bash" | "none";
let timer: Timer | undefined;
/** PIDs of the children running now (for passing on SIGINT). */
const running = new Set<number>();

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

async function chooseTimer(): Promise<Timer> {
  if (timer === undefined) {
    if (await succeeds(GNU_TIME, ["-o", "/dev/null", "-f", "%M", "true"])) timer = "gnu-time";
    else if (await succeeds("bash", ["-c", "time true"])) timer = "bash";
    else timer = "none";
  }
  return timer;
}

/** Runs `cmd args` to the end, with its wall time, user+sys CPU time and peak RSS. */
async function measure(cmd: string, args: string[], opts: RunOptions = {}): Promise<Measured> {
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
async function signalTree(pid: number, signal: Deno.Signal): Promise<void> {
  for (const p of [...await descendants(pid), pid]) {
    try {
      Deno.kill(p, signal);
    } catch { /* already gone */ }
  }
}

// ---------------------------------------------------------------------------------------
// The bench

/** One row of the table. */
interface Row {
  name: string;
  wall: number;
  cpu?: number;
  rssMiB?: number;
  mibps?: number;
  stored?: number;
  note?: string;
}

class Interrupted extends Error {
  constructor() {
    super("interrupted");
  }
}

/** Aborted by SIGINT or SIGTERM. */
const abort = new AbortController();

function failure(what: string, m: Measured): Error {
  const tail = (text: string) => text.trim().split("\n").slice(-15).join("\n");
  return new Error(
    `${what} exited with code ${m.code}\n${tail(m.stderr)}${
      m.stdout.trim() ? `\nstdout: ${tail(m.stdout)}` : ""
    }`,
  );
}

function bucketName(prefix: string): string {
  const hex = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return `bench-${prefix}-${hex}`;
}

async function storedBytes(store: ObjectStore, bucket: string) {
  let objects = 0;
  let bytes = 0;
  for await (const o of store.list(bucket)) {
    objects++;
    bytes += o.size;
  }
  return { objects, bytes };
}

/** Paths and sizes of every regular file under `dir`, relative to it, sorted. */
async function walkFiles(dir: string, prefix = ""): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const entries = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) entries.push(e);
  for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) { for (const [k, v] of await walkFiles(dir, rel)) out.set(k, v); }
    else if (e.isFile) out.set(rel, (await Deno.stat(`${dir}/${rel}`)).size);
  }
  return out;
}

/** Runs `count` tasks with at most `width` at once. */
async function inParallel(count: number, width: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, count) }, async () => {
    while (next < count) await fn(next++);
  }));
}

async function timedInProcess(fn: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

/** Raw 1 MiB PUT and GET throughput: one at a time and 8 in flight. */
async function rawS3(
  store: ObjectStore,
  n: number,
  signal: AbortSignal,
): Promise<{ rows: Row[]; getParallelMiBps: number }> {
  const bucket = bucketName("raw");
  await store.createBucket(bucket);
  const body = new Uint8Array(MIB);
  new Rng(6).fill(body);
  await store.put(bucket, "warm-up", body); // opens the connection
  const rows: Row[] = [];
  const mib = (n * MIB) / MIB;
  const add = (name: string, t: { wall: number; cpu: number }, stored?: number) =>
    rows.push({ name, wall: t.wall, cpu: t.cpu, mibps: mib / t.wall, stored });
  const check = () => signal.throwIfAborted();

  add(
    `raw PUT ${n} × 1 MiB, sequential`,
    await timedInProcess(async () => {
      for (let i = 0; i < n; i++) {
        check();
        await store.put(bucket, `seq/${i}`, body);
      }
    }),
  );
  add(
    `raw PUT ${n} × 1 MiB, 8 in flight`,
    await timedInProcess(() =>
      inParallel(n, 8, async (i) => {
        check();
        await store.put(bucket, `par/${i}`, body);
      })
    ),
  );
  const getOne = async (key: string) => {
    check();
    const got = await store.get(bucket, key);
    if (got.length !== MIB) throw new Error(`raw GET ${key}: ${got.length} bytes`);
  };
  add(
    `raw GET ${n} × 1 MiB, sequential`,
    await timedInProcess(async () => {
      for (let i = 0; i < n; i++) await getOne(`seq/${i}`);
    }),
  );
  const parallel = await timedInProcess(() => inParallel(n, 8, (i) => getOne(`par/${i}`)));
  add(`raw GET ${n} × 1 MiB, 8 in flight`, parallel);
  return { rows, getParallelMiBps: mib / parallel.wall };
}

/**
 * GETs every object of `bucket` once, 8 in flight, in this process, with `get`: what
 * fetching the objects of a restore costs by itself, per request as well as per byte.
 */
async function getEveryObject(
  name: string,
  store: ObjectStore,
  bucket: string,
  get: (key: string) => Promise<Uint8Array>,
  signal: AbortSignal,
): Promise<Row> {
  const objects: ObjectInfo[] = [];
  for await (const o of store.list(bucket)) objects.push(o);
  const bytes = objects.reduce((n, o) => n + o.size, 0);
  const t = await timedInProcess(() =>
    inParallel(objects.length, 8, async (i) => {
      signal.throwIfAborted();
      const got = await get(objects[i].key);
      if (got.length !== objects[i].size) {
        throw new Error(`${name}: ${objects[i].key}: ${got.length} of ${objects[i].size} bytes`);
      }
    })
  );
  return {
    name: `${name} of the ${objects.length.toLocaleString("en-US")} stored objects, 8 in flight`,
    ...t,
    mibps: bytes / MIB / t.wall,
  };
}

async function machineInfo(server: S3Server, loadBefore: number | undefined): Promise<string> {
  let cpu = "unknown CPU";
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", "grep -m1 'model name' /proc/cpuinfo"],
      stdout: "piped",
      stderr: "null",
    }).output();
    cpu = /:\s*(.+)/.exec(new TextDecoder().decode(out.stdout))?.[1]?.trim() || cpu;
  } catch { /* no /proc */ }
  let os: string = Deno.build.os;
  try {
    const release = await Deno.readTextFile("/etc/os-release");
    os = /PRETTY_NAME="?([^"\n]+)/.exec(release)?.[1] ?? os;
  } catch { /* no os-release */ }
  let mem = "";
  try {
    mem = `, ${(Deno.systemMemoryInfo().total / 1024 ** 3).toFixed(0)} GiB RAM`;
  } catch { /* not granted */ }
  const load = loadBefore === undefined
    ? ""
    : `; load average ${loadBefore.toFixed(2)} before the first measured run`;
  let addon = "lzma-native addon unknown";
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "build-lzma", "--check"],
      stdout: "piped",
      stderr: "null",
    }).output();
    addon = new TextDecoder().decode(out.stdout).replace(/ \(\/.*$/s, "").trim() || addon;
  } catch { /* deno task failed to start */ }
  return `${cpu}, ${navigator.hardwareConcurrency} cores${mem}, ${os}; deno ${Deno.version.deno}; ` +
    `${addon}; S3 server: ${server.kind} on 127.0.0.1 (shares the cores)${load}`;
}

function loadAverage(): number | undefined {
  try {
    return Deno.loadavg()[0];
  } catch {
    return undefined;
  }
}

function fmt(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? "—" : value.toFixed(digits);
}

function fmtBytes(value: number | undefined): string {
  return value === undefined ? "—" : value.toLocaleString("en-US");
}

function renderRows(rows: Row[]): string {
  const lines = [
    "| run | wall s | CPU s | peak RSS MiB | MiB/s | bytes stored |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name}${r.note ? ` (${r.note})` : ""} | ${fmt(r.wall, 2)} | ${fmt(r.cpu, 2)} | ${
        fmt(r.rssMiB, 1)
      } | ${fmt(r.mibps, 1)} | ${fmtBytes(r.stored)} |`,
    );
  }
  return lines.join("\n");
}

interface Target {
  name: string;
  value: number | undefined;
  digits: number;
  limit: string;
  met: boolean | undefined;
  detail?: string;
  /** Printed for comparison only: no target of the issue. */
  reference?: boolean;
}

function renderTargets(targets: Target[]): string {
  const lines = ["| target | measured | limit | |", "| --- | ---: | ---: | --- |"];
  for (const t of targets) {
    const verdict = t.reference
      ? "for reference"
      : t.met === undefined
      ? "not measured"
      : t.met
      ? "met"
      : "not met";
    lines.push(
      `| ${t.name}${t.detail ? ` (${t.detail})` : ""} | ${
        fmt(t.value, t.digits)
      } | ${t.limit} | ${verdict} |`,
    );
  }
  return lines.join("\n");
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
  const xzOut = `${dataDir}/yardstick.xz`;
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

  for (const tool of ["xz", "b2sum"]) {
    const ok = await new Deno.Command(tool, { args: ["--version"], stdout: "null" }).output()
      .then((o) => o.success, () => false);
    if (!ok) {
      throw new Error(`${tool} is not on the PATH (Debian: apt-get install xz-utils coreutils)`);
    }
  }
  const how = await chooseTimer();
  if (how !== "gnu-time") {
    log(
      `${GNU_TIME} (GNU time; Debian: apt-get install time) is missing: ` +
        (how === "bash"
          ? "CPU time comes from bash's time, peak RSS is not measured"
          : "neither CPU time nor peak RSS is measured"),
    );
  }

  const tree = treePlan(sizes);
  const memory = memoryPlan(sizes);
  const many = manyPlan(sizes);
  const treeBytes = tree.reduce((n, f) => n + f.size, 0);
  const treeMiB = treeBytes / MIB;

  // The server starts (about 17 s for Ceph) while the data is generated.
  log(`starting the S3 server; data in ${dataDir}`);
  const serverPromise = startS3Server({ log: (m) => log(`s3: ${m}`), signal: abort.signal });
  serverPromise.catch(() => {}); // awaited below
  let server: S3Server | undefined;
  let store: ObjectStore | undefined;
  const rows: Row[] = [];
  try {
    await Deno.mkdir(dataDir, { recursive: true });
    await ensureData(treeDir, tree, abort.signal, log);
    if (!flags["no-memory"]) {
      await ensureData(memoryDir, memory, abort.signal, log);
      await ensureData(manyDir, many, abort.signal, log);
    }
    server = await serverPromise;
    checkAbort();
    store = new ObjectStore({
      endpoint: server.endpoint,
      accessKey: server.accessKey,
      secretKey: server.secretKey,
    });
    const files = tree.map((f) => f.rel);

    const loadBefore = loadAverage();

    // Yardsticks.
    const yard = async (name: string, script: string, args: string[]) => {
      log(name);
      const m = await measure("sh", ["-c", script, "sh", ...args], { cwd: treeDir });
      checkAbort();
      if (m.code !== 0) throw failure(name, m);
      return m;
    };
    const b2 = await yard("b2sum -l 256", 'exec b2sum -l 256 -- "$@" >/dev/null', files);
    const xz = await yard(
      "xz -6 -T1 --block-size=1MiB",
      'out=$1; shift; exec xz -6 -T1 --block-size=1MiB -c -- "$@" >"$out"',
      [xzOut, ...files],
    );
    const xzBytes = (await Deno.stat(xzOut)).size;
    const xzd = await yard("xz -d", 'exec xz -d -c -- "$1" >/dev/null', [xzOut]);
    await Deno.remove(xzOut);
    log("raw PUT/GET");
    const raw = await rawS3(store, sizes.rawObjects, abort.signal);
    checkAbort();

    // spare.
    const flagsOfSpare = spareTaskFlags();
    const spareEnv = (bucket: string, path: string) => ({
      ...passThroughEnv(),
      NO_COLOR: "1",
      SPARE_ENDPOINT: server!.endpoint,
      SPARE_ACCESS_KEY: server!.accessKey,
      SPARE_SECRET_KEY: server!.secretKey,
      SPARE_BUCKET: bucket,
      SPARE_PASSWORD: PASSWORD,
      SPARE_PATH: path,
    });
    const spareRun = async (
      name: string,
      args: string[],
      bucket: string,
      path: string,
      sourceMiB: number,
    ) => {
      log(`spare ${args.join(" ")} (${name})`);
      const m = await measure(
        Deno.execPath(),
        ["run", "--quiet", ...flagsOfSpare, `${ROOT}main.ts`, ...args, "--json"],
        { cwd: ROOT, env: spareEnv(bucket, path), clearEnv: true },
      );
      checkAbort();
      if (m.code !== 0) throw failure(`spare ${args.join(" ")}`, m);
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(m.stdout.trim().split("\n").at(-1) ?? "{}");
      } catch { /* no JSON: nothing extra to report */ }
      const { bytes } = await storedBytes(store!, bucket);
      const row: Row = {
        name,
        wall: m.wall,
        cpu: m.cpu,
        rssMiB: m.rssMiB,
        mibps: sourceMiB / m.wall,
        stored: bytes,
      };
      log(`  ${m.wall.toFixed(2)} s, ${fmt(m.rssMiB, 1)} MiB peak RSS`);
      return { row, json };
    };
    // Compiles and caches main.ts's module graph, so no measured run pays for it.
    const warm = await measure(
      Deno.execPath(),
      ["run", "--quiet", ...flagsOfSpare, `${ROOT}main.ts`, "--version"],
      { cwd: ROOT, env: { ...passThroughEnv(), NO_COLOR: "1" }, clearEnv: true },
    );
    if (warm.code !== 0) throw failure("spare --version", warm);

    const mainBucket = bucketName("main");
    const create = await spareRun("create", ["create"], mainBucket, treeDir, treeMiB);
    const unchanged = await spareRun("create-unchanged", ["create"], mainBucket, treeDir, treeMiB);
    const reused = unchanged.json.filesReused;
    if (typeof reused === "number") {
      unchanged.row.note = `${reused} of ${unchanged.json.filesTotal} files reused`;
    }
    await Deno.remove(restoreDir, { recursive: true }).catch(() => {});
    await Deno.mkdir(restoreDir);
    const restore = await spareRun("restore", ["restore"], mainBucket, restoreDir, treeMiB);
    const restored = await walkFiles(restoreDir);
    const mismatched = tree.filter((f) => restored.get(f.rel) !== f.size);
    if (mismatched.length || restored.size !== tree.length) {
      throw new Error(
        `the restore does not match the tree: ${restored.size} files restored, ` +
          `${mismatched.length} missing or of the wrong size (e.g. ${mismatched[0]?.rel})`,
      );
    }
    await Deno.remove(restoreDir, { recursive: true });
    const verify = await spareRun("verify", ["verify"], mainBucket, treeDir, treeMiB);
    log("raw GET of the stored objects, through the SDK and through fetch");
    const sdkStore = store;
    const getStored = await getEveryObject(
      "raw GET",
      store,
      mainBucket,
      (key) => sdkStore.get(mainBucket, key),
      abort.signal,
    );
    const getter = new FetchGetter(server);
    const getStoredFetch = await getEveryObject(
      "raw GET with fetch and own SigV4, no SDK,",
      store,
      mainBucket,
      (key) => getter.get(mainBucket, key, abort.signal),
      abort.signal,
    );
    const jobs0 = await spareRun(
      "create --jobs 0",
      ["create", "--jobs", "0"],
      bucketName("jobs0"),
      treeDir,
      treeMiB,
    );
    let big: Row | undefined;
    let manyRow: Row | undefined;
    const manyName = `${sizes.manyFiles.toLocaleString("en-US")} files`;
    if (!flags["no-memory"]) {
      big = (await spareRun(
        `create ${prettySize(sizes.memoryBytes)} (memory)`,
        ["create"],
        bucketName("memory"),
        memoryDir,
        sizes.memoryBytes / MIB,
      )).row;
      manyRow = (await spareRun(
        `create ${manyName} (memory)`,
        ["create"],
        bucketName("many"),
        manyDir,
        many.reduce((n, f) => n + f.size, 0) / MIB,
      )).row;
    }
    rows.push(create.row, jobs0.row, unchanged.row, restore.row, verify.row);
    if (big) rows.push(big);
    if (manyRow) rows.push(manyRow);
    rows.push(
      {
        name: "xz -6 -T1 --block-size=1MiB",
        ...measuredRow(xz),
        mibps: treeMiB / xz.wall,
        stored: xzBytes,
      },
      { name: "xz -d", ...measuredRow(xzd), mibps: treeMiB / xzd.wall },
      { name: "b2sum -l 256", ...measuredRow(b2), mibps: treeMiB / b2.wall },
      ...raw.rows,
      getStored,
      getStoredFetch,
    );

    // Targets.
    const storedMiB = create.row.stored! / MIB;
    const getSeconds = storedMiB / raw.getParallelMiBps;
    const restoreBase = xzd.wall + getSeconds;
    const baseDetail = `÷ (xz -d ${xzd.wall.toFixed(2)} s + GET of ${storedMiB.toFixed(1)} MiB at ${
      raw.getParallelMiBps.toFixed(0)
    } MiB/s ${getSeconds.toFixed(2)} s)`;
    const ratio = (
      name: string,
      value: number,
      limit: number,
      detail?: string,
      digits = 2,
    ): Target => ({
      name,
      value,
      digits,
      limit: `≤ ${limit}`,
      met: value <= limit,
      detail,
    });
    const rss = (name: string, row: Row | undefined, limit: number): Target => ({
      name: `peak RSS ${name}, MiB`,
      value: row?.rssMiB,
      digits: 1,
      limit: `< ${limit}`,
      met: row?.rssMiB === undefined ? undefined : row.rssMiB < limit,
    });
    const targets: Target[] = [
      ratio("create / xz -6 -T1 time", create.row.wall / xz.wall, 0.7),
      ratio("create --jobs 0 / xz -6 -T1 time", jobs0.row.wall / xz.wall, 0.4),
      ratio(`create-unchanged wall s (${tree.length} files)`, unchanged.row.wall, 1.5),
      ratio(
        "restore / (xz -d + raw GET of stored bytes)",
        restore.row.wall / restoreBase,
        1.5,
        baseDetail,
      ),
      ratio("verify / (xz -d + raw GET of stored bytes)", verify.row.wall / restoreBase, 1.5),
      ...([["restore", restore], ["verify", verify]] as const).map(([name, run]): Target => ({
        name: `${name} / (xz -d + raw GET of the stored objects, per request)`,
        value: run.row.wall / (xzd.wall + getStored.wall),
        digits: 2,
        limit: "—",
        met: undefined,
        reference: true,
      })),
      rss("create", create.row, 100),
      rss("create-unchanged", unchanged.row, 100),
      ...(big ? [rss(`create ${prettySize(sizes.memoryBytes)}`, big, 100)] : []),
      ...(manyRow ? [rss(`create ${manyName}`, manyRow, 100)] : []),
      rss("restore", restore.row, 150),
      rss("verify", verify.row, 150),
      ratio(
        "bytes stored / xz -6 output",
        create.row.stored! / xzBytes,
        1.01,
        `${fmtBytes(create.row.stored)} vs ${fmtBytes(xzBytes)}`,
        3,
      ),
    ];

    const header = [
      `## spare bench (${sizes.mode}): ${new Date().toISOString()}`,
      "",
      `Machine: ${await machineInfo(server, loadBefore)}.`,
      `Data: ${tree.length} files, ${treeMiB.toFixed(1)} MiB (${
        prettySize(sizes.mixedBytes)
      } half ` +
      `random, half text; ${sizes.textFiles} text files of 1–50 KiB)` +
      (flags["no-memory"]
        ? ""
        : `; memory runs: one ${prettySize(sizes.memoryBytes)} file, and ${manyName} of 1–4 KiB`) +
      `. CPU time and peak RSS are the client's (spare or the tool), not the server's; ` +
      `raw PUT/GET run inside the bench process.`,
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
    await Deno.remove(xzOut).catch(() => {});
    server ??= await serverPromise.catch(() => undefined);
    if (server) {
      log("stopping the S3 server");
      await server.stop().catch((err) => log(`stopping the server failed: ${err}`));
    }
    Deno.removeSignalListener("SIGINT", sigint);
    Deno.removeSignalListener("SIGTERM", sigterm);
  }
}

function measuredRow(m: Measured): { wall: number; cpu: number; rssMiB?: number } {
  return { wall: m.wall, cpu: m.cpu, rssMiB: m.rssMiB };
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
