/**
 * The LZMA codec through the CLI (issue 12): each codec (SPARE_LZMA=system|native) backs up
 * and restores a tree; a block whose .xz stream is damaged inside an intact seal gives one
 * clear line naming the path; a system liblzma that does not load falls back silently.
 */
import { BlockCodec } from "../lib/codec/block.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliEnv, cliEnv, hasServer, spare, spareExpect } from "./cli.ts";
import { describeTree, openBucket, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** A tree with every kind of block: text, incompressible, empty, one block, one byte over. */
async function makeTree(dir: string): Promise<void> {
  const line = (i: number) => `line ${i} of a log file, status 200, user alice\n`;
  const text = (bytes: number) => {
    let s = "";
    for (let i = 0; s.length < bytes; i++) s += line(i);
    return new TextEncoder().encode(s.slice(0, bytes));
  };
  await Deno.writeFile(`${dir}/text.txt`, text(200_000));
  await Deno.writeFile(`${dir}/random.bin`, pseudoRandom(300_000, 5));
  await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
  await Deno.writeFile(`${dir}/one-block.txt`, text(1_048_576));
  await Deno.writeFile(`${dir}/one-over.txt`, text(1_048_577));
  await Deno.writeTextFile(`${dir}/small.txt`, "alpha\n");
}

for (const codec of ["system", "native"]) {
  Deno.test({
    name: `SPARE_LZMA=${codec}: create, restore and verify every kind of block`,
    ...options,
    fn: async () => {
      const dirs = new TempDirs();
      try {
        const env: CliEnv = { ...cliEnv(`codec-${codec}`), SPARE_LZMA: codec };
        const src = await dirs.make();
        await makeTree(src);
        const version = await spareExpect(0, ["--version"], env);
        assertStringIncludes(version.stdout, codec === "system" ? "system liblzma" : "lzma-native");
        await spareExpect(0, ["create", "--path", src], env);
        const target = `${await dirs.make()}/t`;
        // the other codec reads it back
        const other = { ...env, SPARE_LZMA: codec === "system" ? "native" : "system" };
        await spareExpect(0, ["restore", "--path", target], other);
        assertEquals(await describeTree(target), await describeTree(src));
        assertEquals((await spareExpect(0, ["verify"], env)).stderr, "");
      } finally {
        await dirs.removeAll();
      }
    },
  });
}

/** Replaces the only block of small.txt's prefix with `mutate` of its .xz stream, sealed anew. */
async function damageSmallFile(env: CliEnv, mutate: (xz: Uint8Array) => Uint8Array) {
  const { store, bucket, close } = openBucket(env);
  try {
    const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
    const listing = await bucket.listing();
    for (const info of listing.prefixes.values()) {
      if (info.name.startsWith("snapshot_") || info.blocks.length !== 1) continue;
      const block = info.blocks[0];
      const sealed = await store.get(env.SPARE_BUCKET, block.key);
      const plain = await codec.open(sealed, block.nonce);
      const xz = await codec.decrypt(sealed, block.nonce);
      if (new TextDecoder().decode(plain) !== "alpha\n") continue;
      await store.put(env.SPARE_BUCKET, block.key, await codec.encrypt(mutate(xz), block.nonce));
      return;
    }
    throw new Error("small.txt's block not found");
  } finally {
    close();
  }
}

for (const codec of ["system", "native"]) {
  for (
    const [what, mutate] of [
      ["truncated", (xz: Uint8Array) => xz.subarray(0, xz.length - 9)],
      ["corrupt", (xz: Uint8Array) => {
        const bad = xz.slice();
        bad[bad.length >> 1] ^= 0x5a;
        return bad;
      }],
    ] as const
  ) {
    Deno.test({
      name:
        `SPARE_LZMA=${codec}: a ${what} .xz stream inside an intact seal: one line naming the path`,
      ...options,
      fn: async () => {
        const dirs = new TempDirs();
        try {
          const env: CliEnv = { ...cliEnv(`bad-xz-${codec}`), SPARE_LZMA: codec };
          const src = await dirs.make();
          await Deno.writeTextFile(`${src}/small.txt`, "alpha\n");
          await Deno.writeTextFile(`${src}/other.txt`, "beta\n".repeat(1000));
          await spareExpect(0, ["create", "--path", src], env);
          await damageSmallFile(env, mutate);
          const verify = await spare(["verify"], env);
          assertEquals(verify.code, 1, verify.stderr);
          assertStringIncludes(verify.stderr, "small.txt");
          assertStringIncludes(verify.stderr, "does not decompress");
          assert(!/^\s+at /m.test(verify.stderr), `no stack trace:\n${verify.stderr}`);
          assert(
            verify.stderr.split("\n").every((l) => !l || l.startsWith("error: ")),
            verify.stderr,
          );
          const restore = await spare(["restore", "--path", `${await dirs.make()}/t`], env);
          assertEquals(restore.code, 1, restore.stderr);
          assertStringIncludes(restore.stderr, "small.txt");
          assert(!/^\s+at /m.test(restore.stderr), `no stack trace:\n${restore.stderr}`);
        } finally {
          await dirs.removeAll();
        }
      },
    });
  }
}

Deno.test({
  name: "a system liblzma that does not load: lzma-native, silently unless --verbose",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    try {
      const env: CliEnv = { ...cliEnv("fallback"), SPARE_LZMA: "/nonexistent/liblzma.so.5" };
      const src = await dirs.make();
      await makeTree(src);
      const create = await spareExpect(0, ["create", "--path", src], env);
      assertEquals(create.stderr, "");
      const target = `${await dirs.make()}/t`;
      const restore = await spareExpect(0, ["restore", "--path", target, "--verbose"], env);
      assertStringIncludes(restore.stderr, "using lzma-native");
      assertStringIncludes(restore.stderr, "/nonexistent/liblzma.so.5");
      assertEquals(await describeTree(target), await describeTree(src));
      const version = await spareExpect(0, ["--version"], env);
      assertStringIncludes(version.stdout, "lzma-native");
      // SPARE_LZMA=system insists: one clear line instead of the fallback
      const insist = await spare(["verify"], { ...env, SPARE_LZMA: "system" });
      assertEquals(insist.code, 0, insist.stderr);
      const bad = await spare(["verify"], { ...env, SPARE_LZMA: "bogus" });
      assertEquals(bad.code, 2, bad.stderr);
      assertStringIncludes(bad.stderr, "SPARE_LZMA must be");
    } finally {
      await dirs.removeAll();
    }
  },
});
