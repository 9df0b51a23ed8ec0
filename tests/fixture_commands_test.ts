/**
 * The commands that get data back (ls, diff, cat, restore --include, verify --sample and
 * --structure-only, snapshots), through the CLI against the real server, on every bucket
 * written by the real 0.4.0 (tests/fixtures/), with expectations from its own listing.
 */
import { digestOf } from "../lib/util/digest.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliEnv, cliEnv, hasServer, restoreJson, spareBytes, spareExpect } from "./cli.ts";
import { fixtureDescription, fixtureNames, fixtureObjects } from "./fixture.ts";
import { describeTree, openBucket, TempDirs } from "./tree.ts";
import { showName } from "../lib/util/names.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** Loads a bucket written by 0.4.0 (tests/fixtures/NAME) into a fresh bucket: the one place this file does. */
async function loadFixture(name: string): Promise<CliEnv> {
  const env = cliEnv(`fixture15-${name}`, (await fixtureDescription(name)).password);
  const { store, close } = openBucket(env);
  try {
    await store.createBucket(env.SPARE_BUCKET);
    for (const [key, body] of await fixtureObjects(name)) {
      await store.put(env.SPARE_BUCKET, key, body);
    }
  } finally {
    close();
  }
  return env;
}

/** An entry of `ls --json`. */
interface LsEntry {
  path: string;
  type: string;
  size: number;
  digest?: string;
}

for (const fixture of fixtureNames()) {
  Deno.test({
    name:
      `fixture ${fixture} (0.4.0): ls, diff, cat, restore --include, verify --sample/--structure-only`,
    ...options,
    fn: () => fixtureCommands(fixture),
  });
}

/** Every new command on a bucket written by 0.4.0, with expectations from its own listing. */
async function fixtureCommands(fixture: string): Promise<void> {
  const env = await loadFixture(fixture);
  const dirs = new TempDirs();
  try {
    const entries: LsEntry[] = JSON.parse((await spareExpect(0, ["ls", "--json"], env)).stdout);
    const lines = (await spareExpect(0, ["ls"], env)).stdout.trimEnd().split("\n");
    assertEquals(lines.length, entries.length);
    lines.forEach((line, i) => assert(line.includes(`  ${entries[i].path}`), line));
    // The directory with the most under it: ls of its glob, then a restore of it.
    const dirsFound = entries.filter((e) => e.type === "directory").map((e) => e.path);
    const inside = (dir: string) => entries.filter((e) => e.path.startsWith(dir + "/"));
    const dir = dirsFound.sort((a, b) => inside(b).length - inside(a).length)[0];
    const globbed = (await spareExpect(0, ["ls", `${dir}/**`], env)).stdout.trimEnd().split("\n");
    assertEquals(globbed.length, inside(dir).length);

    const same = await spareExpect(0, ["diff", "latest", "latest"], env);
    assertStringIncludes(same.stdout, "0 added, 0 removed, 0 changed");

    // The largest file (several blocks in the fixtures) comes back whole through cat.
    const largest = entries.filter((e) => e.digest).sort((a, b) => b.size - a.size)[0];
    const cat = await spareBytes(["cat", largest.path], env);
    assertEquals(cat.code, 0, cat.stderr);
    assertEquals(cat.stdout.length, largest.size);
    assertEquals(await digestOf(cat.stdout), largest.digest);

    const dst = await dirs.make();
    const restored = await restoreJson(env, dst, ["--include", dir]);
    const want = [dir, ...inside(dir).map((e) => e.path)];
    for (let d = dir; d.includes("/");) want.push(d = d.slice(0, d.lastIndexOf("/")));
    // ls gives paths in the shown form (bytes that are not UTF-8 as \xNN).
    assertEquals(Object.keys(await describeTree(dst)).map(showName).sort(), want.sort());
    const sizes = new Map(inside(dir).filter((e) => e.digest).map((e) => [e.digest, e.size]));
    assertEquals(restored.bytesDownloaded, [...sizes.values()].reduce((a, b) => a + b, 0));

    const full = JSON.parse((await spareExpect(0, ["verify", "--json"], env)).stdout);
    const sample = JSON.parse(
      (await spareExpect(0, ["verify", "--sample", "100", "--json"], env)).stdout,
    );
    assertEquals(
      [sample.digestsChecked, sample.bytesChecked, sample.problems],
      [full.digestsChecked, full.bytesChecked, []],
    );
    await spareExpect(0, ["verify", "--structure-only"], env);
    await spareExpect(0, ["snapshots"], env);
  } finally {
    await dirs.removeAll();
  }
}
