/**
 * Issue 15, through the CLI against the real server: ls, diff, restore --include/--exclude,
 * cat, verify --sample/--structure-only, --keep-within, on a tree backed up twice (on
 * 0.4.0's buckets: fixture_commands_test.ts).
 */
import fs from "node:fs";
import { BlockCodec } from "../lib/codec/block.ts";
import { digestOf } from "../lib/util/digest.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliEnv, hasServer, restoreJson, spare, spareBytes, spareExpect } from "./cli.ts";
import {
  describeTree,
  hardlinkGroups,
  openBucket,
  pseudoRandom,
  TempDirs,
  type TreeEntry,
} from "./tree.ts";

const MIB = 1_048_576;
const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** Sets the mtime of a path without following a symlink. */
function setMtime(path: string, ms: number): void {
  const time = new Date(ms);
  fs.lutimesSync(path, time, time);
}

async function write(path: string, text: string | Uint8Array, mode = 0o644): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  if (typeof text === "string") await Deno.writeTextFile(path, text);
  else await Deno.writeFile(path, text);
  await Deno.chmod(path, mode);
}

const T1 = Date.UTC(2025, 5, 1, 8, 0, 0, 123);
const T2 = Date.UTC(2025, 5, 2, 9, 30, 0, 456);
const BIG = pseudoRandom(2.5 * MIB, 15);

/**
 * The tree of the first backup: nested directories, hardlinks across directories (within
 * etc/nginx, and between etc and data), a symlink, an empty file, a 3-block file.
 */
async function makeTree(src: string): Promise<void> {
  await write(`${src}/etc/hosts`, "127.0.0.1 localhost\n");
  await write(`${src}/etc/shared.txt`, "shared between etc and data\n", 0o640);
  await Deno.link(`${src}/etc/shared.txt`, `${src}/data/shared.txt`).catch(async () => {
    await Deno.mkdir(`${src}/data`);
    await Deno.link(`${src}/etc/shared.txt`, `${src}/data/shared.txt`);
  });
  await Deno.symlink("hosts", `${src}/etc/motd`);
  await write(`${src}/etc/nginx/nginx.conf`, "worker_processes 1;\n", 0o640);
  await write(`${src}/etc/nginx/sites/default`, "server { listen 80; }\n");
  await Deno.link(`${src}/etc/nginx/sites/default`, `${src}/etc/nginx/default-link`);
  await write(`${src}/data/big.bin`, BIG);
  await write(`${src}/empty.txt`, "");
  await write(`${src}/old.txt`, "to be removed\n");
  await write(`${src}/thing`, "a file that becomes a symlink\n");
  await Deno.chmod(`${src}/etc/nginx`, 0o750);
  // Deepest first, so that setting a child's time does not touch its directory's.
  const paths = Object.keys(await describeTree(src)).reverse();
  paths.forEach((p, i) => setMtime(`${src}/${p}`, T1 + i * 1000));
}

/** The changes of the second backup: one of each kind diff reports. */
async function changeTree(src: string): Promise<void> {
  await Deno.writeTextFile(`${src}/etc/hosts`, "127.0.0.1 localhost\n::1 localhost\n");
  setMtime(`${src}/etc/hosts`, T2);
  await Deno.chmod(`${src}/etc/nginx/nginx.conf`, 0o600);
  await Deno.remove(`${src}/old.txt`);
  await write(`${src}/new.txt`, "added later\n");
  await Deno.remove(`${src}/thing`);
  await Deno.symlink("etc/hosts", `${src}/thing`);
}

/** The entries of `tree` that are `prefix` or under it. */
function under(tree: Record<string, TreeEntry>, ...prefixes: string[]) {
  return Object.fromEntries(
    Object.entries(tree).filter(([p]) => prefixes.some((x) => p === x || p.startsWith(x + "/"))),
  );
}

