/**
 * Issue 3: create, restore and verify against the test S3 server, driving the CLI as a
 * subprocess (`deno task test tests/create_restore_test.ts`).
 */
import fs from "node:fs";
import { BlockCodec } from "../lib/block.ts";
import type { Bucket, PrefixInfo } from "../lib/bucket.ts";
import { digestOf } from "../lib/digest.ts";
import type { ObjectStore } from "../lib/s3.ts";
import { newSnapshotPrefix } from "../lib/snapshot.ts";
import { snapshotNames } from "../lib/snapshots.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliEnv, cliEnv, hasServer, spare, spareExpect } from "./cli.ts";
import { describeTree, hardlinkGroups, openBucket, pseudoRandom, TempDirs } from "./tree.ts";

const MIB = 1_048_576;
const encoder = new TextEncoder();

/** What one integration test gets: a fresh bucket, direct access to it, temp dirs. */
interface Ctx {
  env: CliEnv;
  store: ObjectStore;
  bucket: Bucket;
  dirs: TempDirs;
}

function integration(name: string, fn: (ctx: Ctx) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !hasServer,
    // The SDK keeps pooled connections and timers beyond the test.
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const env = cliEnv("issue3");
      const { store, bucket, close } = openBucket(env);
      const dirs = new TempDirs();
      try {
        await fn({ env, store, bucket, dirs });
      } finally {
        close();
        await dirs.removeAll();
      }
    },
  });
}

async function writeText(path: string, text: string, mode?: number): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, text);
  if (mode !== undefined) await Deno.chmod(path, mode);
}

/** Names of the prefixes of the bucket, sorted; each must have blocks 1..n, each once. */
async function prefixNames(bucket: Bucket): Promise<string[]> {
  const listing = await bucket.listing();
  for (const p of listing.prefixes.values()) {
    assertEquals(p.blocks.map((b) => b.index), p.blocks.map((_, i) => i + 1), `${p.name}'s blocks`);
  }
  return [...listing.prefixes.keys()].sort();
}

/** `spare snapshots --json`. */
async function snapshots(env: CliEnv): Promise<{ id: string; identity: string; files: number }[]> {
  const result = await spareExpect(0, ["snapshots", "--json"], env);
  return JSON.parse(result.stdout);
}

async function assertUnlocked(ctx: Ctx): Promise<void> {
  assert(!(await ctx.store.exists(ctx.env.SPARE_BUCKET, ".lock")), "the bucket is still locked");
}

integration("create: one file → 2 prefixes, unchanged → 2, added file → 3, deleted → 2", async (
  ctx,
) => {
  const { env, bucket, dirs } = ctx;
  const src = await dirs.make();
  const path = ["--path", src];
  await writeText(`${src}/a.txt`, "alpha\n");
  const alpha = await digestOf(encoder.encode("alpha\n"));
  const beta = await digestOf(encoder.encode("beta beta\n"));

  await spareExpect(0, ["create", ...path], env);
  const first = await prefixNames(bucket);
  assertEquals(first.length, 2, `prefixes: ${first}`);
  assert(first.includes(alpha), `${alpha} missing from ${first}`);
  assert(first.some((p) => p.startsWith("snapshot_")));

  await spareExpect(0, ["create", ...path], env);
  const second = await prefixNames(bucket);
  assertEquals(second.length, 2, `prefixes after an unchanged create: ${second}`);
  assert(second.includes(alpha));
  assert(
    second.find((p) => p.startsWith("snapshot_")) !== first.find((p) => p.startsWith("snapshot_")),
    "the second create wrote no new snapshot",
  );

  await writeText(`${src}/b.txt`, "beta beta\n");
  await spareExpect(0, ["create", ...path], env);
  const third = await prefixNames(bucket);
  assertEquals(third.length, 3, `prefixes after adding a file: ${third}`);
  assert(third.includes(alpha) && third.includes(beta));

  await Deno.remove(`${src}/b.txt`);
  await spareExpect(0, ["create", ...path], env);
  const fourth = await prefixNames(bucket);
  assertEquals(fourth.length, 2, `prefixes after deleting a file: ${fourth}`);
  assert(fourth.includes(alpha) && !fourth.includes(beta), `${beta} was not pruned`);
  // Nothing else is left behind: only blocks of the two prefixes and the marker.
  const keys: string[] = [];
  for await (const o of ctx.store.list(env.SPARE_BUCKET)) keys.push(o.key);
  assertEquals(keys.filter((k) => !fourth.some((p) => k.startsWith(`${p}/`))), [".spare"]);
  await assertUnlocked(ctx);
});

