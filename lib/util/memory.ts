/**
 * Keeping the resident size small: 1 MiB blocks are allocated and freed all the time, and
 * neither V8 nor glibc gives that memory back promptly on its own.
 */

const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const M_ARENA_MAX = -8;

/**
 * glibc arenas at most. glibc gives each thread that allocates its own arena (up to 8 per
 * core), each keeping freed memory of its own: with one, the liblzma threads and V8's
 * helper threads share the main arena (a create of 62 MiB: RssAnon 63 MiB instead of 70).
 */
const ARENAS = 1;

/** glibc's malloc_trim(0): hands free pages inside the arenas back to the system. */
let mallocTrim: (() => void) | undefined;
/** glibc's mallopt, once loaded. */
let mallopt: ((param: number, value: number) => void) | undefined;

/**
 * On Linux with glibc, one malloc arena for every thread (ARENAS; as MALLOC_ARENA_MAX=1
 * would, set here because an executable cannot set its own environment); and serve
 * allocations of 4 MiB and more with mmap, so that they go back
 * to the system when freed; glibc otherwise raises that threshold as large blocks are freed
 * and keeps them in its arenas. Not lower: liblzma's 2.3 MiB hash table, allocated and
 * zeroed for every block, would then be mapped and faulted in anew each time, which cost
 * a quarter of the time of a create over small files (4.8 s of system time in 20 s).
 * Elsewhere, or without FFI permission, nothing.
 */
export function returnFreedBlocksToSystem(): void {
  if (Deno.build.os !== "linux") return;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    mallopt = (param, value) => void libc.symbols.mallopt(param, value);
    mallopt(M_ARENA_MAX, ARENAS);
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    mallocTrim = () => void libc.symbols.malloc_trim(0n);
  } catch {
    // not glibc, or no --allow-ffi: memory is still bounded, only returned later
  }
}

let compressorReuseWanted = false;
let nativeCodecInUse = false;
let readingBucket = false;

/** glibc's default trim threshold: free memory above it at an arena's top goes back at once. */
const DEFAULT_TRIM_THRESHOLD = 128 * 1024;
/** What an arena keeps free at its top while create reads the bucket (see readingBucket). */
const READING_TRIM_THRESHOLD = 8 * 1024 * 1024;
/** What an arena keeps free at its top for the lzma-native fallback's encoders. */
const COMPRESSOR_TRIM_THRESHOLD = 32 * 1024 * 1024;

/** Applies the trim threshold that the current phase asks for. */
function applyTrimThreshold(): void {
  const threshold = compressorReuseWanted && nativeCodecInUse
    ? COMPRESSOR_TRIM_THRESHOLD
    : readingBucket
    ? READING_TRIM_THRESHOLD
    : DEFAULT_TRIM_THRESHOLD;
  mallopt?.(M_TRIM_THRESHOLD, threshold);
}

/**
 * For create with the lzma-native fallback: keep up to 32 MiB free at the top of each
 * glibc arena instead of 128 KiB, so that liblzma's encoder memory, which lzma-native
 * allocates anew for every block, is reused from file to file instead of handed back and
 * faulted in again (a create of 20,000 small files: 94 s, 25 s of it in the kernel, against
 * 82 s and 11 s). noteTransientBytes trims the arenas every few MiB of blocks all the same.
 * The system codec keeps its encoders between blocks (lib/codec/xz_ffi.ts) and needs none of it.
 * Not for restore and verify: the arenas would keep 10-20 MiB more resident for no gain.
 */
export function reuseCompressorMemory(): void {
  compressorReuseWanted = true;
  applyTrimThreshold();
}

/**
 * While create lists the bucket and reads the previous snapshot (`reading`), up to 8 MiB
 * freed at an arena's top stays there: listing pages of 380 KB were handed back and faulted
 * in again one after the other, and a page fault costs about 11 µs on our machines. An
 * unchanged create of 20,000 files: 41,000 page faults instead of 47,500; its peak 1-3 MiB
 * higher. Off again once files are uploaded, whose peak is create's.
 */
export function keepFreedMemoryWhileReading(reading: boolean): void {
  readingBucket = reading;
  applyTrimThreshold();
}

/** glibc's mmap threshold outside create's uploads (see returnFreedBlocksToSystem). */
const MMAP_THRESHOLD = 4 * 1024 * 1024;
/** glibc's mmap threshold while create uploads (see mapBlockBuffersApart). */
const UPLOAD_MMAP_THRESHOLD = 1024 * 1024;

