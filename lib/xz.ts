/**
 * The .xz container: compress a block with liblzma (through lzma-native), store
 * incompressible blocks as uncompressed LZMA2 chunks, and decompress any valid stream.
 */
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import lzma from "lzma-native";

/** Which build of lzma-native's addon this process loads (see scripts/build_lzma.ts). */
export interface LzmaAddon {
  /** The lzma-native package folder. */
  packageDir: string;
  /** The addon file node-gyp-build loads. */
  path: string;
  /** True for the addon build-lzma built at -O2; the prebuilt one has liblzma unoptimized. */
  optimized: boolean;
  /** One line for --version and the bench. */
  description: string;
}

/**
 * Where scripts/build_lzma.ts installs the optimized addon: next to the prebuilt one for
 * this platform, with a libc tag that makes node-gyp-build prefer it (more specific), and
 * that other platforms' executables built with `deno compile` never pick.
 */
export function optimizedAddonPath(packageDir: string): string {
  const arch = { x86_64: "x64", aarch64: "arm64" }[Deno.build.arch];
  let libc = "glibc";
  try {
    Deno.statSync("/etc/alpine-release");
    libc = "musl";
  } catch { /* not Alpine */ }
  return `${packageDir}/prebuilds/${Deno.build.os}-${arch}/node.napi.${libc}.node`;
}

/** Describes the lzma-native addon in use: ours built at -O2, or the slower prebuilt one. */
export function lzmaAddon(): LzmaAddon {
  const require = createRequire(import.meta.url);
  const index = require.resolve("lzma-native");
  const packageDir = index.replace(/[\\/]index\.js$/, "");
  const nodeGypBuild = createRequire(index)("node-gyp-build") as { path(dir: string): string };
  const path = nodeGypBuild.path(packageDir);
  const optimized = path === optimizedAddonPath(packageDir);
  const description = `liblzma ${lzma.versionString()} (lzma-native ${
    optimized
      ? "built from source at -O2"
      : "prebuilt, unoptimized: `deno task build-lzma` doubles its speed"
  })`;
  return { packageDir, path, optimized, description };
}

/** The LZMA preset 0.4.0 used (Python's `lzma.compress` default). */
export const DEFAULT_LEVEL = 6;

/** Dictionary size for our blocks: a dictionary larger than the 1 MiB block buys nothing. */
const BLOCK_DICT_SIZE = 1 << 20;

/** liblzma's smallest dictionary. */
const MIN_DICT_SIZE = 1 << 12;

/**
 * The dictionary for `inputLength` bytes at a preset: no larger than the input (rounded up
 * to a power of two, at least 4 KiB), as the xz command does for small files. A smaller
 * dictionary has smaller match-finder tables to allocate and clear, which is most of the
 * cost of compressing a small file.
 */
export function dictionarySize(dictPow2: number, inputLength: number): number {
  let size = MIN_DICT_SIZE;
  while (size < inputLength && size < BLOCK_DICT_SIZE) size *= 2;
  return Math.min(1 << dictPow2, size);
}

/** liblzma's lzma_lzma_preset() table, with the dictionary sized to the input. */
function lzma2Options(level: number, inputLength: number): Record<string, number> {
  const dictPow2 = [18, 20, 21, 22, 22, 23, 23, 24, 25, 26][level];
  const common = { lc: 3, lp: 0, pb: 2, dictSize: dictionarySize(dictPow2, inputLength) };
  if (level <= 3) {
    return {
      ...common,
      mode: lzma.MODE_FAST,
      mf: level === 0 ? lzma.MF_HC3 : lzma.MF_HC4,
      niceLen: level <= 1 ? 128 : 273,
      depth: [4, 8, 24, 48][level],
    };
  }
  return {
    ...common,
    mode: lzma.MODE_NORMAL,
    mf: lzma.MF_BT4,
    niceLen: level === 4 ? 16 : level === 5 ? 32 : 64,
    depth: 0,
  };
}