/** Bytes of the distinct contents of the files of a tree (what a restore of it downloads). */
function contentBytes(tree: Record<string, TreeEntry>): number {
  const sizes = new Map<string, number>();
  for (const e of Object.values(tree)) if (e.type === "file") sizes.set(e.sha256!, e.size!);
  return [...sizes.values()].reduce((a, b) => a + b, 0);
}

Deno.test({
  name: "ls, diff, restore --include/--exclude, cat, verify --sample/--structure-only (CLI)",
  ...options,
  async fn(t) {
    const env = cliEnv("getback");
    const dirs = new TempDirs();
    const { store, close } = openBucket(env);
    try {
      const src = await dirs.make();
      await makeTree(src);
      await spareExpect(0, ["create", "--path", src, "--keep", "2"], env);
      const v1 = await describeTree(src);
      await changeTree(src);
      await spareExpect(0, ["create", "--path", src, "--keep", "2"], env);
      const v2 = await describeTree(src);
      const ids = (JSON.parse((await spareExpect(0, ["snapshots", "--json"], env)).stdout) as {
        id: string;
      }[]).map((s) => s.id);
      assertEquals(ids.length, 2);
      const [oldId, newId] = ids;

      await t.step("ls lists every path of the latest snapshot, sorted", async () => {
        const { stdout, stderr } = await spareExpect(0, ["ls"], env);
        assertEquals(stderr, "");
        const lines = stdout.trimEnd().split("\n");
        const paths = lines.map((l) => l.split(/\s+/)[5]);
        assertEquals(paths, Object.keys(v2).sort());
        const conf = lines.find((l) => l.includes("etc/nginx/nginx.conf"))!.split(/\s+/);
        assertEquals(conf[0], "-rw-------");
        assertEquals(conf[3], "20");
        assertEquals(
          new Date(conf[4]).getTime(),
          Math.floor(v2["etc/nginx/nginx.conf"].mtime / 1000) * 1000,
        );
        assert(/[+-]\d\d:\d\d$/.test(conf[4]), `not ISO 8601 with an offset: ${conf[4]}`);
        assert(lines.some((l) => /^drwxr-x---\s.*\setc\/nginx$/.test(l)), stdout);
        assert(lines.some((l) => /^lrwxrwxrwx\s.*\sthing -> etc\/hosts$/.test(l)), stdout);
      });

      await t.step("ls 'etc/**' lists exactly what is under etc; --json; --snapshot", async () => {
        const { stdout } = await spareExpect(0, ["ls", "etc/**"], env);
        const paths = stdout.trimEnd().split("\n").map((l) => l.split(/\s+/)[5]);
        assertEquals(paths, Object.keys(v2).filter((p) => p.startsWith("etc/")).sort());

        const json = JSON.parse(
          (await spareExpect(0, ["ls", "--json", "etc/nginx/*"], env)).stdout,
        );
        assertEquals(json.map((e: { path: string }) => e.path), [
          "etc/nginx/default-link",
          "etc/nginx/nginx.conf",
          "etc/nginx/sites",
        ]);
        assertEquals(json[1].type, "file");
        assertEquals(json[1].mode, 0o100600);
        assertEquals(json[1].size, 20);
        assertEquals(
          json[1].digest,
          await digestOf(new TextEncoder().encode("worker_processes 1;\n")),
        );

        const old = await spareExpect(0, ["ls", "--snapshot", oldId], env);
        const oldPaths = old.stdout.trimEnd().split("\n").map((l) => l.split(/\s+/)[5]);
        assertEquals(oldPaths, Object.keys(v1).sort());
        const none = await spareExpect(1, ["ls", "nothing/**"], env);
        assertStringIncludes(none.stderr, "nothing in snapshot");
      });

      await t.step("diff names every change and nothing else", async () => {
        const { stdout, stderr } = await spareExpect(0, ["diff"], env);
        assertEquals(stderr, "");
        const lines = stdout.trimEnd().split("\n");
        assertEquals(lines.slice(0, -1), [
          "M  etc/hosts",
          "P  etc/nginx/nginx.conf",
          "+  new.txt",
          "-  old.txt",
          "T  thing",
        ]);
        assertStringIncludes(lines.at(-1)!, `${oldId} → ${newId}`);
        assertStringIncludes(
          lines.at(-1)!,
          "1 added, 1 removed, 1 changed, 1 changed type, 1 changed mode",
        );
        const back = JSON.parse(
          (await spareExpect(0, ["diff", newId, oldId, "--json"], env)).stdout,
        );
        assertEquals(
          back.changes.map((c: { kind: string; path: string }) => `${c.kind} ${c.path}`),
          [
            "M etc/hosts",
            "P etc/nginx/nginx.conf",
            "- new.txt",
            "+ old.txt",
            "T thing",
          ],
        );
        assertEquals([back.added, back.removed, back.changed], [1, 1, 1]);
        assertEquals(
          (await spareExpect(0, ["diff", newId, newId], env)).stdout.split("\n").length,
          2,
        );
        await spareExpect(2, ["diff", oldId, newId, "extra"], env);
      });

      await t.step("restore --include of one file: that file and its directories", async () => {
        const dst = await dirs.make();
        const result = await restoreJson(env, dst, ["--include", "etc/nginx/nginx.conf"]);
        const want = Object.fromEntries(
          ["etc", "etc/nginx", "etc/nginx/nginx.conf"].map((p) => [p, v2[p]]),
        );
        assertEquals(await describeTree(dst), want);
        assertEquals(result.bytesDownloaded, 20, "more than the selected file was downloaded");
      });

      await t.step("restore --include of one directory: modes, mtimes, hardlinks", async () => {
        const dst = await dirs.make();
        const result = await restoreJson(env, dst, ["--include", "etc/"]);
        const want = under(v2, "etc");
        assertEquals(await describeTree(dst), want);
        // The hardlink within etc comes back; the one to data/ is cut to its etc half.
        assertEquals(await hardlinkGroups(dst), [[
          "etc/nginx/default-link",
          "etc/nginx/sites/default",
        ]]);
        assertEquals((await Deno.lstat(`${dst}/etc/shared.txt`)).nlink, 1);
        assertEquals(result.bytesDownloaded, contentBytes(want));
        assert(result.bytesDownloaded < 1000, `downloaded ${result.bytesDownloaded} bytes`);
      });

      await t.step("restore --exclude globs (and an include that matches nothing)", async () => {
        const dst = await dirs.make();
        const result = await restoreJson(env, dst, ["--exclude", "data", "--exclude", "*.txt"]);
        const want = Object.fromEntries(
          Object.entries(v2).filter(([p]) => !p.startsWith("data") && !/^[^/]*\.txt$/.test(p)),
        );
        assert("etc/shared.txt" in want);
        assertEquals(await describeTree(dst), want);
        assertEquals(result.bytesDownloaded, contentBytes(want));
        const nothing = await spare(
          ["restore", "--path", await dirs.make(), "--include", "nope"],
          env,
        );
        assertEquals(nothing.code, 1, nothing.stderr);
        assertStringIncludes(nothing.stderr, "nothing in snapshot");
      });

      await t.step("cat: a 3-block file, an older version, errors for others", async () => {
        const big = await spareBytes(["cat", "data/big.bin"], env);
        assertEquals(big.code, 0, big.stderr);
        assertEquals(big.stdout, BIG);
        const old = await spareBytes(["cat", "--snapshot", oldId, "/etc/hosts"], env);
        assertEquals(new TextDecoder().decode(old.stdout), "127.0.0.1 localhost\n");
        const empty = await spareBytes(["cat", "empty.txt"], env);
        assertEquals([empty.code, empty.stdout.length, empty.stderr], [0, 0, ""]);
        for (
          const [path, says] of [["etc", "is a directory"], ["thing", "is a symlink"], [
            "gone",
            "is not in",
          ]]
        ) {
          const r = await spareBytes(["cat", path], env);
          assertEquals(r.code, 1, `cat ${path}`);
          assertEquals(r.stdout.length, 0);
          assertStringIncludes(r.stderr, says);
        }
        await spareExpect(2, ["cat"], env);
      });

      await t.step("cat: a content that does not hash to its digest exits 1", async () => {
        const digest = await digestOf(new TextEncoder().encode("worker_processes 1;\n"));
        const { bucket } = openBucket(env);
        const block = (await bucket.listing()).prefixes.get(digest)!.blocks[0];
        const original = await store.get(env.SPARE_BUCKET, block.key);
        const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
        const forged = await codec.seal(
          new TextEncoder().encode("worker_processes 9;\n"),
          block.nonce,
        );
        await store.put(env.SPARE_BUCKET, block.key, forged);
        try {
          const r = await spareBytes(["cat", "etc/nginx/nginx.conf"], env);
          assertEquals(r.code, 1);
          assertStringIncludes(r.stderr, "does not match its digest");
        } finally {
          await store.put(env.SPARE_BUCKET, block.key, original);
        }
      });

      await t.step("verify --sample 100 says what verify says; the seed is printed", async () => {
        const full = JSON.parse((await spareExpect(0, ["verify", "--json"], env)).stdout);
        const sample = JSON.parse(
          (await spareExpect(0, ["verify", "--sample", "100", "--json"], env)).stdout,
        );
        for (
          const key of ["digestsTotal", "digestsChecked", "bytesChecked", "problems", "snapshots"]
        ) {
          assertEquals(sample[key], full[key], key);
        }
        assertEquals(typeof sample.seed, "number");
        const some = await spareExpect(0, ["verify", "--sample", "10", "--seed", "7"], env);
        assertStringIncludes(
          some.stdout,
          `1 of ${full.digestsTotal} contents (--sample 10 --seed 7)`,
        );
        await spareExpect(2, ["verify", "--sample", "0"], env);
        await spareExpect(2, ["verify", "--seed", "7"], env);
      });

      await t.step(
        "verify --structure-only: a missing middle, last or first block fails",
        async () => {
          const pass = await spareExpect(0, ["verify", "--structure-only", "--json"], env);
          assertEquals(JSON.parse(pass.stdout).bytesChecked, 0);
          const { bucket } = openBucket(env);
          const blocks = (await bucket.listing()).prefixes.get(await digestOf(BIG))!.blocks;
          assertEquals(blocks.length, 3);
          for (const block of [blocks[1], blocks[2], blocks[0]]) {
            const body = await store.get(env.SPARE_BUCKET, block.key);
            await store.delete(env.SPARE_BUCKET, block.key);
            try {
              const r = await spareExpect(1, ["verify", "--structure-only"], env);
              assertStringIncludes(r.stderr, "data/big.bin", `block ${block.index}`);
            } finally {
              await store.put(env.SPARE_BUCKET, block.key, body);
            }
            await spareExpect(0, ["verify", "--structure-only"], env);
          }
        },
      );

      await t.step("read-only commands need no lock", async () => {
        await spareExpect(0, ["lock"], env);
        try {
          await spareExpect(0, ["ls"], env);
          await spareExpect(0, ["diff"], env);
          await spareExpect(0, ["cat", "etc/hosts"], env);
          await spareExpect(0, ["snapshots"], env);
        } finally {
          await spareExpect(0, ["unlock"], env);
        }
      });
    } finally {
      close();
      await dirs.removeAll();
    }
  },
});

