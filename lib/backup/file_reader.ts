/** Reading a file in blocks while noticing that it changes under us. */
import { BLOCK_SIZE } from "../codec/mod.ts";
import {
  ContentHasher,
  hasEscapedBytes,
  libcUsable,
  lstatPath,
  type OpenFile,
  openReadBytes,
} from "../util/mod.ts";

/** What identifies a file's version: size, mtime, ctime and inode. */
export interface FileVersion {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  inode: number;
}

/** The version of an open file or a stat result. */
export function versionOf(info: Deno.FileInfo): FileVersion {
  return {
    size: info.size,
    mtimeMs: info.mtime?.getTime() ?? 0,
    ctimeMs: info.ctime?.getTime() ?? 0,
    inode: info.ino ?? 0,
  };
}

/** True when two versions are the same. */
export function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs &&
    a.inode === b.inode;
}

/** The file changed (or vanished and came back) while it was read. */
export class FileChangedError extends Error {
  constructor(readonly path: string, detail: string) {
    super(`${path} changed while it was read (${detail})`);
    this.name = "FileChangedError";
  }
}

async function readFull(file: OpenFile, buffer: Uint8Array): Promise<number> {
  if (buffer.length <= SMALL_READ) return readFullNow(file, buffer);
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/**
 * Reads of at most this many bytes run on the calling thread, as do the stat calls of an
 * open file: an asynchronous file operation is handed to a thread of Deno's pool and back,
 * about 50 µs of CPU against 6 for the call itself (a small file took five). The scan
 * reads directories and lstats paths on the calling thread too.
 */
const SMALL_READ = 64 * 1024;

/** readFull on the calling thread. */
function readFullNow(file: OpenFile, buffer: Uint8Array): number {
  let filled = 0;
  while (filled < buffer.length) {
    const n = file.readSync(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/** The path is no longer a regular file: a FIFO or a device took its place since the scan. */
export class NotRegularFileError extends Error {
  constructor(readonly path: string) {
    super(`${path} is no longer a regular file`);
    this.name = "NotRegularFileError";
  }
}

/**
 * An open file read in blocks of BLOCK_SIZE, hashed as it goes. `finish()` checks that the
 * file still has the version it had when opened and returns the digest.
 */
export class FileReader {
  private readonly hasher: ContentHasher;
  private closed = false;
  bytesRead = 0;

  private constructor(
    readonly path: string,
    private readonly file: OpenFile,
    readonly version: FileVersion,
    hasher: ContentHasher,
  ) {
    this.hasher = hasher;
  }

  /**
   * Opens the file and records its version; a path that is no longer a regular file (a
   * FIFO, device, directory or symlink put in its place since the scan) is refused before
   * it is read.
   *
   * The open runs on the calling thread, through libc with O_NOFOLLOW and O_NONBLOCK: a
   * symlink swapped in is not followed and a FIFO does not wait for a writer. Deno's
   * `Deno.openSync` can do neither (a FIFO would block the whole run), and its `Deno.open`
   * hands each open to a thread of its pool and back: a create of 100,000 tiny files took
   * 20 s of CPU that way, 14 s this way. Without libc (no --allow-ffi, not Linux) the file is opened
   * with `Deno.open`, which follows a symlink (finish() then refuses the file as replaced)
   * and waits on a FIFO.
   */
  static async open(path: string): Promise<FileReader> {
    // a name that is not UTF-8 has no other way (without libc it fails, saying why)
    if (libcUsable() || hasEscapedBytes(path)) {
      const { file, info } = openReadBytes(path);
      if (!file) throw new NotRegularFileError(path);
      return new FileReader(path, file, versionOf(info), await ContentHasher.create());
    }
    const file = await Deno.open(path, { read: true });
    try {
      const info = file.statSync();
      if (!info.isFile) throw new NotRegularFileError(path);
      return new FileReader(path, file, versionOf(info), await ContentHasher.create());
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** Yields the file's blocks (fresh arrays), hashing them. */
  async *blocks(): AsyncGenerator<Uint8Array> {
    while (true) {
      // No larger than what is left of the file as opened: a file of a few KiB does not
      // cost a cleared 1 MiB buffer. Whatever a file that grew meanwhile has beyond that
      // is not read; finish() refuses the file all the same.
      const left = Math.max(this.version.size - this.bytesRead, 0);
      const buffer = new Uint8Array(Math.min(BLOCK_SIZE, left));
      const n = await readFull(this.file, buffer);
      if (n === 0) break;
      const block = n === buffer.length ? buffer : buffer.subarray(0, n);
      this.hasher.update(block);
      this.bytesRead += n;
      yield block;
      if (n < BLOCK_SIZE) break;
    }
  }

  /** Reads what is left, hashing only (through one reused buffer). */
  async drain(): Promise<void> {
    const buffer = new Uint8Array(BLOCK_SIZE);
    while (true) {
      const n = await readFull(this.file, buffer);
      if (n === 0) break;
      this.hasher.update(buffer.subarray(0, n));
      this.bytesRead += n;
      if (n < BLOCK_SIZE) break;
    }
  }

  /** The digest of what was read; throws FileChangedError when the file changed meanwhile. */
  finish(): string {
    const now = versionOf(this.file.statSync());
    if (!sameVersion(now, this.version)) {
      throw new FileChangedError(this.path, "its size, mtime or ctime changed");
    }
    if (this.bytesRead !== this.version.size) {
      throw new FileChangedError(this.path, `read ${this.bytesRead} of ${this.version.size} bytes`);
    }
    try {
      const current = versionOf(lstatPath(this.path));
      if (current.inode !== this.version.inode) {
        throw new FileChangedError(this.path, "it was replaced");
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new FileChangedError(this.path, "it was removed");
      }
      throw err;
    }
    return this.hasher.digest();
  }

  /** Closes the file and gives its hasher back. */
  close(): void {
    try {
      this.file.close();
    } catch { /* already closed */ }
    if (!this.closed) this.hasher.release();
    this.closed = true;
  }
}