/**
 * lzma-native's native coder object (its `Stream` class, pinned with the package). We
 * drive it directly instead of through the package's readable-stream wrapper, which splits
 * the input at every "YZ", hands the output over in 64 KiB pieces, one setImmediate each,
 * and costs a thread hand-off per piece: for the many small files of a tree, that wrapper
 * cost more than liblzma itself.
 */
interface NativeCoder {
  streamEncoder(options: { filters: unknown[]; check: number }): void;
  streamDecoder(options: { memlimit: number; flags: number }): void;
  /** Output is handed over in pieces of this many bytes. */
  setBufsize(bytes: number): number;
  /**
   * Queues input (`null`: finish the stream) for liblzma on a worker thread; the results
   * come back through bufferHandler on this thread.
   */
  code(input: Uint8Array | null, async: true): void;
  /** Frees liblzma's state now (lzma_end) instead of when the object is collected. */
  resetUnderlying(): void;
  /**
   * Called with a piece of output; or `null` and the error (`null` at the stream's end);
   * or `undefined` and the number of input pieces consumed.
   */
  bufferHandler?: (
    output: Uint8Array | null | undefined,
    consumed: number | undefined,
    error: Error | null | undefined,
  ) => void;
}

const NativeStream = (lzma as unknown as { Stream: new () => NativeCoder }).Stream;

/** Output pieces of at most 1 MiB and a bit: one piece for most blocks. */
const MAX_PIECE = (1 << 20) + 4096;

/**
 * Runs `input` through a fresh coder on liblzma's worker thread: one hand-off for the
 * input, and one to finish the stream (LZMA_FINISH), where a truncated stream fails.
 */
function runCoder(
  setup: (coder: NativeCoder) => void,
  input: Uint8Array,
  pieceSize: number,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const coder = new NativeStream();
    const chunks: Uint8Array[] = [];
    let finishing = false;
    let settled = false;
    // The coder's memory (about 11 MiB for LZMA2 at preset 6) is native: V8 does not
    // count it, so waiting for the garbage collector would let it pile up.
    const settle = (error: Error | null) => {
      settled = true;
      // a no-op, not undefined: the addon calls whatever is there without checking
      coder.bufferHandler = () => {};
      try {
        coder.resetUnderlying();
      } catch { /* already released */ }
      if (error) reject(error);
      else resolve(concatBytes(chunks));
    };
    try {
      setup(coder);
      coder.setBufsize(Math.min(Math.max(pieceSize, 64 * 1024), MAX_PIECE));
      coder.bufferHandler = (output, consumed, error) => {
        if (settled) return;
        if (output) chunks.push(output);
        else if (output === null) settle(error ?? null);
        else if (consumed !== undefined && !finishing) {
          finishing = true;
          coder.code(null, true);
        }
      };
      // A Buffer view of the input: the addon copies it once, wherever it comes from.
      coder.code(Buffer.from(input.buffer, input.byteOffset, input.length), true);
    } catch (error) {
      settle(error instanceof Error ? error : new Error(String(error)));
    }
  });
}

