/**
 * `restore` (0.4.0's "recovery"): rebuild a snapshot into an empty directory, or complete an
 * interrupted restore there (`--resume`). In order: directories; files, each digest
 * downloaded once under a temporary name, checked, then renamed into place, paths that
 * shared an inode hardlinked to it, others copied; owners, modes and mtimes of files;
 * symlinks, after everything else was written; directories, deepest first. The snapshot's
 * entries were checked when it was decoded (nothing lies under a file or a symlink), and
 * every write goes through RestoreTarget, which never follows a symlink.
 */
import type { BlockCodec } from "../codec/mod.ts";
import type { Bucket, BucketListing } from "../bucket/mod.ts";
import {
  BlockAuthError,
  BlockDecompressError,
  concatBytes,
  ContentHasher,
  forEachConcurrent,
  humanBytes,
  type Log,
  type OpenFile,
  Owners,
  SpareError,
} from "../util/mod.ts";
import { type FileFinish, impliedDirectories, nameList, RestoreTarget } from "./target.ts";
import {
  describeRefused,
  displayPath,
  type Entry,
  SNAPSHOT_PREFIX,
  type SnapshotTable,
  type SymlinkEntry,
} from "../snapshot/mod.ts";

export { prepareTarget } from "./target.ts";

/** What `restore` was asked to do. */
export interface RestoreOptions {
  target: string;
  /** The target holds an interrupted restore: keep the files that are intact, do the rest. */
  resume?: boolean;
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
  /** Files a resumed restore found intact and kept. */
  filesKept: number;
  /** Entries of the snapshot refused when it was decoded: not restored. */
  refused: number;
}

/** Rows of one content: a digest's files, or every empty file (digest undefined). */
interface Content {
  digest?: string;
  rows: number[];
}

/**
 * Restores `name` of the listing into `options.target` (prepared by prepareTarget). Entries
 * refused when the snapshot was decoded are named on stderr and counted in the result.
 */
