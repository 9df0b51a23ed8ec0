/** Helpers for the integration tests: describe a directory tree, reach a test bucket directly. */
import { BlockCodec } from "../lib/codec/block.ts";
import { lstatPath, openReadBytes, readDirNames, readLinkPath } from "../lib/util/fs_bytes.ts";
import { hasEscapedBytes } from "../lib/util/names.ts";
import { Bucket } from "../lib/bucket/bucket.ts";
import { concatBytes } from "../lib/util/bytes.ts";
import { ObjectStore } from "../lib/s3/client.ts";
import type { CliEnv } from "./cli.ts";

/** One path of a tree as lstat sees it (mode without type bits, mtime in milliseconds). */
export interface TreeEntry {
  type: "file" | "directory" | "symlink";
  mode: number;
  mtime: number;
  size?: number;
  /** Files: the content as hex SHA-256. */
  sha256?: string;
  /** Symlinks: the link text. */
  link?: string;
}

/** One path met by walkTree. */
export interface WalkedPath {
  /** Relative to the root, `/`-separated. */
  path: string;
  absolute: string;
  info: Deno.FileInfo;
}

/** Every path under `root` (root excluded) with its lstat, sorted by name, parents first. */
export async function* walkTree(root: string, rel = ""): AsyncGenerator<WalkedPath> {
  const dir = rel ? `${root}/${rel}` : root;
  // Names that are not UTF-8 are read as bytes (held as U+DC80+byte).
  const names = readDirNames(dir).sort();
  for (const name of names) {
    const path = rel ? `${rel}/${name}` : name;
    const absolute = `${dir}/${name}`;
    const info = lstatPath(absolute);
    yield { path, absolute, info };
    if (info.isDirectory) yield* walkTree(root, path);
  }
}

/** Every path under `root` (relative, `/`-separated, root itself excluded), sorted. */
export async function describeTree(root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  for await (const { path, absolute, info } of walkTree(root)) {
    const base = { mode: (info.mode ?? 0) & 0o7777, mtime: info.mtime!.getTime() };
    if (info.isSymlink) {
      out[path] = { type: "symlink", ...base, link: readLinkPath(absolute) };
    } else if (info.isDirectory) {
      out[path] = { type: "directory", ...base };
    } else {
      out[path] = { type: "file", ...base, size: info.size, sha256: await sha256File(absolute) };
    }
  }
  return out;
}

async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await readAny(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The content of a file, whatever its name. */
export async function readAny(abs: string): Promise<Uint8Array<ArrayBuffer>> {
  if (!hasEscapedBytes(abs)) return await Deno.readFile(abs);
  const { file } = openReadBytes(abs);
  if (!file) throw new Error(`${abs} is not a regular file`);
  const parts: Uint8Array[] = [];
  try {
    while (true) {
      const buffer = new Uint8Array(65536);
      const n = file.readSync(buffer);
      if (n === null) break;
      parts.push(buffer.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return new Uint8Array(concatBytes(parts));
}

/** Groups of paths (two or more) that share an inode, each sorted, sorted by first path. */
export async function hardlinkGroups(root: string): Promise<string[][]> {
  const byInode = new Map<number, string[]>();
  for await (const { path, info } of walkTree(root)) {
    if (info.isFile) byInode.set(info.ino!, [...(byInode.get(info.ino!) ?? []), path]);
  }
  return [...byInode.values()].filter((g) => g.length > 1).map((g) => g.sort())
    .sort((a, b) => a[0].localeCompare(b[0]));
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function pseudoRandom(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Direct access to the bucket of a test's CLI settings; close it with `close()`. */
export function openBucket(env: CliEnv): { store: ObjectStore; bucket: Bucket; close(): void } {
  const store = new ObjectStore({
    endpoint: env.SPARE_ENDPOINT,
    accessKey: env.SPARE_ACCESS_KEY,
    secretKey: env.SPARE_SECRET_KEY,
  });
  return { store, bucket: new Bucket(store, env.SPARE_BUCKET), close: () => store.close() };
}

/** Temporary directories made for one test, removed together. */
export class TempDirs {
  private readonly dirs: string[] = [];

  /** A new empty directory. */
  async make(prefix = "spare-test-"): Promise<string> {
    const dir = await Deno.makeTempDir({ prefix });
    this.dirs.push(dir);
    return dir;
  }

  /** Removes every directory made (even ones a test made read-only inside). */
  async removeAll(): Promise<void> {
    for (const dir of this.dirs.splice(0)) {
      await Deno.chmod(dir, 0o700).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

/** The newest snapshot's JSON exactly as stored (as 0.4.0 reads it: no field merged). */
export async function rawSnapshot(
  store: ObjectStore,
  bucket: string,
  password: string,
): Promise<Record<string, unknown>> {
  const codec = await BlockCodec.fromPassword(password);
  const keys: string[] = [];
  for await (const { key } of store.list(bucket, "snapshot_")) keys.push(key);
  const newest = keys.map((k) => k.split("/")[0]).sort().at(-1);
  const blocks: Uint8Array[] = [];
  for (const key of keys.filter((k) => k.startsWith(`${newest}/`)).sort()) {
    blocks.push(await codec.open(await store.get(bucket, key), key.split("-").at(-1)!, key));
  }
  return JSON.parse(new TextDecoder().decode(concatBytes(blocks)));
}

/** What the bucket holds, read directly. */
export async function bucketState(env: CliEnv) {
  const { bucket, close } = openBucket(env);
  try {
    const listing = await bucket.listing();
    const prefixes = [...listing.prefixes.values()];
    return {
      locked: await bucket.isLocked(),
      snapshots: prefixes.filter((p) => p.name.startsWith("snapshot_") && p.complete).length,
      incomplete: prefixes.filter((p) => !p.complete).length,
      prefixes: prefixes.length,
    };
  } finally {
    close();
  }
}