/**
 * For create's uploads: buffers of 1 MiB and more (blocks read, compression bounds, sealed
 * blocks) get mappings of their own, which go back to the system as each is freed. In
 * glibc's arena, freed at once between the small allocations of requests, they left holes
 * that grew over a large file: a create of the 1 GiB file peaked at 63.7-64.7 MiB (its
 * arena 22 MiB at the start, 27 at the end), at 55.1-59.8 MiB mapped apart, 2 % slower
 * (0.55 million more page faults, 6.5 s of system time; reusing freed buffers saved a
 * third of those and held 1-5 MiB more). Not for restore and verify, 10-20 % slower with
 * it for no need (their peak is far below theirs). Nor with the lzma-native
 * fallback, which allocates its encoder's 10 MiB of tables anew for every block.
 */
export function mapBlockBuffersApart(): void {
  if (!nativeCodecInUse) mallopt?.(M_MMAP_THRESHOLD, UPLOAD_MMAP_THRESHOLD);
}

/** Called when the lzma-native fallback is loaded (see reuseCompressorMemory). */
export function nativeCodecLoaded(): void {
  nativeCodecInUse = true;
  mallopt?.(M_MMAP_THRESHOLD, MMAP_THRESHOLD); // its encoders' tables stay in the arenas
  applyTrimThreshold();
}

const collect = (globalThis as { gc?: () => void }).gc;
let sinceCollection = 0;
/** Bytes of short-lived buffers between two collections (noteTransientBytes). */
let collectionInterval = 16 * 1024 * 1024;

/**
 * Collects after every `bytes` of short-lived buffers instead of every 16 MiB. create asks
 * for 2 MiB: its main thread mostly waits for the compressor. Over a 62 MiB tree the peak
 * of anonymous memory was 65-70 MiB at 16 MiB, 66-69 at 8, 60-62 at 4; over 103 MiB (48 MiB
 * of the mixed file, 2,000 text files) 62-64 MiB at 4 and 58-59 at 2, in the same time.
 * restore and verify keep 16 MiB: their main thread is the bottleneck, and their peak is
 * well below its limit.
 */
export function collectEvery(bytes: number): void {
  collectionInterval = bytes;
}

/**
 * Counts bytes of short-lived buffers; every 16 MiB (see collectEvery) runs a garbage collection when V8
 * exposes one (`--v8-flags=--expose-gc`, set by the spare task), then trims glibc's
 * arenas. V8 counts those buffers as external memory and would otherwise let about 64 MiB
 * of them pile up first; the 1 MiB blocks freed into the arenas (below the mmap
 * threshold) would stay resident.
 */
export function noteTransientBytes(bytes: number): void {
  sinceCollection += bytes;
  if (sinceCollection >= collectionInterval) releaseMemoryNow();
}

/**
 * Counts a block's buffer of `bytes` (see noteTransientBytes); one freed at once (discard)
 * counts a quarter: each block also leaves garbage on V8's heap (its requests' objects),
 * which a create of a 1 GiB file piled up 8 MiB more of when freed blocks counted nothing.
 */
export function noteBlockBytes(bytes: number, freed: boolean): void {
  noteTransientBytes(freed ? bytes / 4 : bytes);
}

/** Collects garbage and trims glibc's arenas now (between phases of a run). */
export function releaseMemoryNow(): void {
  sinceCollection = 0;
  collect?.();
  mallocTrim?.();
}

/** Buffers below this size are left to the garbage collector. */
const DISCARD_MIN_BYTES = 64 * 1024;

/**
 * Frees a block buffer that nothing reads any more at once, by detaching it
 * (ArrayBuffer.prototype.transfer), instead of at the next garbage collection: the
 * memory goes back to glibc while it is still mapped, for the next block to reuse. Only
 * for buffers spare allocated and holds the only reference to (node's pooled Buffers share
 * theirs: those are all smaller than DISCARD_MIN_BYTES); every view of `bytes`'s buffer
 * reads as empty afterwards.
 */
export function discard(bytes: Uint8Array): void {
  if (discardable(bytes)) (bytes.buffer as Transferable).transfer(0);
}

type Transferable = ArrayBuffer & { transfer: (length: number) => ArrayBuffer };

/** True when discard frees `bytes` at once (a small buffer is left to the collector). */
export function discardable(bytes: Uint8Array): boolean {
  const buffer = bytes.buffer as Partial<Transferable>;
  return (buffer.byteLength ?? 0) >= DISCARD_MIN_BYTES && typeof buffer.transfer === "function";
}