export async function restoreSnapshot(
  bucket: Bucket,
  codec: BlockCodec,
  listing: BucketListing,
  name: string,
  table: SnapshotTable,
  log: Log,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const id = name.slice(SNAPSHOT_PREFIX.length);
  const { signal } = options;
  const target = new RestoreTarget(options.target, Boolean(options.resume));
  const owners = new Owners();
  const isRoot = Deno.uid() === 0;
  const unknownNames = new Set<string>();
  const paths = table.paths;
  const refused = table.refused;
  for (const entry of refused) log.error(`snapshot ${id}: refused ${describeRefused(entry)}`);

  const progress: RestoreProgress = {
    filesTotal: 0,
    bytesTotal: 0,
    filesDone: 0,
    bytesDone: 0,
    bytesDownloaded: 0,
  };
  for (let row = 0; row < table.count; row++) {
    if (table.type(row) !== "file") continue;
    progress.filesTotal++;
    progress.bytesTotal += table.size(row);
  }
  let filesKept = 0;
  const report = () => options.onProgress?.(progress);

  /** The ids an entry's owner gets (as root; -1 keeps one), warning once per unknown name. */
  const ownerIds = (entry: Entry): { uid: number; gid: number } => {
    if (!isRoot) return { uid: -1, gid: -1 };
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
    return { uid: uid ?? -1, gid: gid ?? -1 };
  };
  /** Sets the owner (as root), without following links. */
  const setOwner = (path: string, entry: Entry) => {
    const { uid, gid } = ownerIds(entry);
    if (uid !== -1 || gid !== -1) target.setOwner(path, uid, gid);
  };
  /** What a file this run writes gets before its rename (see RestoreTarget.finishTemporary). */
  const finishOf = (entry: Entry): FileFinish => ({
    ...ownerIds(entry),
    mode: entry.mode,
    mtimeNs: entry.mtime_ns,
  });
  /** Owner, then mode (chown clears setuid bits), then times; files and directories only. */
  const finishNode = (path: string, entry: Entry) => {
    setOwner(path, entry);
    target.setMode(path, entry.mode);
    target.setTimes(path, entry.mtime_ns);
  };

  // Directories first, one level at a time, writable by us until the end. Directories that
  // the snapshot lists entries under but does not describe (0.4.0 records what lies below a
  // directory it skipped) are created as well.
  const implied = impliedDirectories(table);
  if (implied.length > 0) {
    log.warn(
      `the snapshot lists entries below directories it does not describe (0.4.0 records what ` +
        `lies below a skipped directory); created with mode 0700: ${nameList(implied)}`,
    );
  }
  const directories = [...implied];
  for (let row = 0; row < table.count; row++) {
    if (table.type(row) === "directory") directories.push(paths[row]);
  }
  directories.sort();
  for (const path of directories) {
    signal?.throwIfAborted();
    try {
      target.makeDirectory(path);
    } catch (err) {
      throw fullDiskError(err, options.target, `the directory ${displayPath(path)}`, progress);
    }
  }
  const removed = target.removeTemporaries(table);
  if (removed > 0) log.detail(`removed ${removed} partly written file(s) of an earlier run`);

  // Files: one download per digest, then hardlinks for the same inode, copies otherwise.
  const byDigest = new Map<string, number[]>();
  const empty: number[] = [];
  for (let row = 0; row < table.count; row++) {
    if (table.type(row) !== "file") continue;
    const digest = table.digest(row);
    if (!digest) {
      empty.push(row);
      if (table.size(row) !== 0) {
        log.warn(`${displayPath(paths[row])} has no content in the snapshot; restored empty`);
      }
      continue;
    }
    const rows = byDigest.get(digest);
    if (rows) rows.push(row);
    else byDigest.set(digest, [row]);
  }
  const contents: Content[] = [...byDigest].map(([digest, rows]) => ({ digest, rows }));
  byDigest.clear();
  if (empty.length > 0) contents.push({ rows: empty });

  const replaced: string[] = [];
  /** Files written by this run (their stand-in inode numbers, see place). */
  let placed = 0;
  const hashes = new Map<string, string>();
  /** True when the file at `path` (lstat `info`, snapshot size `size`) already holds the content. */
  const holds = async (
    path: string,
    size: number,
    info: Deno.FileInfo,
    digest: string | undefined,
  ) => {
    if (!info.isFile) return false;
    if (!digest) return info.size === 0;
    if (info.size !== size) return false;
    const key = `${info.dev}:${info.ino}`;
    let found = hashes.get(key);
    if (found === undefined) {
      found = await hashFile(() => target.openRead(path)).catch(() => "");
      hashes.set(key, found);
    }
    return found === digest;
  };

  /**
   * Downloads a digest into `path`: a temporary file, renamed once its digest matched.
   * Returns the content when it is small enough to keep for the copies (see KEPT_CONTENT).
   */
  const download = async (
    digest: string,
    path: string,
    size: number,
    all: string[],
    finish: FileFinish | undefined,
  ): Promise<Uint8Array | undefined> => {
    const info = listing.prefixes.get(digest);
    if (!info?.complete) {
      throw new SpareError(
        `the content of ${nameList(all)} (${digest}) is missing from the bucket`,
      );
    }
    const temporary = target.createTemporary(path);
    // Kept only when other paths of another inode are to get the same content.
    const keep = all.length > 1 && size <= KEPT_CONTENT ? [] as Uint8Array[] : undefined;
    try {
      const intact = await bucket.readContent(info, codec, async (block) => {
        keep?.push(block.slice()); // readContent frees the block once it was handed out
        await writeBlock(temporary.file, block);
        progress.bytesDownloaded += block.length;
      }, signal);
      if (!intact) {
        throw new SpareError(
          `the content of ${nameList(all)} does not match its digest ${digest}: corrupted`,
        );
      }
      if (finish) target.finishTemporary(temporary, finish);
      temporary.file.close();
      target.commit(temporary, path);
      return keep && (keep.length === 1 ? keep[0] : concatBytes(keep));
    } catch (err) {
      target.discard(temporary);
      if (err instanceof BlockAuthError || err instanceof BlockDecompressError) {
        throw new SpareError(`cannot restore ${nameList(all)}: ${err.message}`, err.exitCode, {
          cause: err,
        });
      }
      throw err;
    }
  };

  /** Copies `from` (which holds `digest`) to `path`, checking the copy against the digest. */
  const copy = async (
    from: string,
    path: string,
    digest: string,
    finish: FileFinish | undefined,
  ) => {
    const temporary = target.createTemporary(path);
    try {
      const copied = await copyHashed(target.openRead(from), temporary.file, true);
      if (copied !== digest) {
        throw new SpareError(`${from} changed while it was copied to ${path}`);
      }
      if (finish) target.finishTemporary(temporary, finish);
      temporary.file.close();
      target.commit(temporary, path);
    } catch (err) {
      target.discard(temporary);
      throw err;
    }
  };

  const restoreContent = async ({ digest, rows }: Content) => {
    signal?.throwIfAborted();
    const contentPaths = rows.map((row) => paths[row]);
    /** The row of each path of the content. */
    const rowOf = new Map(rows.map((row) => [paths[row], row]));
    const entryOf = (path: string) => table.entry(rowOf.get(path)!);
    const sizeOf = (path: string) => table.size(rowOf.get(path)!);
    // Resuming: the paths that already hold the content are kept.
    const intact = new Map<string, number>();
    for (const path of contentPaths) {
      const info = target.existing(path);
      if (!info) continue;
      if (info.isDirectory) {
        throw new SpareError(`cannot restore ${path}: ${target.abs(path)} is a directory`);
      }
      if (await holds(path, sizeOf(path), info, digest)) intact.set(path, info.ino!);
      else replaced.push(path);
    }
    const written = new Set<string>();
    /** Paths whose owner, mode and mtime were set as they were written (and their links). */
    const finished = new Set<string>();
    /** A path that holds the content, to copy from; its bytes, when small enough to keep. */
    let source: string | undefined = intact.keys().next().value;
    let kept: Uint8Array | undefined;
    const place = async (path: string) => {
      // Finished before its rename, unless a copy is to read it later: its mode might not
      // let us (content kept in memory or no other inode: nothing reads it again).
      const finish = !digest || sizeOf(path) <= KEPT_CONTENT || groups.size === 1
        ? finishOf(entryOf(path))
        : undefined;
      if (!digest) target.writeEmpty(path, finish);
      else if (kept) target.writeContent(path, kept, finish);
      else if (source) await copy(source, path, digest, finish);
      else kept = await download(digest, path, sizeOf(path), contentPaths, finish);
      source ??= path;
      if (finish) finished.add(path);
      // A file just written has an inode of its own: a number no other path has stands
      // for it (an lstat per file was one more system call).
      intact.set(path, -++placed);
      written.add(path);
    };
    // Paths that shared an inode share one again; each other inode gets its own copy.
    const groups = new Map<number, string[]>();
    for (const path of contentPaths) {
      const inode = table.inode(rowOf.get(path)!);
      const group = groups.get(inode);
      if (group) group.push(path);
      else groups.set(inode, [path]);
    }
    const usedInodes = new Set<number>();
    for (const group of groups.values()) {
      signal?.throwIfAborted();
      let leader = group.find((p) => intact.has(p) && !usedInodes.has(intact.get(p)!));
      if (!leader) {
        leader = group[0];
        try {
          await place(leader);
        } catch (err) {
          throw fullDiskError(err, options.target, displayPath(leader), progress);
        }
      }
      const inode = intact.get(leader)!;
      usedInodes.add(inode);
      for (const path of group) {
        if (path === leader || intact.get(path) === inode) continue;
        try {
          target.link(leader, path);
        } catch (err) {
          throw fullDiskError(err, options.target, displayPath(path), progress);
        }
        written.add(path);
        if (finished.has(leader)) finished.add(path);
      }
    }
    // Owners, modes and times of the other paths (kept when resuming), once every copy of
    // the content was made, before any symlink of the snapshot exists.
    for (const path of contentPaths) {
      if (finished.has(path)) continue;
      signal?.throwIfAborted();
      finishNode(path, entryOf(path));
    }
    for (const path of contentPaths) {
      progress.filesDone++;
      progress.bytesDone += sizeOf(path);
      if (written.has(path)) log.detail(displayPath(path));
      else filesKept++;
    }
    report();
  };
  await forEachConcurrent(contents, options.concurrency ?? 4, restoreContent);
  if (replaced.length > 0) {
    log.warn(
      `${replaced.length} file(s) in ${options.target} differed from the snapshot and were ` +
        `replaced: ${nameList(replaced)}`,
    );
  }

  // Symlinks, after every file and directory was written: the link text as read when we
  // have it, else 0.4.0's <root>/<target>.
  for (let row = 0; row < table.count; row++) {
    if (table.type(row) !== "symlink") continue;
    const path = paths[row];
    const entry = table.entry(row) as SymlinkEntry;
    signal?.throwIfAborted();
    try {
      target.makeSymlink(path, symlinkText(options.target, entry));
    } catch (err) {
      throw fullDiskError(err, options.target, `the symlink ${displayPath(path)}`, progress);
    }
    setOwner(path, entry);
    target.setTimes(path, entry.mtime_ns);
    log.detail(displayPath(path));
  }
  // Directories last, deepest first, so that their mtimes stay.
  for (let row = table.count - 1; row >= 0; row--) {
    if (table.type(row) === "directory") finishNode(paths[row], table.entry(row));
  }
  report();
  target.close();
  return { ...progress, snapshot: id, filesKept, refused: refused.length };
}