Deno.test({
  name: "read-only commands refuse a bucket without the .spare marker",
  ...options,
  async fn() {
    const env = cliEnv("nomarker");
    const { store, close } = openBucket(env);
    try {
      await store.createBucket(env.SPARE_BUCKET);
      await store.put(env.SPARE_BUCKET, "someone-elses.txt", new TextEncoder().encode("x"));
      for (const args of [["ls"], ["diff"], ["cat", "a"], ["snapshots"]]) {
        const r = await spareExpect(1, args, env);
        assertStringIncludes(r.stderr, "not a spare bucket", args[0]);
      }
    } finally {
      close();
    }
  },
});

Deno.test({
  name: "create --keep-within keeps young snapshots beside --keep N",
  ...options,
  async fn() {
    const env = cliEnv("keepwithin");
    const dirs = new TempDirs();
    try {
      const src = await dirs.make();
      await Deno.writeTextFile(`${src}/a.txt`, "a");
      const count = async () =>
        JSON.parse((await spareExpect(0, ["snapshots", "--json"], env)).stdout).length;
      for (let i = 0; i < 3; i++) {
        await spareExpect(0, ["create", "--path", src, "--keep-within", "1h"], env);
      }
      assertEquals(await count(), 3);
      await spareExpect(0, ["create", "--path", src, "--keep", "2"], env);
      assertEquals(await count(), 2);
      const bad = await spareExpect(2, ["create", "--path", src, "--keep-within", "30m"], env);
      assertStringIncludes(bad.stderr, "--keep-within takes a duration");
    } finally {
      await dirs.removeAll();
    }
  },
});

