/**
 * Issue 3: create, restore and verify against the test S3 server, driving the CLI as a
 * subprocess (`deno task test tests/create_restore_test.ts`); create alone: create_test.ts.
 */
import fs from "node:fs";
import { digestOf } from "../lib/util/digest.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { spare, spareExpect } from "./cli.ts";
import { assertUnlocked, integration, prefixNames, writeText } from "./integration.ts";
import { describeTree, hardlinkGroups, pseudoRandom } from "./tree.ts";

const MIB = 1_048_576;
const encoder = new TextEncoder();

integration("create/restore: a file of 2.5 MiB (three blocks) round-trips", async (ctx) => {
  const { env, bucket, dirs } = ctx;
  const src = await dirs.make();
  const data = pseudoRandom(2.5 * MIB, 7);
  await Deno.mkdir(`${src}/data`);
  await Deno.writeFile(`${src}/data/big.bin`, data);
  await writeText(`${src}/small.txt`, "small\n");
  await spareExpect(0, ["create", "--path", src], env);

  const listing = await bucket.listing();
  const prefix = listing.prefixes.get(await digestOf(data));
  assert(prefix?.complete, "the big file's prefix is missing");
  assertEquals(prefix.blocks.map((b) => b.index), [1, 2, 3]);

  const dst = await dirs.make();
  await spareExpect(0, ["restore", "--path", dst], env);
  assertEquals(await Deno.readFile(`${dst}/data/big.bin`), data);
  assertEquals(await Deno.readTextFile(`${dst}/small.txt`), "small\n");
});

integration(
  "restore: files, empty files, symlinks, hardlinks, nested dirs, modes and mtimes (ms)",
  async (ctx) => {
    const { env, dirs } = ctx;
    const src = await dirs.make();
    const outside = await dirs.make();
    await writeText(`${outside}/target.txt`, "outside the tree\n", 0o640);
    const outsideTime = new Date(1_500_000_000_321);
    await Deno.utime(`${outside}/target.txt`, outsideTime, outsideTime);

    await writeText(`${src}/hello.txt`, "hello\n", 0o644);
    await writeText(`${src}/empty.txt`, "");
    await writeText(`${src}/bin/run.sh`, "#!/bin/sh\necho run\n", 0o755);
    await writeText(`${src}/secret/key.txt`, "private\n", 0o600);
    await writeText(`${src}/deep/a/b/c/leaf.txt`, "leaf\n");
    await writeText(`${src}/deep/a/other.txt`, "other\n", 0o600);
    await writeText(`${src}/links/hard-a.txt`, "hardlinked\n");
    await Deno.link(`${src}/links/hard-a.txt`, `${src}/links/hard-b.txt`);
    await Deno.symlink(`${src}/hello.txt`, `${src}/links/abs-in`);
    await Deno.symlink("../hello.txt", `${src}/links/rel`);
    await Deno.symlink("../secret/key.txt", `${src}/links/to-secret`);
    await Deno.symlink("../deep", `${src}/links/to-dir`);
    await Deno.symlink("nowhere/missing.txt", `${src}/links/dangling`);
    await Deno.symlink(`${outside}/target.txt`, `${src}/links/abs-out`);
    await Deno.chmod(`${src}/secret`, 0o700);
    await Deno.chmod(`${src}/bin`, 0o755);
    await Deno.chmod(`${src}/deep/a`, 0o750);

    // Distinct mtimes with a millisecond part: files, symlinks, then directories deepest first.
    const before = await describeTree(src);
    const paths = Object.keys(before);
    let ms = 1_600_000_000_123;
    const order = [
      ...paths.filter((p) => before[p].type === "file"),
      ...paths.filter((p) => before[p].type === "symlink"),
      ...paths.filter((p) => before[p].type === "directory").reverse(),
    ];
    for (const p of order) {
      const time = new Date(ms += 1_001);
      if (before[p].type === "symlink") fs.lutimesSync(`${src}/${p}`, time, time);
      else await Deno.utime(`${src}/${p}`, time, time);
    }
    const source = await describeTree(src);
    assertEquals(source["links/abs-in"].mtime % 1000 !== 0, true, "symlink mtimes were not set");

    await spareExpect(0, ["create", "--path", src], env);
    const dst = `${await dirs.make()}/new/restored`; // missing: restore creates it
    await spareExpect(0, ["restore", "--path", dst], env);

    const restored = await describeTree(dst);
    assertEquals(Object.keys(restored), Object.keys(source));
    for (const p of Object.keys(source)) {
      assertEquals(restored[p], source[p], `${p} differs`);
    }
    assertEquals(await hardlinkGroups(dst), [["links/hard-a.txt", "links/hard-b.txt"]]);
    assertEquals(restored["bin/run.sh"].mode, 0o755);
    assertEquals(restored["secret/key.txt"].mode, 0o600);
    assertEquals(restored["secret"].mode, 0o700);
    assertEquals(await Deno.readTextFile(`${dst}/links/rel`), "hello\n");
    assertEquals(await Deno.readTextFile(`${dst}/links/to-secret`), "private\n");

    // Restoring the links changed neither their targets outside the tree nor the source.
    const target = await Deno.lstat(`${outside}/target.txt`);
    assertEquals((target.mode ?? 0) & 0o7777, 0o640, "the mode of a link's target changed");
    assertEquals(target.mtime?.getTime(), outsideTime.getTime(), "a link's target mtime changed");
    assertEquals(await describeTree(src), source);
  },
);

