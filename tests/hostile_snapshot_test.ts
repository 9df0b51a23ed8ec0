/**
 * Issue 13: snapshots we did not write. Hostile or broken entries are refused one line each,
 * everything else is restored, and nothing appears outside the restore target.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliEnv, type CliResult, hasServer, spare, spareExpect } from "./cli.ts";
import { entry, SnapshotBuilder, writeSnapshot } from "./snapshot_writer.ts";
import { describeTree, openBucket, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** A directory holding the restore target and, next to it, `outside/victim.txt`. */
async function arena(dirs: TempDirs) {
  const parent = await dirs.make();
  const outside = `${parent}/outside`;
  await Deno.mkdir(outside);
  await Deno.writeTextFile(`${outside}/victim.txt`, "original\n");
  return { parent, outside, target: `${parent}/target` };
}

/** What lies under `parent` but not in `parent/target`. */
async function outsideOf(parent: string) {
  const tree = await describeTree(parent);
  return Object.fromEntries(
    Object.entries(tree).filter(([p]) => p !== "target" && !p.startsWith("target/")),
  );
}

function assertNoStackTrace(result: CliResult): void {
  assert(!/^\s+at /m.test(result.stderr), `no stack trace:\n${result.stderr}`);
}

Deno.test({
  name:
    "hostile entries (.., absolute, under a symlink in both orders, under a file, bad digests, " +
    "wrong types, contradicting modes) are refused one line each; nothing is written outside",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("hostile");
    const { parent, outside, target } = await arena(dirs);
    const b = new SnapshotBuilder();
    // The honest part, restored in full.
    await b.file("ok.txt", "fine\n");
    b.put("d", entry("directory"));
    await b.file("d/in.txt", "inner\n");
    b.put("f.txt", entry("file"));
    b.put("dir-with-content", entry("directory"));
    // Paths that leave the target or are not plain relative paths.
    const escaping = [
      "../escape.txt",
      "d/../../escape2.txt",
      `${parent}/abs.txt`,
      "",
      "a//b.txt",
      "./dot.txt",
      "trailing/",
      "nul\0.txt",
    ];
    for (const path of escaping) await b.file(path, `escaped via ${JSON.stringify(path)}\n`);
    // A file under a symlink that points outside: the link listed first, and listed last.
    b.put("link-first", entry("symlink", { target: outside, link: outside }));
    await b.file("link-first/owned.txt", "through the link\n");
    await b.file("link-second/owned.txt", "through the link\n");
    b.put("link-second", entry("symlink", { target: outside, link: outside }));
    b.symlinks["link-third"] = entry("symlink", { target: outside, link: outside });
    await b.file("link-third/owned.txt", "through a link of our symlinks field\n");
    // Content listed for a symlink that points at a file outside, and for a directory.
    b.put(
      "sl",
      entry("symlink", { target: `${outside}/victim.txt`, link: `${outside}/victim.txt` }),
    );
    b.list(await b.digest("overwritten through a symlink\n"), "sl");
    b.list(await b.digest("content of a directory\n"), "dir-with-content");
    // A file under a file; a file under a refused directory.
    await b.file("f.txt/under.txt", "under a file\n");
    b.put("bad-dir", entry("directory", { mode: "755" }));
    await b.file("bad-dir/child.txt", "under a refused directory\n");
    // Digests that are not digests, and files lists that are not lists.
    b.put("bad-digest.txt", entry("file", { size: 3, empty: false }));
    b.list("ABCDEF", "bad-digest.txt");
    b.put("traversal-digest.txt", entry("file", { size: 3, empty: false }));
    b.list("../../etc", "traversal-digest.txt");
    const notAList = await b.digest("not a list\n");
    b.files[notAList] = "not-a-list.txt";
    await b.file("twice.txt", "one\n");
    b.list(await b.digest("two\n"), "twice.txt");
    b.list(await b.digest("ghost\n"), "ghost.txt");
    // Fields missing or of the wrong type, and modes whose type bits contradict the type.
    const broken: [string, unknown][] = [
      ["mode-text.txt", entry("file", { mode: "644" })],
      ["size-negative.txt", entry("file", { size: -1 })],
      ["user-number.txt", entry("file", { user: 0 })],
      ["group-missing.txt", { ...entry("file"), group: undefined }],
      ["inode-missing.txt", { ...entry("file"), inode: undefined }],
      ["mtime-text.txt", entry("file", { mtime_ns: "yesterday" })],
      ["fifo", entry("file", { type: "fifo" })],
      ["null-entry", null],
      ["dir-bits.txt", entry("file", { mode: 0o040755 })],
      ["link-bits", entry("directory", { mode: 0o120777 })],
      ["file-bits-link", entry("symlink", { mode: 0o100644, target: "x", link: "x" })],
      ["no-link-text", entry("symlink", { target: 7 })],
    ];
    for (const [path, value] of broken) b.put(path, value);
    const id = await writeSnapshot(env, b);

    const before = await outsideOf(parent);
    const restore = await spare(["restore", "--path", target], env);
    assertEquals(restore.code, 1, restore.stderr);
    assertNoStackTrace(restore);
    assertStringIncludes(restore.stderr, `the restore into ${target} is incomplete`);
    const refusedLines = restore.stderr.split("\n").filter((l) => l.includes(`${id}: refused `));
    const expectRefused = [
      ...escaping.map((p) => (p === "" || p.includes("\0") ? JSON.stringify(p) : p)),
      "link-first/owned.txt",
      "link-second/owned.txt",
      "link-third/owned.txt",
      "sl",
      "dir-with-content",
      "f.txt/under.txt",
      "bad-dir",
      "bad-dir/child.txt",
      "bad-digest.txt",
      "traversal-digest.txt",
      notAList,
      "twice.txt",
      "ghost.txt",
      ...broken.map(([p]) => p),
    ];
    for (const path of expectRefused) {
      assert(
        refusedLines.some((l) => l.includes(`snapshot ${id}: refused ${path}: `)),
        `${JSON.stringify(path)} is refused:\n${restore.stderr}`,
      );
    }
    assertEquals(refusedLines.length, expectRefused.length, restore.stderr);

    assertEquals(await outsideOf(parent), before, "nothing changed outside the target");
    const restored = await describeTree(target);
    assertEquals(Object.keys(restored), [
      "d",
      "d/in.txt",
      "dir-with-content",
      "f.txt",
      "link-first",
      "link-second",
      "link-third",
      "ok.txt",
      "sl",
    ]);
    assertEquals(await Deno.readTextFile(`${target}/ok.txt`), "fine\n");
    assertEquals(await Deno.readTextFile(`${target}/d/in.txt`), "inner\n");
    assertEquals(restored["link-first"].link, outside);
    assertEquals(restored["f.txt"].size, 0);

    const verify = await spare(["verify"], env);
    assertEquals(verify.code, 1, verify.stderr);
    assertNoStackTrace(verify);
    for (const path of ["../escape.txt", "link-second/owned.txt", "bad-digest.txt", "fifo"]) {
      assertStringIncludes(verify.stderr, `snapshot ${id} is invalid: refused ${path}: `);
    }
    await dirs.removeAll();
  },
});

