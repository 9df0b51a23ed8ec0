/**
 * AES through the system's OpenSSL libcrypto (libcrypto.so.3, or 1.1) and Deno's FFI: the
 * EVP interface, which uses AES-NI where the CPU has it. Large messages are encrypted on a
 * thread of their own (`nonblocking`). Linux only: macOS's libcrypto aborts programs that
 * load it. Before it is used, the library must give the FIPS-197 answer and carry a CTR
 * counter across 64 bits as RFC 5297 needs, else it is not used.
 */
import type { AesEngine, AesKey } from "./aes_engine.ts";
import { offHeap, openFirstLibrary, pinned } from "../util/mod.ts";

const BLOCK = 16;

const SYMBOLS = {
  OpenSSL_version_num: { parameters: [], result: "u64" },
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_aes_128_cbc: { parameters: [], result: "pointer" },
  EVP_aes_192_cbc: { parameters: [], result: "pointer" },
  EVP_aes_256_cbc: { parameters: [], result: "pointer" },
  EVP_aes_128_ctr: { parameters: [], result: "pointer" },
  EVP_aes_192_ctr: { parameters: [], result: "pointer" },
  EVP_aes_256_ctr: { parameters: [], result: "pointer" },
  EVP_EncryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  EVP_CIPHER_CTX_set_padding: { parameters: ["pointer", "i32"], result: "i32" },
  EVP_EncryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_EncryptUpdate_elsewhere: {
    name: "EVP_EncryptUpdate",
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
    nonblocking: true,
  },
} as const;

type Libcrypto = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** 1.1.0: the oldest OpenSSL with EVP_CIPHER_CTX_new/free as used here. */
const MIN_VERSION = 0x1010000f;

/** From this size a message is encrypted on another thread. */
const OFF_THREAD = 64 * 1024;

/** The file names to try, in order, for this platform (none where it must not be loaded). */
export function libcryptoNames(): string[] {
  return Deno.build.os === "linux" ? ["libcrypto.so.3", "libcrypto.so.1.1"] : [];
}

/** Opens libcrypto from the first of `names` that loads, is 1.1 or newer and passes the self-test. */
export function loadOpenSslAes(names = libcryptoNames()): AesEngine {
  if (names.length === 0) throw new Error(`no system libcrypto is used on ${Deno.build.os}`);
  return openFirstLibrary<typeof SYMBOLS, AesEngine>(
    names,
    SYMBOLS,
    "no usable system libcrypto",
    (library, name) => {
      const version = Number(library.symbols.OpenSSL_version_num());
      if (version < MIN_VERSION) {
        return { refused: `OpenSSL ${versionString(version)} is older than 1.1` };
      }
      const engine = new OpenSslAes(library.symbols, `OpenSSL ${versionString(version)} (${name})`);
      const fault = selfTest(engine);
      return fault ? { refused: fault } : { use: engine };
    },
  );
}

/** OpenSSL's version number (0xMNN00PP0 from 3.0, 0xMNNFFPPS before) as text. */
function versionString(n: number): string {
  const field = (shift: number) => Math.floor(n / 2 ** shift) % 256;
  const major = Math.floor(n / 2 ** 28);
  if (major >= 3) return `${major}.${field(20)}.${field(4)}`;
  const letter = field(4) > 0 ? String.fromCharCode(96 + field(4)) : "";
  return `${major}.${field(20)}.${field(12)}${letter}`;
}

/** The same EVP calls for every key: a context per call, so calls never share state. */
class OpenSslAes implements AesEngine {
  constructor(private readonly lib: Libcrypto, readonly description: string) {}

  importKey(raw: Uint8Array): Promise<AesKey> {
    return Promise.resolve(this.key(raw));
  }

  /** The key, synchronously (the self-test runs before any await). */
  key(raw: Uint8Array): OpenSslAesKey {
    const bits = raw.length * 8;
    if (bits !== 128 && bits !== 192 && bits !== 256) {
      throw new RangeError(`AES keys are 16, 24 or 32 bytes, not ${raw.length}`);
    }
    const lib = this.lib;
    const cbc = bits === 128
      ? lib.EVP_aes_128_cbc()
      : bits === 192
      ? lib.EVP_aes_192_cbc()
      : lib.EVP_aes_256_cbc();
    const ctr = bits === 128
      ? lib.EVP_aes_128_ctr()
      : bits === 192
      ? lib.EVP_aes_192_ctr()
      : lib.EVP_aes_256_ctr();
    return new OpenSslAesKey(lib, cbc, ctr, offHeap(raw.slice()));
  }
}

class OpenSslAesKey implements AesKey {
  /** Output buffers of CBC-MACs, whose ciphertext is thrown away but for its last block. */
  private readonly scratch: Uint8Array[] = [];

  constructor(
    private readonly lib: Libcrypto,
    private readonly cbc: Deno.PointerValue,
    private readonly counter: Deno.PointerValue,
    private readonly raw: Uint8Array,
  ) {}

