/** Issue 13: key derivation (lib/crypto/kdf.ts): RFC 7914's scrypt vectors, and `.spare-kdf` as untrusted input. */
import { assert, assertEquals, assertRejects, assertThrows } from "./assert.ts";
import {
  decodeKdfSettings,
  DEFAULT_SCRYPT,
  deriveKey,
  encodeKdfSettings,
  newScryptSettings,
  scryptKey,
  SHA512,
} from "../lib/crypto/kdf.ts";
import { toHex } from "../lib/util/bytes.ts";
import { BlockCodec, newNonce } from "../lib/codec/block.ts";
import { BlockAuthError, SpareError } from "../lib/util/errors.ts";

const encoder = new TextEncoder();

function hex(text: string): string {
  return text.replace(/\s+/g, "");
}

// RFC 7914, section 12. The fourth vector (N = 2^20, r = 8: 1 GiB of memory) is left out.
const RFC7914_VECTORS = [
  {
    password: "",
    salt: "",
    cost: { N: 16, r: 1, p: 1 },
    key: hex(
      `77 d6 57 62 38 65 7b 20 3b 19 ca 42 c1 8a 04 97 f1 6b 48 44 e3 07 4a e8 df df fa 3f ed e2 14 42
              fc d0 06 9d ed 09 48 f8 32 6a 75 3a 0f c8 1f 17 e8 d3 e0 fb 2e 0d 36 28 cf 35 e2 0c 38 d1 89 06`,
    ),
  },
  {
    password: "password",
    salt: "NaCl",
    cost: { N: 1024, r: 8, p: 16 },
    key: hex(
      `fd ba be 1c 9d 34 72 00 78 56 e7 19 0d 01 e9 fe 7c 6a d7 cb c8 23 78 30 e7 73 76 63 4b 37 31 62
              2e af 30 d9 2e 22 a3 88 6f f1 09 27 9d 98 30 da c7 27 af b9 4a 83 ee 6d 83 60 cb df a2 cc 06 40`,
    ),
  },
  {
    password: "pleaseletmein",
    salt: "SodiumChloride",
    cost: { N: 16384, r: 8, p: 1 },
    key: hex(
      `70 23 bd cb 3a fd 73 48 46 1c 06 cd 81 fd 38 eb fd a8 fb ba 90 4f 8e 3e a9 b5 43 f6 54 5d a1 f2
              d5 43 29 55 61 3f 0f cf 62 d4 97 05 24 2a 9a f9 e6 1e 85 dc 0d 65 1e 40 df cf 01 7b 45 57 58 87`,
    ),
  },
];

Deno.test("scrypt gives RFC 7914's test vectors (N=16, 1024, 16384)", async () => {
  for (const { password, salt, cost, key } of RFC7914_VECTORS) {
    const derived = await scryptKey(encoder.encode(password), encoder.encode(salt), cost, 64);
    assertEquals(toHex(derived), key, `N=${cost.N}`);
  }
});

Deno.test("the default key is 0.4.0's: SHA-512 of the password's UTF-8 bytes", async () => {
  const key = await deriveKey("pässword", SHA512);
  const expected = new Uint8Array(
    await crypto.subtle.digest("SHA-512", encoder.encode("pässword")),
  );
  assertEquals(toHex(key), toHex(expected));
});

Deno.test("a scrypt bucket's key is scrypt of the password with its salt and cost", async () => {
  const settings = newScryptSettings({ N: 2 ** 14, r: 8, p: 1 });
  assert(settings.kdf === "scrypt");
  const key = await deriveKey("secret", settings);
  assertEquals(
    toHex(key),
    toHex(await scryptKey(encoder.encode("secret"), settings.salt, settings, 64)),
  );
  // blocks sealed under it do not open under 0.4.0's key of the same password
  const nonce = newNonce();
  const hardened = await BlockCodec.fromPassword("secret", 6, 1, settings);
  const sealed = await hardened.seal(encoder.encode("data"), nonce);
  assertEquals(new TextDecoder().decode(await hardened.open(sealed, nonce)), "data");
  const legacy = await BlockCodec.fromPassword("secret");
  await assertRejects(() => legacy.open(sealed, nonce), BlockAuthError);
});

