/**
 * create against the test S3 server, driving the CLI as a subprocess: the prefixes it
 * stores, unchanged metadata stored again, deduplication, --skip, --keep and the identity
 * check (`deno task test tests/create_test.ts`).
 */
import { createSnapshot } from "../lib/backup/backup.ts";
import { BlockCodec } from "../lib/codec/block.ts";
import type { PrefixInfo } from "../lib/bucket/bucket.ts";
import { digestOf } from "../lib/util/digest.ts";
import { SpareError } from "../lib/util/errors.ts";
import { Log } from "../lib/util/log.ts";
import { newSnapshotPrefix } from "../lib/snapshot/snapshot.ts";
import { snapshotNames } from "../lib/snapshot/stored.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import { spareExpect } from "./cli.ts";
import { assertUnlocked, integration, prefixNames, snapshots, writeText } from "./integration.ts";
import { describeTree, hardlinkGroups } from "./tree.ts";

const encoder = new TextEncoder();

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

integration(
  "create: the previous snapshot is read while the bucket is listed; a snapshot stored meanwhile (a writer without the lock) stops the run",
  async (ctx) => {
    const { env, bucket, dirs } = ctx;
    const src = await dirs.make();
    await writeText(`${src}/a.txt`, "alpha\n");
    await spareExpect(0, ["create", "--path", src], env);
    const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
    const log = new Log({ quiet: true });

    // Unchanged, in process: the content is known from the previous snapshot's listing.
    const again = await createSnapshot(bucket, codec, log, { root: src });
    assertEquals([again.filesDone, again.filesUploaded], [1, 0]);
    const kept = await prefixNames(bucket);

    // Another writer stores a snapshot after create listed the snapshots, before the rest.
    const listing = bucket.listing.bind(bucket);
    bucket.listing = async () => {
      const names = snapshotNames(await listing());
      const json = '{"files":{},"structure":{},"identity":"elsewhere"}';
      await bucket.writePrefix(newSnapshotPrefix(names), [encoder.encode(json)], codec);
      return listing();
    };
    const error = await assertRejects(
      () => createSnapshot(bucket, codec, log, { root: src }),
      SpareError,
    );
    assertStringIncludes(error.message, "changed while it was listed");
    bucket.listing = listing;
    // nothing of the refused run: the intruder's snapshot alone is new
    const after = await prefixNames(bucket);
    assertEquals(after.filter((name) => !kept.includes(name)).length, 1);
  },
);
