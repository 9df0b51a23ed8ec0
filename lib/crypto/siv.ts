/**
 * AES-SIV (RFC 5297) on AES from lib/crypto/aes.ts (the system's libcrypto where it loads, else
 * Deno's WebCrypto and node:crypto): opening through miscreant, sealing by AesSiv.seal
 * itself (the same S2V and CTR, with the ciphertext written behind the IV).
 *
 * miscreant's own WebCrypto provider asks AES-CTR for a 16-bit counter, which Deno
 * refuses, and its CMAC encrypts one 16-byte block per awaited call. We give miscreant a
 * CTR with the full 128-bit counter and a CMAC that computes the whole CBC-MAC of a message
 * in one or two calls.
 */
import { AEAD, type ICTRLike, type IMACLike, SIV } from "miscreant";
import { AES_BLOCK as BLOCK, type AesEngine, type AesKey, chooseAes } from "./aes.ts";
import { Semaphore } from "../util/mod.ts";

const ZERO_IV = new Uint8Array(BLOCK);

/** Below this, the whole message is copied and MACed in one call rather than two. */
const CHAIN_IN_PLACE = 4096;

/** AES-CTR with the full 128-bit counter of RFC 5297, as miscreant calls it. */
class Ctr implements ICTRLike {
  constructor(private readonly key: AesKey) {}

  clear(): this {
    this.key.clear();
    return this;
  }

  encryptCtr(iv: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    return this.key.ctr(iv, plaintext);
  }
}

const EMPTY = new Uint8Array(0);

/** `a` xor `b`, two 16-byte blocks, in a new array. */
function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) out[i] = a[i] ^ b[i];
  return out;
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
 * AES-CMAC (RFC 4493) that collects the message and MACs it with one or two AES-CBC calls:
 * CMAC is the last block of the CBC encryption of the message whose final block is
 * masked with subkey K1 (complete) or padded and masked with K2.
 */
class BatchedCmac implements IMACLike {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private constructor(
    private readonly key: AesKey,
    private readonly k1: Uint8Array,
    private readonly k2: Uint8Array,
  ) {}

  static async importKey(engine: AesEngine, keyData: Uint8Array): Promise<BatchedCmac> {
    const key = await engine.importKey(keyData);
    const k1 = dbl(await key.cbcMac(ZERO_IV, new Uint8Array(BLOCK)));
    return new BatchedCmac(key, k1, dbl(k1));
  }

  reset(): this {
    this.chunks = [];
    this.length = 0;
    return this;
  }

  clear(): void {
    this.reset();
    this.key.clear();
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
    let inPlace = first ? Math.min(Math.floor(first.length / BLOCK) * BLOCK, last) : 0;
    if (inPlace < CHAIN_IN_PLACE) inPlace = 0;
    const iv = inPlace > 0 ? await this.key.cbcMac(ZERO_IV, first.subarray(0, inPlace)) : ZERO_IV;
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
    return this.key.cbcMac(iv, rest);
  }
}

/** AES-SIV sealing and opening with the associated data `[b"", nonce]`, as 0.4.0 did. */
export class AesSiv {
  /** miscreant's SIV keeps per-call state in shared buffers, and seal shares its CMAC: one call at a time. */
  private readonly exclusive = new Semaphore(1);

  /** S2V's D once the empty first associated data is MACed (the same for every seal). */
  private afterEmpty: Uint8Array | undefined;

  private constructor(
    private readonly aead: AEAD,
    private readonly mac: BatchedCmac,
    private readonly ctrKey: AesKey,
  ) {}

  /** Imports a 64-byte AES-SIV key (two AES-256 keys), on `engine` (default: lib/crypto/aes.ts's choice). */
  static async importKey(key: Uint8Array, engine = chooseAes().engine): Promise<AesSiv> {
    if (key.length !== 64) throw new Error(`AES-SIV key must be 64 bytes, got ${key.length}`);
    const mac = await BatchedCmac.importKey(engine, key.subarray(0, 32));
    const ctrKey = await engine.importKey(key.subarray(32));
    return new AesSiv(new AEAD(new SIV(mac, new Ctr(ctrKey))), mac, ctrKey);
  }

  /**
   * Returns the 16-byte synthetic IV followed by the ciphertext: RFC 5297's S2V and CTR as
   * miscreant's seal computes them (tests compare the two), with the ciphertext written
   * behind the IV where the AES engine can (OpenSSL) instead of into an array of its own
   * that is then copied: 1 MiB more per block, mapped and faulted in anew while create
   * uploads (see mapBlockBuffersApart).
   */
  seal(plaintext: Uint8Array, nonce: Uint8Array): Promise<Uint8Array> {
    return this.exclusive.run(async () => {
      const iv = await this.s2v(nonce, plaintext);
      const sealed = new Uint8Array(BLOCK + plaintext.length);
      sealed.set(iv);
      // the counter starts at the IV with bits 63 and 31 cleared
      iv[8] &= 0x7f;
      iv[12] &= 0x7f;
      if (plaintext.length > 0) await this.ctrKey.ctr(iv, plaintext, sealed.subarray(BLOCK));
      return sealed;
    });
  }

  /** S2V (RFC 5297 2.4) over the associated data ["", nonce] and `plaintext`. */
  private async s2v(nonce: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    const cmac = (...parts: Uint8Array[]) => {
      this.mac.reset();
      for (const part of parts) void this.mac.update(part);
      return this.mac.finish();
    };
    // D after the empty first associated data is the same for every seal under this key
    this.afterEmpty ??= xor(dbl(await cmac(ZERO_IV)), await cmac(EMPTY));
    const d = xor(dbl(this.afterEmpty), await cmac(nonce));
    if (plaintext.length >= BLOCK) {
      // the last block xored with D ("xorend"), the rest MACed where it is
      const end = plaintext.length - BLOCK;
      return cmac(plaintext.subarray(0, end), xor(plaintext.subarray(end), d));
    }
    const padded = new Uint8Array(BLOCK);
    padded.set(plaintext);
    padded[plaintext.length] = 0x80;
    return cmac(xor(dbl(d), padded));
  }

  /** Opens what seal produced; throws miscreant's IntegrityError when it does not verify. */
  open(sealed: Uint8Array, nonce: Uint8Array): Promise<Uint8Array> {
    return this.exclusive.run(() => this.aead.open(sealed, nonce));
  }
}
