/**
 * File calls for many paths at a small cost each (create's scan and reads): on the calling
 * thread, through libc, names looked up relative to their open directory (one component for
 * the kernel to resolve, not the whole path), results as plain numbers in `statNow` instead
 * of a Deno.FileInfo with four Dates. Per path of a tree of 100,000 tiny files: an lstat
 * took 3.5 µs this way against 5.7-8.5 through Deno.lstatSync. Linux only (callers check
 * libcUsable()); names in the form of lib/util/names.ts.
 */
import {
  AT_EMPTY_PATH,
  AT_SYMLINK_NOFOLLOW,
  check,
  fileOfFd,
  O_CLOEXEC,
  O_NOFOLLOW,
  type OpenFile,
  openRegularAt,
  STATX_BASIC_STATS,
  symbols,
  timespecsOf,
} from "./fs_bytes.ts";
import { cName, hasEscapedBytes } from "./names.ts";

const O_DIRECTORY = Deno.build.arch === "x86_64" ? 0o200000 : 0o40000;
const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;

/** The numbers of the last stat made here (lstatAt, fstatFd); read them before the next one. */
export const statNow = {
  /** st_mode, type bits included. */
  mode: 0,
  size: 0,
  /** Milliseconds, as Deno's stat gives them. */
  mtimeMs: 0,
  /** Whole seconds, in milliseconds, as Deno's stat gives them (see fs_bytes.ts). */
  ctimeMs: 0,
  inode: 0,
  uid: 0,
  gid: 0,
};

const statBuffer = new Uint8Array(256);
const statView = new DataView(statBuffer.buffer);
const EMPTY_NAME = new Uint8Array(1);

function readStat(): void {
  const view = statView;
  statNow.mode = view.getUint16(28, true);
  statNow.size = Number(view.getBigUint64(40, true));
  statNow.mtimeMs = Number(view.getBigInt64(112, true)) * 1000 +
    Math.floor(view.getUint32(120, true) / 1e6);
  statNow.ctimeMs = Number(view.getBigInt64(96, true)) * 1000;
  statNow.inode = Number(view.getBigUint64(32, true));
  statNow.uid = view.getUint32(20, true);
  statNow.gid = view.getUint32(24, true);
}

let nameBuffer = new Uint8Array(4096);
const utf8 = new TextEncoder();

/** `name` as a C string, in a buffer reused by the next call. */
function cNameNow(name: string): Uint8Array {
  if (hasEscapedBytes(name)) return cName(name);
  for (;;) {
    const { read, written } = utf8.encodeInto(name, nameBuffer.subarray(0, nameBuffer.length - 1));
    if (read === name.length) {
      nameBuffer[written] = 0;
      return nameBuffer;
    }
    nameBuffer = new Uint8Array(nameBuffer.length * 4);
  }
}

/** A directory open for calls on the names in it; close() it when done. */
export class DirHandle {
  private constructor(private fd: number, readonly path: string) {}

  /**
   * Opens directory `path`; a symlink in its place is not followed (it fails as Deno's calls
   * fail) unless `follow` (the root the user named may be a link to the tree).
   */
  static open(path: string, follow = false): DirHandle {
    const flags = O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
    return new DirHandle(check(symbols().open(cNameNow(path), flags, 0), "open", path), path);
  }

  /** lstat of `name` in the directory, into statNow. */
  lstat(name: string): void {
    check(
      symbols().statx(this.fd, cNameNow(name), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, statBuffer),
      "lstat",
      `${this.path}/${name}`,
    );
    readStat();
  }

  /**
   * Opens `name` in the directory for reading as openReadBytes does (no symlink followed, no
   * wait on a FIFO); statNow holds the open file's stat. -1 when it is not a regular file
   * (statNow then holds what it is, or mode 0 for a symlink or socket).
   */
  openFile(name: string): number {
    const fd = openRegularAt(this.fd, cNameNow(name), `${this.path}/${name}`, (fd) => {
      fstatFd(fd, name);
      return statNow.mode;
    });
    if (fd === -1) statNow.mode = 0;
    return fd < 0 ? -1 : fd;
  }

  /**
   * Creates file `name` (a path below the directory) for writing: never following a symlink,
   * never replacing anything (O_EXCL), with mode `mode`.
   */
  createFile(name: string, mode: number): OpenFile {
    const flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    const fd = check(symbols().openat(this.fd, cNameNow(name), flags, mode), "open", name);
    return fileOfFd(fd, `${this.path}/${name}`);
  }

  /** Renames `from` to `to` (paths below the directory; `to` is replaced). */
  rename(from: string, to: string): void {
    const lib = symbols();
    const source = cName(from);
    check(lib.renameat(this.fd, source, this.fd, cNameNow(to)), "rename", `${this.path}/${to}`);
  }

  /** Closes the directory. */
  close(): void {
    if (this.fd >= 0) symbols().close(this.fd);
    this.fd = -1;
  }
}

/** fstat of an open file, into statNow. */
export function fstatFd(fd: number, path: string): void {
  check(
    symbols().statx(fd, EMPTY_NAME, AT_EMPTY_PATH, STATX_BASIC_STATS, statBuffer),
    "fstat",
    path,
  );
  readStat();
}

/** Reads until `buffer` is full or the file ends; the bytes read. */
export function readFd(fd: number, buffer: Uint8Array, path: string): number {
  let filled = 0;
  while (filled < buffer.length) {
    const part = filled === 0 ? buffer : buffer.subarray(filled);
    const n = check(symbols().read(fd, part, BigInt(part.length)), "read", path);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

/**
 * Gives an open file (one this run created) its mtime (and atime), owner ids (-1 keeps one;
 * none when both are -1) and permission bits, through its descriptor.
 */
export function finishFd(
  fd: number,
  path: string,
  finish: { uid: number; gid: number; mode: number; mtimeNs: number },
): void {
  const lib = symbols();
  check(lib.futimens(fd, timespecsOf(finish.mtimeNs)), "futimens", path);
  if (finish.uid !== -1 || finish.gid !== -1) {
    check(lib.fchown(fd, finish.uid >>> 0, finish.gid >>> 0), "fchown", path);
  }
  check(lib.fchmod(fd, finish.mode & 0o7777), "fchmod", path);
}

/** Closes a file opened by DirHandle.openFile. */
export function closeFd(fd: number): void {
  symbols().close(fd);
}
