/**
 * `deno task bench --yardsticks`: the same tree through `b2sum -l 256`, `xz -6 -T1
 * --block-size=1MiB` (one process, one .xz stream per file, like spare) and `xz -d`, and
 * raw PUT/GET of 1 MiB objects to the same server, for reference beside spare's runs.
 */
import type { ObjectStore } from "../../lib/s3/client.ts";
import { MIB, type PlannedFile, type Sizes } from "./data.ts";
import { measure } from "./measure.ts";
import type { Row } from "./report.ts";
import { failure, rawS3 } from "./yardsticks.ts";

/** Runs the yardsticks and returns their rows. */
export async function runYardsticks(
  store: ObjectStore,
  treeDir: string,
  tree: PlannedFile[],
  sizes: Sizes,
  log: (msg: string) => void,
  signal: AbortSignal,
): Promise<Row[]> {
  for (const tool of ["xz", "b2sum"]) {
    const ok = await new Deno.Command(tool, { args: ["--version"], stdout: "null" }).output()
      .then((o) => o.success, () => false);
    if (!ok) throw new Error(`${tool} is not on the PATH (Debian: apt-get install xz-utils)`);
  }
  const treeMiB = tree.reduce((n, f) => n + f.size, 0) / MIB;
  const files = tree.map((f) => f.rel);
  const xzOut = `${treeDir}.yardstick.xz`;
  const yard = async (name: string, script: string, args: string[]): Promise<Row> => {
    log(name);
    const m = await measure("sh", ["-c", script, "sh", ...args], { cwd: treeDir });
    signal.throwIfAborted();
    if (m.code !== 0) throw failure(name, m);
    return { name, wall: m.wall, cpu: m.cpu, rssMiB: m.rssMiB, mibps: treeMiB / m.wall };
  };
  try {
    const b2 = await yard("b2sum -l 256", 'exec b2sum -l 256 -- "$@" >/dev/null', files);
    const xz = await yard(
      "xz -6 -T1 --block-size=1MiB",
      'out=$1; shift; exec xz -6 -T1 --block-size=1MiB -c -- "$@" >"$out"',
      [xzOut, ...files],
    );
    xz.stored = (await Deno.stat(xzOut)).size;
    const xzd = await yard("xz -d", 'exec xz -d -c -- "$1" >/dev/null', [xzOut]);
    log("raw PUT/GET");
    const raw = await rawS3(store, sizes.rawObjects, signal);
    return [xz, xzd, b2, ...raw.rows];
  } finally {
    await Deno.remove(xzOut).catch(() => {});
  }
}
