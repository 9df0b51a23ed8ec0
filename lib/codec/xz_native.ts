/**
 * The fallback codec: liblzma through the lzma-native npm package (its prebuilt addon),
 * for systems without a usable liblzma.so.5 / liblzma.5.dylib. Loaded only when used.
 */
import { Buffer } from "node:buffer";
import { concatBytes, nativeCodecLoaded } from "../util/mod.ts";
import { dictionarySize, PRESET_DICT_POW2, type XzCodec } from "./xz_types.ts";

type LzmaNative = typeof import("lzma-native");

/** liblzma's lzma_lzma_preset() table, with the dictionary sized to the input. */
function lzma2Options(
  lzma: LzmaNative,
  level: number,
  inputLength: number,
): Record<string, number> {
  const dictPow2 = PRESET_DICT_POW2[level];
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

/** Output pieces of at most 1 MiB and a bit: one piece for most blocks. */
const MAX_PIECE = (1 << 20) + 4096;

/**
 * Runs `input` through a fresh coder on liblzma's worker thread: one hand-off for the
 * input, and one to finish the stream (LZMA_FINISH), where a truncated stream fails.
 */
function runCoder(
  NativeStream: new () => NativeCoder,
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

/** Loads lzma-native's addon and returns the codec that drives it. */
export async function loadNativeCodec(): Promise<XzCodec> {
  const lzma = ((await import("lzma-native")) as { default: LzmaNative }).default;
  const NativeStream = (lzma as unknown as { Stream: new () => NativeCoder }).Stream;
  nativeCodecLoaded();
  return {
    name: "native",
    description: `lzma-native (fallback: prebuilt addon, liblzma ${lzma.versionString()})`,
    compress(data, level) {
      const setup = (coder: NativeCoder) =>
        coder.streamEncoder({
          filters: [{ id: lzma.FILTER_LZMA2, options: lzma2Options(lzma, level, data.length) }],
          check: lzma.CHECK_CRC64,
        });
      return runCoder(NativeStream, setup, data, data.length + 1024);
    },
    decompress(data) {
      // CONCATENATED: like Python's lzma.decompress, read stream padding and further
      // streams (liblzma then ends only when told the input is complete).
      const setup = (coder: NativeCoder) =>
        coder.streamDecoder({ memlimit: DECODER_MEMLIMIT, flags: lzma.CONCATENATED });
      return runCoder(NativeStream, setup, data, data.length * 8);
    },
  };
}

/** The most memory a decoder may take (0.4.0's streams need about 9 MiB). */
const DECODER_MEMLIMIT = 1 << 30;