  async cbcMac(iv: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    if (data.length === 0) return iv.slice();
    if (data.length % BLOCK !== 0) throw new RangeError("CBC-MAC input must be whole blocks");
    let out = this.scratch.pop();
    if (!out || out.length < data.length) out = new Uint8Array(Math.max(data.length, BLOCK));
    try {
      await this.encrypt(this.cbc, iv, data, out);
      return out.slice(data.length - BLOCK, data.length);
    } finally {
      if (this.scratch.length < 2) this.scratch.push(out);
    }
  }

  async ctr(iv: Uint8Array, data: Uint8Array, given?: Uint8Array): Promise<Uint8Array> {
    const out = given ?? new Uint8Array(data.length);
    if (data.length > 0) await this.encrypt(this.counter, iv, data, out);
    return out;
  }

  /** Synchronous AES-CTR, for the self-test. */
  ctrHere(iv: Uint8Array, data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    void this.encrypt(this.counter, iv, data, out, false);
    return out;
  }

  clear(): void {
    this.raw.fill(0);
    for (const buffer of this.scratch) buffer.fill(0);
    // OpenSSL clears a context's key schedule when it frees it
    for (const contexts of this.idle.values()) {
      for (const context of contexts.splice(0)) this.lib.EVP_CIPHER_CTX_free(context);
    }
  }

  /**
   * `out` = `cipher` over `data` from `iv` (no padding): on another thread from OFF_THREAD
   * bytes (when `elsewhere` allows), else here. Throws when OpenSSL reports a failure.
   */
  private encrypt(
    cipher: Deno.PointerValue,
    iv: Uint8Array,
    data: Uint8Array,
    out: Uint8Array,
    elsewhere = true,
  ): Promise<void> {
    const lib = this.lib;
    const context = this.context(cipher);
    const written = new Int32Array(1);
    const finish = (ok: number) => {
      this.idle.get(cipher)!.push(context);
      if (ok !== 1 || written[0] !== data.length) {
        throw new Error(`OpenSSL's EVP_EncryptUpdate failed (${ok}, ${written[0]} bytes)`);
      }
    };
    // a new IV on a context that keeps its key schedule
    const ivCopy = iv.slice();
    if (lib.EVP_EncryptInit_ex(context, null, null, null, Deno.UnsafePointer.of(ivCopy)) !== 1) {
      lib.EVP_CIPHER_CTX_free(context);
      throw new Error("OpenSSL could not set the IV");
    }
    if (!elsewhere || data.length < OFF_THREAD) {
      finish(lib.EVP_EncryptUpdate(context, out, written, data, data.length));
      return Promise.resolve();
    }
    return pinned(
      [data, out, written],
      () => lib.EVP_EncryptUpdate_elsewhere(context, out, written, data, data.length),
    ).then(finish, (err) => {
      lib.EVP_CIPHER_CTX_free(context);
      throw err;
    });
  }

  /** Contexts set up with this key, not in use, by cipher. */
  private readonly idle = new Map<Deno.PointerValue, Deno.PointerValue[]>();

  /** An idle context of `cipher` with this key, or a new one (never two calls on one). */
  private context(cipher: Deno.PointerValue): Deno.PointerValue {
    let idle = this.idle.get(cipher);
    if (!idle) this.idle.set(cipher, idle = []);
    const kept = idle.pop();
    if (kept) return kept;
    const lib = this.lib;
    const context = lib.EVP_CIPHER_CTX_new();
    if (context === null) throw new Error("OpenSSL could not allocate a cipher context");
    if (
      lib.EVP_EncryptInit_ex(context, cipher, null, Deno.UnsafePointer.of(this.raw), null) !== 1 ||
      lib.EVP_CIPHER_CTX_set_padding(context, 0) !== 1
    ) {
      lib.EVP_CIPHER_CTX_free(context);
      throw new Error("OpenSSL could not set up the cipher");
    }
    return context;
  }
}

function hex(text: string): Uint8Array {
  return new Uint8Array(text.match(/../g)!.map((h) => parseInt(h, 16)));
}

/**
 * FIPS-197 C.3 (AES-256 of one block, as a CTR keystream), and a CTR counter that carries
 * from its low 64 bits into the high ones; a description of the fault, or undefined.
 */
function selfTest(engine: OpenSslAes): string | undefined {
  try {
    const key = engine.key(hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
    const block = hex("00112233445566778899aabbccddeeff");
    const expected = hex("8ea2b7ca516745bfeafc49904b496089");
    const got = key.ctrHere(block, new Uint8Array(BLOCK));
    if (!equal(got, expected)) return "AES-256 does not give the FIPS-197 answer";
    // counter ...00 ff*8 then 00..01 00*8: the second keystream block is E(2^64)
    const start = hex("0000000000000000ffffffffffffffff");
    const next = hex("00000000000000010000000000000000");
    const two = key.ctrHere(start, new Uint8Array(2 * BLOCK));
    const second = key.ctrHere(next, new Uint8Array(BLOCK));
    if (!equal(two.subarray(BLOCK), second)) return "its AES-CTR counter is not 128 bits wide";
    key.clear();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
