/** Issue 4: bad input gives one clear line on stderr, a documented exit code, and changes nothing in the bucket. */
import { BlockCodec } from "../lib/codec/block.ts";
import { SpareError } from "../lib/util/errors.ts";
import { readSnapshot } from "../lib/snapshot/stored.ts";
import { entry } from "./snapshot_writer.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliEnv, cliEnv, type CliResult, hasServer, spare, spareExpect } from "./cli.ts";
import { openBucket, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** Every key of the bucket with its size. */
async function objects(env: CliEnv): Promise<string[]> {
  const { store, close } = openBucket(env);
  try {
    const out = [];
    for await (const o of store.list(env.SPARE_BUCKET)) out.push(`${o.key} ${o.size}`);
    return out.sort();
  } finally {
    close();
  }
}

/** Fails unless the run exited `code` with error lines only (no stack trace) mentioning `text`. */
function assertClearError(result: CliResult, code: number, text: string): void {
  assertEquals(result.code, code, result.stderr);
  assertStringIncludes(result.stderr, text);
  assert(!/^\s+at /m.test(result.stderr), `no stack trace:\n${result.stderr}`);
  assert(result.stderr.trim().split("\n").every((l) => l.startsWith("error: ")), result.stderr);
}

async function backedUp(dirs: TempDirs, prefix: string): Promise<{ env: CliEnv; src: string }> {
  const env = cliEnv(prefix);
  const src = await dirs.make();
  await Deno.writeTextFile(`${src}/a.txt`, "alpha\n");
  await Deno.writeFile(`${src}/b.bin`, pseudoRandom(1_500_000, 2));
  await spareExpect(0, ["create", "--path", src], env);
  return { env, src };
}

Deno.test({
  name: "wrong password: create, restore and verify say so, exit 1, and change nothing",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const { env, src } = await backedUp(dirs, "wrongpw");
    const before = await objects(env);
    const wrong = { ...env, SPARE_PASSWORD: "not the password" };
    await Deno.writeTextFile(`${src}/new.txt`, "new\n");
    assertClearError(await spare(["create", "--path", src], wrong), 1, "wrong password");
    assertClearError(await spare(["verify"], wrong), 1, "wrong password");
    const target = `${await dirs.make()}/t`;
    const restore = await spare(["restore", "--path", target], wrong);
    assertClearError(restore, 1, "wrong password");
    assertEquals(await objects(env), before);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "wrong access key or secret key, unresolvable or refusing endpoint: one clear line",
  ...options,
  fn: async () => {
    const env = cliEnv("creds");
    await spareExpect(0, ["lock"], env);
    const cases: [Partial<CliEnv>, string][] = [
      [{ SPARE_ACCESS_KEY: "NOSUCHKEY0000000" }, "access key or secret key"],
      [{ SPARE_SECRET_KEY: "wrong-secret" }, "access key or secret key"],
      [{ SPARE_ENDPOINT: "http://does-not-exist.invalid" }, "does not resolve"],
      [{ SPARE_ENDPOINT: "http://127.0.0.1:1" }, "connection refused"],
    ];
    for (const [change, text] of cases) {
      const result = await spare(["unlock"], { ...env, ...change } as CliEnv);
      assertClearError(result, 1, text);
      assertEquals(result.stderr.trim().split("\n").length, 1, result.stderr);
    }
    await spareExpect(0, ["unlock"], env);
  },
});

Deno.test({
  name: "a bad --path, restore target or snapshot ID is refused before anything changes",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const { env, src } = await backedUp(dirs, "badpath");
    const before = await objects(env);
    assertClearError(await spare(["create", "--path", `${src}/missing`], env), 1, "does not exist");
    assertClearError(
      await spare(["create", "--path", `${src}/a.txt`], env),
      1,
      "is not a directory",
    );
    assertClearError(await spare(["restore", "--path", src], env), 1, "is not empty");
    assertClearError(
      await spare(["restore", "--path", `${src}/a.txt/sub`], env),
      1,
      "cannot restore into",
    );
    assertClearError(
      await spare(["restore", "--path", "/proc/spare-test"], env),
      1,
      "cannot restore into",
    );
    const target = `${await dirs.make()}/t`;
    assertClearError(
      await spare(["restore", "--path", target, "--snapshot", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], env),
      1,
      "snapshot 01ARZ3NDEKTSV4RRFFQ69G5FAV does not exist",
    );
    assertEquals(await objects(env), before);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a corrupted object: verify names the paths, restore names the file, both exit 1",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const { env } = await backedUp(dirs, "corrupt");
    const { store, bucket, close } = openBucket(env);
    const listing = await bucket.listing();
    const block = [...listing.prefixes.values()].find((p) =>
      !p.name.startsWith("snapshot_") && p.blocks.length > 1
    )!
      .blocks[1];
    const bytes = await store.get(env.SPARE_BUCKET, block.key);
    bytes[bytes.length >> 1] ^= 0xff;
    await store.put(env.SPARE_BUCKET, block.key, bytes);
    close();
    const verify = await spare(["verify"], env);
    assertClearError(verify, 1, "b.bin");
    assertStringIncludes(verify.stderr, block.key);
    const target = `${await dirs.make()}/t`;
    const restore = await spare(["restore", "--path", target], env);
    assertEquals(restore.code, 1, restore.stderr);
    assertStringIncludes(restore.stderr, "cannot restore b.bin");
    assertStringIncludes(restore.stderr, "is incomplete");
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a snapshot whose JSON is damaged is reported by restore and verify",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const { env } = await backedUp(dirs, "badjson");
    const { bucket, close } = openBucket(env);
    const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
    async function* body() {
      yield new TextEncoder().encode('{"files": {"x": [');
    }
    await bucket.writePrefix("snapshot_09ZZZZZZZZZZZZZZZZZZZZZZZZ", body(), codec);
    close();
    const target = `${await dirs.make()}/t`;
    assertClearError(await spare(["restore", "--path", target], env), 1, "is damaged");
    assertClearError(await spare(["verify"], env), 1, "is damaged");
    await dirs.removeAll();
  },
});

