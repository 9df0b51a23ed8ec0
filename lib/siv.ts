/**
 * AES-SIV (RFC 5297) through miscreant, on top of Deno's WebCrypto.
 *
 * miscreant's own WebCrypto provider asks AES-CTR for a 16-bit counter, which Deno
 * refuses, and its CMAC encrypts one 16-byte block per awaited call. We give miscreant a
 * provider backed by WebCrypto (AES-CBC with a zero IV as the raw block cipher, AES-CTR
 * with a 128-bit counter) and a CMAC that computes the whole CBC-MAC in one AES-CBC call.
 *
 * WebCrypto runs each call on another thread and hands the result back, which costs more
 * than the AES itself for a few KiB; sealing one block takes five such calls (four CMACs
 * and the CTR). Messages up to SMALL_MESSAGE bytes are therefore encrypted on the calling
 * thread with node:crypto (the same AES, with AES-NI where the CPU has it).
 */
import {
  AEAD,
  type IBlockCipher,
  type ICryptoProvider,
  type ICTRLike,
  type IMACLike,
  SIV,
} from "miscreant";
import { createCipheriv } from "node:crypto";
import { Semaphore } from "./limit.ts";

const BLOCK = 16;
const ZERO_IV = new Uint8Array(BLOCK);

/** Up to this many bytes, AES runs on the calling thread (node:crypto), not in WebCrypto. */
const SMALL_MESSAGE = 16 * 1024;

/** AES-CBC (no padding) or AES-CTR over `data` on the calling thread, with a raw key. */
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

type Block16 = { data: Uint8Array };

/** Raw AES of one 16-byte block: AES-CBC with a zero IV, first output block. */
class WebCryptoBlockCipher implements IBlockCipher {
  constructor(private readonly key: CryptoKey) {}

  clear(): this {
    return this;
  }

  async encryptBlock(block: Block16): Promise<this> {
    const out = await crypto.subtle.encrypt(
      { name: "AES-CBC", iv: ZERO_IV },
      this.key,
      block.data as Uint8Array<ArrayBuffer>,
    );
    block.data.set(new Uint8Array(out, 0, BLOCK));
    return this;
  }
}

/** AES-CTR over WebCrypto (node:crypto for small messages) with the full 128-bit counter of RFC 5297. */
class WebCryptoCtr implements ICTRLike {
  constructor(private readonly key: CryptoKey, private readonly rawKey: Uint8Array) {}

  clear(): this {
    this.rawKey.fill(0);
    return this;
  }

  async encryptCtr(iv: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    if (plaintext.length === 0) return new Uint8Array(0);
    if (plaintext.length <= SMALL_MESSAGE) return aesHere("ctr", this.rawKey, iv, plaintext);
    const out = await crypto.subtle.encrypt(
      { name: "AES-CTR", counter: iv.slice(), length: 128 },
      this.key,
      plaintext as Uint8Array<ArrayBuffer>,
    );
    return new Uint8Array(out);
  }
}

function importAes(keyData: Uint8Array, name: "AES-CBC" | "AES-CTR"): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", keyData.slice(), name, false, ["encrypt"]);
}

/** The crypto provider miscreant runs on: Deno's WebCrypto. */
export class DenoWebCryptoProvider implements ICryptoProvider {
  async importBlockCipherKey(keyData: Uint8Array): Promise<IBlockCipher> {
    return new WebCryptoBlockCipher(await importAes(keyData, "AES-CBC"));
  }

  async importCTRKey(keyData: Uint8Array): Promise<ICTRLike> {
    return new WebCryptoCtr(await importAes(keyData, "AES-CTR"), keyData.slice());
  }
}

/** Doubling in GF(2^128), as CMAC's subkeys and S2V use it. */
function dbl(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  let carry = 0;
  for (let i = BLOCK - 1; i >= 0; i--) {
    const b = block[i];
    out[i] = ((b << 1) | carry) & 0xff;
    carry = b >> 7;
  }
  if (carry) out[BLOCK - 1] ^= 0x87;
  return out;
}

/**
 * AES-CMAC (RFC 4493) that collects the message and MACs it with one AES-CBC call:
 * CMAC is the last block of the CBC encryption of the message whose final block is
 * masked with subkey K1 (complete) or padded and masked with K2.
 */
class BatchedCmac implements IMACLike {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private constructor(
    private readonly key: CryptoKey,
    private readonly rawKey: Uint8Array,
    private readonly k1: Uint8Array,
    private readonly k2: Uint8Array,
  ) {}

