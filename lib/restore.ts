/**
 * `restore` (0.4.0's "recovery"): rebuild a snapshot into an empty directory: directories,
 * files (each digest downloaded once and checked against its name), hardlinks, symlinks,
 * owners, modes and mtimes. Modes are never set through a symlink.
 */
import fs from "node:fs";
import type { BlockCodec } from "./block.ts";
import type { Bucket, BucketListing } from "./bucket.ts";
import { BlockAuthError, BlockDecompressError, SpareError } from "./errors.ts";
import { forEachConcurrent } from "./limit.ts";
import type { Log } from "./log.ts";
import { Owners } from "./owners.ts";
import { type Entry, SNAPSHOT_PREFIX, type SnapshotData, type SymlinkEntry } from "./snapshot.ts";

/** What `restore` was asked to do. */
export interface RestoreOptions {
  target: string;
  /** Digests downloaded at once. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: RestoreProgress) => void;
}

/** Figures of a restore run. */
export interface RestoreProgress {
  filesTotal: number;
  bytesTotal: number;
  filesDone: number;
  bytesDone: number;
  bytesDownloaded: number;
}

/** What `restore` did. */
export interface RestoreResult extends RestoreProgress {
  snapshot: string;
}

/** Checks that the target is an empty directory or missing (then creates it). */
export async function prepareTarget(target: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(target);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw targetError(target, err);
    try {
      await Deno.mkdir(target, { recursive: true });
    } catch (mkdirErr) {
      throw targetError(target, mkdirErr);
    }
    return;
  }
  if (!info.isDirectory) throw new SpareError(`restore target ${target} is not a directory`);
  for await (const _ of Deno.readDir(target)) {
    throw new SpareError(
      `restore target ${target} is not empty: restore only into an empty directory`,
    );
  }
  try {
    const probe = `${target}/.spare-write-test-${Deno.pid}`;
    await Deno.writeFile(probe, new Uint8Array(0));
    await Deno.remove(probe);
  } catch (err) {
    throw targetError(target, err);
  }
}