Deno.test({
  name: "snapshot metadata is read block by block: characters cut between blocks, bad UTF-8",
  ...options,
  fn: async () => {
    const env = cliEnv("utf8");
    const { bucket, close } = openBucket(env);
    try {
      await bucket.ensure();
      const codec = await BlockCodec.fromPassword(env.SPARE_PASSWORD);
      const path = "dir-é€😀";
      const json = new TextEncoder().encode(JSON.stringify({
        files: {},
        structure: { [path]: entry("directory") },
        identity: "host:/src:1",
      }));
      /** The byte offset `into` bytes inside the UTF-8 of `char` in the JSON. */
      const at = (char: string, into: number) => {
        const bytes = new TextEncoder().encode(char);
        const start = json.findIndex((_, i) => bytes.every((b, j) => json[i + j] === b));
        assert(start >= 0 && into > 0 && into < bytes.length);
        return start + into;
      };
      // cut inside é (2 bytes), inside € (3 bytes) and inside 😀 (4 bytes)
      const cuts = [at("é", 1), at("€", 2), at("😀", 3)];
      const pieces = [0, ...cuts].map((from, i) => json.slice(from, [...cuts, json.length][i]));
      const name = "snapshot_01ARZ3NDEKTSV4RRFFQ69G5FAV";
      await bucket.writePrefix(name, pieces, codec);
      const snapshot = await readSnapshot(bucket, codec, await bucket.listing(), name);
      assertEquals(Object.keys(snapshot.structure), [path]);
      assertEquals(snapshot.refused, []);

      // a stray byte, and a character cut off at the very end, are damage
      const damaged: [string, Uint8Array[]][] = [
        ["0xff", [json.slice(0, 20), Uint8Array.of(0xff), json.slice(20)]],
        ["cut at the end", [json, new TextEncoder().encode("😀").slice(0, 2)]],
      ];
      for (const [i, [label, blocks]] of damaged.entries()) {
        const bad = `snapshot_01ARZ3NDEKTSV4RRFFQ69G5FB${i}`;
        await bucket.writePrefix(bad, blocks, codec);
        let message = "";
        try {
          await readSnapshot(bucket, codec, await bucket.listing(), bad);
        } catch (err) {
          message = err instanceof SpareError ? err.message : `not a SpareError: ${err}`;
        }
        assertStringIncludes(
          message,
          "is damaged: its metadata is not valid JSON",
          `${label}: ${message}`,
        );
      }
    } finally {
      close();
    }
  },
});