Deno.test(".spare-kdf round trip: a new salt each time, the default cost", () => {
  const a = newScryptSettings();
  const b = newScryptSettings();
  assert(a.kdf === "scrypt" && b.kdf === "scrypt");
  assert(toHex(a.salt) !== toHex(b.salt), "fresh salts");
  assertEquals(a.salt.length, 32);
  const decoded = decodeKdfSettings(encodeKdfSettings(a), "b");
  assertEquals(decoded, a);
  assertEquals({ N: a.N, r: a.r, p: a.p }, DEFAULT_SCRYPT);
  const json = JSON.parse(new TextDecoder().decode(encodeKdfSettings(a)));
  assertEquals(Object.keys(json).sort(), ["N", "kdf", "p", "r", "salt"]);
});

Deno.test(".spare-kdf from a hostile bucket is refused with one line, before any work", () => {
  const salt = "ab".repeat(32);
  const good = { kdf: "scrypt", N: 32768, r: 8, p: 1, salt };
  const cases: [unknown, string][] = [
    ["not json", "not UTF-8 JSON"],
    [[1, 2], "not an object"],
    [null, "not an object"],
    [{ ...good, kdf: "argon2" }, "unknown kdf"],
    [{ ...good, kdf: undefined }, "unknown kdf"],
    [{ ...good, N: 2 ** 30 }, "N must be a power of two"], // 128 GiB
    [{ ...good, N: 2 ** 21 }, "N must be a power of two"],
    [{ ...good, N: 1024 }, "N must be a power of two"], // too cheap
    [{ ...good, N: 30000 }, "N must be a power of two"],
    [{ ...good, N: "32768" }, "N must be a power of two"],
    [{ ...good, N: 32768.5 }, "N must be a power of two"],
    [{ ...good, r: 0 }, "r must be"],
    [{ ...good, r: 1e9 }, "r must be"],
    [{ ...good, p: 0 }, "p must be"],
    [{ ...good, p: 2 ** 30 }, "p must be"], // hours
    [{ ...good, N: 2 ** 20, r: 8 }, "128·N·r is 1024 MiB"],
    [{ ...good, N: 2 ** 14, r: 1 }, "128·N·r is 2 MiB"],
    [{ ...good, N: 2 ** 18, r: 8, p: 16 }, "N·r·p is above"],
    [{ ...good, salt: "ab".repeat(8) }, "salt must be"], // 8 bytes
    [{ ...good, salt: "ab".repeat(65) }, "salt must be"],
    [{ ...good, salt: "AB".repeat(32) }, "salt must be"],
    [{ ...good, salt: "abc" }, "salt must be"],
    [{ ...good, salt: 12345 }, "salt must be"],
  ];
  for (const [value, reason] of cases) {
    const bytes = encoder.encode(typeof value === "string" ? value : JSON.stringify(value));
    const err = assertThrows(() => decodeKdfSettings(bytes, "bkt"), SpareError);
    assert(err.message.includes(reason), `${JSON.stringify(value)}: ${err.message}`);
    assert(err.message.startsWith("bucket bkt: .spare-kdf is not usable"), err.message);
    assert(!err.message.includes("\n"), "one line");
  }
  assertThrows(() => decodeKdfSettings(new Uint8Array([0xff, 0xfe]), "bkt"), SpareError);
  // the bounds themselves are accepted; unknown keys are ignored
  decodeKdfSettings(encoder.encode(JSON.stringify({ ...good, N: 2 ** 17, r: 16 })), "b");
  decodeKdfSettings(encoder.encode(JSON.stringify({ ...good, note: "x" })), "b");
});