Deno.test({
  name:
    "an ancestor the snapshot does not describe (0.4.0 after --skip) is created 0700 with a warning",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("implied");
    const { parent, target } = await arena(dirs);
    const b = new SnapshotBuilder();
    await b.file("kept.txt", "kept\n");
    await b.file("skipped/deeper/below.txt", "recorded below a skipped directory\n");
    await writeSnapshot(env, b);
    const before = await outsideOf(parent);
    const restore = await spareExpect(0, ["restore", "--path", target], env);
    assertStringIncludes(restore.stderr, "skipped, skipped/deeper");
    assertStringIncludes(restore.stderr, "created with mode 0700");
    const restored = await describeTree(target);
    assertEquals(restored["skipped"].mode, 0o700);
    assertEquals(restored["skipped/deeper"].mode, 0o700);
    assertEquals(
      await Deno.readTextFile(`${target}/skipped/deeper/below.txt`),
      "recorded below a skipped directory\n",
    );
    assertEquals(await outsideOf(parent), before);
    await spareExpect(0, ["verify"], env);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "create --keep keeps the contents of a kept snapshot's refused entries (nothing more lost)",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("keeprefused");
    const b = new SnapshotBuilder();
    await b.file("fine.txt", "fine\n");
    await b.file("../refused.txt", "precious, though refused\n");
    const refusedDigest = Object.keys(b.files)[1];
    await writeSnapshot(env, b);
    const src = await dirs.make();
    await Deno.writeTextFile(`${src}/new.txt`, "new\n");
    await spareExpect(0, ["create", "--path", src, "--force", "--keep", "2"], env);
    const { bucket, close } = openBucket(env);
    try {
      const listing = await bucket.listing();
      assert(listing.prefixes.get(refusedDigest)?.complete, "the refused entry's content is kept");
    } finally {
      close();
    }
    await dirs.removeAll();
  },
});
