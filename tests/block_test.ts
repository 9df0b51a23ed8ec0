import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "./assert.ts";
import { BLOCK_SIZE, BlockCodec, newNonce } from "../lib/codec/block.ts";
import { digestOf } from "../lib/util/digest.ts";
import { BlockAuthError } from "../lib/util/errors.ts";
import { concatBytes } from "../lib/util/bytes.ts";
import { pseudoRandom } from "./tree.ts";
import { describedDigests, fixtureDescription, fixtureNames, fixtureObjects } from "./fixture.ts";
import { AesSiv } from "../lib/crypto/siv.ts";
import { type AesEngine, webCryptoAes } from "../lib/crypto/aes.ts";
import { loadOpenSslAes } from "../lib/crypto/aes_openssl.ts";
import { AEAD, IntegrityError, PolyfillCryptoProvider } from "miscreant";

Deno.test("every block of the 0.4.0 fixtures opens and each prefix hashes to its name", async () => {
  for (const name of fixtureNames()) {
    const description = await fixtureDescription(name);
    const codec = await BlockCodec.fromPassword(description.password);
    const objects = await fixtureObjects(name);
    const prefixes = new Map<string, string[]>();
    for (const key of objects.keys()) {
      if (key.startsWith(".")) continue;
      const [prefix] = key.split("/");
      prefixes.set(prefix, [...(prefixes.get(prefix) ?? []), key].sort());
    }
    assertEquals(prefixes.size, describedDigests(description).length + 1, name);
    for (const [prefix, keys] of prefixes) {
      const blocks = [];
      for (const key of keys) {
        const nonce = key.split("-").at(-1)!;
        blocks.push(await codec.open(objects.get(key)!, nonce, key));
      }
      const content = concatBytes(blocks);
      if (prefix.startsWith("snapshot_")) {
        // 0.4.0 recorded exactly the described paths.
        const snapshot = JSON.parse(new TextDecoder().decode(content));
        assertEquals(
          Object.keys(snapshot.structure).sort(),
          Object.keys(description.entries).sort(),
        );
      } else {
        assertEquals(await digestOf(content), prefix);
      }
    }
  }
});

Deno.test("sealing then opening round-trips 0 B, 1 B, 1 MiB and 1 MiB + 1", async () => {
  const codec = await BlockCodec.fromPassword("secret");
  for (const size of [0, 1, BLOCK_SIZE, BLOCK_SIZE + 1]) {
    for (const data of [pseudoRandom(size), new Uint8Array(size).fill(65)]) {
      const nonce = newNonce();
      const sealed = await codec.seal(data, nonce);
      assertEquals(await codec.open(sealed, nonce), data);
    }
  }
});

Deno.test("a flipped byte anywhere in a sealed block fails to open", async () => {
  const codec = await BlockCodec.fromPassword("secret");
  const nonce = newNonce();
  const sealed = await codec.seal(new TextEncoder().encode("some text ".repeat(100)), nonce);
  for (let i = 0; i < sealed.length; i += Math.max(1, Math.floor(sealed.length / 40))) {
    const damaged = sealed.slice();
    damaged[i] ^= 0x01;
    await assertRejects(() => codec.open(damaged, nonce), BlockAuthError);
  }
  const last = sealed.slice();
  last[last.length - 1] ^= 0x80;
  await assertRejects(() => codec.open(last, nonce), BlockAuthError);
});

Deno.test("a wrong password or another nonce fails with a clear message", async () => {
  const nonce = newNonce();
  const sealed = await (await BlockCodec.fromPassword("right")).seal(pseudoRandom(100), nonce);
  const wrong = await BlockCodec.fromPassword("wrong");
  const err = await assertRejects(
    () => wrong.open(sealed, nonce, "abc/000000001-x"),
    BlockAuthError,
  );
  assertEquals(err.message, "wrong password, or the block abc/000000001-x is corrupted");
  const right = await BlockCodec.fromPassword("right");
  await assertRejects(() => right.open(sealed, newNonce()), BlockAuthError);
});