function targetError(target: string, err: unknown): SpareError {
  const reason = err instanceof Deno.errors.PermissionDenied ? "permission denied" : String(err);
  return new SpareError(`cannot restore into ${target}: ${reason}`);
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** Restores `name` of the listing into `options.target` (prepared by prepareTarget). */
export async function restoreSnapshot(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  name: string,
  snapshot: SnapshotData,
  log: Log,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const root = options.target;
  const { signal } = options;
  const structure = snapshot.structure;
  const owners = new Owners();
  const isRoot = Deno.uid() === 0;
  const unknownNames = new Set<string>();
  const abs = (path: string) => `${root}/${path}`;
  const paths = Object.keys(structure).sort();

  const progress: RestoreProgress = {
    filesTotal: 0,
    bytesTotal: 0,
    filesDone: 0,
    bytesDone: 0,
    bytesDownloaded: 0,
  };
  for (const path of paths) {
    const entry = structure[path];
    if (entry.type === "file") {
      progress.filesTotal++;
      progress.bytesTotal += entry.size;
    }
  }
  const report = () => options.onProgress?.(progress);

  /** Sets the owner (as root), without following links. */
  const setOwner = (path: string, entry: Entry) => {
    if (!isRoot) return;
    const uid = owners.userId(entry.user);
    const gid = owners.groupId(entry.group);
    if (uid === undefined && !unknownNames.has(`user ${entry.user}`)) {
      unknownNames.add(`user ${entry.user}`);
      log.warn(`user ${entry.user} does not exist here; its files keep the restoring user`);
    }
    if (gid === undefined && !unknownNames.has(`group ${entry.group}`)) {
      unknownNames.add(`group ${entry.group}`);
      log.warn(`group ${entry.group} does not exist here; its files keep the restoring group`);
    }
    if (uid === undefined && gid === undefined) return;
    fs.lchownSync(abs(path), uid ?? -1, gid ?? -1);
  };
  const setTimes = (path: string, entry: Entry) => {
    // Deno's file times have millisecond precision.
    const time = new Date(Math.round(entry.mtime_ns / 1e6));
    fs.lutimesSync(abs(path), time, time);
  };
  /** Owner, then mode (chown clears setuid bits), then times; files and directories only. */
  const finishNode = async (path: string, entry: Entry) => {
    setOwner(path, entry);
    await Deno.chmod(abs(path), entry.mode & 0o7777);
    setTimes(path, entry);
  };

  // Directories first, writable by us until the end.
  for (const path of paths) {
    if (structure[path].type !== "directory") continue;
    await Deno.mkdir(abs(path), { recursive: true, mode: 0o700 });
  }
  const ensureParent = (path: string) => {
    const parent = parentOf(path);
    if (parent && !structure[parent]) fs.mkdirSync(abs(parent), { recursive: true, mode: 0o700 });
  };

  // Files: one download per digest, then hardlinks for the same inode, copies otherwise.
  const written = new Set<string>();
  const fileDigests: [string, string[]][] = Object.entries(snapshot.files);
  const missingFromStructure: string[] = [];
  await forEachConcurrent(fileDigests, options.concurrency ?? 4, async ([digest, digestPaths]) => {
    signal?.throwIfAborted();
    const filePaths = digestPaths.filter((p) => {
      if (structure[p]?.type === "file") return true;
      missingFromStructure.push(p);
      return false;
    }).sort();
    if (filePaths.length === 0) return;
    const info = listing.prefixes.get(digest);
    if (!info?.complete) {
      throw new SpareError(
        `the content of ${filePaths.join(", ")} (${digest}) is missing from the bucket`,
      );
    }
    const [first, ...others] = filePaths;
    ensureParent(first);
    const file = await Deno.open(abs(first), { write: true, createNew: true, mode: 0o600 });
    let intact: boolean;
    try {
      intact = await bucket.readContent(info, codec, async (block) => {
        await writeAll(file, block);
        progress.bytesDownloaded += block.length;
      }, signal);
    } catch (err) {
      if (err instanceof BlockAuthError || err instanceof BlockDecompressError) {
        throw new SpareError(
          `cannot restore ${filePaths.join(", ")}: ${err.message}`,
          err.exitCode,
          { cause: err },
        );
      }
      throw err;
    } finally {
      file.close();
    }
    if (!intact) {
      throw new SpareError(
        `the content of ${filePaths.join(", ")} does not match its digest ${digest}: corrupted`,
      );
    }
    const inodeFirst = new Map<number, string>([[structure[first].inode, first]]);
    for (const path of others) {
      ensureParent(path);
      const linkTo = inodeFirst.get(structure[path].inode);
      if (linkTo) {
        await Deno.link(abs(linkTo), abs(path));
      } else {
        await Deno.copyFile(abs(first), abs(path));
        inodeFirst.set(structure[path].inode, path);
      }
    }
    for (const path of filePaths) {
      written.add(path);
      progress.filesDone++;
      progress.bytesDone += structure[path].size;
      log.detail(path);
    }
    report();
  });
  if (missingFromStructure.length > 0) {
    log.warn(
      `the snapshot lists contents for paths it does not describe: ${
        missingFromStructure.join(", ")
      }`,
    );
  }

  // Empty files (and files without content), hardlinked by inode as well.
  const emptyByInode = new Map<number, string>();
  for (const path of paths) {
    const entry = structure[path];
    if (entry.type !== "file" || written.has(path)) continue;
    signal?.throwIfAborted();
    if (!entry.empty && entry.size !== 0) {
      log.warn(`${path} has no content in the snapshot; restored empty`);
    }
    ensureParent(path);
    const linkTo = emptyByInode.get(entry.inode);
    if (linkTo) await Deno.link(abs(linkTo), abs(path));
    else {
      await Deno.writeFile(abs(path), new Uint8Array(0), { createNew: true, mode: 0o600 });
      emptyByInode.set(entry.inode, path);
    }
    written.add(path);
    progress.filesDone++;
    log.detail(path);
  }

  // Symlinks: the link text as read when we have it, else 0.4.0's <root>/<target>.
  for (const path of paths) {
    const entry = structure[path];
    if (entry.type !== "symlink") continue;
    ensureParent(path);
    await Deno.symlink(symlinkText(root, entry), abs(path));
    setOwner(path, entry);
    setTimes(path, entry);
    log.detail(path);
  }

  for (const path of written) await finishNode(path, structure[path]);
  // Directories last, deepest first, so that their mtimes stay.
  for (const path of [...paths].reverse()) {
    if (structure[path].type === "directory") await finishNode(path, structure[path]);
  }
  report();
  return { ...progress, snapshot: name.slice(SNAPSHOT_PREFIX.length) };
}

/** The text a restored symlink gets. */
export function symlinkText(root: string, entry: SymlinkEntry): string {
  if (typeof entry.link === "string") return entry.link;
  // 0.4.0: os.path.join(root, target); an absolute target stays as it is.
  return entry.target.startsWith("/") ? entry.target : `${root}/${entry.target}`;
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await file.write(data.subarray(offset));
}
