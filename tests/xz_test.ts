import { assert, assertEquals } from "./assert.ts";
import {
  byteEntropy,
  chooseCodec,
  compress,
  crc32,
  crc64,
  crc64InJs,
  decompress,
  dictionarySize,
  readStoredXz,
  storedXz,
} from "../lib/codec/xz.ts";
import { pseudoRandom } from "./tree.ts";
import { pipeThrough } from "./pipe.ts";

function xzCommand(args: string[], input: Uint8Array): Promise<Uint8Array> {
  return pipeThrough("xz", args, input);
}

Deno.test("CRC-32 and CRC-64 match the .xz reference values, and liblzma's CRC-64 ours", async () => {
  await chooseCodec(); // loads the system liblzma, whose lzma_crc64 crc64 then uses
  const check = new TextEncoder().encode("123456789");
  assertEquals(crc32(check), 0xcbf43926);
  const hex = (crc: Uint8Array) =>
    Array.from(crc).reverse().map((b) => b.toString(16).padStart(2, "0")).join("");
  assertEquals(hex(crc64(check)), "995dc9bbdf1939fa");
  assertEquals(hex(crc64InJs(check)), "995dc9bbdf1939fa");
  for (const size of [0, 1, 7, 8, 9, 4096, 100_003]) {
    const data = pseudoRandom(size, size + 1);
    assertEquals(crc64(data), crc64InJs(data), `${size} bytes`);
  }
});

Deno.test("incompressible blocks are stored as uncompressed LZMA2 chunks that the xz command reads", async () => {
  for (const size of [4096, 65536, 65537, 1_048_576]) {
    const data = pseudoRandom(size, size);
    assert(byteEntropy(data) > 7.9);
    const xz = await compress(data);
    assertEquals(xz.length, storedXz(data).length, "stored, not compressed");
    assert(xz.length < size + 200, `overhead for ${size}: ${xz.length - size}`);
    assertEquals(await xzCommand(["-dc"], xz), data);
    assertEquals(await decompress(xz), data);
  }
});

Deno.test("compressible blocks are LZMA2 at the level asked, with a dictionary sized to the block", async () => {
  const text = new TextEncoder().encode(
    "the quick brown fox jumps over the lazy dog\n".repeat(24_000),
  );
  for (const level of [0, 6, 9]) {
    const xz = await compress(text, level);
    assert(xz.length < text.length / 50, `level ${level}: ${xz.length}`);
    assertEquals(await xzCommand(["-dc"], xz), text);
    // block header at offset 12: size, flags, filter 0x21 (LZMA2), 1 property byte, dictionary
    assertEquals([xz[14], xz[15]], [0x21, 0x01]);
    assert(
      xz[16] <= 16,
      `dictionary of 2^(${xz[16]}/2 + 12) bytes: no larger than the 1 MiB block`,
    );
  }
  // what xz -6 writes, we read
  assertEquals(await decompress(await xzCommand(["-6", "-c"], text)), text);
});

Deno.test("stored streams are read without liblzma; anything else or damaged goes to liblzma", async () => {
  const data = pseudoRandom(200_000, 3);
  const stored = storedXz(data);
  assertEquals(readStoredXz(stored), data);
  // the xz command stores random data the same way (a valid stream: read it) ...
  assertEquals(readStoredXz(await xzCommand(["-6", "-c"], data)), data);
  // ... and compresses text into LZMA chunks, which go to liblzma
  const text = new TextEncoder().encode("compressible text\n".repeat(5000));
  assert(readStoredXz(await xzCommand(["-0", "-c"], text)) === undefined);
  for (const at of [7, 20, 1000, stored.length - 20, stored.length - 3]) {
    const damaged = stored.slice();
    damaged[at] ^= 0x10;
    assert(readStoredXz(damaged) === undefined, `byte ${at}`);
    let failed = false;
    await decompress(damaged).catch(() => failed = true);
    assert(failed, `a damaged stream (byte ${at}) does not decompress`);
  }
  const longer = new Uint8Array(stored.length + 4);
  longer.set(stored);
  assert(readStoredXz(longer) === undefined, "stream padding goes to liblzma");
  assertEquals(await decompress(longer), data);
});

Deno.test("small inputs get a dictionary no larger than themselves (64 KiB at least), as xz gives small files", async () => {
  // LZMA2's property byte b stands for a dictionary of (2 | (b & 1)) << (b / 2 + 11) bytes
  const dictionaryOf = (xz: Uint8Array) => (2 | (xz[16] & 1)) * 2 ** ((xz[16] >> 1) + 11);
  const line = "a line of text, not quite the same as the one before: ";
  const text = (n: number) =>
    new TextEncoder().encode(Array.from({ length: n }, (_, i) => line + i).join("\n")).subarray(
      0,
      n,
    );
  for (
    const [length, dictionary] of [
      [100, 1 << 16],
      [65_536, 1 << 16],
      [65_537, 1 << 17],
      [300_000, 1 << 19],
      [1 << 20, 1 << 20],
    ]
  ) {
    const data = text(length);
    const xz = await compress(data);
    assertEquals(dictionaryOf(xz), dictionary, `${length} bytes`);
    assertEquals(await xzCommand(["-dc"], xz), data);
  }
  assertEquals(dictionarySize(18, 1 << 20), 1 << 18, "level 0 keeps its 256 KiB");
});

Deno.test("liblzma reads concatenated streams, and refuses truncated streams and trailing bytes", async () => {
  const text = new TextEncoder().encode("line of a log file, more or less\n".repeat(40_000));
  const [first, second] = [
    await compress(text.subarray(0, 500_000)),
    await compress(text.subarray(500_000)),
  ];
  const both = new Uint8Array(first.length + second.length);
  both.set(first);
  both.set(second, first.length);
  assertEquals(await decompress(both), text);
  for (
    const [what, bad] of [
      ["truncated", first.subarray(0, first.length - 13)],
      ["cut in the middle", first.subarray(0, first.length >> 1)],
      ["trailing bytes", Uint8Array.of(...first, 1, 2, 3, 4)],
    ] as const
  ) {
    let failed = false;
    await decompress(bad).catch(() => failed = true);
    assert(failed, `${what}: refused`);
  }
});
