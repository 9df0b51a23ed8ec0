/**
 * The directory a restore writes into, and every write it makes there: directories created
 * one level at a time, files created under a temporary name with O_EXCL (which never follows
 * a symlink nor truncates anything) and renamed into place, links and modes set only below
 * directories this restore created or checked. Also what a target already holds, for a
 * re-run into it and for `--resume`.
 */
import fs from "node:fs";
import {
  chmodBytes,
  createNewBytes,
  DirHandle,
  finishFd,
  hasEscapedBytes,
  lchownBytes,
  libcUsable,
  linkBytes,
  lstatPath,
  lutimesBytes,
  mkdirBytes,
  type OpenFile,
  openReadBytes,
  randomHex,
  readDirNames,
  readLinkPath,
  renameBytes,
  SpareError,
  symlinkBytes,
  unlinkBytes,
} from "../util/mod.ts";
import { ancestorsOf, displayPath, parentPath, type SnapshotTable } from "../snapshot/mod.ts";

/** Files being restored are written under this prefix, in their final directory. */
export const TEMPORARY_PREFIX = ".spare-tmp-";

/** Ancestors of the snapshot's paths that the snapshot does not describe, sorted. */
export function impliedDirectories(table: SnapshotTable): string[] {
  const implied = new Set<string>();
  const seen = new Set<string>();
  for (let row = 0; row < table.count; row++) {
    if (!table.type(row)) continue;
    const path = table.paths[row];
    const slash = path.lastIndexOf("/");
    // the paths of one directory follow each other: its ancestors are looked at once
    if (slash < 0 || seen.has(path.slice(0, slash))) continue;
    for (const ancestor of ancestorsOf(path)) {
      if (seen.has(ancestor)) continue;
      seen.add(ancestor);
      if (!described(table, ancestor)) implied.add(ancestor);
    }
  }
  return [...implied].sort();
}

/** True when the snapshot describes `path` (an entry that was not refused). */
function described(table: SnapshotTable, path: string): boolean {
  return table.type(table.rowOf(path)) !== undefined;
}

/** Up to `shown` names, then how many more. */
export function nameList(names: string[], shown = 10): string {
  const listed = names.slice(0, shown).map(displayPath).join(", ");
  return names.length > shown ? `${listed} and ${names.length - shown} more` : listed;
}

function targetError(target: string, err: unknown): SpareError {
  const reason = err instanceof Deno.errors.PermissionDenied ? "permission denied" : String(err);
  return new SpareError(`cannot restore into ${target}: ${reason}`);
}

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return lstatPath(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw err;
  }
}

/**
 * Checks the target before a restore: missing (then created) or empty, or, with `resume`,
 * anything. A target that is not empty without `resume` is refused, saying what of the
 * snapshot is missing from it. Returns true when the target holds something to complete.
 */
export async function prepareTarget(
  target: string,
  table: SnapshotTable,
  options: { resume?: boolean; snapshotId: string },
): Promise<boolean> {
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
    return false;
  }
  if (!info.isDirectory) throw new SpareError(`restore target ${target} is not a directory`);
  let empty = true;
  for await (const _ of Deno.readDir(target)) {
    empty = false;
    break;
  }
  if (!empty && !options.resume) {
    throw new SpareError(notEmptyMessage(target, table, options.snapshotId));
  }
  try {
    const probe = `${target}/.spare-write-test-${Deno.pid}`;
    await Deno.writeFile(probe, new Uint8Array(0), { createNew: true });
    await Deno.remove(probe);
  } catch (err) {
    throw targetError(target, err);
  }
  return !empty;
}

