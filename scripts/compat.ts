/**
 * `deno task compat`: 0.4.0 reads the buckets we write, checked by the real spare 0.4.0
 * (SPARE_040 names the executable that runs its CLI; see scripts/spare040.ts). Not in CI.
 *
 * For each tree of tests/fixture_trees.ts (the fixture trees, and trees with relative,
 * absolute, outside and dangling links next to a directory `outside` whose file a link
 * points to), against a throwaway S3 server:
 * 1. our `create` writes a bucket (twice, around the tree's change, when it has one);
 * 2. 0.4.0's `validate` must pass on it, and 0.4.0's `restore` must restore it;
 * 3. the same tree without the links our snapshot keeps out of `structure` goes through
 *    0.4.0's own `create` and `restore` (0.4.0 follows links that leave the tree and cannot
 *    restore some others: without them its own bucket is the reference);
 * 4. both restores must be equal: paths, types, modes, content, link texts (relative to the
 *    restore root) and hardlink groups; not mtimes, which 0.4.0 does not restore. 0.4.0's own
 *    quirks (copies get the first copy's mode, link targets get the link's mode 0777) are in
 *    both. The links kept out of `structure` must be absent, and the outside file's and
 *    directory's modes unchanged.
 * Then the tree of many paths of tests/paths_tree.ts (`--paths N` entries, default 100,000;
 * 0 leaves it out): our `create`, 0.4.0's `validate` and `restore`, and the restore compared with
 * the source in one walk (mtimes aside); the other way round, 0.4.0's `create` of the same source,
 * our `restore` and `verify`, and our restore compared with the source, mtimes included. Each
 * step's wall time is printed.
 * Prints one line per tree; exits 1 when any tree differs.
 */
import { ObjectStore } from "../lib/s3/client.ts";
import { rawSnapshot } from "../tests/tree.ts";
import {
  buildTree,
  changeTree,
  describeTree,
  FIXTURE_TREES,
  LINK_TREES,
  makeOutside,
  type TreeDescription,
  type TreeSpec,
} from "../tests/fixture_trees.ts";
import { buildPathsTree, describePathsTree, diffPathsTrees } from "../tests/paths_tree.ts";
import { startS3Server } from "./s3_server.ts";
import { type Bucket040, lastLines, must040, run040, spare040FromEnv } from "./spare040.ts";
import { spareRunArgs } from "./spare_task.ts";