  static async importKey(keyData: Uint8Array): Promise<BatchedCmac> {
    const key = await importAes(keyData, "AES-CBC");
    const l = new Uint8Array(
      (await crypto.subtle.encrypt({ name: "AES-CBC", iv: ZERO_IV }, key, new Uint8Array(BLOCK)))
        .slice(0, BLOCK),
    );
    const k1 = dbl(l);
    return new BatchedCmac(key, keyData.slice(), k1, dbl(k1));
  }

  reset(): this {
    this.chunks = [];
    this.length = 0;
    return this;
  }

  clear(): void {
    this.reset();
    this.rawKey.fill(0);
    this.k1.fill(0);
    this.k2.fill(0);
  }

  update(data: Uint8Array): Promise<this> {
    // miscreant reuses its buffers between calls: keep a copy only when it is one of those.
    this.chunks.push(data.length <= BLOCK ? data.slice() : data);
    this.length += data.length;
    return Promise.resolve(this);
  }

  async finish(): Promise<Uint8Array> {
    const complete = this.length > 0 && this.length % BLOCK === 0;
    const padded = complete ? this.length : (Math.floor(this.length / BLOCK) + 1) * BLOCK;
    const last = padded - BLOCK; // where the final (masked) block starts
    // The whole blocks before the final one that lie in the first chunk are chained where
    // they are, without a copy: S2V passes a large message as one chunk and a 16-byte tail.
    const first = this.chunks[0];
    const inPlace = padded > SMALL_MESSAGE && first
      ? Math.min(Math.floor(first.length / BLOCK) * BLOCK, last)
      : 0;
    let iv = ZERO_IV;
    if (inPlace > 0) {
      const chained = await crypto.subtle.encrypt(
        { name: "AES-CBC", iv: ZERO_IV },
        this.key,
        first.subarray(0, inPlace) as Uint8Array<ArrayBuffer>,
      );
      iv = new Uint8Array(chained.slice(inPlace - BLOCK, inPlace));
    }
    // The rest (a few blocks, or all of a small message), padded and masked, chained on.
    const rest = new Uint8Array(padded - inPlace);
    let at = 0;
    for (const chunk of this.chunks) {
      const from = Math.max(0, inPlace - at);
      if (from < chunk.length) rest.set(chunk.subarray(from), at + from - inPlace);
      at += chunk.length;
    }
    if (!complete) rest[this.length - inPlace] = 0x80;
    const final = last - inPlace;
    const mask = complete ? this.k1 : this.k2;
    for (let i = 0; i < BLOCK; i++) rest[final + i] ^= mask[i];
    if (rest.length <= SMALL_MESSAGE) {
      return aesHere("cbc", this.rawKey, iv, rest).slice(final, final + BLOCK);
    }
    const out = await crypto.subtle.encrypt({ name: "AES-CBC", iv }, this.key, rest);
    return new Uint8Array(out.slice(final, final + BLOCK));
  }
}

/** AES-SIV sealing and opening with the associated data `[b"", nonce]`, as 0.4.0 did. */
export class AesSiv {
  /** miscreant's SIV keeps per-call state in shared buffers: one call at a time. */
  private readonly exclusive = new Semaphore(1);

  private constructor(private readonly aead: AEAD) {}

  /** Imports a 64-byte AES-SIV key (two AES-256 keys). */
  static async importKey(key: Uint8Array): Promise<AesSiv> {
    if (key.length !== 64) throw new Error(`AES-SIV key must be 64 bytes, got ${key.length}`);
    const provider = new DenoWebCryptoProvider();
    const mac = await BatchedCmac.importKey(key.subarray(0, 32));
    const ctr = await provider.importCTRKey(key.subarray(32));
    return new AesSiv(new AEAD(new SIV(mac, ctr)));
  }

  /** Returns the 16-byte synthetic IV followed by the ciphertext. */
  seal(plaintext: Uint8Array, nonce: Uint8Array): Promise<Uint8Array> {
    return this.exclusive.run(() => this.aead.seal(plaintext, nonce));
  }

  /** Opens what seal produced; throws miscreant's IntegrityError when it does not verify. */
  open(sealed: Uint8Array, nonce: Uint8Array): Promise<Uint8Array> {
    return this.exclusive.run(() => this.aead.open(sealed, nonce));
  }
}
