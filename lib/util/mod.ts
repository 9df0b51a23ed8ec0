/**
 * util: the small helpers every other folder shares: errors and exit codes, the log,
 * concurrency limits, memory handling (freeing block buffers, glibc's malloc), FFI library
 * loading, BLAKE2b-256 digests, globs, owner names, progress lines and human formats.
 *
 * May import: nothing of lib/ (only Deno and npm packages). Everything else may import util.
 */
export { concatBytes, randomHex, toHex } from "./bytes.ts";
export { type Column, grown, StringIndex } from "./columns.ts";
export { ContentHasher } from "./digest.ts";
export {
  BlockAuthError,
  BlockDecompressError,
  ExitCode,
  InterruptedError,
  SpareError,
  UsageError,
} from "./errors.ts";
export { offHeap, openFirstLibrary, pinned } from "./ffi.ts";
export { columns, humanBytes, localIsoTime, modeString } from "./format.ts";
export { anyGlob, type GlobMatcher, globMatcher, relativePath } from "./glob.ts";
export { forEachConcurrent, Semaphore, sleep } from "./limit.ts";
export { Log } from "./log.ts";
export {
  collectEvery,
  discard,
  discardable,
  keepFreedMemoryWhileReading,
  mapBlockBuffersApart,
  nativeCodecLoaded,
  noteBlockBytes,
  noteTransientBytes,
  releaseMemoryNow,
  returnFreedBlocksToSystem,
  reuseCompressorMemory,
} from "./memory.ts";
export { closeFd, DirHandle, finishFd, fstatFd, readFd, statNow } from "./fs_at.ts";
export { Owners } from "./owners.ts";
export { type ProgressFigures, ProgressLine } from "./progress.ts";
export { escapeProblem, hasEscapedBytes, parseShownName, showName } from "./names.ts";
export {
  chmodBytes,
  createNewBytes,
  lchownBytes,
  libcUsable,
  linkBytes,
  lstatPath,
  lutimesBytes,
  mkdirBytes,
  type OpenFile,
  openReadBytes,
  readDirNames,
  readLinkPath,
  renameBytes,
  symlinkBytes,
  unlinkBytes,
} from "./fs_bytes.ts";
