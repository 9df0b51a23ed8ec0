/** The bench's deterministic data: pseudo-random and text-like files, planned and written once. */

/** Bytes in a MiB. */
export const MIB = 1024 * 1024;
const KIB = 1024;
/** Bump when the generated content changes, so that old trees are rebuilt. */
const GENERATOR_VERSION = 1;

/** xorshift128: fast, deterministic, and good enough to defeat any compressor. */
export class Rng {
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
export interface Segment {
  bytes: number;
  source: { fill(out: Uint8Array): void };
}

/** A file of the generated data: its path relative to its directory, size, and content. */
export interface PlannedFile {
  rel: string;
  size: number;
  segments: () => Segment[];
}

/** The sizes of one data set. */
export interface Sizes {
  mode: "full" | "quick";
  mixedBytes: number;
  textFiles: number;
  memoryBytes: number;
  /** Small files of the second memory run (a tree of many files). */
  manyFiles: number;
  rawObjects: number;
}

/** The full data set: the 250 MiB tree, 1 GiB, 20,000 small files. */
export const FULL: Sizes = {
  mode: "full",
  mixedBytes: 200 * MIB,
  textFiles: 2000,
  memoryBytes: 1024 * MIB,
  manyFiles: 20_000,
  rawObjects: 100,
};
/** The quick data set, for fast rounds. */
export const QUICK: Sizes = {
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
export function prettySize(bytes: number): string {
  return sizeName(bytes).replace(/(\d)([GM])/, "$1 $2");
}

/** The backup tree: the half random, half text file and the small text files. */
export function treePlan(sizes: Sizes): PlannedFile[] {
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
export function memoryPlan(sizes: Sizes): PlannedFile[] {
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
export function manyPlan(sizes: Sizes): PlannedFile[] {
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
export async function ensureData(
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
