/**
 * File system calls on names that are not valid UTF-8, through the system's libc (Linux).
 * Deno's own file APIs take and give names as UTF-8 text and replace what is not; the
 * functions here take paths in the form of lib/util/names.ts (a byte that is not valid UTF-8
 * as U+DC80+byte) and hand libc the bytes. They are used for such paths, and for the open
 * of every file that create reads (openReadBytes: no symlink followed, no wait on a FIFO, on
 * the calling thread); everything else goes through Deno.
 */
import { cName, decodeName, hasEscapedBytes, showName } from "./names.ts";

const LIBC_SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // variadic in C; its third argument is an int here, passed as a fixed one is on Linux
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  mkdir: { parameters: ["buffer", "u32"], result: "i32" },
  rename: { parameters: ["buffer", "buffer"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  link: { parameters: ["buffer", "buffer"], result: "i32" },
  symlink: { parameters: ["buffer", "buffer"], result: "i32" },
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  renameat: { parameters: ["i32", "buffer", "i32", "buffer"], result: "i32" },
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let libc: Libc | undefined;

/** True where names are bytes that Deno may not read back (Linux); elsewhere names are text. */
export const namesAreBytes = Deno.build.os === "linux";

/** The libc functions (for lib/util/fs_at.ts; others call the functions here). */
export function symbols(): Libc {
  if (!libc) {
    if (!namesAreBytes) throw new Error("names that are not UTF-8 are only handled on Linux");
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  }
  return libc;
}

let usable: boolean | undefined;

/**
 * True when libc can be called: Linux, --allow-ffi granted and libc.so.6 loads. Without it
 * (a run without --allow-ffi), callers fall back to Deno's file APIs.
 */
export function libcUsable(): boolean {
  if (usable === undefined) {
    usable = false;
    if (namesAreBytes && Deno.permissions.querySync({ name: "ffi" }).state === "granted") {
      try {
        symbols();
        usable = true;
      } catch { /* no libc.so.6 (musl): Deno's APIs */ }
    }
  }
  return usable;
}

export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_EMPTY_PATH = 0x1000;
export const STATX_BASIC_STATS = 0x7ff;
const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_SETFL = 4;
export const ENXIO = 6;
export const ELOOP = 40;
/** O_NOFOLLOW: its value differs between x86_64 and the generic (aarch64) ABI. */
export const O_NOFOLLOW = Deno.build.arch === "x86_64" ? 0o400000 : 0o100000;

/** Errors by errno: Deno's class, its text and its code (as Deno's errors carry them). */
const ERRORS: Record<number, [new (message: string) => Error, string, string]> = {
  1: [Deno.errors.PermissionDenied, "Operation not permitted", "EPERM"],
  2: [Deno.errors.NotFound, "No such file or directory", "ENOENT"],
  5: [Error, "Input/output error", "EIO"],
  13: [Deno.errors.PermissionDenied, "Permission denied", "EACCES"],
  17: [Deno.errors.AlreadyExists, "File exists", "EEXIST"],
  20: [Deno.errors.NotADirectory, "Not a directory", "ENOTDIR"],
  21: [Deno.errors.IsADirectory, "Is a directory", "EISDIR"],
  24: [Error, "Too many open files", "EMFILE"],
  28: [Error, "No space left on device", "ENOSPC"],
  30: [Error, "Read-only file system", "EROFS"],
  36: [Error, "File name too long", "ENAMETOOLONG"],
  40: [Deno.errors.FilesystemLoop, "Too many levels of symbolic links", "ELOOP"],
  122: [Error, "Disk quota exceeded", "EDQUOT"],
};

/** The error of a failed call, as Deno would raise it (the path in the shown form). */
function failure(call: string, path: string): Error {
  const errno = new Deno.UnsafePointerView(symbols().__errno_location()!).getInt32();
  const [kind, text, code] = ERRORS[errno] ?? [Error, `error ${errno}`, undefined];
  const error = new kind(`${text} (os error ${errno}): ${call} '${showName(path)}'`);
  if (code) Object.defineProperty(error, "code", { value: code, enumerable: true });
  return error;
}

/** The result of a libc call, or its failure thrown as Deno would throw it. */
export function check(result: number | bigint, call: string, path: string): number {
  if (Number(result) < 0) throw failure(call, path);
  return Number(result);
}

function time(seconds: bigint, nanoseconds: number): Date {
  return new Date(Number(seconds) * 1000 + Math.floor(nanoseconds / 1e6));
}

/**
 * A statx result as Deno's FileInfo, with Deno's precision: milliseconds, but ctime in whole
 * seconds as Deno gives it (create compares the ctime of a scan, Deno's lstat, with that of a
 * read, statx here: the same precision, or no unchanged file is ever recognised).
 */
function fileInfoOf(buffer: Uint8Array<ArrayBuffer>): Deno.FileInfo {
  const view = new DataView(buffer.buffer);
  const mode = view.getUint16(28, true);
  const type = mode & 0o170000;
  const at = (offset: number) =>
    time(view.getBigInt64(offset, true), view.getUint32(offset + 8, true));
  return {
    isFile: type === 0o100000,
    isDirectory: type === 0o040000,
    isSymlink: type === 0o120000,
    isBlockDevice: type === 0o060000,
    isCharDevice: type === 0o020000,
    isFifo: type === 0o010000,
    isSocket: type === 0o140000,
    size: Number(view.getBigUint64(40, true)),
    mtime: at(112),
    atime: at(64),
    birthtime: at(80),
    ctime: time(view.getBigInt64(96, true), 0),
    dev: 0,
    ino: Number(view.getBigUint64(32, true)),
    mode,
    nlink: view.getUint32(16, true),
    uid: view.getUint32(20, true),
    gid: view.getUint32(24, true),
    rdev: 0,
    blksize: view.getUint32(4, true),
    blocks: Number(view.getBigUint64(48, true)),
  };
}

/** Where statx writes (read back at once: calls here run on the calling thread). */
const statBuffer = new Uint8Array(256);
/** The empty C string that statx with AT_EMPTY_PATH takes for "the descriptor itself". */
const EMPTY_NAME = new Uint8Array(1);

/** lstat of a path: a symlink is described itself. */
export function lstatBytes(path: string): Deno.FileInfo {
  const buffer = statBuffer;
  check(
    symbols().statx(AT_FDCWD, cName(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buffer),
    "lstat",
    path,
  );
  return fileInfoOf(buffer);
}

function fstat(fd: number, path: string): Deno.FileInfo {
  const buffer = statBuffer;
  check(
    symbols().statx(fd, EMPTY_NAME, AT_EMPTY_PATH, STATX_BASIC_STATS, buffer),
    "fstat",
    path,
  );
  return fileInfoOf(buffer);
}

/** The names in a directory (without `.` and `..`), each as names.ts holds names. */
export function readDirBytes(path: string): string[] {
  const lib = symbols();
  const dir = lib.opendir(cName(path));
  if (dir === null) throw failure("opendir", path);
  const names: string[] = [];
  try {
    while (true) {
      const entry = lib.readdir(dir);
      if (entry === null) break;
      // struct dirent (glibc, 64-bit): d_ino 8, d_off 8, d_reclen 2, d_type 1, d_name.
      const view = new Deno.UnsafePointerView(entry);
      const reclen = view.getUint16(16);
      const raw = new Uint8Array(view.getArrayBuffer(reclen - 19, 19));
      const end = raw.indexOf(0);
      const bytes = end < 0 ? raw : raw.subarray(0, end);
      if (bytes.length === 1 && bytes[0] === 0x2e) continue;
      if (bytes.length === 2 && bytes[0] === 0x2e && bytes[1] === 0x2e) continue;
      names.push(decodeName(bytes));
    }
  } finally {
    lib.closedir(dir);
  }
  return names;
}

/** The text of a symlink. */
export function readLinkBytes(path: string): string {
  for (let size = 4096;; size *= 4) {
    const buffer = new Uint8Array(size);
    const n = check(symbols().readlink(cName(path), buffer, BigInt(size)), "readlink", path);
    if (n < size) return decodeName(buffer.subarray(0, n));
  }
}

/** What spare does with an open file: Deno's FsFile, or a file opened through libc. */
export type OpenFile = Pick<
  Deno.FsFile,
  "read" | "readSync" | "write" | "writeSync" | "statSync" | "close"
>;

/**
 * A file opened through libc by a name that is not UTF-8, read and written through libc (on
 * the calling thread: such files are few). Deno cannot adopt a descriptor, and reopening it
 * through /proc/self/fd needs --allow-all.
 */
class ByteFile implements OpenFile {
  #fd: number;

  /** The descriptor (-1 once closed). */
  get fd(): number {
    return this.#fd;
  }

  constructor(fd: number, readonly path: string) {
    this.#fd = fd;
  }

  readSync(buffer: Uint8Array): number | null {
    const n = check(symbols().read(this.#fd, buffer, BigInt(buffer.length)), "read", this.path);
    return n === 0 && buffer.length > 0 ? null : n;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return Promise.resolve(this.readSync(buffer));
  }

  writeSync(data: Uint8Array): number {
    return check(symbols().write(this.#fd, data, BigInt(data.length)), "write", this.path);
  }

  write(data: Uint8Array): Promise<number> {
    return Promise.resolve(this.writeSync(data));
  }

  statSync(): Deno.FileInfo {
    return fstat(this.#fd, this.path);
  }

  close(): void {
    if (this.#fd < 0) throw new Deno.errors.BadResource("closed already");
    symbols().close(this.#fd);
    this.#fd = -1;
  }
}

/** What openReadBytes found: a regular file open for reading, or what stands there instead. */
export type OpenedForRead = { file: OpenFile; info: Deno.FileInfo } | {
  file?: undefined;
  info?: Deno.FileInfo;
};

/**
 * Opens a file for reading (O_RDONLY) on the calling thread without following a symlink
 * (O_NOFOLLOW) and without waiting for a FIFO's writer (O_NONBLOCK); `info` is the open
 * file's stat. `file` is undefined when the path is not a regular file: a FIFO, device or
 * directory (`info` says which), or a symlink or socket (no `info`). A regular file has
 * O_NONBLOCK cleared before it is read (Linux ignores it on regular files; a network or FUSE
 * file system need not).
 */
export function openReadBytes(path: string): OpenedForRead {
  let info: Deno.FileInfo | undefined;
  const fd = openRegularAt(AT_FDCWD, cName(path), path, (fd) => {
    info = fstat(fd, path);
    return info.mode ?? 0;
  });
  return fd >= 0 ? { file: new ByteFile(fd, path), info: info! } : { info };
}

/**
 * The open of openReadBytes, of `name` relative to directory descriptor `dirFd` (AT_FDCWD:
 * the working directory): O_RDONLY|O_NOFOLLOW|O_NONBLOCK, then `statOf` (the caller's fstat,
 * giving st_mode), then O_NONBLOCK cleared on a regular file. The descriptor of a regular
 * file; -1 for a symlink or socket (`statOf` not called), -2 for anything else (closed after
 * `statOf`). `shown` names it in errors.
 */
export function openRegularAt(
  dirFd: number,
  name: Uint8Array,
  shown: string,
  statOf: (fd: number) => number,
): number {
  const lib = symbols();
  const fd = lib.openat(dirFd, name, O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    const errno = new Deno.UnsafePointerView(lib.__errno_location()!).getInt32();
    if (errno === ELOOP || errno === ENXIO) return -1; // a symlink; a socket
    throw failure("open", shown);
  }
  try {
    if ((statOf(fd) & 0o170000) !== 0o100000) {
      lib.close(fd);
      return -2;
    }
    check(lib.fcntl(fd, F_SETFL, 0), "fcntl", shown);
  } catch (err) {
    lib.close(fd);
    throw err;
  }
  return fd;
}

/** Creates a new file (never following a symlink, never replacing anything), open for writing. */
export function createNewBytes(path: string, mode: number): OpenFile {
  const flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  return new ByteFile(check(symbols().open(cName(path), flags, mode), "open", path), path);
}

/** mkdir. */
export function mkdirBytes(path: string, mode: number): void {
  check(symbols().mkdir(cName(path), mode), "mkdir", path);
}

/** rename. */
export function renameBytes(from: string, to: string): void {
  check(symbols().rename(cName(from), cName(to)), "rename", to);
}

/** unlink (a file or symlink). */
export function unlinkBytes(path: string): void {
  check(symbols().unlink(cName(path)), "unlink", path);
}

/** A hardlink `path` of `existing`. */
export function linkBytes(existing: string, path: string): void {
  check(symbols().link(cName(existing), cName(path)), "link", path);
}

/** A symlink `path` holding `text`. */
export function symlinkBytes(text: string, path: string): void {
  check(symbols().symlink(cName(text), cName(path)), "symlink", path);
}

/** lchown (-1 keeps an id). */
export function lchownBytes(path: string, uid: number, gid: number): void {
  check(symbols().lchown(cName(path), uid >>> 0, gid >>> 0), "lchown", path);
}

/** chmod (follows a symlink: check before). */
export function chmodBytes(path: string, mode: number): void {
  check(symbols().chmod(cName(path), mode), "chmod", path);
}

/** Sets atime and mtime (nanoseconds since the epoch, to the millisecond) without following a symlink. */
export function lutimesBytes(path: string, timeNs: number): void {
  check(
    symbols().utimensat(AT_FDCWD, cName(path), timespecsOf(timeNs), AT_SYMLINK_NOFOLLOW),
    "utimensat",
    path,
  );
}

const timespecs = new BigInt64Array(4);
const timespecBytes = new Uint8Array(timespecs.buffer);

/**
 * Access and modification time `timeNs` as utimensat's two timespecs (in a buffer reused by
 * the next call), in milliseconds as Deno's calls set them.
 */
export function timespecsOf(timeNs: number): Uint8Array {
  const ms = Math.round(timeNs / 1e6);
  const seconds = Math.floor(ms / 1000);
  timespecs[0] = BigInt(seconds);
  timespecs[1] = BigInt((ms - seconds * 1000) * 1_000_000);
  timespecs[2] = timespecs[0];
  timespecs[3] = timespecs[1];
  return timespecBytes;
}

/** An open file of its descriptor (as openReadBytes and createNewBytes give them). */
export function fileOfFd(fd: number, path: string): OpenFile {
  return new ByteFile(fd, path);
}

/** lstat of any path: through Deno, or through libc for a path that is not UTF-8. */
export function lstatPath(path: string): Deno.FileInfo {
  return hasEscapedBytes(path) ? lstatBytes(path) : Deno.lstatSync(path);
}

/** The text of any symlink (a link text that is not UTF-8 is read through libc). */
export function readLinkPath(path: string): string {
  if (hasEscapedBytes(path)) return readLinkBytes(path);
  try {
    return Deno.readLinkSync(path);
  } catch (err) {
    if (namesAreBytes && err instanceof Deno.errors.InvalidData) return readLinkBytes(path);
    throw err;
  }
}

/**
 * The names in any directory. Deno replaces what is not UTF-8 with U+FFFD: a directory with
 * a U+FFFD among its names is read again through libc, which tells the two apart.
 */
export function readDirNames(path: string): string[] {
  if (hasEscapedBytes(path)) return readDirBytes(path);
  const names: string[] = [];
  let replaced = false;
  for (const item of Deno.readDirSync(path)) {
    names.push(item.name);
    if (item.name.includes("\uFFFD")) replaced = true;
  }
  return replaced && namesAreBytes ? readDirBytes(path) : names;
}
