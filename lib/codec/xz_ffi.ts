/**
 * The primary codec: the system's liblzma (liblzma.so.5 on Linux, liblzma.5.dylib on macOS)
 * through Deno's FFI: lzma_code over a stream encoder (the same bytes lzma-native's encoder
 * writes) or a stream decoder. The calls that take time run on a thread of their own
 * (`nonblocking`), so that `--jobs N` keeps N cores busy; those of small blocks run on the
 * calling thread (SMALL_WORK).
 */
import { concatBytes, discard, offHeap, openFirstLibrary, pinned } from "../util/mod.ts";
import { useNativeCrc64 } from "./xz_stored.ts";
import { dictionarySize, type XzCodec } from "./xz_types.ts";

const SYMBOLS = {
  lzma_version_number: { parameters: [], result: "u32" },
  lzma_lzma_preset: { parameters: ["buffer", "u32"], result: "u8" },
  lzma_stream_buffer_bound: { parameters: ["usize"], result: "usize" },
  // allocates and clears the match finder's tables: off the main thread
  lzma_stream_encoder: {
    parameters: ["buffer", "buffer", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // the same two calls on the calling thread, for small blocks (SMALL_WORK)
  lzma_stream_encoder_now: {
    name: "lzma_stream_encoder",
    parameters: ["buffer", "buffer", "i32"],
    result: "i32",
  },
  lzma_stream_decoder: { parameters: ["buffer", "u64", "u32"], result: "i32" },
  lzma_code: { parameters: ["buffer", "i32"], result: "i32", nonblocking: true },
  lzma_code_now: { name: "lzma_code", parameters: ["buffer", "i32"], result: "i32" },
  lzma_end: { parameters: ["buffer"], result: "void" },
  lzma_crc64: { parameters: ["buffer", "usize", "u64"], result: "u64" },
} as const;

type Liblzma = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The oldest liblzma we drive: 5.2 (2014) has every call and struct layout used here. */
const MIN_VERSION = 50020002;

const LZMA_OK = 0;
const LZMA_STREAM_END = 1;
const LZMA_BUF_ERROR = 10;
const LZMA_FINISH = 3;
const LZMA_CHECK_CRC64 = 4;
const LZMA_CONCATENATED = 0x08;
const LZMA_FILTER_LZMA2 = 0x21n;
const LZMA_VLI_UNKNOWN = 0xffff_ffff_ffff_ffffn;

/** What liblzma's return codes mean, for error messages. */
const RETURN_CODES: Record<number, string> = {
  2: "the stream has no integrity check",
  3: "the stream's integrity check is not supported",
  5: "out of memory",
  6: "the stream needs more memory than allowed",
  7: "not an .xz stream",
  8: "unsupported options in the stream",
  9: "corrupt data",
  10: "the stream is truncated",
  11: "liblzma was called wrongly",
};

/** The most memory a decoder may take (0.4.0's streams need about 9 MiB). */
const DECODER_MEMLIMIT = 1n << 30n;

/** sizeof(lzma_options_lzma) is 112 on 64-bit systems; room to spare. */
const OPTIONS_SIZE = 256;
/** sizeof(lzma_stream) is 136 on 64-bit systems; room to spare. */
const STREAM_SIZE = 256;

/** The file names to try, in order, for this platform. */
export function systemLibraryNames(): string[] {
  if (Deno.build.os === "darwin") {
    return [
      "liblzma.5.dylib",
      "/opt/homebrew/lib/liblzma.5.dylib",
      "/usr/local/lib/liblzma.5.dylib",
    ];
  }
  if (Deno.build.os === "windows") return ["liblzma.dll"];
  return ["liblzma.so.5"];
}

/**
 * Opens liblzma from the first of `names` that loads and is recent enough, or throws an
 * Error saying why none did.
 */
export function loadSystemCodec(names = systemLibraryNames()): XzCodec {
  return openFirstLibrary<typeof SYMBOLS, XzCodec>(
    names,
    SYMBOLS,
    "no usable system liblzma",
    (library, name) => {
      const version = library.symbols.lzma_version_number();
      if (version < MIN_VERSION) {
        return { refused: `liblzma ${versionString(version)} is older than 5.2` };
      }
      const symbols = library.symbols;
      useNativeCrc64((data) => {
        const out = new Uint8Array(8);
        new DataView(out.buffer).setBigUint64(
          0,
          BigInt(symbols.lzma_crc64(data, BigInt(data.length), 0n)),
          true,
        );
        return out;
      });
      return { use: systemCodec(symbols, `system liblzma ${versionString(version)} (${name})`) };
    },
  );
}

/** liblzma's version number (MAJOR*10^7 + MINOR*10^4 + PATCH*10 + stability) as text. */
function versionString(n: number): string {
  return `${Math.floor(n / 1e7)}.${Math.floor(n / 1e4) % 1000}.${Math.floor(n / 10) % 1000}`;
}

function systemCodec(lib: Liblzma, description: string): XzCodec {
  const littleEndian = true;
  const pointerOf = (bytes: Uint8Array) =>
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(offHeap(bytes))));

  /** lzma_options_lzma of a preset, with the dictionary sized to the input. */
  function lzma2Options(level: number, inputLength: number): Uint8Array {
    const options = new Uint8Array(OPTIONS_SIZE);
    if (lib.lzma_lzma_preset(options, level) !== 0) {
      throw new RangeError(`liblzma has no preset ${level}`);
    }
    const view = new DataView(options.buffer);
    const presetDict = view.getUint32(0, littleEndian);
    view.setUint32(0, dictionarySize(Math.log2(presetDict), inputLength), littleEndian);
    return options;
  }

  /**
   * Runs a stream set up by `init` over `input` to its end (LZMA_FINISH), into output
   * buffers of `firstSize` bytes and then twice as many each time. A call that reads at
   * most SMALL_WORK bytes of input (an encoder) or writes at most SMALL_WORK bytes of
   * output (a decoder) runs on the calling thread.
   */
  async function runStream(
    stream: Uint8Array,
    input: Uint8Array,
    firstSize: number,
    encoding: boolean,
  ): Promise<Uint8Array> {
    const view = new DataView(stream.buffer);
    const pieces: Uint8Array[] = [];
    let piece = new Uint8Array(firstSize);
    const setOutput = () => {
      view.setBigUint64(24, pointerOf(piece), littleEndian); // next_out
      view.setBigUint64(32, BigInt(piece.length), littleEndian); // avail_out
    };
    view.setBigUint64(0, pointerOf(input), littleEndian); // next_in
    view.setBigUint64(8, BigInt(input.length), littleEndian); // avail_in
    setOutput();
    while (true) {
      // (a decoder's first piece has room for one byte more than the stream declares)
      const small = encoding ? input.length <= SMALL_WORK : piece.length <= SMALL_WORK + 1;
      if (!small) callsOffThread++;
      const ret = small
        ? lib.lzma_code_now(stream, LZMA_FINISH)
        : await pinned([stream, input, piece], () => lib.lzma_code(stream, LZMA_FINISH));
      const availOut = Number(view.getBigUint64(32, littleEndian));
      if (ret === LZMA_STREAM_END) {
        pieces.push(piece.subarray(0, piece.length - availOut));
        break;
      }
      if ((ret === LZMA_OK || ret === LZMA_BUF_ERROR) && availOut === 0) {
        pieces.push(piece);
        piece = new Uint8Array(Math.min(piece.length * 2, 64 << 20));
        setOutput();
        continue;
      }
      if (ret === LZMA_OK) continue;
      throw new Error(RETURN_CODES[ret] ?? `liblzma error ${ret}`);
    }
    // liblzma held the addresses of `input` and the pieces until here
    view.setBigUint64(0, 0n, littleEndian);
    view.setBigUint64(24, 0n, littleEndian);
    return concatBytes(pieces);
  }

  /**
   * Encoder streams kept for the next block, least recently used first, each with the
   * dictionary size its tables are for: liblzma re-initializes an encoder in place, reusing
   * its tables when the dictionary size is the same, instead of allocating and faulting in
   * about 11 MiB anew for a 1 MiB block. A block takes an encoder of its own dictionary
   * size, or a new one: a small file handed the 1 MiB encoder made liblzma free its tables,
   * and the next block of a large file allocate them again.
   */
  const idleEncoders: { stream: Uint8Array; dictSize: number }[] = [];
  /** An idle encoder set up for `dictSize` before (`reused`), else a new stream. */
  const takeEncoder = (dictSize: number): { stream: Uint8Array; reused: boolean } => {
    const i = idleEncoders.findLastIndex((idle) => idle.dictSize === dictSize);
    return i >= 0
      ? { stream: idleEncoders.splice(i, 1)[0].stream, reused: true }
      : { stream: new Uint8Array(STREAM_SIZE), reused: false };
  };
  /** Keeps `stream` for the next block of its dictionary size; ends the least recently used beyond MAX_IDLE_ENCODERS. */
  const keepEncoder = (stream: Uint8Array, dictSize: number) => {
    idleEncoders.push({ stream, dictSize });
    if (idleEncoders.length > MAX_IDLE_ENCODERS) lib.lzma_end(idleEncoders.shift()!.stream);
  };

  return {
    name: "system",
    description,

    async compress(data, level) {
      const options = lzma2Options(level, data.length);
      // lzma_filter[2]: { id: u64, options: pointer }, then the terminator
      const filters = new Uint8Array(32);
      const filterView = new DataView(filters.buffer);
      filterView.setBigUint64(0, LZMA_FILTER_LZMA2, littleEndian);
      filterView.setBigUint64(8, pointerOf(options), littleEndian);
      filterView.setBigUint64(16, LZMA_VLI_UNKNOWN, littleEndian);
      const dictSize = new DataView(options.buffer).getUint32(0, littleEndian);
      const { stream, reused } = takeEncoder(dictSize);
      let reusable = false;
      try {
        // a kept encoder of a small dictionary clears its 0.5 MiB of tables in microseconds
        const now = reused && dictSize <= SMALL_DICTIONARY;
        if (!now) callsOffThread++;
        const init = now
          ? lib.lzma_stream_encoder_now(stream, filters, LZMA_CHECK_CRC64)
          : await pinned(
            [stream, filters, options],
            () => lib.lzma_stream_encoder(stream, filters, LZMA_CHECK_CRC64),
          );
        if (init !== LZMA_OK) {
          throw new Error(`liblzma could not start an encoder: ${RETURN_CODES[init] ?? init}`);
        }
        const bound = Number(lib.lzma_stream_buffer_bound(BigInt(data.length)));
        const out = await runStream(stream, data, bound, true);
        reusable = true;
        if (out.length >= bound / 2) return out;
        // A small result gets a buffer of its own, and the bound's goes back at once: left
        // to the collector, each text block of a large file piled up 1 MiB of it.
        const own = out.slice();
        discard(out);
        return own;
      } finally {
        if (reusable) keepEncoder(stream, dictSize);
        else lib.lzma_end(stream);
      }
    },

    async decompress(data) {
      const stream = new Uint8Array(STREAM_SIZE);
      // LZMA_CONCATENATED: like Python's lzma.decompress, read stream padding and further
      // streams; the decoder then ends only at the end of the input (LZMA_FINISH).
      const init = lib.lzma_stream_decoder(stream, DECODER_MEMLIMIT, LZMA_CONCATENATED);
      if (init !== LZMA_OK) {
        throw new Error(`liblzma could not start a decoder: ${RETURN_CODES[init] ?? init}`);
      }
      try {
        return await runStream(stream, data, outputSizeHint(data), false);
      } finally {
        lib.lzma_end(stream);
      }
    },
  };
}

