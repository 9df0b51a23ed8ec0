/**
 * Run by xz_codecs_test.ts with `--v8-flags=--expose-gc`: compresses and decompresses small
 * blocks through the FFI codec for a few seconds while garbage is collected all the time;
 * prints the number of failed or wrong round trips. Buffers whose addresses liblzma holds
 * during a call on another thread must stay reachable (lib/codec/xz_ffi.ts, pinned).
 */
import { loadSystemCodec } from "../lib/codec/xz_ffi.ts";

const codec = loadSystemCodec();
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
const text = new TextEncoder().encode(
  Array.from({ length: 3000 }, (_, i) => `line ${i} GET /api/${i % 97} 200\n`).join(""),
);
const seconds = Number(Deno.args[0] ?? 8);
const stop = Date.now() + seconds * 1000;
const churn = setInterval(() => {
  for (let i = 0; i < 50; i++) new Uint8Array(300);
  gc();
}, 1);
let failed = 0;
for (let n = 0; Date.now() < stop; n++) {
  await Promise.all(Array.from({ length: 4 }, async (_, k) => {
    const data = text.slice(0, 1024 + ((n * 31 + k * 7) % 3000));
    try {
      // collect at once, then fill freed memory with junk: a buffer that was not kept
      // alive is overwritten before the other thread reads it
      const compressed = codec.compress(data, 6);
      gc();
      const junk = Array.from({ length: 64 }, () => new Uint8Array(256).fill(0xff));
      const xz = await compressed;
      const decompressed = codec.decompress(xz.slice());
      gc();
      junk.push(...Array.from({ length: 64 }, () => new Uint8Array(xz.length).fill(0xff)));
      const back = await decompressed;
      if (back.length !== data.length || back.some((b, i) => b !== data[i])) failed++;
    } catch {
      failed++;
    }
  }));
}
clearInterval(churn);
console.log(failed);