/** Why a non-empty target is refused, and how to complete an interrupted restore in it. */
function notEmptyMessage(
  target: string,
  table: SnapshotTable,
  snapshotId: string,
): string {
  const paths = table.paths.filter((_, row) => table.type(row) !== undefined);
  const missing: string[] = [];
  for (const path of paths) {
    if (!lstatOrUndefined(`${target}/${path}`)) missing.push(path);
  }
  const temporaries = findTemporaries(target, table);
  const start = `restore target ${target} is not empty`;
  if (missing.length === paths.length && temporaries.length === 0) {
    return `${start}: restore only into an empty directory (or complete an interrupted ` +
      `restore of the same snapshot with --resume)`;
  }
  if (missing.length === 0 && temporaries.length === 0) {
    return `${start}: it holds every path of snapshot ${snapshotId} already; --resume checks ` +
      `every file against its digest and sets modes and times again`;
  }
  const partial = temporaries.length > 0
    ? ` and ${temporaries.length} partly written file(s) under ${TEMPORARY_PREFIX}* names`
    : "";
  return `${start}: ${missing.length} of the ${paths.length} paths of snapshot ${snapshotId} ` +
    `are missing from it (${nameList(missing)})${partial}; if it holds an interrupted restore ` +
    `of that snapshot, run the same restore with --resume to complete it`;
}

/** Temporary files of an earlier restore in the snapshot's directories (absolute paths). */
function findTemporaries(root: string, table: SnapshotTable): string[] {
  const directories = [
    "",
    ...table.paths.filter((_, row) => table.type(row) === "directory"),
    ...impliedDirectories(table),
  ];
  const found: string[] = [];
  for (const dir of directories) {
    const absolute = dir ? `${root}/${dir}` : root;
    const info = lstatOrUndefined(absolute);
    if (!info?.isDirectory) continue; // missing, or not ours to look into
    try {
      for (const name of readDirNames(absolute)) {
        const path = dir ? `${dir}/${name}` : name;
        if (!name.startsWith(TEMPORARY_PREFIX) || described(table, path)) continue;
        if (lstatOrUndefined(`${absolute}/${name}`)?.isFile) found.push(`${absolute}/${name}`);
      }
    } catch { /* unreadable: nothing of ours */ }
  }
  return found;
}

/** Removes a file or symlink (through libc when its path is not UTF-8). */
function removeFile(path: string): void {
  if (hasEscapedBytes(path)) unlinkBytes(path);
  else Deno.removeSync(path);
}

/** What a file written by a restore gets before its rename: owner ids (-1 keeps one), mode, mtime. */
export interface FileFinish {
  uid: number;
  gid: number;
  mode: number;
  mtimeNs: number;
}

/** The content of an empty file. */
const EMPTY = new Uint8Array(0);

/** A file being written under a temporary name. */
export interface TemporaryFile {
  file: OpenFile;
  /** Its absolute path. */
  path: string;
  /** Its path below the target, when it was created through the target's open directory. */
  relative?: string;
}

/**
 * The restore target, and the only way the restore writes into it. Every write is below a
 * directory that this run created or (when resuming) found to be a real directory, and
 * none follows a symlink at its last component. Its calls run on the calling thread: each
 * is one system call on a local directory, and handing it to a thread of Deno's pool and
 * back cost about 50 µs of CPU against 6 (a small file took seven of them).
 */
export class RestoreTarget {
  /** Directories (relative; "" is the root) known to be real directories of ours. */
  private readonly checked = new Set<string>([""]);
  /**
   * The target, open: files are created, finished and renamed through libc by their path
   * below it (lib/util/fs_at.ts), a few µs each where Deno's calls by absolute path took
   * tens (a restore of 100,000 tiny files spent most of its time there).
   */
  private dir?: DirHandle;
  /** Temporary names: this run's prefix and a counter. */
  private readonly runPrefix = randomHex(4);
  private temporaries = 0;

  constructor(readonly root: string, readonly resume: boolean) {}

  /** The target, opened on first use (where libc can be called). */
  private openDir(): DirHandle | undefined {
    if (!this.dir && libcUsable()) this.dir = DirHandle.open(this.root, true);
    return this.dir;
  }

  /** Closes what the target holds open. */
  close(): void {
    this.dir?.close();
    this.dir = undefined;
  }

  /** The absolute path of a snapshot path. */
  abs(path: string): string {
    return path ? `${this.root}/${path}` : this.root;
  }

  private requireParent(path: string): void {
    if (!this.checked.has(parentPath(path))) {
      throw new Error(`refusing to write ${path}: its directory was not made by this restore`);
    }
  }

