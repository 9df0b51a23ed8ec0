/** The integration tests' set-up: a fresh bucket on the test server, direct access to it, temp dirs. */
import type { Bucket } from "../lib/bucket/bucket.ts";
import type { ObjectStore } from "../lib/s3/client.ts";
import { assert, assertEquals } from "./assert.ts";
import { type CliEnv, cliEnv, hasServer, spareExpect } from "./cli.ts";
import { openBucket, TempDirs } from "./tree.ts";

/** What one integration test gets: a fresh bucket, direct access to it, temp dirs. */
export interface Ctx {
  env: CliEnv;
  store: ObjectStore;
  bucket: Bucket;
  dirs: TempDirs;
}

/** A test on a fresh bucket (skipped without a test server). */
export function integration(name: string, fn: (ctx: Ctx) => Promise<void>): void {
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

/** Writes a text file, making its directory, with `mode` when given. */
export async function writeText(path: string, text: string, mode?: number): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, text);
  if (mode !== undefined) await Deno.chmod(path, mode);
}

/** Names of the prefixes of the bucket, sorted; each must have blocks 1..n, each once. */
export async function prefixNames(bucket: Bucket): Promise<string[]> {
  const listing = await bucket.listing();
  for (const p of listing.prefixes.values()) {
    assertEquals(p.blocks.map((b) => b.index), p.blocks.map((_, i) => i + 1), `${p.name}'s blocks`);
  }
  return [...listing.prefixes.keys()].sort();
}

/** `spare snapshots --json`. */
export async function snapshots(
  env: CliEnv,
): Promise<{ id: string; identity: string; files: number }[]> {
  const result = await spareExpect(0, ["snapshots", "--json"], env);
  return JSON.parse(result.stdout);
}

/** Fails when the bucket is still locked. */
export async function assertUnlocked(ctx: Ctx): Promise<void> {
  assert(!(await ctx.store.exists(ctx.env.SPARE_BUCKET, ".lock")), "the bucket is still locked");
}