Deno.test({
  name: "ls, cat, diff, verify --sample and restore --include on a --kdf scrypt bucket",
  ...options,
  async fn() {
    const env = cliEnv("getback-kdf");
    const dirs = new TempDirs();
    try {
      const src = await dirs.make();
      await write(`${src}/etc/hosts`, "hardened hosts\n");
      await write(`${src}/other.txt`, "other\n");
      await spareExpect(0, ["create", "--path", src, "--kdf", "scrypt", "--keep", "2"], env);
      await write(`${src}/new.txt`, "new\n");
      await spareExpect(0, ["create", "--path", src, "--keep", "2"], env);
      const ls = await spareExpect(0, ["ls", "etc/*"], env);
      assertStringIncludes(ls.stdout, "etc/hosts");
      const cat = await spareExpect(0, ["cat", "etc/hosts"], env);
      assertEquals(cat.stdout, "hardened hosts\n");
      assertStringIncludes((await spareExpect(0, ["diff"], env)).stdout, "+  new.txt");
      await spareExpect(0, ["verify", "--sample", "50"], env);
      await spareExpect(0, ["verify", "--structure-only"], env);
      const dst = await dirs.make();
      const restored = await restoreJson(env, dst, ["--include", "etc"]);
      assertEquals(Object.keys(await describeTree(dst)), ["etc", "etc/hosts"]);
      assertEquals(restored.bytesDownloaded, 15);
    } finally {
      await dirs.removeAll();
    }
  },
});

Deno.test("usage errors: positionals and options a command does not take (exit 2)", async () => {
  const env = { SPARE_BUCKET: "b", SPARE_PASSWORD: "p", SPARE_PATH: "/nonexistent" };
  const cases: [string[], string][] = [
    [["cat"], "spare cat needs PATH"],
    [["cat", "a", "b"], "unexpected argument: b"],
    [["diff", "a", "b", "c"], "unexpected argument: c"],
    [["verify", "extra"], "unexpected argument: extra"],
    [["ls", "--include", "x"], "--include is an option of restore, not of ls"],
    [["create", "--sample", "5"], "--sample is an option of verify, not of create"],
    [["restore", "--keep-within", "1d"], "--keep-within is an option of create, not of restore"],
    [["create", "--keep-within", "30m"], "--keep-within takes a duration such as 30d"],
    [["verify", "--sample", "101"], "--sample takes a percentage"],
    [["verify", "--structure-only", "--sample", "5"], "--structure-only downloads no content"],
    [["ls", ""], 'pattern "" is empty'],
  ];
  for (const [args, says] of cases) {
    const result = await spare(args, env);
    assertEquals(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assertStringIncludes(result.stderr, says);
  }
});
