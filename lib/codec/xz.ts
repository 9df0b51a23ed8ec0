/**
 * The .xz container: compress a block with liblzma (the system's through FFI, or
 * lzma-native's as the fallback), store incompressible blocks as uncompressed LZMA2
 * chunks, and decompress any valid stream.
 *
 * SPARE_LZMA chooses the codec: unset or `auto` (the system's liblzma when it loads and is
 * 5.2 or newer, else lzma-native), `system` (the system's or an error), `native`
 * (lzma-native), or the path of a liblzma library file (that one, else lzma-native).
 */
import { ExitCode, SpareError } from "../util/mod.ts";
import { loadNativeCodec } from "./xz_native.ts";
import { loadSystemCodec } from "./xz_ffi.ts";
import { byteEntropy, readStoredXz, storedXz } from "./xz_stored.ts";
import type { XzCodec } from "./xz_types.ts";

export { dictionarySize } from "./xz_types.ts";
export type { XzCodec } from "./xz_types.ts";
export { byteEntropy, crc32, crc64, crc64InJs, readStoredXz, storedXz } from "./xz_stored.ts";

/** The LZMA preset 0.4.0 used (Python's `lzma.compress` default). */
export const DEFAULT_LEVEL = 6;

/** The environment variable that chooses the codec. */
export const CODEC_VARIABLE = "SPARE_LZMA";

/** The codec in use and, when the system's liblzma was wanted but not used, why. */
export interface ChosenCodec {
  codec: XzCodec;
  fallbackReason?: string;
}

let chosen: Promise<ChosenCodec> | undefined;

/** Loads the codec SPARE_LZMA asks for (once per process). */
export function chooseCodec(): Promise<ChosenCodec> {
  chosen ??= loadCodec(codecSetting());
  return chosen;
}

function codecSetting(): string {
  try {
    return Deno.env.get(CODEC_VARIABLE) ?? "auto";
  } catch {
    return "auto"; // not allowed to read it: the default
  }
}

async function loadCodec(setting: string): Promise<ChosenCodec> {
  if (setting === "native") return { codec: await loadNativeCodec() };
  if (setting !== "auto" && setting !== "system" && !setting.includes("/")) {
    throw new SpareError(
      `${CODEC_VARIABLE} must be auto, system, native or the path of a liblzma library`,
      ExitCode.usage,
    );
  }
  try {
    return { codec: loadSystemCodec(setting.includes("/") ? [setting] : undefined) };
  } catch (err) {
    if (setting === "system") throw new SpareError(`${CODEC_VARIABLE}=system: ${reason(err)}`);
    return {
      codec: await loadNativeCodec(),
      fallbackReason: reason(err),
    };
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One line for --version: which codec runs. */
export async function codecDescription(): Promise<string> {
  const { codec, fallbackReason } = await chooseCodec();
  return fallbackReason ? `${codec.description}; ${fallbackReason}` : codec.description;
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

/** Compresses to an .xz stream of LZMA2 at `level` (CRC64 check), on a thread of its own. */
export async function compressLzma(data: Uint8Array, level = DEFAULT_LEVEL): Promise<Uint8Array> {
  checkLevel(level);
  return (await chooseCodec()).codec.compress(data, level);
}

/** Decompresses any valid .xz stream (any preset, dictionary or check). */
export async function decompress(data: Uint8Array): Promise<Uint8Array> {
  return readStoredXz(data) ?? (await chooseCodec()).codec.decompress(data);
}