let callsOffThread = 0;

/** How many liblzma calls this process ran on another thread (for tests). */
export function liblzmaCallsOffThread(): number {
  return callsOffThread;
}

/**
 * Calls into liblzma that read (compress) or write (decompress) at most this many bytes run
 * on the calling thread: handing a call to a thread of Deno's pool and back costs about
 * 0.1 ms of CPU (two such calls were 40 % of compressing a 2.5 KiB file, and several times
 * decompressing it). Compressing 8 KiB of text at preset 6 takes about 1.3 ms here: the
 * longest the event loop waits for it.
 */
const SMALL_WORK = 8 * 1024;

/** Dictionaries of at most this size (those of files up to 64 KiB) are small. */
const SMALL_DICTIONARY = 64 * 1024;

/** Encoders kept between blocks: one per job is what --jobs up to 4 needs. */
const MAX_IDLE_ENCODERS = 4;

/** Hints above this are not believed (the decoder grows its output as it goes). */
const MAX_HINT = 64 << 20;

/**
 * The decoded size an .xz stream declares in its index (exact for a single stream), plus
 * one byte; else a guess. Only a hint for the first output buffer: the stream is untrusted
 * and the decoder checks it.
 */
export function outputSizeHint(data: Uint8Array): number {
  const guess = Math.min(Math.max(data.length * 4, 64 * 1024), MAX_HINT);
  if (data.length < 32 || data[data.length - 2] !== 0x59 || data[data.length - 1] !== 0x5a) {
    return guess;
  }
  const footer = data.length - 12;
  const backwardSize = ((data[footer + 4] | (data[footer + 5] << 8) | (data[footer + 6] << 16) |
        (data[footer + 7] << 24)) >>> 0) * 4 + 4;
  let pos = footer - backwardSize;
  if (pos < 12 || data[pos] !== 0x00) return guess;
  pos++;
  const readVarint = (): number => {
    let value = 0;
    for (let i = 0, scale = 1; i < 9 && pos < footer; i++, scale *= 128) {
      const byte = data[pos++];
      value += (byte & 0x7f) * scale;
      if (!(byte & 0x80)) return value;
    }
    return -1;
  };
  const records = readVarint();
  if (records < 0 || records > 1024) return guess;
  let total = 0;
  for (let i = 0; i < records; i++) {
    if (readVarint() < 0) return guess;
    const size = readVarint();
    if (size < 0) return guess;
    total += size;
  }
  return total < MAX_HINT ? total + 1 : guess;
}