integration("restore: two hardlink chains a←b←c restore as two inode groups of three", async (
  ctx,
) => {
  const { env, bucket, dirs } = ctx;
  const src = await dirs.make();
  for (const dir of ["one", "two"]) {
    await writeText(`${src}/${dir}/a`, "chained content\n");
    await Deno.link(`${src}/${dir}/a`, `${src}/${dir}/b`);
    await Deno.link(`${src}/${dir}/b`, `${src}/${dir}/c`);
  }
  await spareExpect(0, ["create", "--path", src], env);
  assertEquals((await prefixNames(bucket)).length, 2);

  const dst = await dirs.make();
  await spareExpect(0, ["restore", "--path", dst], env);
  const inodes: number[] = [];
  for (const dir of ["one", "two"]) {
    const infos = await Promise.all(["a", "b", "c"].map((n) => Deno.lstat(`${dst}/${dir}/${n}`)));
    for (const info of infos) {
      assertEquals(info.ino, infos[0].ino, `${dir}: not one inode`);
      assertEquals(info.nlink, 3, `${dir}: link count`);
    }
    assertEquals(await Deno.readTextFile(`${dst}/${dir}/c`), "chained content\n");
    inodes.push(infos[0].ino!);
  }
  assert(inodes[0] !== inodes[1], "the two chains were linked together");
  assertEquals(await hardlinkGroups(dst), [["one/a", "one/b", "one/c"], [
    "two/a",
    "two/b",
    "two/c",
  ]]);
});

integration("restore into a non-empty directory is refused and changes nothing", async (ctx) => {
  const { env, dirs } = ctx;
  const src = await dirs.make();
  await writeText(`${src}/file.txt`, "from the backup\n");
  await spareExpect(0, ["create", "--path", src], env);

  const dst = await dirs.make();
  await writeText(`${dst}/mine.txt`, "precious\n");
  await Deno.mkdir(`${dst}/sub`);
  const before = await describeTree(dst);
  const result = await spareExpect(1, ["restore", "--path", dst], env);
  assertStringIncludes(result.stderr, "not empty");
  assertStringIncludes(result.stderr, dst);
  assertEquals(await describeTree(dst), before);
  await assertUnlocked(ctx);
});

integration("verify passes, then fails naming the path when a file's prefix is deleted", async (
  ctx,
) => {
  const { env, bucket, dirs } = ctx;
  const src = await dirs.make();
  await writeText(`${src}/good.txt`, "good\n");
  await writeText(`${src}/victim.txt`, "this one goes missing\n");
  await spareExpect(0, ["create", "--path", src], env);
  await spareExpect(0, ["verify"], env);

  const listing = await bucket.listing();
  const victim = listing.prefixes.get(await digestOf(encoder.encode("this one goes missing\n")));
  assert(victim, "the victim's prefix is missing");
  await bucket.deletePrefix(victim);

  const result = await spareExpect(1, ["verify"], env);
  assertStringIncludes(result.stderr, "victim.txt");
  assert(!result.stderr.includes("good.txt"), `good.txt reported: ${result.stderr}`);
  await assertUnlocked(ctx);
});

integration("verify fails naming the path when one byte of a block is changed", async (ctx) => {
  const { env, bucket, store, dirs } = ctx;
  const src = await dirs.make();
  const data = pseudoRandom(2.5 * MIB, 3);
  await Deno.writeFile(`${src}/big.bin`, data);
  await writeText(`${src}/other.txt`, "other\n");
  await spareExpect(0, ["create", "--path", src], env);
  await spareExpect(0, ["verify"], env);

  const listing = await bucket.listing();
  const block = listing.prefixes.get(await digestOf(data))!.blocks[1];
  const body = await store.get(env.SPARE_BUCKET, block.key);
  body[body.length >> 1] ^= 0x01;
  await store.put(env.SPARE_BUCKET, block.key, body);

  const result = await spareExpect(1, ["verify"], env);
  assertStringIncludes(result.stderr, "big.bin");
  assert(!result.stderr.includes("other.txt"), `other.txt reported: ${result.stderr}`);
  // restore refuses to deliver the damaged content as well
  const dst = await dirs.make();
  const restore = await spareExpect(1, ["restore", "--path", dst], env);
  assertStringIncludes(restore.stderr, "corrupted");
  await assertUnlocked(ctx);
});

integration("output: silent by default, --verbose lists paths, validate = verify", async (ctx) => {
  const { env, dirs } = ctx;
  const src = await dirs.make();
  await writeText(`${src}/first.txt`, "first\n");
  await writeText(`${src}/dir/second.txt`, "second\n");

  const quiet = await spareExpect(0, ["create", "--path", src], env);
  assertEquals([quiet.stdout, quiet.stderr], ["", ""]);

  await writeText(`${src}/dir/third.txt`, "third\n");
  const verbose = await spareExpect(0, ["create", "--path", src, "--verbose"], env);
  assertEquals(verbose.stdout, "");
  assertStringIncludes(verbose.stderr, "dir/third.txt");

  const dst = await dirs.make();
  const restore = await spareExpect(0, ["restore", "--path", dst, "--verbose"], env);
  assertEquals(restore.stdout, "");
  for (const p of ["first.txt", "dir/second.txt", "dir/third.txt"]) {
    assertStringIncludes(restore.stderr, p);
  }
  const silentRestore = await spareExpect(0, ["restore", "--path", await dirs.make()], env);
  assertEquals([silentRestore.stdout, silentRestore.stderr], ["", ""]);

  const verify = await spareExpect(0, ["verify"], env);
  assertEquals([verify.stdout, verify.stderr], ["", ""]);
  const validate = await spare(["validate"], env);
  assertEquals(validate.code, 0, validate.stderr);
  const json = await spareExpect(0, ["validate", "--json"], env);
  assertEquals(JSON.parse(json.stdout).result, "ok");
  assertEquals(json.stderr, "");
});