/** The target's file system is full: the message says all, --resume included. */
export class FullDiskError extends SpareError {}

/** Error codes of a full file system and of an exhausted disk quota. */
const FULL_DISK: Record<string, string> = {
  ENOSPC: "no space is left on its device",
  EDQUOT: "the disk quota is exhausted",
};

/**
 * A full disk while writing `what` becomes one line naming the target, what was being
 * written, what the snapshot still needs, and --resume; any other error is returned as it is.
 */
export function fullDiskError(
  err: unknown,
  root: string,
  what: string,
  progress: RestoreProgress,
): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (!(err instanceof Error) || typeof code !== "string" || !Object.hasOwn(FULL_DISK, code)) {
    return err;
  }
  const files = progress.filesTotal - progress.filesDone;
  const bytes = progress.bytesTotal - progress.bytesDone;
  return new FullDiskError(
    `cannot restore into ${root}: ${FULL_DISK[code]} (writing ${what}); the snapshot still ` +
      `needs ${humanBytes(bytes)} in ${files} file(s) there: free space, then run the same ` +
      "restore with --resume",
    undefined,
    { cause: err },
  );
}

/** The text a restored symlink gets. */
export function symlinkText(root: string, entry: SymlinkEntry): string {
  if (typeof entry.link === "string") return entry.link;
  // 0.4.0: os.path.join(root, target); an absolute target stays as it is.
  return entry.target.startsWith("/") ? entry.target : `${root}/${entry.target}`;
}

