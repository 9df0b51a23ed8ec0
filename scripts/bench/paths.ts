/**
 * The bench's `paths` part (issue 29): trees of tiny files in folders of 1,000, with 1,000
 * distinct contents, so that almost nothing is uploaded and the cost per path is what counts.
 * Each size runs create, the unchanged re-run (keeping both snapshots), restore, verify, `ls`
 * of one folder, `snapshots` and `diff` of the two (and 0.4.0's create, re-run, restore and
 * validate beside them); with two sizes or more, the
 * memory per path is the peak RssAnon at the largest minus at the smallest, per path between.
 */
import { fmt } from "./report.ts";
import type { Row, Run, Target } from "./report.ts";

/** Paths of a folder, and distinct contents of the tree. */
const PER_FOLDER = 1000;
const CONTENTS = 1000;
/** Bump when the generated tree changes, so that old trees are rebuilt. */
const PATHS_VERSION = 1;

/** The folder of file `i`. */
function folderOf(i: number): string {
  return `d${String(Math.floor(i / PER_FOLDER)).padStart(4, "0")}`;
}

/** The content of file `i`: a few bytes, one of 1,000. */
function contentOf(i: number): string {
  return `content ${i % CONTENTS}\n`;
}

/** The folder `ls` lists: the middle one. */
export function lsFolder(count: number): string {
  return folderOf(Math.floor(count / 2));
}

/**
 * Makes `dir` hold `count` files (`dNNNN/fNNNNNNN`), reused when the marker `dir.json`
 * matches; written synchronously (an async call per file costs more than the write).
 */
export function ensurePaths(dir: string, count: number, log: (msg: string) => void): void {
  const marker = `${dir}.json`;
  const expected = JSON.stringify({ version: PATHS_VERSION, paths: count });
  let current: string | undefined;
  try {
    current = Deno.readTextFileSync(marker);
  } catch { /* no marker */ }
  if (current === expected) {
    // Read once, so that the first run (ours) finds the tree in the page cache as the runs
    // after it do: pages unused for a while are reclaimed (this machine runs DAMON), and the
    // run that reads a cold tree pays for it alone.
    const t = performance.now();
    warm(dir);
    log(`reusing ${dir} (read once in ${((performance.now() - t) / 1000).toFixed(1)}s)`);
    return;
  }
  const t = performance.now();
  try {
    Deno.removeSync(marker);
  } catch { /* none */ }
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* none */ }
  const encoder = new TextEncoder();
  const contents = Array.from({ length: CONTENTS }, (_, i) => encoder.encode(contentOf(i)));
  for (let i = 0; i < count; i++) {
    if (i % PER_FOLDER === 0) Deno.mkdirSync(`${dir}/${folderOf(i)}`, { recursive: true });
    const name = `${dir}/${folderOf(i)}/f${String(i).padStart(7, "0")}`;
    Deno.writeFileSync(name, contents[i % CONTENTS]);
  }
  Deno.writeTextFileSync(marker, expected);
  log(`built ${dir} (${count} files) in ${((performance.now() - t) / 1000).toFixed(1)}s`);
}

/** Reads every file of the tree once (see ensurePaths). */
function warm(dir: string): void {
  const buffer = new Uint8Array(4096);
  for (const folder of Deno.readDirSync(dir)) {
    if (!folder.isDirectory) continue;
    for (const item of Deno.readDirSync(`${dir}/${folder.name}`)) {
      const file = Deno.openSync(`${dir}/${folder.name}/${item.name}`);
      try {
        file.readSync(buffer);
      } finally {
        file.close();
      }
    }
  }
}

/** Throws unless `dir` holds the `count` files of the tree, with their contents. */
export function checkPathsRestore(dir: string, count: number, who: string): void {
  let files = 0;
  const wrong: string[] = [];
  const decoder = new TextDecoder();
  for (const folder of Deno.readDirSync(dir)) {
    if (!folder.isDirectory) continue;
    let first: string | undefined;
    for (const item of Deno.readDirSync(`${dir}/${folder.name}`)) {
      if (!item.isFile) continue;
      files++;
      if (!first || item.name < first) first = item.name;
    }
    if (first) {
      const i = Number(first.slice(1));
      const text = decoder.decode(Deno.readFileSync(`${dir}/${folder.name}/${first}`));
      if (text !== contentOf(i)) wrong.push(`${folder.name}/${first}`);
    }
  }
  if (files !== count || wrong.length > 0) {
    throw new Error(
      `${who}: the restore does not match the tree of ${count} paths: ${files} files restored` +
        (wrong.length ? `, wrong content in ${wrong.slice(0, 3).join(", ")}` : ""),
    );
  }
}

/** What the part needs of the bench: its runners and its table. */
export interface PathsBench {
  dataDir: string;
  restoreDir: string;
  log: (msg: string) => void;
  bucketName: (prefix: string) => string;
  /** Runs spare with `args` on `bucket` and `path` (SPARE_PATH). */
  spare: (name: string, args: string[], bucket: string, path: string) => Promise<Run>;
  /** Runs 0.4.0's `command`; undefined when SPARE_040 is not set. */
  old: (name: string, command: string, bucket: string, path: string) => Promise<Run | undefined>;
  row: (name: string, run: Run, sourceMiB?: number, old?: Run) => Row;
}

/** The rows of one size, for the targets. */
interface PathsRows {
  count: number;
  create: Row;
  again: Row;
  restore: Row;
  verify: Row;
  ls: Row;
  snapshots: Row;
  diff: Row;
}