integration("create: unchanged metadata is stored from the previous snapshot's blocks", async (
  ctx,
) => {
  const { env, bucket, dirs } = ctx;
  const src = await dirs.make();
  const path = ["--path", src];
  // 2,100 files of one content under long names: metadata of two blocks, one upload.
  for (let i = 0; i < 2100; i++) {
    await Deno.writeTextFile(`${src}/${String(i).padStart(4, "0")}-${"n".repeat(200)}`, "same\n");
  }
  const latestSnapshot = async () => {
    const listing = await bucket.listing();
    return listing.prefixes.get(snapshotNames(listing).at(-1)!)!;
  };
  const sizes = (info: PrefixInfo) => info.blocks.map((b) => b.size);
  await spareExpect(0, ["create", ...path], env);

  // The same metadata again as the latest snapshot, compressed at level 6 this time (create
  // compresses metadata at level 0): a create that reuses it stores blocks of these sizes.
  const created = await latestSnapshot();
  const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
  const text: Uint8Array[] = [];
  for await (const block of bucket.readPrefix(created, codec)) text.push(block);
  const rewritten = newSnapshotPrefix([created.name]);
  await bucket.writePrefix(rewritten, text, codec.atLevel(6));
  await bucket.deletePrefix(created);
  const previous = await latestSnapshot();
  assertEquals(previous.name, rewritten);
  assertEquals(previous.blocks.length, 2, "metadata blocks");
  assert(String(sizes(previous)) !== String(sizes(created)), "levels 0 and 6 store alike");

  await spareExpect(0, ["create", ...path], env);
  const reused = await latestSnapshot();
  assert(reused.name !== previous.name, "no new snapshot");
  assertEquals(sizes(reused), sizes(previous));
  for (const [i, block] of reused.blocks.entries()) {
    assert(block.nonce !== previous.blocks[i].nonce, `block ${i + 1} kept its nonce`);
  }
  await spareExpect(0, ["verify"], env);
  const target = `${await dirs.make()}/t`;
  await spareExpect(0, ["restore", "--path", target], env);
  assertEquals(await describeTree(target), await describeTree(src));

  // A changed file changes the metadata: compressed anew, at level 0.
  await Deno.writeTextFile(`${src}/0000-${"n".repeat(200)}`, "other\n");
  await spareExpect(0, ["create", ...path], env);
  assert(sizes(await latestSnapshot())[0] !== sizes(previous)[0], "not compressed anew");
});

integration("paths named like Object.prototype's members are backed up and restored", async (
  ctx,
) => {
  const { env, dirs } = ctx;
  const src = await dirs.make();
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
    await writeText(`${src}/${name}`, `${name}\n`);
    await writeText(`${src}/dir/${name}/${name}`, `in ${name}\n`);
  }
  await Deno.symlink("__proto__", `${src}/link`);
  await spareExpect(0, ["create", "--path", src], env);
  await spareExpect(0, ["verify"], env);
  const target = `${await dirs.make()}/t`;
  await spareExpect(0, ["restore", "--path", target], env);
  assertEquals(await describeTree(target), await describeTree(src));
});

integration("create: two files with identical content are stored once", async (ctx) => {
  const { env, bucket, dirs } = ctx;
  const src = await dirs.make();
  const text = "the same content\n".repeat(100);
  await writeText(`${src}/one.txt`, text);
  await writeText(`${src}/sub/two.txt`, text);
  await spareExpect(0, ["create", "--path", src], env);
  const prefixes = await prefixNames(bucket);
  assertEquals(prefixes.length, 2, `prefixes: ${prefixes}`);
  const digest = await digestOf(encoder.encode(text));
  assert(prefixes.includes(digest));
  const blocks = (await bucket.listing()).prefixes.get(digest)!.blocks;
  assertEquals(blocks.length, 1, `the content was uploaded ${blocks.length} times`);

  const dst = `${await dirs.make()}/restored`;
  await spareExpect(0, ["restore", "--path", dst], env);
  assertEquals(await Deno.readTextFile(`${dst}/one.txt`), text);
  assertEquals(await Deno.readTextFile(`${dst}/sub/two.txt`), text);
  // Separate files in the source stay separate files (copies, not hardlinks).
  assertEquals(await hardlinkGroups(dst), []);
});

