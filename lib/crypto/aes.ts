/**
 * The raw AES that AES-SIV (lib/crypto/siv.ts) is built on: CBC for CMAC and CTR for the
 * encryption, with one key. Two engines give the same bytes: the system's OpenSSL libcrypto
 * through FFI (lib/crypto/aes_openssl.ts: AES-NI, gigabytes per second) where it loads, otherwise
 * Deno's WebCrypto and node:crypto (a software AES of about 150-250 MiB/s here).
 */
import { createCipheriv } from "node:crypto";
import { loadOpenSslAes } from "./aes_openssl.ts";
import { discard } from "../util/mod.ts";

import { AES_BLOCK, type AesEngine, type AesKey } from "./aes_engine.ts";

export { AES_BLOCK };
export type { AesEngine, AesKey };

/** The engine in use and, when OpenSSL was not used, why. */
export interface ChosenAes {
  engine: AesEngine;
  fallbackReason?: string;
}

let chosen: ChosenAes | undefined;

/** The system's libcrypto when it loads and passes its self-test, else WebCrypto (once per process). */
export function chooseAes(): ChosenAes {
  if (chosen) return chosen;
  try {
    chosen = { engine: loadOpenSslAes() };
  } catch (err) {
    chosen = {
      engine: webCryptoAes,
      fallbackReason: err instanceof Error ? err.message : String(err),
    };
  }
  return chosen;
}

/** One line for --version: which AES runs. */
export function aesDescription(): string {
  const { engine, fallbackReason } = chooseAes();
  return fallbackReason ? `${engine.description}; ${fallbackReason}` : engine.description;
}

/** Up to this many bytes, WebCrypto's round trip to another thread costs more than the AES. */
const SMALL_MESSAGE = 16 * 1024;

/** AES-CBC (no padding) or AES-CTR over `data` on the calling thread, with node:crypto. */
function aesHere(
  mode: "cbc" | "ctr",
  key: Uint8Array,
  iv: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  const cipher = createCipheriv(`aes-${key.length * 8}-${mode}`, key, iv);
  cipher.setAutoPadding(false);
  const head = cipher.update(data);
  const tail = cipher.final();
  // plain Uint8Arrays, not Buffers (whose slice() does not copy)
  if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

/** WebCrypto for large messages (on another thread), node:crypto for small ones. */
class WebCryptoAesKey implements AesKey {
  constructor(
    private readonly cbc: CryptoKey,
    private readonly counter: CryptoKey,
    private readonly raw: Uint8Array,
  ) {}

  async cbcMac(iv: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    if (data.length === 0) return iv.slice();
    if (data.length <= SMALL_MESSAGE) return aesHere("cbc", this.raw, iv, data).slice(-AES_BLOCK);
    // WebCrypto pads: the last block of the data is the one before the padding's.
    const out = await crypto.subtle.encrypt(
      { name: "AES-CBC", iv: iv.slice() },
      this.cbc,
      data as Uint8Array<ArrayBuffer>,
    );
    const tag = new Uint8Array(out.slice(data.length - AES_BLOCK, data.length));
    discard(new Uint8Array(out)); // the whole ciphertext, of which only the tag was wanted
    return tag;
  }

  async ctr(iv: Uint8Array, data: Uint8Array, out?: Uint8Array): Promise<Uint8Array> {
    if (data.length === 0) return out ?? new Uint8Array(0);
    const result = data.length <= SMALL_MESSAGE
      ? aesHere("ctr", this.raw, iv, data)
      : new Uint8Array(
        await crypto.subtle.encrypt(
          { name: "AES-CTR", counter: iv.slice(), length: 128 },
          this.counter,
          data as Uint8Array<ArrayBuffer>,
        ),
      );
    if (!out) return result;
    out.set(result);
    discard(result); // WebCrypto cannot write into `out`: its own array goes at once
    return out;
  }

  clear(): void {
    this.raw.fill(0);
  }
}

/** Deno's WebCrypto and node:crypto: always there, in software. */
export const webCryptoAes: AesEngine = {
  description: "WebCrypto",
  async importKey(raw: Uint8Array): Promise<AesKey> {
    const importAs = (name: string) =>
      crypto.subtle.importKey("raw", raw.slice(), name, false, ["encrypt"]);
    return new WebCryptoAesKey(await importAs("AES-CBC"), await importAs("AES-CTR"), raw.slice());
  },
};