  /** Creates a directory (mode 0700 until finished); an existing one must be a real directory. */
  makeDirectory(path: string): void {
    this.requireParent(path);
    const absolute = this.abs(path);
    const bytes = hasEscapedBytes(absolute);
    try {
      if (bytes) mkdirBytes(absolute, 0o700);
      else Deno.mkdirSync(absolute, { mode: 0o700 });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      const info = lstatPath(absolute);
      if (!info.isDirectory) {
        throw new SpareError(
          `cannot restore ${displayPath(path)}: ${
            displayPath(absolute)
          } exists and is not a directory`,
        );
      }
      // An earlier run may have finished it.
      if (this.resume) bytes ? chmodBytes(absolute, 0o700) : Deno.chmodSync(absolute, 0o700);
    }
    this.checked.add(path);
  }

  /** What is at `path` now, without following a symlink (resume only; else nothing). */
  existing(path: string): Deno.FileInfo | undefined {
    if (!this.resume) return undefined;
    this.requireParent(path);
    return lstatOrUndefined(this.abs(path));
  }

  /** lstat of `path` (which this restore wrote). */
  lstat(path: string): Deno.FileInfo {
    return lstatPath(this.abs(path));
  }

  /** Opens the regular file at `path` for reading. */
  openRead(path: string): OpenFile {
    const absolute = this.abs(path);
    // Through libc where it can be called, as create opens files: no symlink swapped in
    // since the lstat is followed, no FIFO waited on.
    if (!libcUsable() && !hasEscapedBytes(absolute)) {
      return Deno.openSync(absolute, { read: true });
    }
    const { file } = openReadBytes(absolute);
    if (!file) throw new SpareError(`${displayPath(path)} is not a regular file`);
    return file;
  }

  /** Creates a new empty file under a temporary name in the directory of `path`. */
  createTemporary(path: string): TemporaryFile {
    this.requireParent(path);
    const parent = parentPath(path);
    const name = `${TEMPORARY_PREFIX}${this.runPrefix}${(this.temporaries++).toString(36)}`;
    const relative = parent ? `${parent}/${name}` : name;
    const temporary = `${this.root}/${relative}`;
    const dir = this.openDir();
    if (dir) return { file: dir.createFile(relative, 0o600), path: temporary, relative };
    const file = hasEscapedBytes(temporary)
      ? createNewBytes(temporary, 0o600)
      : Deno.openSync(temporary, { write: true, createNew: true, mode: 0o600 });
    return { file, path: temporary };
  }

  /** Renames a finished temporary file to `path` (replacing a file or symlink there). */
  commit(temporary: TemporaryFile, path: string): void {
    this.requireParent(path);
    if (temporary.relative && this.dir) return this.dir.rename(temporary.relative, path);
    const absolute = this.abs(path);
    if (hasEscapedBytes(absolute)) renameBytes(temporary.path, absolute);
    else Deno.renameSync(temporary.path, absolute);
  }

  /** Removes a temporary file that will not be committed (best effort). */
  discard(temporary: TemporaryFile): void {
    try {
      temporary.file.close();
    } catch { /* closed already */ }
    try {
      removeFile(temporary.path);
    } catch { /* best effort */ }
  }

  /** Creates an empty file at `path`. */
  writeEmpty(path: string, finish?: FileFinish): void {
    this.writeContent(path, EMPTY, finish);
  }

  /**
   * Gives a file this run created under a temporary name (with O_EXCL, which follows no
   * symlink) its mtime through its open descriptor, then its owner (lchown) and mode by that
   * name (chown clears setuid bits): three calls before the rename instead of lchown, lstat,
   * chmod and lutimes by its final name afterwards.
   */
  finishTemporary(temporary: TemporaryFile, finish: FileFinish): void {
    if (temporary.relative) {
      // created through libc: finished through its descriptor
      return finishFd((temporary.file as { fd: number } & OpenFile).fd, temporary.path, finish);
    }
    if (hasEscapedBytes(temporary.path)) {
      // A name that is not UTF-8: by that name through libc (the file is this run's own).
      lutimesBytes(temporary.path, finish.mtimeNs);
      if (finish.uid !== -1 || finish.gid !== -1) {
        lchownBytes(temporary.path, finish.uid, finish.gid);
      }
      chmodBytes(temporary.path, finish.mode & 0o7777);
      return;
    }
    const time = new Date(Math.round(finish.mtimeNs / 1e6));
    (temporary.file as Deno.FsFile).utimeSync(time, time);
    if (finish.uid !== -1 || finish.gid !== -1) {
      fs.lchownSync(temporary.path, finish.uid, finish.gid);
    }
    Deno.chmodSync(temporary.path, finish.mode & 0o7777);
  }