integration("create --skip / --exclude leave paths out (matched at the start)", async (ctx) => {
  const { env, dirs } = ctx;
  const src = await dirs.make();
  await writeText(`${src}/keep.txt`, "keep\n");
  await writeText(`${src}/cache/a.txt`, "cached\n");
  await writeText(`${src}/cache-notes.txt`, "notes about the cache\n");
  await writeText(`${src}/notcache.txt`, "not matched: the pattern starts the path\n");
  await writeText(`${src}/sub/cache/c.txt`, "not matched either\n");
  await writeText(`${src}/tmp/b.txt`, "temporary\n");
  await writeText(`${src}/tmpfile`, "also temporary\n");
  await spareExpect(0, ["create", "--path", src, "--skip", "cache", "--exclude", "tmp"], env);

  const dst = await dirs.make();
  await spareExpect(0, ["restore", "--path", dst], env);
  assertEquals(Object.keys(await describeTree(dst)), [
    "keep.txt",
    "notcache.txt",
    "sub",
    "sub/cache",
    "sub/cache/c.txt",
  ]);
  assertEquals((await snapshots(env))[0].files, 3);
});

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

integration("create --keep 2: the older snapshot restores; a third create leaves two", async (
  ctx,
) => {
  const { env, dirs } = ctx;
  const src = await dirs.make();
  const path = ["--path", src];
  await writeText(`${src}/file.txt`, "version one\n");
  await spareExpect(0, ["create", ...path, "--keep", "2"], env);
  await writeText(`${src}/file.txt`, "version two, a longer one\n");
  await spareExpect(0, ["create", ...path, "--keep", "2"], env);

  const two = await snapshots(env);
  assertEquals(two.length, 2);
  assert(two[0].id < two[1].id, "snapshots are not oldest first");

  const older = await dirs.make();
  await spareExpect(0, ["restore", ...["--path", older], "--snapshot", two[0].id], env);
  assertEquals(await Deno.readTextFile(`${older}/file.txt`), "version one\n");
  const latest = await dirs.make();
  await spareExpect(0, ["restore", "--path", latest], env);
  assertEquals(await Deno.readTextFile(`${latest}/file.txt`), "version two, a longer one\n");

  await writeText(`${src}/file.txt`, "version three\n");
  await spareExpect(0, ["create", ...path, "--keep", "2"], env);
  const three = await snapshots(env);
  assertEquals(three.length, 2);
  assertEquals(three[0].id, two[1].id);
  assertEquals(await prefixNames(ctx.bucket).then((p) => p.length), 4); // 2 snapshots, 2 digests
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

integration("create: a new identity (same path, new inode) needs --force", async (ctx) => {
  const { env, dirs } = ctx;
  const base = await dirs.make();
  const src = `${base}/src`;
  await writeText(`${src}/file.txt`, "first host\n");
  await spareExpect(0, ["create", "--path", src], env);
  const oldIno = (await Deno.stat(src)).ino!;
  const [first] = await snapshots(env);
  assert(first.identity.endsWith(`:${src}:${oldIno}`), first.identity);

  // Recreate the directory at the same path; the old one exists until then, so its inode
  // cannot be reused.
  await Deno.rename(src, `${base}/old`);
  await writeText(`${src}/file.txt`, "first host\n");
  await Deno.remove(`${base}/old`, { recursive: true });
  const newIno = (await Deno.stat(src)).ino!;
  assert(newIno !== oldIno);

  const refused = await spareExpect(1, ["create", "--path", src], env);
  assertStringIncludes(refused.stderr, "--force");
  assertEquals(await snapshots(env), [first]);

  await spareExpect(0, ["create", "--path", src, "--force"], env);
  const [forced, ...rest] = await snapshots(env);
  assertEquals(rest, []);
  assert(forced.identity.endsWith(`:${src}:${newIno}`), forced.identity);
  await spareExpect(0, ["create", "--path", src], env);
  assertEquals((await snapshots(env)).length, 1);
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