/**
 * A content up to this size is kept in memory once downloaded and checked, and every other
 * copy of it written from there: a copy read the first file back through a buffer of 1 MiB
 * and hashed it again (20,000 paths of 1,000 contents: most of the restore's time).
 */
const KEPT_CONTENT = 1 << 20;

/** Blocks of at most this many bytes are written on the calling thread (see RestoreTarget). */
const SMALL_WRITE = 64 * 1024;

/** Writes a block to a file being restored: a small one at once, a larger one asynchronously. */
function writeBlock(file: OpenFile, data: Uint8Array): Promise<void> | undefined {
  if (data.length > SMALL_WRITE) return writeAll(file, data);
  let offset = 0;
  while (offset < data.length) offset += file.writeSync(data.subarray(offset));
}

/** Writes all of `data` to a file or stream that may take less than all in one write. */
export async function writeAll(
  writer: { write(data: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await writer.write(data.subarray(offset));
}

/** The BLAKE2b-256 digest of a file's content. */
async function hashFile(open: () => OpenFile): Promise<string> {
  return await copyHashed(open(), undefined, true);
}

/** Reads `file` to its end, writing to `to` if given (closing `file` if `close`); its digest. */
async function copyHashed(
  file: OpenFile,
  to: OpenFile | undefined,
  close = false,
): Promise<string> {
  const hasher = await ContentHasher.create();
  const buffer = new Uint8Array(1 << 20);
  try {
    while (true) {
      const n = await file.read(buffer);
      if (n === null) break;
      hasher.update(buffer.subarray(0, n));
      if (to) await writeAll(to, buffer.subarray(0, n));
    }
    return hasher.digest();
  } finally {
    hasher.release();
    if (close) file.close();
  }
}