/** Concatenates byte arrays into one. */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) {
    return new Uint8Array(chunks[0].buffer, chunks[0].byteOffset, chunks[0].length);
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/**
 * Shannon entropy of the byte histogram, in bits per byte. Data above ~7.9 does not
 * shrink under LZMA (random, encrypted, already compressed), and costs it the most time.
 */
export function byteEntropy(data: Uint8Array): number {
  if (data.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < data.length; i++) counts[data[i]]++;
  let bits = 0;
  for (let i = 0; i < 256; i++) {
    if (counts[i] === 0) continue;
    const p = counts[i] / data.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Above this entropy a block is stored uncompressed inside the .xz stream. */
const INCOMPRESSIBLE_BITS = 7.99;

function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new RangeError(`compression level must be 0-9, got ${level}`);
  }
}

/** Compresses to an .xz stream (CRC64 check): LZMA2 at `level`, or stored chunks when it would not shrink. */
export function compress(data: Uint8Array, level = DEFAULT_LEVEL): Promise<Uint8Array> {
  checkLevel(level);
  const stored = storedIfIncompressible(data);
  return stored ? Promise.resolve(stored) : compressLzma(data, level);
}

/**
 * The stored-chunks .xz stream of a block that would not shrink (judged by its byte
 * entropy), else undefined. Runs on the calling thread, in a few milliseconds per MiB.
 */
export function storedIfIncompressible(data: Uint8Array): Uint8Array | undefined {
  return data.length >= 4096 && byteEntropy(data) > INCOMPRESSIBLE_BITS
    ? storedXz(data)
    : undefined;
}

/** Compresses to an .xz stream of LZMA2 at `level` (CRC64 check), on liblzma's own thread. */
export function compressLzma(data: Uint8Array, level = DEFAULT_LEVEL): Promise<Uint8Array> {
  checkLevel(level);
  const setup = (coder: NativeCoder) =>
    coder.streamEncoder({
      filters: [{ id: lzma.FILTER_LZMA2, options: lzma2Options(level, data.length) }],
      check: lzma.CHECK_CRC64,
    });
  return runCoder(setup, data, data.length + 1024);
}

/** Decompresses any valid .xz stream (any preset, dictionary or check). */
export function decompress(data: Uint8Array): Promise<Uint8Array> {
  const stored = readStoredXz(data);
  if (stored) return Promise.resolve(stored);
  // CONCATENATED: like Python's lzma.decompress, read stream padding and further streams
  // (liblzma then ends only when told the input is complete; anything else fails).
  const setup = (coder: NativeCoder) =>
    coder.streamDecoder({ memlimit: 1 << 30, flags: lzma.CONCATENATED });
  return runCoder(setup, data, data.length * 8);
}

/**
 * The content of an .xz stream made of one block of uncompressed LZMA2 chunks with a CRC64
 * check (what storedXz writes), read without liblzma; undefined for any other stream,
 * which then goes to liblzma. lzma-native's stream layer splits its input at every "YZ"
 * (a possible stream end), which random bytes hold every 64 KiB or so: stored blocks, the
 * random ones, were the slowest to read back.
 */
export function readStoredXz(data: Uint8Array): Uint8Array | undefined {
  const magic = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
  if (data.length < 12 + 12 + 1 + 8 + 12 || magic.some((b, i) => data[i] !== b)) return undefined;
  if (data[6] !== 0x00 || data[7] !== 0x04) return undefined; // CRC64 check only
  const headerSize = (data[12] + 1) * 4;
  // block flags: one filter, no sizes; the filter: LZMA2 with one property byte
  if (data[13] !== 0x00 || data[14] !== 0x21 || data[15] !== 0x01) return undefined;
  if (crc32(data.subarray(12, 12 + headerSize - 4)) !== readU32(data, 12 + headerSize - 4)) {
    return undefined;
  }
  let pos = 12 + headerSize;
  const chunks: [number, number][] = [];
  let size = 0;
  while (true) {
    const control = data[pos];
    if (control === 0x00) break;
    if (control !== 0x01 && control !== 0x02) return undefined; // a compressed chunk
    const length = ((data[pos + 1] << 8) | data[pos + 2]) + 1;
    if (pos + 3 + length > data.length) return undefined;
    chunks.push([pos + 3, length]);
    size += length;
    pos += 3 + length;
  }
  pos++; // end marker
  while ((pos - 12 - headerSize) % 4) {
    if (data[pos++] !== 0x00) return undefined;
  }
  if (pos + 8 + 12 > data.length) return undefined;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const [start, length] of chunks) {
    out.set(data.subarray(start, start + length), offset);
    offset += length;
  }
  const check = crc64(out);
  if (check.some((b, i) => b !== data[pos + i])) return undefined; // let liblzma report it
  // index and footer: exactly what storedXz writes for this length, and nothing after them
  const { trailer } = storedLayout(size);
  if (pos + 8 + trailer.length !== data.length) return undefined;
  if (trailer.some((b, i) => data[pos + 8 + i] !== b)) return undefined;
  return out;
}

function readU32(data: Uint8Array, offset: number): number {
  return (data[offset] | (data[offset + 1] << 8) | (data[offset + 2] << 16) |
    (data[offset + 3] << 24)) >>> 0;
}

