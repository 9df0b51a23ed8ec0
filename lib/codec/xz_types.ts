/** What every LZMA codec offers, and the dictionary sizing both codecs share. */

/** One way of running liblzma: the system's through FFI, or lzma-native's addon. */
export interface XzCodec {
  /** "system" or "native" (the values of SPARE_LZMA). */
  name: "system" | "native";
  /** One line for --version and the bench. */
  description: string;
  /** An .xz stream (CRC64 check) of one LZMA2 block at preset `level`. */
  compress(data: Uint8Array, level: number): Promise<Uint8Array>;
  /** The content of any valid .xz stream, with padding and concatenated streams. */
  decompress(data: Uint8Array): Promise<Uint8Array>;
}

/** Dictionary size for our blocks: a dictionary larger than the 1 MiB block buys nothing. */
const BLOCK_DICT_SIZE = 1 << 20;

/**
 * The smallest dictionary we ask for. liblzma's match finder clears a hash table of at
 * least 64 Ki entries for any dictionary up to 64 KiB, so a smaller dictionary saves no
 * work, and one size for every input up to 64 KiB lets the encoder kept between blocks
 * (lib/codec/xz_ffi.ts) serve them all: with sizes from 4 KiB up, the files of a tree took turns
 * with each other's encoders, and the 1 MiB blocks of its large files with theirs.
 */
const MIN_DICT_SIZE = 1 << 16;

/** log2 of the dictionary size of liblzma's presets 0-9. */
export const PRESET_DICT_POW2 = [18, 20, 21, 22, 22, 23, 23, 24, 25, 26];

/**
 * The dictionary for `inputLength` bytes at a preset: no larger than the input (rounded up
 * to a power of two, at least 64 KiB), as the xz command does for small files. A smaller
 * dictionary has smaller match-finder tables to allocate, which is most of the cost of
 * compressing a small file.
 */
export function dictionarySize(dictPow2: number, inputLength: number): number {
  let size = MIN_DICT_SIZE;
  while (size < inputLength && size < BLOCK_DICT_SIZE) size *= 2;
  return Math.min(1 << dictPow2, size);
}