  /**
   * Writes `data` (already checked against its digest) to `path`, through a temporary file
   * as every file: on the calling thread, one write for a small content.
   */
  writeContent(path: string, data: Uint8Array, finish?: FileFinish): void {
    const temporary = this.createTemporary(path);
    try {
      for (let offset = 0; offset < data.length;) {
        offset += temporary.file.writeSync(data.subarray(offset));
      }
      if (finish) this.finishTemporary(temporary, finish);
      temporary.file.close();
      this.commit(temporary, path);
    } catch (err) {
      this.discard(temporary);
      throw err;
    }
  }

  /** Makes `path` a hardlink of `existing` (replacing what a resumed target has there). */
  link(existing: string, path: string): void {
    this.requireParent(path);
    const from = this.abs(existing);
    const hardlink = (to: string) =>
      hasEscapedBytes(from) || hasEscapedBytes(to) ? linkBytes(from, to) : Deno.linkSync(from, to);
    try {
      hardlink(this.abs(path));
      return;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists) || !this.resume) throw err;
    }
    const temporary = this.createTemporary(path);
    temporary.file.close();
    removeFile(temporary.path);
    hardlink(temporary.path);
    this.commit(temporary, path);
  }

  /** Creates the symlink `path` (when resuming, a symlink already there is replaced). */
  makeSymlink(path: string, text: string): void {
    this.requireParent(path);
    const absolute = this.abs(path);
    const info = this.existing(path);
    if (info?.isSymlink) {
      if (readLinkPath(absolute) === text) return;
      removeFile(absolute);
    } else if (info) {
      throw new SpareError(
        `cannot restore ${displayPath(path)}: ${displayPath(absolute)} exists and is not a symlink`,
      );
    }
    if (hasEscapedBytes(absolute) || hasEscapedBytes(text)) symlinkBytes(text, absolute);
    else Deno.symlinkSync(text, absolute);
  }

  /** Sets owner (ids; -1 keeps one), without following a symlink. */
  setOwner(path: string, uid: number, gid: number): void {
    this.requireParent(path);
    const absolute = this.abs(path);
    if (hasEscapedBytes(absolute)) lchownBytes(absolute, uid, gid);
    else fs.lchownSync(absolute, uid, gid);
  }

  /** Sets the permission bits of a file or directory; refuses a symlink. */
  setMode(path: string, mode: number): void {
    this.requireParent(path);
    const absolute = this.abs(path);
    if (lstatPath(absolute).isSymlink) {
      throw new Error(`refusing to change the mode of ${displayPath(path)} through a symlink`);
    }
    if (hasEscapedBytes(absolute)) chmodBytes(absolute, mode & 0o7777);
    else Deno.chmodSync(absolute, mode & 0o7777);
  }

  /** Sets the mtime (and atime), without following a symlink; milliseconds precision. */
  setTimes(path: string, mtimeNs: number): void {
    this.requireParent(path);
    const absolute = this.abs(path);
    if (hasEscapedBytes(absolute)) return lutimesBytes(absolute, mtimeNs);
    const time = new Date(Math.round(mtimeNs / 1e6));
    fs.lutimesSync(absolute, time, time);
  }

  /**
   * When resuming: removes the temporary files an earlier run left in the snapshot's
   * directories; returns how many.
   */
  removeTemporaries(table: SnapshotTable): number {
    if (!this.resume) return 0;
    const found = findTemporaries(this.root, table);
    for (const path of found) removeFile(path);
    return found.length;
  }
}