// --- stored (uncompressed LZMA2) .xz streams --------------------------------------------

const CRC32_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE), as the .xz headers use it. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC32_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const CRC64_TABLE = (() => {
  const poly = 0xc96c5795d7870f42n;
  const lo = new Uint32Array(256);
  const hi = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = BigInt(n);
    for (let k = 0; k < 8; k++) c = c & 1n ? poly ^ (c >> 1n) : c >> 1n;
    lo[n] = Number(c & 0xffffffffn);
    hi[n] = Number(c >> 32n);
  }
  return { lo, hi };
})();

/** CRC-64 (ECMA-182, reflected), the .xz CRC64 check; returned as 8 little-endian bytes. */
export function crc64(data: Uint8Array): Uint8Array {
  const { lo: tlo, hi: thi } = CRC64_TABLE;
  let lo = 0xffffffff, hi = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const idx = (lo ^ data[i]) & 0xff;
    const nlo = ((lo >>> 8) | (hi << 24)) >>> 0;
    const nhi = hi >>> 8;
    lo = (nlo ^ tlo[idx]) >>> 0;
    hi = (nhi ^ thi[idx]) >>> 0;
  }
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, (lo ^ 0xffffffff) >>> 0, true);
  view.setUint32(4, (hi ^ 0xffffffff) >>> 0, true);
  return out;
}

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function withCrc32(bytes: number[]): number[] {
  return [...bytes, ...u32le(crc32(new Uint8Array(bytes)))];
}

const STORED_CHUNK = 1 << 16;

/** The parts of a stored .xz stream that depend only on the content's length. */
function storedLayout(length: number) {
  const streamFlags = [0x00, 0x04]; // CRC64
  const header = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, ...withCrc32(streamFlags)];
  // Block header: size, flags (one filter, no sizes), LZMA2 filter with a 1 MiB dictionary, padding.
  const dictProp = 16; // 2^(16/2 + 12) = 1 MiB
  const blockHeader = withCrc32([0x02, 0x00, 0x21, 0x01, dictProp, 0x00, 0x00, 0x00]);
  const chunkCount = Math.ceil(length / STORED_CHUNK);
  const lzma2Size = length + chunkCount * 3 + 1;
  const blockPadding = (4 - (lzma2Size % 4)) % 4;
  const unpaddedSize = blockHeader.length + lzma2Size + 8;
  const indexBody = [0x00, ...varint(1), ...varint(unpaddedSize), ...varint(length)];
  while (indexBody.length % 4) indexBody.push(0x00);
  const index = withCrc32(indexBody);
  const footerBody = [...u32le(index.length / 4 - 1), ...streamFlags];
  const footer = [...u32le(crc32(new Uint8Array(footerBody))), ...footerBody, 0x59, 0x5a];
  return { header, blockHeader, lzma2Size, blockPadding, trailer: [...index, ...footer] };
}

/** An .xz stream (CRC64) whose one block holds `data` as uncompressed LZMA2 chunks. */
export function storedXz(data: Uint8Array): Uint8Array {
  const { header, blockHeader, lzma2Size, blockPadding, trailer } = storedLayout(data.length);
  const total = header.length + blockHeader.length + lzma2Size + blockPadding + 8 + trailer.length;
  const out = new Uint8Array(total);
  let pos = 0;
  const put = (bytes: ArrayLike<number>) => {
    out.set(bytes, pos);
    pos += bytes.length;
  };
  put(header);
  put(blockHeader);
  for (let offset = 0; offset < data.length; offset += STORED_CHUNK) {
    const chunk = data.subarray(offset, offset + STORED_CHUNK);
    // 0x01: uncompressed chunk with dictionary reset; 0x02: without.
    put([offset === 0 ? 0x01 : 0x02, (chunk.length - 1) >> 8, (chunk.length - 1) & 0xff]);
    put(chunk);
  }
  put([0x00]); // LZMA2 end marker
  pos += blockPadding;
  put(crc64(data));
  put(trailer);
  return out;
}