function emptyDirSync(dir: string): void {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* none */ }
  Deno.mkdirSync(dir, { recursive: true });
}

/** Runs the part for each size of `counts`; returns its targets. */
export async function runPathsPart(bench: PathsBench, counts: number[]): Promise<Target[]> {
  const sizes: PathsRows[] = [];
  for (const count of counts) {
    const name = `${count.toLocaleString("en-US")} paths`;
    const dir = `${bench.dataDir}/paths-${count}`;
    ensurePaths(dir, count, bench.log);
    const bucket = bench.bucketName(`paths${count}`);
    const oldBucket = bench.bucketName(`old-paths${count}`);
    const create = bench.row(
      `create, ${name}`,
      await bench.spare(`create ${name}`, ["create"], bucket, dir),
      undefined,
      await bench.old(`create ${name}`, "create", oldBucket, dir),
    );
    const again = bench.row(
      `create, ${name}, unchanged`,
      // both snapshots kept, for diff
      await bench.spare(`re-run ${name}`, ["create", "--keep", "2"], bucket, dir),
      undefined,
      await bench.old(`re-run ${name}`, "create", oldBucket, dir),
    );
    emptyDirSync(bench.restoreDir);
    const ours = await bench.spare(`restore ${name}`, ["restore"], bucket, bench.restoreDir);
    checkPathsRestore(bench.restoreDir, count, "spare");
    let oldRestore: Run | undefined;
    emptyDirSync(bench.restoreDir);
    oldRestore = await bench.old(`restore ${name}`, "restore", oldBucket, bench.restoreDir);
    if (oldRestore) checkPathsRestore(bench.restoreDir, count, "spare 0.4.0");
    Deno.removeSync(bench.restoreDir, { recursive: true });
    const restore = bench.row(`restore, ${name}`, ours, undefined, oldRestore);
    oldRestore = undefined;
    const verify = bench.row(
      `verify, ${name} (0.4.0: validate)`,
      await bench.spare(`verify ${name}`, ["verify"], bucket, dir),
      undefined,
      await bench.old(`validate ${name}`, "validate", oldBucket, dir),
    );
    const folder = lsFolder(count);
    const ls = bench.row(
      `ls ${folder}/*, ${name}`,
      await bench.spare(`ls ${name}`, ["ls", `${folder}/*`], bucket, dir),
    );
    const snapshots = bench.row(
      `snapshots, ${name}`,
      await bench.spare(`snapshots ${name}`, ["snapshots"], bucket, dir),
    );
    const diff = bench.row(
      `diff of the two snapshots, ${name}`,
      await bench.spare(`diff ${name}`, ["diff"], bucket, dir),
    );
    sizes.push({ count, create, again, restore, verify, ls, snapshots, diff });
  }
  return pathsTargets(sizes);
}

/** The targets for the largest size, and the memory per path between sizes. */
function pathsTargets(sizes: PathsRows[]): Target[] {
  const sorted = [...sizes].sort((a, b) => a.count - b.count);
  const large = sorted.at(-1);
  const small = sorted[0];
  if (!large) return [];
  const name = `${large.count.toLocaleString("en-US")} paths`;
  const vs = (what: string, r: Row, limit: number): Target => {
    const value = r.old ? r.wall / r.old.wall : undefined;
    return {
      name: `${what}, ${name} / 0.4.0's`,
      value,
      digits: 2,
      limit: `≤ ${limit}`,
      met: value === undefined ? undefined : value <= limit,
      detail: r.old ? `${r.wall.toFixed(1)} s against ${r.old.wall.toFixed(1)} s` : "0.4.0 not run",
    };
  };
  const peak = Math.max(
    ...[large.create, large.again, large.restore].map((r) => r.anonMiB ?? NaN),
  );
  const targets: Target[] = [
    vs("create", large.create, 0.5),
    vs("unchanged re-run", large.again, 0.25),
    vs("restore", large.restore, 0.5),
    {
      name: `peak RssAnon of create, re-run, restore, ${name}, MiB`,
      value: Number.isNaN(peak) ? undefined : peak,
      digits: 1,
      limit: "≤ 256",
      met: Number.isNaN(peak) ? undefined : peak <= 256,
      detail: [large.create, large.again, large.restore].map((r) => fmt(r.anonMiB, 1)).join(" / "),
    },
    ...([["ls of one folder", large.ls], ["snapshots", large.snapshots], [
      "diff",
      large.diff,
    ]] as const).map(([what, r]): Target => ({
      name: `${what}, ${name}, s`,
      value: r.wall,
      digits: 2,
      limit: "≤ 10",
      met: r.wall <= 10,
    })),
  ];
  if (small !== large) {
    const between = large.count - small.count;
    const perPath = (key: "create" | "again" | "restore") => {
      const a = small[key].anonMiB;
      const b = large[key].anonMiB;
      return a === undefined || b === undefined ? NaN : ((b - a) * 1024 * 1024) / between;
    };
    const each = [perPath("create"), perPath("again"), perPath("restore")];
    const worst = Math.max(...each);
    targets.push({
      name: `memory per path, bytes, ${small.count.toLocaleString("en-US")} to ${name}`,
      value: Number.isNaN(worst) ? undefined : worst,
      digits: 0,
      limit: "≤ 200",
      met: Number.isNaN(worst) ? undefined : worst <= 200,
      detail: `create / re-run / restore: ${each.map((b) => fmt(b, 0)).join(" / ")}`,
    });
  }
  return targets;
}