const pathsCount = pathsOption(Deno.args);
const script = spare040FromEnv("compat");
const server = await startS3Server();
const store = new ObjectStore({
  endpoint: server.endpoint,
  accessKey: server.accessKey,
  secretKey: server.secretKey,
});
const tmp = await Deno.makeTempDir({ prefix: "spare-compat-" });
let failures = 0;
try {
  for (const spec of [...FIXTURE_TREES, ...LINK_TREES]) {
    let line: string;
    try {
      line = await compareTree(spec, `${tmp}/${spec.name}`);
    } catch (err) {
      line = `FAIL ${spec.name}: ${err instanceof Error ? err.message : err}`;
    }
    if (!line.startsWith("ok")) failures++;
    console.log(line);
  }
  if (pathsCount > 0) {
    let line: string;
    try {
      line = await compareManyPaths(pathsCount, `${tmp}/paths`);
    } catch (err) {
      line = `FAIL paths: ${err instanceof Error ? err.message : err}`;
    }
    if (!line.startsWith("ok")) failures++;
    console.log(line);
  }
} finally {
  store.close();
  await server.stop();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
console.log(failures ? `${failures} tree(s) differ` : "0.4.0 reads every tree as its own");
Deno.exit(failures ? 1 : 0);

/** Steps 1–4 for one tree; the line to print. */
async function compareTree(spec: TreeSpec, dir: string): Promise<string> {
  const cwd = `${dir}/cwd`;
  const outside = `${dir}/outside`;
  await Deno.mkdir(cwd, { recursive: true });
  makeOutside(outside);
  const outsideModes = await modesOf(outside);
  const bucket = (name: string): Bucket040 => ({
    endpoint: server.endpoint,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    bucket: `compat-${spec.name}-${name}`,
    password: `compat ${spec.name}`,
  });
  const skipArgs = spec.skip.flatMap((p) => ["--skip", p]);

  // 1. Ours.
  const ours = bucket("ours");
  const oursSrc = `${dir}/ours-src`;
  const oursTree = buildTree(spec, oursSrc, outside);
  await runOurs(["create", "--path", oursSrc, ...skipArgs], ours);
  if (changeTree(spec, oursTree)) await runOurs(["create", "--path", oursSrc, ...skipArgs], ours);
  const hidden = await linksOutsideStructure(ours);

  // 2. 0.4.0 reads ours.
  await must040(script, "validate", ours, cwd);
  const oursRestored = `${dir}/ours-restored-by-040`;
  await Deno.mkdir(oursRestored); // 0.4.0's --path must exist
  await must040(script, "restore", ours, cwd, ["--path", oursRestored]);

  // 3. 0.4.0's own bucket of the tree without those links.
  const own = bucket("own");
  const ownSrc = `${dir}/own-src`;
  const ownTree = buildTree(spec, ownSrc, outside);
  const withoutHidden = () => hidden.forEach((p) => Deno.removeSync(`${ownSrc}/${p}`));
  withoutHidden();
  await must040(script, "create", own, cwd, ["--path", ownSrc, ...skipArgs]);
  if (changeTree(spec, ownTree)) {
    withoutHidden();
    await must040(script, "create", own, cwd, ["--path", ownSrc, ...skipArgs]);
  }
  const ownRestored = `${dir}/own-restored-by-040`;
  await Deno.mkdir(ownRestored);
  const restoreOwn = await run040(script, "restore", own, cwd, ["--path", ownRestored]);
  if (restoreOwn.code !== 0) {
    throw new Error(`0.4.0 cannot restore its own bucket:\n${lastLines(restoreOwn.output)}`);
  }

  // 4. Compare.
  const problems = compare(await describeTree(oursRestored), await describeTree(ownRestored));
  for (const path of hidden) {
    if (await exists(`${oursRestored}/${path}`)) problems.push(`${path}: restored by 0.4.0`);
  }
  const after = await modesOf(outside);
  for (const [path, mode] of Object.entries(outsideModes)) {
    if (after[path] !== mode) problems.push(`outside ${path}: mode ${mode} became ${after[path]}`);
  }
  const paths = Object.keys((await describeTree(oursSrc)).entries).length;
  if (problems.length) return `FAIL ${spec.name}: ${problems.join("; ")}`;
  return `ok   ${spec.name}: 0.4.0 validates our bucket and restores it as its own bucket of ` +
    `the tree (${paths} paths${spec.skip.length ? `, --skip ${spec.skip.join(" ")}` : ""}${
      spec.change ? ", two creates" : ""
    }; ${hidden.length} symlinks kept out of structure, not restored by 0.4.0; ` +
    `outside modes unchanged)`;
}

/** `--paths N` (default 100,000); exits 2 on anything else. */
function pathsOption(args: string[]): number {
  if (args.length === 0) return 100_000;
  const n = Number(args[1]);
  if (args.length !== 2 || args[0] !== "--paths" || !Number.isInteger(n) || n < 0) {
    console.error("usage: deno task compat [--paths N]   (N entries in the tree of many paths)");
    Deno.exit(2);
  }
  return n;
}

/** The tree of many paths both ways (see the top of this file); the line to print. */
async function compareManyPaths(count: number, dir: string): Promise<string> {
  const cwd = `${dir}/cwd`;
  Deno.mkdirSync(cwd, { recursive: true });
  const bucket = (name: string): Bucket040 => ({
    endpoint: server.endpoint,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    bucket: `compat-paths-${name}`,
    password: "compat paths",
  });
  const times: string[] = [];
  const timed = async <T>(step: string, work: () => T | Promise<T>): Promise<T> => {
    const start = performance.now();
    const result = await work();
    times.push(`${step} ${((performance.now() - start) / 1000).toFixed(1)} s`);
    console.error(`  paths: ${times.at(-1)}`);
    return result;
  };
  const src = `${dir}/src`;
  const paths = await timed("build", () => buildPathsTree(src, count));
  const source = await timed("describe source", () => describePathsTree(src));
  const problems: string[] = [];

  // Ours, read by 0.4.0.
  const ours = bucket("ours");
  await timed("our create", () => runOurs(["create", "--path", src], ours));
  await timed("0.4.0 validate", () => must040(script, "validate", ours, cwd));
  const restored040 = `${dir}/restored-by-040`;
  await Deno.mkdir(restored040);
  await timed(
    "0.4.0 restore",
    () => must040(script, "restore", ours, cwd, ["--path", restored040]),
  );
  const by040 = await timed(
    "compare",
    () => diffPathsTrees(describePathsTree(restored040), source, false),
  );
  problems.push(...by040.map((p) => `0.4.0's restore: ${p}`));
  await Deno.remove(restored040, { recursive: true });

  // 0.4.0's, read by ours.
  const own = bucket("own");
  await timed("0.4.0 create", () => must040(script, "create", own, cwd, ["--path", src]));
  const restoredOurs = `${dir}/restored-by-us`;
  await timed("our restore", () => runOurs(["restore", "--path", restoredOurs], own));
  await timed("our verify", () => runOurs(["verify"], own));
  const byUs = await timed(
    "compare",
    () => diffPathsTrees(describePathsTree(restoredOurs), source, true),
  );
  problems.push(...byUs.map((p) => `our restore: ${p}`));

  if (problems.length) return `FAIL paths: ${problems.join("; ")}`;
  return `ok   paths: ${paths} paths (tiny files in folders of 1,000, empty files, hardlinks, ` +
    `absolute symlinks, empty directories): our bucket validated and restored by 0.4.0 as the ` +
    `source (mtimes aside); 0.4.0's bucket restored and verified by us as the source, mtimes ` +
    `included (${times.join(", ")})`;
}

/** Differences between two restores, mtimes aside. */
function compare(got: TreeDescription, want: TreeDescription): string[] {
  const problems: string[] = [];
  const paths = new Set([...Object.keys(got.entries), ...Object.keys(want.entries)]);
  for (const path of [...paths].sort()) {
    const a = got.entries[path];
    const b = want.entries[path];
    if (!a) problems.push(`${path}: missing`);
    else if (!b) problems.push(`${path}: not in 0.4.0's own restore`);
    else {
      for (const field of ["type", "mode", "size", "blake2b", "link"] as const) {
        if (a[field] !== b[field]) problems.push(`${path}: ${field} ${a[field]} != ${b[field]}`);
      }
    }
  }
  if (JSON.stringify(got.link_groups) !== JSON.stringify(want.link_groups)) {
    problems.push(
      `hardlink groups ${JSON.stringify(got.link_groups)} != ${JSON.stringify(want.link_groups)}`,
    );
  }
  return problems;
}

/** Runs our CLI (with the spare task's permissions) on a bucket; throws unless it exits 0. */
async function runOurs(args: string[], bucket: Bucket040): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: spareRunArgs(args),
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      NO_COLOR: "1",
      SPARE_ENDPOINT: bucket.endpoint,
      SPARE_ACCESS_KEY: bucket.accessKey,
      SPARE_SECRET_KEY: bucket.secretKey,
      SPARE_BUCKET: bucket.bucket,
      SPARE_PASSWORD: bucket.password,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`our ${args[0]} exited ${out.code}:\n${lastLines(text)}`);
  }
}

/** The paths of the symlinks in our snapshot's own `symlinks` field (not shown to 0.4.0). */
async function linksOutsideStructure(bucket: Bucket040): Promise<string[]> {
  const raw = await rawSnapshot(store, bucket.bucket, bucket.password);
  return Object.keys(raw.symlinks ?? {}).sort();
}

/** Permission bits of a directory and each file in it. */
async function modesOf(dir: string): Promise<Record<string, string>> {
  const modes: Record<string, string> = {};
  const mode = async (p: string) => ((await Deno.stat(p)).mode! & 0o7777).toString(8);
  modes["."] = await mode(dir);
  for await (const e of Deno.readDir(dir)) modes[e.name] = await mode(`${dir}/${e.name}`);
  return modes;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
