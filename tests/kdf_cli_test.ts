/** Issue 13: `create --kdf scrypt` through the CLI, against the real server. */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliEnv, cliEnv, hasServer, spare, spareExpect } from "./cli.ts";
import { BlockCodec } from "../lib/codec/block.ts";
import { BlockAuthError } from "../lib/util/errors.ts";
import { decodeKdfSettings, KDF_KEY } from "../lib/crypto/kdf.ts";
import { readSnapshot, resolveSnapshot } from "../lib/snapshot/stored.ts";
import { bucketState, describeTree, openBucket, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

async function makeSource(dirs: TempDirs): Promise<string> {
  const src = await dirs.make();
  await Deno.writeTextFile(`${src}/a.txt`, "hardened\n".repeat(1000));
  await Deno.mkdir(`${src}/d`);
  await Deno.writeTextFile(`${src}/d/b.txt`, "b\n");
  return src;
}

/** `.spare-kdf` as stored, or undefined. */
async function storedKdf(env: CliEnv): Promise<Uint8Array | undefined> {
  const { store, close } = openBucket(env);
  try {
    return await store.getIfExists(env.SPARE_BUCKET, KDF_KEY);
  } finally {
    close();
  }
}

/** True when the latest snapshot opens with the password under 0.4.0's SHA-512 key. */
async function opensWithSha512Key(env: CliEnv): Promise<boolean> {
  const { bucket, close } = openBucket(env);
  try {
    const listing = await bucket.listing();
    const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
    await readSnapshot(bucket, codec, listing, resolveSnapshot(listing, "latest"));
    return true;
  } catch (err) {
    if (err instanceof BlockAuthError) return false;
    throw err;
  } finally {
    close();
  }
}

/** The error lines of a run, with block keys replaced by KEY. */
function errorLines(stderr: string): string[] {
  return stderr.trim().split("\n").map((line) =>
    line.replace(/snapshot_[0-9A-Z]{26}\/\d{9}-[0-9a-f]{32}/g, "KEY")
  );
}

Deno.test({
  name:
    "create --kdf scrypt, then verify, restore and create without it: the bucket's key stays scrypt's",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("kdf-round-trip");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src, "--kdf", "scrypt"], env);
    const stored = await storedKdf(env);
    assert(stored, ".spare-kdf is stored");
    const settings = decodeKdfSettings(stored, env.SPARE_BUCKET);
    assert(settings.kdf === "scrypt");
    assertEquals([settings.N, settings.r, settings.p, settings.salt.length], [32768, 8, 1, 32]);
    assertEquals(await opensWithSha512Key(env), false, "the key is not 0.4.0's");

    await spareExpect(0, ["verify"], env);
    const target = `${await dirs.make()}/t`;
    await spareExpect(0, ["restore", "--path", target], env);
    assertEquals(await describeTree(target), await describeTree(src));

    // later runs (with or without --kdf) keep the bucket's settings
    await Deno.writeTextFile(`${src}/c.txt`, "new\n");
    await spareExpect(0, ["create", "--path", src], env);
    await spareExpect(0, ["create", "--path", src, "--kdf", "scrypt"], env);
    assertEquals(await storedKdf(env), stored);
    const again = `${await dirs.make()}/t`;
    await spareExpect(0, ["restore", "--path", again], env);
    assertEquals(await describeTree(again), await describeTree(src));
    const listed = await spareExpect(0, ["snapshots"], env);
    assertEquals(listed.stdout.trim().split("\n").length, 1);
    await spareExpect(0, ["verify"], env);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a wrong password on a hardened bucket gives the same one line as on a default bucket",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const src = await makeSource(dirs);
    const hardened = cliEnv("kdf-wrong");
    const plain = cliEnv("kdf-wrong-plain");
    await spareExpect(0, ["create", "--path", src, "--kdf", "scrypt"], hardened);
    await spareExpect(0, ["create", "--path", src], plain);
    for (const args of [["verify"], ["restore", "--path", `${await dirs.make()}/t`]]) {
      const a = await spare(args, { ...hardened, SPARE_PASSWORD: "not the password" });
      const b = await spare(args, { ...plain, SPARE_PASSWORD: "not the password" });
      assertEquals(a.code, 1, a.stderr);
      assertEquals(b.code, 1, b.stderr);
      assertEquals(errorLines(a.stderr), errorLines(b.stderr));
      assertStringIncludes(a.stderr, "wrong password, or the block snapshot_");
      assertEquals(errorLines(a.stderr).length, 1, a.stderr);
    }
    assertEquals((await bucketState(hardened)).locked, false);
    await dirs.removeAll();
  },
});

Deno.test({
  name:
    "--kdf scrypt is refused with one line on a bucket that holds backups; the bucket stays 0.4.0's",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("kdf-refused");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src], env);
    assertEquals(await storedKdf(env), undefined, "a default bucket has no .spare-kdf");
    assert(await opensWithSha512Key(env), "a default bucket has 0.4.0's key");
    const refused = await spare(["create", "--path", src, "--kdf", "scrypt"], env);
    assertEquals(refused.code, 1, refused.stderr);
    assertEquals(refused.stderr.trim().split("\n").length, 1, refused.stderr);
    assertStringIncludes(refused.stderr, "already holds backups");
    assertStringIncludes(refused.stderr, "applies only to a new bucket");
    assertEquals(await storedKdf(env), undefined);
    assertEquals((await bucketState(env)).locked, false);
    await spareExpect(0, ["verify"], env);

    const usage = await spare(["verify", "--kdf", "scrypt"], env);
    assertEquals(usage.code, 2, usage.stderr);
    assertStringIncludes(usage.stderr, "--kdf applies to create only");
    const unknown = await spare(["create", "--path", src, "--kdf", "argon2"], env);
    assertEquals(unknown.code, 2, unknown.stderr);
    assertStringIncludes(unknown.stderr, "--kdf must be scrypt");
    await dirs.removeAll();
  },
});

Deno.test({
  name:
    "a hostile .spare-kdf (huge N, huge r, short salt, oversized) is refused in one line by every command",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const src = await makeSource(dirs);
    const salt = "ab".repeat(32);
    const hostile: [string, string][] = [
      [JSON.stringify({ kdf: "scrypt", N: 2 ** 30, r: 8, p: 1, salt }), "N must be a power of two"],
      [JSON.stringify({ kdf: "scrypt", N: 2 ** 16, r: 1024, p: 1, salt }), "r must be"],
      [JSON.stringify({ kdf: "scrypt", N: 2 ** 15, r: 8, p: 1, salt: "ab" }), "salt must be"],
      [" ".repeat(100_000), "more than the 4096"],
    ];
    for (const [body, reason] of hostile) {
      const env = cliEnv("kdf-hostile");
      await spareExpect(0, ["create", "--path", src], env);
      const { store, close } = openBucket(env);
      await store.put(env.SPARE_BUCKET, KDF_KEY, new TextEncoder().encode(body));
      close();
      for (
        const args of [
          ["verify"],
          ["snapshots"],
          ["restore", "--path", `${await dirs.make()}/t`],
          ["create", "--path", src],
        ]
      ) {
        const result = await spare(args, env);
        assertEquals(result.code, 1, `${args[0]}: ${result.stderr}`);
        assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
        assertStringIncludes(result.stderr, reason);
        assertEquals((await bucketState(env)).locked, false);
      }
    }
    await dirs.removeAll();
  },
});