Deno.test("concurrent seals and opens do not disturb each other", async () => {
  const codec = await BlockCodec.fromPassword("secret");
  const inputs = Array.from({ length: 16 }, (_, i) => pseudoRandom(1000 + i * 977, i + 1));
  const nonces = inputs.map(() => newNonce());
  const sealed = await Promise.all(inputs.map((data, i) => codec.seal(data, nonces[i])));
  const opened = await Promise.all(sealed.map((s, i) => codec.open(s, nonces[i])));
  opened.forEach((data, i) => assertEquals(data, inputs[i]));
});

for (const [name, engine] of aesEngines()) {
  Deno.test(`AES-SIV on ${name} agrees with miscreant's own pure-JS AES at every size, small or large`, async () => {
    const key = pseudoRandom(64, 7);
    const ours = await AesSiv.importKey(key, engine);
    const reference = await AEAD.importKey(key, "AES-SIV", new PolyfillCryptoProvider());
    const nonce = new TextEncoder().encode(newNonce());
    const sizes = [
      0,
      1,
      15,
      16,
      17,
      31,
      32,
      33,
      1000,
      4095,
      4096,
      4097,
      16383,
      16384,
      16385,
      16400,
    ];
    for (const size of [...sizes, 65_535, 65_536, 65_537, 65_551, 100_000, BLOCK_SIZE + 1]) {
      const plaintext = pseudoRandom(size, size);
      const sealed = await ours.seal(plaintext, nonce);
      assertEquals(sealed, await reference.seal(plaintext, nonce), `${size} bytes`);
      assertEquals(await ours.open(sealed, nonce), plaintext, `${size} bytes`);
      const tampered = sealed.slice();
      tampered[tampered.length - 1] ^= 1;
      await assertRejects(() => ours.open(tampered, nonce), IntegrityError);
    }
  });
}

Deno.test("sealing has the AES engine write the ciphertext behind the IV; opened plaintexts stay", async () => {
  const outputs: Uint8Array[] = [];
  const recording: AesEngine = {
    description: "recording",
    async importKey(raw) {
      const key = await webCryptoAes.importKey(raw);
      return {
        cbcMac: (iv, data) => key.cbcMac(iv, data),
        ctr: async (iv, data, out) => {
          const written = await key.ctr(iv, data, out);
          outputs.push(written);
          return written;
        },
        clear: () => key.clear(),
      };
    },
  };
  const siv = await AesSiv.importKey(pseudoRandom(64, 3), recording);
  const nonce = new TextEncoder().encode(newNonce());
  const plaintext = pseudoRandom(BLOCK_SIZE, 5);
  const sealed = await siv.seal(plaintext, nonce);
  const written = outputs.at(-1)!;
  assertEquals(written.buffer, sealed.buffer, "the ciphertext is written into the sealed block");
  assertEquals([written.byteOffset, written.length], [16, BLOCK_SIZE]);
  const opened = await siv.open(sealed, nonce);
  assertEquals(opened, plaintext);
  // neither a seal that fails nor the next one touches what an open returned
  await assertRejects(() => siv.seal(plaintext, undefined as unknown as Uint8Array), TypeError);
  await siv.seal(pseudoRandom(100_000, 6), nonce);
  assertEquals(opened, plaintext);
});

/** WebCrypto always; the system's libcrypto where one is installed (Linux with OpenSSL 1.1 or 3). */
function aesEngines(): [string, AesEngine][] {
  const engines: [string, AesEngine][] = [["WebCrypto", webCryptoAes]];
  try {
    engines.push(["OpenSSL", loadOpenSslAes()]);
  } catch (err) {
    // No libcrypto at all is a machine without OpenSSL; one that loads and is refused
    // (too old, a failed self-test) is worth a failing test.
    const reasons = String(err).replace(/^.*?no usable system libcrypto: /, "").split("; ");
    if (Deno.build.os === "linux" && !reasons.every((r) => r.startsWith("cannot open"))) throw err;
    console.warn(`AES-SIV on OpenSSL not tested: ${err}`);
  }
  return engines;
}

Deno.test("a libcrypto that does not load is refused with a reason naming it", () => {
  const err = assertThrows(() => loadOpenSslAes(["libcrypto-missing.so.9"]), Error);
  assertStringIncludes(
    err.message,
    "no usable system libcrypto: cannot open libcrypto-missing.so.9",
  );
});
